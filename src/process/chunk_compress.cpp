#include "dwipack/process/chunk_compress.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

namespace dwipack::process {

std::vector<uint64_t>
chunk_shape(const std::vector<uint64_t>& dims, size_t element_bytes, bool streamline_points) {
  const uint64_t target = streamline_points  ? (uint64_t{96} << 10)
                          : dims.size() >= 3 ? (uint64_t{4} << 20)
                                             : (uint64_t{1} << 20);
  // bytes[i]: one index along axis i with all of the axes after it.
  std::vector<uint64_t> bytes(dims.size() + 1, std::max<uint64_t>(1, element_bytes));
  for (size_t i = dims.size(); i-- > 0;)
    bytes[i] = bytes[i + 1] * std::max<uint64_t>(1, dims[i]);
  std::vector<uint64_t> chunk(dims.size());
  bool filled = false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (filled) {
      chunk[i] = std::max<uint64_t>(1, dims[i]);
    } else if (bytes[i + 1] <= target || i + 1 == dims.size()) {
      const uint64_t fit = std::max<uint64_t>(1, target / bytes[i + 1]);
      chunk[i] = dims[i] == 0 ? fit : std::min(fit, dims[i]);
      filled = true;
    } else {
      chunk[i] = 1; // one index of this axis is still too large: split the next axis too
    }
  }
  return chunk;
}

void shuffle_bytes(const unsigned char* in, unsigned char* out, size_t bytes, size_t element_bytes) {
  const size_t n = element_bytes > 1 ? bytes / element_bytes : 0;
  if (n <= 1) {
    std::memcpy(out, in, bytes);
    return;
  }
  if (element_bytes == 4) {
    for (size_t i = 0; i < n; ++i) {
      out[i] = in[4 * i];
      out[n + i] = in[4 * i + 1];
      out[2 * n + i] = in[4 * i + 2];
      out[3 * n + i] = in[4 * i + 3];
    }
  } else {
    for (size_t b = 0; b < element_bytes; ++b)
      for (size_t i = 0; i < n; ++i)
        out[b * n + i] = in[i * element_bytes + b];
  }
  const size_t tail = n * element_bytes;
  std::memcpy(out + tail, in + tail, bytes - tail);
}

ChunkCompressor::ChunkCompressor(int level)
    : deflater_(level), level_(level), stored_above_bits_(level <= 3 ? 7.2 : 7.92) {}

ChunkCompressor::~ChunkCompressor() = default;

namespace {

/// Order-0 entropy of `n` bytes in bits per byte, estimated from about 8192 evenly spaced bytes
/// (with the Miller-Madow correction of the estimate's bias from a finite sample).
double entropy_bits(const unsigned char* p, size_t n) {
  if (n == 0) return 0;
  const size_t stride = std::max<size_t>(1, n / 8192);
  std::array<std::array<uint32_t, 256>, 4> counts{}; // four tables: no store-to-load stalls
  size_t i = 0, samples = 0;
  for (; i + 3 * stride < n; i += 4 * stride, samples += 4) {
    ++counts[0][p[i]];
    ++counts[1][p[i + stride]];
    ++counts[2][p[i + 2 * stride]];
    ++counts[3][p[i + 3 * stride]];
  }
  for (; i < n; i += stride, ++samples)
    ++counts[0][p[i]];
  double bits = 0;
  int seen = 0;
  for (int v = 0; v < 256; ++v) {
    const uint32_t c = counts[0][v] + counts[1][v] + counts[2][v] + counts[3][v];
    if (c) {
      const double q = static_cast<double>(c) / static_cast<double>(samples);
      bits -= q * std::log2(q);
      ++seen;
    }
  }
  return bits + (seen - 1) / (2.0 * static_cast<double>(samples) * std::log(2.0));
}

} // namespace

size_t ChunkCompressor::compress(const unsigned char* chunk, size_t bytes, size_t element_bytes, Bytes& out) {
  shuffled_.resize(bytes);
  shuffle_bytes(chunk, shuffled_.data(), bytes, element_bytes);
  const unsigned char* data = shuffled_.data();
  // Planes (after the shuffle) from the first: how many bytes are noise, to be stored as they are.
  size_t stored = 0;
  const size_t plane = element_bytes > 1 ? bytes / element_bytes : 0;
  if (plane >= 4096) // too few bytes for the estimate to mean anything otherwise
    while (stored + plane <= bytes && entropy_bits(data + stored, plane) > stored_above_bits_)
      stored += plane;
  const size_t rest = bytes - stored;

  const size_t start = out.size();
  // zlib header (RFC 1950): deflate, 32 KiB window, FLEVEL as libdeflate and zlib write it.
  const unsigned char flg = level_ < 2 ? 0x01 : level_ < 6 ? 0x5e : level_ == 6 ? 0x9c : 0xda;
  out.push_back(0x78);
  out.push_back(flg);
  // Stored blocks (RFC 1951 §3.2.4): byte-aligned, at most 65535 bytes each. An empty chunk is
  // one empty final stored block.
  const auto stored_block = [&](const unsigned char* p, size_t n, bool final) {
    out.push_back(final ? 0x01 : 0x00);
    out.push_back(static_cast<unsigned char>(n & 0xff));
    out.push_back(static_cast<unsigned char>(n >> 8));
    out.push_back(static_cast<unsigned char>(~n & 0xff));
    out.push_back(static_cast<unsigned char>((~n >> 8) & 0xff));
    out.insert(out.end(), p, p + n);
  };
  if (bytes == 0) stored_block(data, 0, true);
  for (size_t done = 0; done < stored;) {
    const size_t n = std::min<size_t>(65535, stored - done);
    stored_block(data + done, n, done + n == stored && rest == 0);
    done += n;
  }
  if (rest > 0) { // the rest, deflated; its last block is the stream's final one
    const size_t bound = deflater_.raw_bound(rest);
    const size_t at = out.size();
    out.resize(at + bound);
    const size_t n = deflater_.deflate_raw(data + stored, rest, out.data() + at, bound);
    out.resize(at + n);
  }
  const uint32_t adler = gzip::adler32(1, data, bytes); // of the uncompressed (shuffled) bytes
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<unsigned char>((adler >> shift) & 0xff));
  return out.size() - start;
}

} // namespace dwipack::process
