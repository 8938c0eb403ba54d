#pragma once
// One writer per output. A run takes a POSIX record lock (fcntl F_SETLK, a write lock over the
// whole file) on OUT.hdf5.lock beside the output before it writes anything, and holds it until
// it ends. The kernel, or on a network file system its lock manager, drops the lock when the
// holding process dies, so a killed job never leaves a stale lock behind: a lock file without a
// holder is simply taken over. fcntl locks, unlike flock(2), also reach other nodes on NFS (v3
// through lockd, v4 natively), on GPFS and on Lustre mounted with `-o flock`.
//
// The holder writes its host, process id and start time into the file, so that a refused run can
// name it. A process loses its fcntl locks when it closes any descriptor of the file, so nothing
// else in dwipack opens it.
#include "dwipack/util/unique_fd.hpp"

#include <string>

namespace dwipack::io {

/// The lock file of an output: "OUT.hdf5.lock".
std::string lock_path(const std::string& output);

class OutputLock {
public:
  OutputLock() = default; ///< holds nothing
  OutputLock(OutputLock&&) noexcept = default;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock(); ///< release(), quietly

  /// Take the lock of `output` or throw Error naming the holder (host, pid, start time) and the
  /// lock file. Where the file system has no record locks (ENOLCK, EOPNOTSUPP: Lustre without
  /// `-o flock`, some FUSE mounts) it returns an OutputLock that holds nothing, with the reason
  /// in unsupported(): the caller warns and goes on.
  static OutputLock acquire(const std::string& output);

  bool held() const { return fd_.valid(); }
  /// Why no lock could be taken (empty when held, or for a default OutputLock).
  const std::string& unsupported() const { return unsupported_; }

  /// Remove the lock file, then drop the lock (a run waiting on the old file notices that its
  /// path now names another file, and takes a fresh one).
  void release() noexcept;

private:
  UniqueFd fd_;
  std::string path_;
  std::string unsupported_;
};

} // namespace dwipack::io
