#pragma once
// Internal to src/io: the POSIX file handling shared by the NIfTI and tractogram readers.
#include "dwipack/util/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace dwipack::io::detail {

/// strerror(errno), for messages.
std::string errno_text();

/// Open read-only (retrying on EINTR); `sequential` tells the kernel to read ahead generously.
/// Throws Error("cannot open: ...") without the file name (callers add it).
UniqueFd open_for_reading(const std::string& path, bool sequential = false);

/// Size of a regular file; throws Error for anything else.
int64_t file_size(int fd);

/// pread until `n` bytes or end of file; returns the bytes read.
size_t pread_full(int fd, unsigned char* buf, size_t n, int64_t offset);

/// read until `n` bytes or end of file; returns the bytes read.
size_t read_full(int fd, unsigned char* buf, size_t n);

} // namespace dwipack::io::detail
