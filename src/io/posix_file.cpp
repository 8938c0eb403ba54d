#include "posix_file.hpp"

#include "dwipack/error.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dwipack::io::detail {

std::string errno_text() {
  return std::strerror(errno);
}

UniqueFd open_for_reading(const std::string& path, bool sequential) {
  UniqueFd fd = UniqueFd::try_open(path, O_RDONLY);
  if (!fd.valid()) throw Error("cannot open: " + errno_text());
  if (sequential) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return fd;
}

int64_t file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error("cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) throw Error("not a regular file");
  return static_cast<int64_t>(st.st_size);
}

size_t pread_full(int fd, unsigned char* buf, size_t n, int64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r =
        ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("read error: " + errno_text());
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

size_t read_full(int fd, unsigned char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error("read error: " + errno_text());
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

} // namespace dwipack::io::detail
