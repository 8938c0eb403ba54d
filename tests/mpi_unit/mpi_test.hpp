#pragma once
// Shared by the GoogleTest files run under mpiexec (tests/mpi_unit/*.cpp, one binary, its own
// main in main.cpp). Every test runs on every rank; a test must make the same collective calls on
// every rank whatever its checks find (EXPECT_*, not ASSERT_*, before a collective call), or the
// ranks part ways and the run hangs until ctest's timeout.
#include "dwipack/mpi/comm.hpp"
#include "support/temp_dir.hpp"

#include <memory>
#include <string>

namespace dwipack::test {

/// A duplicate of MPI_COMM_WORLD for the tests (made on first use, by every rank).
const mpi::Comm& world();

/// A folder every rank sees (the ranks run on one machine): rank 0 makes it, the others learn
/// its path. Collective to construct. Call `done()` (collective) before it goes out of scope, so
/// that rank 0 removes it only once every rank stopped using it.
class SharedTempDir {
public:
  explicit SharedTempDir(const mpi::Comm& comm);
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  void done() const { comm_.sleepy_barrier(); }

private:
  const mpi::Comm& comm_;
  std::unique_ptr<TempDir> owned_; ///< rank 0 only
  std::string path_;
};

} // namespace dwipack::test
