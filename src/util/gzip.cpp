#include "dwipack/util/gzip.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cstring>
#include <string>

// DWIPACK_WITH_ISAL and DWIPACK_WITH_LIBDEFLATE (0 or 1) are set for this file alone by
// CMakeLists.txt; zlib does whatever the libraries left out would have done.
#if DWIPACK_WITH_ISAL
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#endif
#if DWIPACK_WITH_LIBDEFLATE
#include <libdeflate.h>
#endif
#if !DWIPACK_WITH_ISAL || !DWIPACK_WITH_LIBDEFLATE
#include <zlib.h>
#endif

namespace dwipack::gzip {

namespace {

/// What a corrupt stream is found to have, whichever library found it: one message each.
enum class Fault { checksum, header, method, block, symbol, distance };

[[noreturn]] void fail(Fault fault, int member) {
  switch (fault) {
  case Fault::checksum:
    throw Error("corrupt gzip stream: CRC32 or length check failed (member " + std::to_string(member) + ")");
  case Fault::header:
    throw Error("corrupt gzip stream: invalid gzip header");
  case Fault::method:
    throw Error("gzip compression method is not deflate");
  case Fault::block:
    throw Error("corrupt gzip stream: invalid deflate block");
  case Fault::symbol:
    throw Error("corrupt gzip stream: invalid deflate symbol");
  case Fault::distance:
    throw Error("corrupt gzip stream: invalid deflate distance");
  }
  throw Error("corrupt gzip stream");
}

#if !DWIPACK_WITH_ISAL || !DWIPACK_WITH_LIBDEFLATE
/// zlib counts lengths in 32 bits: big buffers go through in pieces of this size.
constexpr size_t zlib_piece = size_t{1} << 30;

uInt piece(size_t n) {
  return static_cast<uInt>(std::min(n, zlib_piece));
}
#endif

#if !DWIPACK_WITH_ISAL
/// zlib's message for Z_DATA_ERROR (inflate.c, inffast.c) as the fault it reports.
[[noreturn]] void fail_zlib(const char* msg, int member) {
  const std::string m = msg ? msg : "";
  if (m == "incorrect data check" || m == "incorrect length check") fail(Fault::checksum, member);
  if (m == "unknown compression method") fail(Fault::method, member);
  if (m == "incorrect header check" || m == "unknown header flags set" || m == "header crc mismatch" ||
      m == "invalid window size")
    fail(Fault::header, member);
  if (m == "invalid literal/length code" || m == "invalid distance code") fail(Fault::symbol, member);
  if (m == "invalid distance too far back") fail(Fault::distance, member);
  if (m.rfind("invalid", 0) == 0 || m == "too many length or distance symbols") fail(Fault::block, member);
  throw Error("gzip decoder error: " + (m.empty() ? std::string("zlib data error") : m));
}
#endif

} // namespace

std::string backends() {
  std::string decode = "zlib", crc = "zlib", deflate = "zlib";
#if DWIPACK_WITH_LIBDEFLATE
  crc = deflate = "libdeflate";
#endif
#if DWIPACK_WITH_ISAL
  decode = crc = "ISA-L";
#endif
  return "decode: " + decode + ", CRC-32: " + crc + ", deflate: " + deflate;
}

// ---- checksums --------------------------------------------------------------------------------

uint32_t crc32(uint32_t crc, const void* data, size_t bytes) {
#if DWIPACK_WITH_ISAL
  // folding CRC at memory speed (PCLMULQDQ); 64-bit length
  return crc32_gzip_refl(crc, static_cast<const unsigned char*>(data), bytes);
#elif DWIPACK_WITH_LIBDEFLATE
  return libdeflate_crc32(crc, data, bytes);
#else
  auto p = static_cast<const Bytef*>(data);
  uLong value = crc;
  for (size_t done = 0; done < bytes; done += zlib_piece)
    value = ::crc32(value, p + done, piece(bytes - done));
  return static_cast<uint32_t>(value);
#endif
}

uint32_t adler32(uint32_t adler, const void* data, size_t bytes) {
#if DWIPACK_WITH_LIBDEFLATE
  return libdeflate_adler32(adler, data, bytes);
#else
  auto p = static_cast<const Bytef*>(data);
  uLong value = adler;
  for (size_t done = 0; done < bytes; done += zlib_piece)
    value = ::adler32(value, p + done, piece(bytes - done));
  return static_cast<uint32_t>(value);
#endif
}

// ---- decoding -----------------------------------------------------------------------------------

#if DWIPACK_WITH_ISAL

struct MemberDecoder::State {
  inflate_state s; // about 85 KiB: on the heap
};

MemberDecoder::MemberDecoder() : state_(std::make_unique<State>()) {
  isal_inflate_init(&state_->s);
  state_->s.crc_flag = ISAL_GZIP;
}

void MemberDecoder::feed(const unsigned char* data, size_t bytes) {
  state_->s.next_in = const_cast<uint8_t*>(data); // ISA-L's field is not const; it only reads
  state_->s.avail_in = static_cast<uint32_t>(bytes);
}

size_t MemberDecoder::input_left() const {
  return state_->s.avail_in;
}

size_t MemberDecoder::decode(unsigned char* out, size_t room) {
  if (member_done_) return 0;
  inflate_state& s = state_->s;
  s.next_out = out;
  s.avail_out = static_cast<uint32_t>(room);
  const int ret = isal_inflate(&s);
  const size_t produced = room - s.avail_out;
  const int member = members_done_ + 1;
  switch (ret) {
  case ISAL_DECOMP_OK:
  case ISAL_END_INPUT:
  case ISAL_OUT_OVERFLOW:
    break;
  case ISAL_INCORRECT_CHECKSUM:
    fail(Fault::checksum, member);
  case ISAL_INVALID_WRAPPER:
    fail(Fault::header, member);
  case ISAL_UNSUPPORTED_METHOD:
    fail(Fault::method, member);
  case ISAL_INVALID_BLOCK:
    fail(Fault::block, member);
  case ISAL_INVALID_SYMBOL:
    fail(Fault::symbol, member);
  case ISAL_INVALID_LOOKBACK:
    fail(Fault::distance, member);
  default:
    throw Error("gzip decoder error " + std::to_string(ret));
  }
  if (s.block_state == ISAL_BLOCK_FINISH) { // the trailer, too, was read and checked
    member_done_ = true;
    ++members_done_;
  }
  return produced;
}

void MemberDecoder::next_member() {
  inflate_state& s = state_->s;
  uint8_t* next_in = s.next_in; // the reset forgets the input
  const uint32_t avail_in = s.avail_in;
  isal_inflate_reset(&s);
  s.crc_flag = ISAL_GZIP;
  s.next_in = next_in;
  s.avail_in = avail_in;
  member_done_ = false;
}

#else // zlib

struct MemberDecoder::State {
  z_stream z{};
  State() {
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error("cannot start zlib's gzip decoder");
  }
  ~State() { inflateEnd(&z); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

MemberDecoder::MemberDecoder() : state_(std::make_unique<State>()) {}

void MemberDecoder::feed(const unsigned char* data, size_t bytes) {
  state_->z.next_in = const_cast<Bytef*>(data); // zlib's field is not const before 1.2.x's ZLIB_CONST
  state_->z.avail_in = static_cast<uInt>(bytes);
}

size_t MemberDecoder::input_left() const {
  return state_->z.avail_in;
}

size_t MemberDecoder::decode(unsigned char* out, size_t room) {
  if (member_done_) return 0;
  z_stream& z = state_->z;
  z.next_out = out;
  z.avail_out = static_cast<uInt>(room);
  const int ret = inflate(&z, Z_NO_FLUSH);
  const size_t produced = room - z.avail_out;
  switch (ret) {
  case Z_OK:
  case Z_BUF_ERROR: // no progress possible: the input is consumed
    break;
  case Z_STREAM_END: // the trailer, too, was read and checked
    member_done_ = true;
    ++members_done_;
    break;
  case Z_DATA_ERROR:
    fail_zlib(z.msg, members_done_ + 1);
  case Z_MEM_ERROR:
    throw Error("gzip decoder: out of memory");
  default:
    throw Error("gzip decoder error " + std::to_string(ret));
  }
  return produced;
}

void MemberDecoder::next_member() {
  inflateReset(&state_->z); // keeps next_in and avail_in
  member_done_ = false;
}

#endif

MemberDecoder::~MemberDecoder() = default;
MemberDecoder::MemberDecoder(MemberDecoder&&) noexcept = default;
MemberDecoder& MemberDecoder::operator=(MemberDecoder&&) noexcept = default;

// ---- compression --------------------------------------------------------------------------------

#if DWIPACK_WITH_LIBDEFLATE

struct Deflater::State {
  libdeflate_compressor* c = nullptr;
  ~State() { libdeflate_free_compressor(c); }
};

Deflater::Deflater(int level) : state_(std::make_unique<State>()), level_(level) {
  state_->c = libdeflate_alloc_compressor(level);
  if (!state_->c) throw Error("cannot allocate a deflate compressor (level " + std::to_string(level) + ")");
}

size_t Deflater::raw_bound(size_t bytes) {
  return libdeflate_deflate_compress_bound(state_->c, bytes);
}

size_t Deflater::deflate_raw(const void* data, size_t bytes, unsigned char* out, size_t room) {
  const size_t n = libdeflate_deflate_compress(state_->c, data, bytes, out, room);
  if (n == 0) throw Error("deflate failed (output larger than its room)");
  return n;
}

std::vector<unsigned char> Deflater::gzip(const void* data, size_t bytes) {
  std::vector<unsigned char> out(libdeflate_gzip_compress_bound(state_->c, bytes));
  const size_t n = libdeflate_gzip_compress(state_->c, data, bytes, out.data(), out.size());
  if (n == 0) throw Error("gzip compression failed");
  out.resize(n);
  return out;
}

#else // zlib

namespace {

/// One zlib compression stream (raw deflate or gzip, by its window bits).
struct ZDeflate {
  z_stream z{};
  ZDeflate(int level, int window_bits) {
    if (deflateInit2(&z, std::min(level, 9), Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw Error("cannot allocate a deflate compressor (level " + std::to_string(level) + ")");
  }
  ~ZDeflate() { deflateEnd(&z); }
  ZDeflate(const ZDeflate&) = delete;
  ZDeflate& operator=(const ZDeflate&) = delete;

  /// The whole of `data` as one complete stream into `out`; returns its size.
  size_t run(const void* data, size_t bytes, unsigned char* out, size_t room) {
    if (deflateReset(&z) != Z_OK) throw Error("deflate: cannot reset the compressor");
    auto in = static_cast<const Bytef*>(data);
    size_t in_done = 0, out_done = 0;
    for (;;) {
      const uInt in_piece = piece(bytes - in_done), out_piece = piece(room - out_done);
      z.next_in = const_cast<Bytef*>(in + in_done);
      z.avail_in = in_piece;
      z.next_out = out + out_done;
      z.avail_out = out_piece;
      const int flush = in_done + in_piece == bytes ? Z_FINISH : Z_NO_FLUSH;
      const int ret = deflate(&z, flush);
      in_done += in_piece - z.avail_in;
      out_done += out_piece - z.avail_out;
      if (ret == Z_STREAM_END) return out_done;
      if (ret == Z_BUF_ERROR && out_done == room) throw Error("deflate failed (output larger than its room)");
      if (ret != Z_OK && ret != Z_BUF_ERROR)
        throw Error("deflate failed (zlib error " + std::to_string(ret) + ")");
    }
  }
};

} // namespace

struct Deflater::State {
  ZDeflate raw;
  explicit State(int level) : raw(level, -MAX_WBITS) {}
};

Deflater::Deflater(int level) : state_(std::make_unique<State>(level)), level_(level) {}

size_t Deflater::raw_bound(size_t bytes) {
  return deflateBound(&state_->raw.z, bytes);
}

size_t Deflater::deflate_raw(const void* data, size_t bytes, unsigned char* out, size_t room) {
  return state_->raw.run(data, bytes, out, room);
}

std::vector<unsigned char> Deflater::gzip(const void* data, size_t bytes) {
  ZDeflate gz(level_, 16 + MAX_WBITS); // once per file: a stream of its own is cheap enough
  std::vector<unsigned char> out(deflateBound(&gz.z, bytes));
  out.resize(gz.run(data, bytes, out.data(), out.size()));
  return out;
}

#endif

Deflater::~Deflater() = default;
Deflater::Deflater(Deflater&&) noexcept = default;
Deflater& Deflater::operator=(Deflater&&) noexcept = default;

} // namespace dwipack::gzip
