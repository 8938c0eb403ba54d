#include "dwipack/h5/direct_writer.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <unistd.h>

namespace dwipack::h5 {
namespace {

constexpr uint64_t page_bytes = AlignedBuffer::page_bytes; // O_DIRECT's alignment of offsets, sizes, buffers
constexpr size_t bounce_bytes = size_t{8} << 20;           // per pwrite: large enough to stream

} // namespace

std::unique_ptr<DirectWriter> DirectWriter::open(const std::string& path) {
  UniqueFd direct = UniqueFd::try_open(path, O_WRONLY | O_DIRECT);
  if (!direct.valid()) return nullptr;
  UniqueFd buffered = UniqueFd::try_open(path, O_WRONLY);
  if (!buffered.valid()) return nullptr;
  return std::unique_ptr<DirectWriter>(new DirectWriter(std::move(direct), std::move(buffered)));
}

DirectWriter::DirectWriter(UniqueFd direct, UniqueFd buffered)
    : direct_(std::move(direct)), buffered_(std::move(buffered)), bounce_(bounce_bytes, page_bytes) {}

void DirectWriter::close() {
  // Both, even if the first fails (the first failure is reported).
  std::exception_ptr failure;
  for (UniqueFd* fd : {&direct_, &buffered_}) {
    try {
      fd->close();
    } catch (const Error&) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

void DirectWriter::write_all(
    const UniqueFd& fd, const unsigned char* data, size_t n, uint64_t offset, const std::string& where) {
  while (n > 0) {
    const ssize_t done = ::pwrite(fd.get(), data, n, static_cast<off_t>(offset));
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) {
      const int code = done < 0 ? errno : ENOSPC;
      if (&fd == &direct_ && code == EINVAL) { // the file system takes O_DIRECT opens, not writes
        log::warning("direct I/O refused by the file system of '" + buffered_.path() +
                     "'; writing through the page cache");
        direct_ok_ = false;
        write_all(buffered_, data, n, offset, where);
        return;
      }
      throw Error("writing '" + where + "' to '" + buffered_.path() + "': " + std::strerror(code));
    }
    data += done;
    n -= static_cast<size_t>(done);
    offset += static_cast<uint64_t>(done);
  }
}

void DirectWriter::write(const void* data, size_t n_bytes, uint64_t file_offset, const std::string& where) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Head: up to the first page boundary, through the page cache.
  const size_t head = std::min<size_t>(n_bytes, (page_bytes - file_offset % page_bytes) % page_bytes);
  if (head > 0) write_all(buffered_, bytes, head, file_offset, where);
  bytes += head;
  file_offset += head;
  n_bytes -= head;
  // Whole pages: O_DIRECT from the aligned bounce buffer (one memcpy at ~10 GB/s is far cheaper
  // than the kernel's page allocation it saves).
  size_t whole = n_bytes - n_bytes % page_bytes;
  if (whole > 0 && direct_ok_ && reinterpret_cast<uintptr_t>(bytes) % page_bytes == 0) {
    // The caller laid its data out at the file's page phase (see StreamlineSink::points_page_phase):
    // no copy needed.
    write_all(direct_, bytes, whole, file_offset, where); // (falls back by itself if refused)
    bytes += whole;
    file_offset += whole;
    n_bytes -= whole;
    whole = 0;
  }
  std::unique_lock<std::mutex> bounce_lock(bounce_mutex_, std::defer_lock);
  if (whole > 0 && direct_ok_) bounce_lock.lock();
  while (whole > 0 && direct_ok_) {
    const size_t n = std::min(whole, bounce_bytes);
    std::memcpy(bounce_.data(), bytes, n);
    write_all(direct_, bounce_.data(), n, file_offset, where);
    bytes += n;
    file_offset += n;
    n_bytes -= n;
    whole -= n;
  }
  // Tail (and everything, once direct I/O was refused): through the page cache.
  if (n_bytes > 0) write_all(buffered_, bytes, n_bytes, file_offset, where);
}

} // namespace dwipack::h5
