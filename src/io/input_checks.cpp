#include "dwipack/io/input_checks.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/nifti.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/util/crc32.hpp"
#include "dwipack/util/gzip.hpp"
#include "dwipack/util/unique_fd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace dwipack::io {
namespace {

int64_t file_size(const UniqueFd& fd) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error("cannot stat: " + std::string(std::strerror(errno)));
  return static_cast<int64_t>(st.st_size);
}

void read_at(const UniqueFd& fd, void* out, size_t bytes, int64_t offset) {
  const ssize_t n = ::pread(fd.get(), out, bytes, offset);
  if (n != static_cast<ssize_t>(bytes))
    throw Error("cannot read " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + ": " +
                (n < 0 ? std::strerror(errno) : "end of file"));
}

std::string needs(const NiftiHeader& h) {
  return std::to_string(h.vox_offset + h.data_bytes()) + " (vox_offset " + std::to_string(h.vox_offset) +
         " + " + std::to_string(h.data_bytes()) + " bytes of voxels)";
}

/// The uncompressed size of a whole gzip stream (every member decoded, each CRC-32 and length
/// checked); throws Error if the stream is cut or corrupt.
int64_t decoded_size(const UniqueFd& fd) {
  std::vector<unsigned char> in(1 << 20), out(1 << 20);
  gzip::MemberDecoder decoder;
  int64_t total = 0, offset = 0;
  bool eof = false;
  const auto refill = [&] {
    const ssize_t n = ::pread(fd.get(), in.data(), in.size(), offset);
    if (n < 0) throw Error("cannot read: " + std::string(std::strerror(errno)));
    eof = n == 0;
    if (eof) return false;
    offset += n;
    decoder.feed(in.data(), static_cast<size_t>(n));
    return true;
  };
  for (int idle = 0;;) {
    if (decoder.member_done()) {
      if (decoder.input_left() == 0 && !refill()) return total; // after the last member
      decoder.next_member(); // concatenated members are one stream, as gzip reads them
    }
    if (decoder.input_left() == 0 && !eof) refill();
    const size_t before = decoder.input_left();
    const size_t got = decoder.decode(out.data(), out.size());
    total += static_cast<int64_t>(got);
    if (decoder.member_done()) continue;
    if (got < out.size() && decoder.input_left() == 0 && eof)
      throw Error("truncated: the gzip stream ends after " + std::to_string(total) +
                  " decoded bytes, without its trailer");
    idle = got > 0 || decoder.input_left() != before ? 0 : idle + 1;
    if (idle > 2) throw Error("the gzip decoder made no progress (corrupt stream?)");
  }
}

void check_nifti(const NiftiHeader& h, const std::string& path) {
  const UniqueFd fd = UniqueFd::open(path, O_RDONLY);
  const int64_t size = file_size(fd);
  const int64_t expected = h.vox_offset + h.data_bytes();
  if (!h.gzipped) {
    if (size < expected)
      throw Error("truncated: " + std::to_string(size) + " bytes, its header needs " + needs(h));
    return;
  }
  // A gzip member ends with CRC-32 and ISIZE (the uncompressed size modulo 2^32), little-endian.
  if (size < 18) throw Error("truncated: " + std::to_string(size) + " bytes, too short for a gzip stream");
  unsigned char trailer[4];
  read_at(fd, trailer, 4, size - 4);
  const uint32_t isize = uint32_t{trailer[0]} | uint32_t{trailer[1]} << 8 | uint32_t{trailer[2]} << 16 |
                         uint32_t{trailer[3]} << 24;
  if (isize == static_cast<uint32_t>(expected)) return;
  // Several members, bytes after the image, or a cut file: only decoding tells.
  const int64_t decoded = decoded_size(fd);
  if (decoded < expected)
    throw Error("truncated: it decodes to " + std::to_string(decoded) + " bytes, its header needs " +
                needs(h));
}

void check_tck(const TractogramHeader& h, const std::string& path) {
  const bool f64 = h.tck_datatype.rfind("Float64", 0) == 0;
  const int64_t point_bytes = f64 ? 24 : 12;
  const UniqueFd fd = UniqueFd::open(path, O_RDONLY);
  const int64_t size = file_size(fd);
  const int64_t data = size - h.data_offset;
  const std::string marker = "the end-of-file marker (a triplet of Inf)";
  if (data < point_bytes)
    throw Error("truncated: " + std::to_string(size) + " bytes, no room after the header (offset " +
                std::to_string(h.data_offset) + ") for " + marker);
  if (data % point_bytes != 0)
    throw Error("truncated: the " + std::to_string(data) + " bytes after the header are not whole " +
                std::to_string(point_bytes) + "-byte points");
  unsigned char last[24];
  read_at(fd, last, static_cast<size_t>(point_bytes), size - point_bytes);
  // Inf in either byte order and width: all exponent bits set, mantissa zero, ignoring the sign.
  bool inf = true;
  for (int k = 0; k < 3; ++k) {
    const unsigned char* p = last + k * (point_bytes / 3);
    if (f64) {
      uint64_t v = 0;
      std::memcpy(&v, p, 8);
      if (h.byte_swapped) v = __builtin_bswap64(v);
      inf = inf && (v & 0x7fffffffffffffffull) == 0x7ff0000000000000ull;
    } else {
      uint32_t v = 0;
      std::memcpy(&v, p, 4);
      if (h.byte_swapped) v = __builtin_bswap32(v);
      inf = inf && (v & 0x7fffffffu) == 0x7f800000u;
    }
  }
  if (!inf) throw Error("truncated: its last point is not " + marker);
}

} // namespace

std::string content_checksum(const std::string& path) {
  return with_context("file " + quoted(path), [&] {
    const UniqueFd fd = UniqueFd::open(path, O_RDONLY);
    std::vector<unsigned char> buffer(4 << 20);
    Crc32 crc;
    for (int64_t offset = 0;;) {
      const ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error("cannot read: " + std::string(std::strerror(errno)));
      if (n == 0) break;
      crc.update(buffer.data(), static_cast<size_t>(n));
      offset += n;
    }
    char text[16];
    std::snprintf(text, sizeof text, "%08x", crc.value);
    return std::string("crc32:") + text;
  });
}

void check_complete(const NiftiHeader& h) {
  with_context("file " + quoted(h.path), [&] { check_nifti(h, h.path); });
}

void check_complete(const TractogramHeader& h) {
  if (h.format == TractogramFormat::tck)
    with_context("file " + quoted(h.path), [&] { check_tck(h, h.path); });
}

} // namespace dwipack::io
