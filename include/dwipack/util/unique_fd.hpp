#pragma once
// The one owner of POSIX file descriptors: every descriptor dwipack opens (the NIfTI and
// tractogram readers, the --resume journal, the O_DIRECT row writer, the compressed copy's
// reader) lives in a UniqueFd. It remembers its path, so that an error names the file.
#include <string>
#include <sys/types.h>

namespace dwipack {

/// Owns one file descriptor. Move-only. The destructor closes and ignores a failure (it never
/// throws); a writer whose data must be known to be safe calls close(), which throws.
class UniqueFd {
public:
  UniqueFd() = default;
  /// Take ownership of `fd` (-1: owns nothing), opened on `path` (named in messages).
  explicit UniqueFd(int fd, std::string path = {}) noexcept;
  UniqueFd(UniqueFd&& other) noexcept;
  /// Closes what this owned (errors ignored, as in the destructor), then takes `other`'s.
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  /// open(2) `path` (retried on EINTR; O_CLOEXEC is added). Throws
  /// Error("cannot open 'PATH': <strerror>").
  static UniqueFd open(const std::string& path, int flags, mode_t mode = 0644);
  /// As open(), but a failure gives an invalid UniqueFd with errno set, for callers that fall
  /// back (O_DIRECT refused) or word the message themselves.
  static UniqueFd try_open(const std::string& path, int flags, mode_t mode = 0644);

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }

  /// Close now. Throws Error("closing 'PATH': <strerror>") if close(2) fails (on NFS, for
  /// instance, that is where a failed write-back shows); the descriptor is released either way.
  /// Nothing happens if nothing is owned.
  void close();
  /// Stop owning the descriptor without closing it; returns it.
  int release() noexcept;

private:
  int fd_ = -1;
  std::string path_;
};

} // namespace dwipack
