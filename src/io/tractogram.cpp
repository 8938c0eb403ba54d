// The format-independent half of the tractogram readers: file handling, the chunked reader, and
// the dispatch on the extension. The formats themselves are in trk.cpp, tck.cpp and trx.cpp.
#include "dwipack/io/tractogram.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "tractogram_internal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dwipack::io {

namespace detail {

bool ChunkReader::ensure(size_t n) {
  if (available() >= n) return true;
  if (remaining() < static_cast<int64_t>(n)) return false;
  // Move the unparsed tail (less than one unit) to the front, then read after it.
  const size_t tail = available();
  if (tail > 0 && pos_ > 0) std::memmove(buffer_.data(), buffer_.data() + pos_, tail);
  pos_ = 0;
  filled_ = tail;
  const int64_t unread = end_ - next_read_;
  // One chunk in all (tail included), or the unit asked for if it is larger.
  const size_t target = std::max(n, static_cast<size_t>(std::min<int64_t>(
                                        static_cast<int64_t>(chunk_), static_cast<int64_t>(tail) + unread)));
  if (buffer_.size() < target) buffer_.resize(target);
  const size_t want = target - tail;
  const size_t got = pread_full(fd_, buffer_.data() + tail, want, next_read_);
  next_read_ += static_cast<int64_t>(got);
  filled_ += got;
  if (got < want)
    throw Error("the file got shorter while being read (" + std::to_string(next_read_) + " bytes)");
  return true;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

bool parse_python_int(const std::string& text, int64_t& value) {
  const auto is_space = [](char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
  };
  size_t b = 0, e = text.size();
  while (b < e && is_space(text[b]))
    ++b;
  while (e > b && is_space(text[e - 1]))
    --e;
  bool negative = false;
  if (b < e && (text[b] == '+' || text[b] == '-')) negative = text[b++] == '-';
  if (b == e) return false;
  uint64_t v = 0;
  bool last_was_digit = false;
  for (size_t i = b; i < e; ++i) {
    const char c = text[i];
    if (c == '_') {
      if (!last_was_digit) return false; // leading or doubled underscore
      last_was_digit = false;
      continue;
    }
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    last_was_digit = true;
  }
  if (!last_was_digit) return false; // trailing underscore
  value = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

void fail(const TractogramHeader& header, const std::string& fact) {
  throw Error(Error(fact), "file " + quoted(header.path));
}

} // namespace detail

namespace {} // namespace

TractogramHeader read_tractogram_header(const std::string& path) {
  return with_context("file " + quoted(path), [&] {
    const std::string ext = extension_of(path);
    if (ext != ".trk" && ext != ".tck" && ext != ".trx")
      throw Error("extension " + quoted(ext) +
                  " is not a tractogram format (accepted: '.trk', '.tck', '.trx')");
    if (ext == ".trx") return detail::read_trx_header(path);
    const UniqueFd fd = detail::open_for_reading(path, true);
    return ext == ".trk" ? detail::read_trk_header(path, fd.get()) : detail::read_tck_header(path, fd.get());
  });
}

int64_t
read_streamlines(const TractogramHeader& header, const StreamlineVisitor& visit, TractogramScratch& scratch) {
  // Only the opening is wrapped here: the parsers add the file frame to their own errors, and
  // the visitor's exceptions go through untouched (its caller knows its context).
  if (header.format == TractogramFormat::trx) return detail::read_trx_streamlines(header, visit, scratch);
  int64_t size = 0;
  const UniqueFd fd = with_context("file " + quoted(header.path), [&] {
    UniqueFd opened = detail::open_for_reading(header.path, true);
    size = detail::file_size(opened.get());
    return opened;
  });
  if (header.format == TractogramFormat::trk)
    return detail::read_trk_streamlines(header, fd.get(), size, visit, scratch);
  return detail::read_tck_streamlines(header, fd.get(), size, visit, scratch);
}

} // namespace dwipack::io
