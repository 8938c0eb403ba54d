// main() of the MPI unit tests: MPI initialised once for all of them, gtest's output from rank 0
// only (the other ranks report just their failures, prefixed with their rank), and one verdict
// for the job: the run fails if any rank failed.
#include "mpi_test.hpp"

#include "dwipack/h5/handle.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace dwipack::test {

const mpi::Comm& world() {
  static const mpi::Comm comm(MPI_COMM_WORLD); // freed after MPI_Finalize: Comm skips it then
  return comm;
}

SharedTempDir::SharedTempDir(const mpi::Comm& comm) : comm_(comm) {
  if (comm.rank() == 0) {
    owned_ = std::make_unique<TempDir>();
    path_ = owned_->path();
  }
  comm.broadcast(path_, 0);
}

} // namespace dwipack::test

namespace {

/// What ranks other than 0 print: their failures only.
class FailurePrinter : public ::testing::EmptyTestEventListener {
public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::fprintf(stderr, "[rank %d] %s.%s: %s:%d: %s\n", rank_, test ? test->test_suite_name() : "?",
                 test ? test->name() : "?", result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.message());
  }

private:
  int rank_;
};

} // namespace

int main(int argc, char** argv) {
  dwipack::mpi::Environment mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  const dwipack::h5::SilenceErrors quiet_hdf5; // HDF5 failures arrive as Error messages
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = failed;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any_failed && !failed)
    std::fprintf(stderr, "FAILED on another rank (see [rank N] lines)\n");
  return any_failed;
}
