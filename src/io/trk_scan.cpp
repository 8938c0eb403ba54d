#include "dwipack/io/trk_scan.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/unique_fd.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <optional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dwipack::io {
namespace {

constexpr int64_t header_bytes = 1000;

/// A read-only mapping of a whole file, unmapped when destroyed.
class Mapping {
public:
  explicit Mapping(const std::string& path) {
    const UniqueFd fd = UniqueFd::open(path, O_RDONLY);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
      throw Error("file " + quoted(path) + ": cannot stat: " + std::strerror(errno));
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (p == MAP_FAILED) throw Error("file " + quoted(path) + ": cannot map: " + std::strerror(errno));
    data_ = static_cast<const unsigned char*>(p);
    // Counts are visited in file order; the points read ahead are read again while writing.
    ::madvise(p, size_, MADV_SEQUENTIAL);
  } // the mapping outlives the descriptor
  ~Mapping() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const unsigned char* data() const { return data_; }
  int64_t size() const { return static_cast<int64_t>(size_); }

private:
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

int32_t load_count(const unsigned char* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if (swap) v = __builtin_bswap32(v);
  int32_t out;
  std::memcpy(&out, &v, 4);
  return out;
}

} // namespace

std::optional<TrkLayout> scan_trk_layout(const TractogramHeader& header) {
  const Mapping file(header.path);
  const int64_t point_bytes = 4 * (3 + static_cast<int64_t>(header.n_scalars));
  const int64_t property_bytes = 4 * static_cast<int64_t>(header.n_properties);
  TrkLayout out;
  out.min_points = std::numeric_limits<int64_t>::max();
  for (int64_t at = header_bytes; at < file.size();) {
    if (file.size() - at < 4) return std::nullopt;
    const int32_t n = load_count(file.data() + at, header.byte_swapped);
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
