#pragma once
// Shared plumbing of the tractogram readers (src/io/trk.cpp, tck.cpp, trx.cpp, tractogram.cpp):
// the file descriptor, a chunked reader over a byte range of the file, byte-order helpers and the
// format entry points that tractogram.cpp dispatches to. Private to src/io.
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram.hpp"
#include "posix_file.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::io::detail {

/// Sequential reader over bytes [begin, end) of a file, through one reusable buffer that holds at
/// most max(chunk_bytes, the largest unit asked for by ensure()) bytes: read()s, not mmap, so the
/// resident set stays at one chunk whatever the file size.
class ChunkReader {
public:
  ChunkReader(int fd, int64_t begin, int64_t end, std::vector<unsigned char>& buffer, size_t chunk_bytes)
      : fd_(fd), next_read_(begin), end_(end), buffer_(buffer), chunk_(chunk_bytes == 0 ? 1 : chunk_bytes) {}

  const unsigned char* data() const { return buffer_.data() + pos_; }
  size_t available() const { return filled_ - pos_; }
  void consume(size_t n) { pos_ += n; }
  /// File offset of data().
  int64_t offset() const { return next_read_ - static_cast<int64_t>(available()); }
  /// Bytes from data() to the end of the range (buffered or not).
  int64_t remaining() const { return end_ - offset(); }
  /// Make at least `n` bytes available at data(); false (and nothing read) if the range holds
  /// fewer than `n` more bytes.
  bool ensure(size_t n);

private:
  int fd_;
  int64_t next_read_; ///< file offset of buffer_[filled_]
  int64_t end_;
  std::vector<unsigned char>& buffer_;
  size_t chunk_;
  size_t pos_ = 0, filled_ = 0;
};

inline uint32_t load_u32(const unsigned char* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap32(v) : v;
}
inline uint64_t load_u64(const unsigned char* p, bool swap) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap64(v) : v;
}
inline int32_t load_i32(const unsigned char* p, bool swap) {
  return static_cast<int32_t>(load_u32(p, swap));
}
inline int16_t load_i16(const unsigned char* p, bool swap) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  if (swap) v = __builtin_bswap16(v);
  return static_cast<int16_t>(v);
}
inline float load_f32(const unsigned char* p, bool swap) {
  const uint32_t u = load_u32(p, swap);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline double load_f64(const unsigned char* p, bool swap) {
  const uint64_t u = load_u64(p, swap);
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

/// Whether the bits of a float32 are an Inf or a NaN.
inline bool non_finite_bits(uint32_t bits) {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

/// "%.9g": enough digits to tell float32 values apart in a message.
std::string number(double v);

/// Python's int(str) on ASCII text: surrounding whitespace, an optional sign, digits with single
/// underscores between them. False if nibabel's int() would raise (or the value overflows).
bool parse_python_int(const std::string& text, int64_t& value);

/// Grow `v` (never shrink: scratch keeps its pages across files) to at least `n` elements.
template <class T> void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(std::max(n, v.size() + v.size() / 2));
}

// ---- the formats ------------------------------------------------------------------------------
// Errors from these carry the fact only; the public functions add the "file '<path>'" frame.

TractogramHeader read_trk_header(const std::string& path, int fd);
TractogramHeader read_tck_header(const std::string& path, int fd);

/// `fail` throws an Error with the file frame; it is how the parsers report a fact without
/// wrapping the visitor's own exceptions.
[[noreturn]] void fail(const TractogramHeader& header, const std::string& fact);

int64_t read_trk_streamlines(const TractogramHeader& header,
                             int fd,
                             int64_t size,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch);
int64_t read_tck_streamlines(const TractogramHeader& header,
                             int fd,
                             int64_t size,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch);

/// TRX (src/io/trx.cpp): `path` is a ZIP archive or a folder; each opens what it needs.
TractogramHeader read_trx_header(const std::string& path);
int64_t read_trx_streamlines(const TractogramHeader& header,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch);

} // namespace dwipack::io::detail
