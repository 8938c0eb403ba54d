#pragma once
// Internal to src/io: the POSIX file handling shared by the NIfTI and tractogram readers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace dwipack::io::detail {

/// strerror(errno), for messages.
std::string errno_text();

/// Owns a POSIX file descriptor opened for reading; closes it on destruction. Move-only.
class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

private:
  int fd_ = -1;
};

/// Open read-only (retrying on EINTR); `sequential` tells the kernel to read ahead generously.
/// Throws Error("cannot open: ...") without the file name (callers add it).
FileDescriptor open_for_reading(const std::string& path, bool sequential = false);

/// Size of a regular file; throws Error for anything else.
int64_t file_size(int fd);

/// pread until `n` bytes or end of file; returns the bytes read.
size_t pread_full(int fd, unsigned char* buf, size_t n, int64_t offset);

/// read until `n` bytes or end of file; returns the bytes read.
size_t read_full(int fd, unsigned char* buf, size_t n);

} // namespace dwipack::io::detail
