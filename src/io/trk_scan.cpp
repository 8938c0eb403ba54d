#include "dwipack/io/trk_scan.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/unique_fd.hpp"
#include "posix_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace dwipack::io {
namespace {

constexpr int64_t header_bytes = 1000;
// The file is read through one window of this size, refilled from the next count whenever that
// count lies past it: small enough to stay in the CPU cache, so the hops that follow a refill are
// cache hits, and large enough that the refills (copies from the page cache at memory speed) cost
// little per streamline. A mapping of the whole file (the first version) was slower: every hop
// was a page fault and a DRAM miss, and every page touched counted in the process's RSS (the
// size of the tractogram, in a phase meant to read headers).
constexpr int64_t window_bytes = int64_t{1} << 20;

int32_t load_count(const unsigned char* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if (swap) v = __builtin_bswap32(v);
  int32_t out;
  std::memcpy(&out, &v, 4);
  return out;
}

/// A read-only view of a file through one window (see window_bytes).
class WindowReader {
public:
  explicit WindowReader(const std::string& path) : fd_(UniqueFd::open(path, O_RDONLY)), path_(path) {
    try {
      size_ = detail::file_size(fd_.get());
    } catch (const Error& e) {
      throw Error("file " + quoted(path) + ": " + e.what());
    }
    ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  int64_t size() const { return size_; }
  /// The 4 bytes at `at` (at + 4 <= size()), refilling the window from `at` when they are past it.
  const unsigned char* four_bytes_at(int64_t at) {
    if (at < start_ || at + 4 > end_) {
      const int64_t want = std::min(window_bytes, size_ - at);
      if (window_.empty())
        window_.resize(static_cast<size_t>(std::min(window_bytes, size_))); // small files: small
      size_t got = 0;
      try {
        got = detail::pread_full(fd_.get(), window_.data(), static_cast<size_t>(want), at);
      } catch (const Error& e) {
        throw Error("file " + quoted(path_) + ": " + e.what());
      }
      start_ = at;
      end_ = at + static_cast<int64_t>(got);
      if (end_ < at + 4) throw Error("file " + quoted(path_) + ": changed size while being read");
    }
    return window_.data() + (at - start_);
  }

private:
  UniqueFd fd_;
  std::string path_;
  int64_t size_ = 0;
  std::vector<unsigned char> window_;
  int64_t start_ = 0; ///< file range held in window_: [start_, end_)
  int64_t end_ = 0;
};

} // namespace

std::optional<TrkLayout> scan_trk_layout(const TractogramHeader& header) {
  WindowReader file(header.path);
  const int64_t point_bytes = 4 * (3 + static_cast<int64_t>(header.n_scalars));
  const int64_t property_bytes = 4 * static_cast<int64_t>(header.n_properties);
  TrkLayout out;
  out.min_points = std::numeric_limits<int64_t>::max();
  for (int64_t at = header_bytes; at < file.size();) {
    if (file.size() - at < 4) return std::nullopt;
    const int32_t n = load_count(file.four_bytes_at(at), header.byte_swapped);
    if (n < 0 || 4 + n * point_bytes + property_bytes > file.size() - at) return std::nullopt;
    at += 4 + n * point_bytes + property_bytes;
    ++out.n_streamlines;
    out.n_points += n;
    out.min_points = std::min<int64_t>(out.min_points, n);
  }
  if (out.n_streamlines == 0) out.min_points = 0;
  if (header.count_in_header > 0 && header.count_in_header != out.n_streamlines) return std::nullopt;
  return out;
}

} // namespace dwipack::io
