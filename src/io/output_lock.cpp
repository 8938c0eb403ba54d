#include "dwipack/io/output_lock.hpp"

#include "dwipack/error.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dwipack::io {
namespace {

/// F_SETLK of a write lock over the whole file: 0 when taken, else errno.
int try_lock(int fd) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0; // to the end, however long
  for (;;) {
    if (::fcntl(fd, F_SETLK, &lock) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/// Who holds the lock, for the message: the holder's own line ("host H, pid P, started T"), or
/// what F_GETLK says (a pid is meaningful only on this host).
std::string holder_of(int fd) {
  char text[512];
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string line = n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string();
  line = line.substr(0, line.find('\n'));
  if (!line.empty()) return line;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  if (::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK)
    return "pid " + std::to_string(probe.l_pid) + " (host unknown: it has not written its name yet)";
  return "unknown (it has not written its name yet)";
}

std::string this_holder() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return std::string("host ") + host + ", pid " + std::to_string(::getpid()) + ", started " + when;
}

bool still_named(int fd, const std::string& path) {
  struct stat open_file {
  }, named{};
  return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &named) == 0 &&
         open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

} // namespace

std::string lock_path(const std::string& output) {
  return output + ".lock";
}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
    unsupported_ = std::move(other.unsupported_);
  }
  return *this;
}

OutputLock::~OutputLock() {
  release();
}

OutputLock OutputLock::acquire(const std::string& output) {
  OutputLock lock;
  lock.path_ = lock_path(output);
  // A few tries: the holder may remove its file between our open and our lock.
  for (int attempt = 0; attempt < 5; ++attempt) {
    UniqueFd fd = UniqueFd::try_open(lock.path_, O_RDWR | O_CREAT, 0644);
    if (!fd.valid())
      throw Error("cannot open the lock file " + quoted(lock.path_) + ": " + std::strerror(errno));
    const int error = try_lock(fd.get());
    if (error == EACCES || error == EAGAIN)
      throw Error("output " + quoted(output) + " is being written by another run (" + holder_of(fd.get()) +
                  "; lock file " + quoted(lock.path_) +
                  "); nothing was changed. Wait for that run to end, or stop it");
    if (error != 0) {
      lock.unsupported_ = std::strerror(error);
      ::unlink(lock.path_.c_str());
      return lock;
    }
    if (!still_named(fd.get(), lock.path_)) continue; // taken over by a new file: lock that one
    const std::string line = this_holder() + "\n";
    if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), line.data(), line.size(), 0) < 0)
      throw Error("cannot write the lock file " + quoted(lock.path_) + ": " + std::strerror(errno));
    lock.fd_ = std::move(fd);
    return lock;
  }
  throw Error("cannot take the lock file " + quoted(lock.path_) + ": it keeps being replaced");
}

void OutputLock::release() noexcept {
  if (!fd_.valid()) return;
  ::unlink(path_.c_str());
  fd_ = UniqueFd(); // closing drops the lock
}

} // namespace dwipack::io
