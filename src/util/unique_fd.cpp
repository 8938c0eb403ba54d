#include "dwipack/util/unique_fd.hpp"

#include "dwipack/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

namespace dwipack {

UniqueFd::UniqueFd(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}

UniqueFd::UniqueFd(UniqueFd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_); // an error here has no one to go to; writers call close()
}

UniqueFd UniqueFd::try_open(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  const int saved = errno;
  UniqueFd owned(fd, path);
  errno = saved;
  return owned;
}

UniqueFd UniqueFd::open(const std::string& path, int flags, mode_t mode) {
  UniqueFd owned = try_open(path, flags, mode);
  if (!owned.valid()) throw Error("cannot open " + quoted(path) + ": " + std::strerror(errno));
  return owned;
}

void UniqueFd::close() {
  if (fd_ < 0) return;
  // Linux releases the descriptor even when close(2) fails (EINTR included): never retry.
  if (::close(std::exchange(fd_, -1)) != 0)
    throw Error("closing " + quoted(path_) + ": " + std::strerror(errno));
}

int UniqueFd::release() noexcept {
  return std::exchange(fd_, -1);
}

} // namespace dwipack
