#pragma once
// The gzip and deflate primitives dwipack uses, behind one interface so that the fast libraries
// stay optional. Each runs on the fastest library the build was configured with
// (DWIPACK_WITH_ISAL, DWIPACK_WITH_LIBDEFLATE), else on zlib, which every HDF5 build brings:
//   gzip decoding (.nii.gz input)        ISA-L, else zlib
//   CRC-32 (--resume's journal)          ISA-L, else libdeflate, else zlib
//   deflate, Adler-32 (--compression, .nii.gz output)   libdeflate, else zlib
// The decoders and checksums give the same results whichever library runs them; the compressors
// give valid streams that differ in their bytes (and size) between libraries.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dwipack::gzip {

/// Which library runs each primitive, e.g. "decode: ISA-L, CRC-32: ISA-L, deflate: libdeflate".
std::string backends();

/// The CRC-32 of gzip and zlib, continued from `crc` (0 to start) over `bytes` more bytes.
uint32_t crc32(uint32_t crc, const void* data, size_t bytes);

/// The Adler-32 of zlib streams, continued from `adler` (1 to start) over `bytes` more bytes.
uint32_t adler32(uint32_t adler, const void* data, size_t bytes);

/// Streaming decoder of a gzip stream (RFC 1952), one member at a time; checks each member's
/// CRC-32 and length. Throws Error on corrupt data, naming the fault ("corrupt gzip stream: ...").
class MemberDecoder {
public:
  MemberDecoder();
  ~MemberDecoder();
  MemberDecoder(MemberDecoder&&) noexcept;
  MemberDecoder& operator=(MemberDecoder&&) noexcept;
  MemberDecoder(const MemberDecoder&) = delete;
  MemberDecoder& operator=(const MemberDecoder&) = delete;

  /// The next input bytes (fewer than 4 GiB); they must stay valid until consumed.
  void feed(const unsigned char* data, size_t bytes);
  /// Input bytes fed and not consumed yet.
  size_t input_left() const;

  /// Decode into `out`, at most `room` bytes (fewer than 4 GiB); returns how many were written.
  /// Fewer than `room` when the input is consumed or the member has ended (member_done()).
  size_t decode(unsigned char* out, size_t room);

  /// The current member's end and trailer were decoded and checked.
  bool member_done() const { return member_done_; }
  /// Start decoding the next member, at the first unconsumed input byte.
  void next_member();

private:
  struct State; // the library's stream state
  std::unique_ptr<State> state_;
  bool member_done_ = false;
  int members_done_ = 0; ///< for the messages: "member N"
};

/// A deflate (RFC 1951) compressor at a zlib-style level: 1 (fastest) to 9 (smallest); libdeflate
/// also takes 10 to 12, which zlib runs as 9.
class Deflater {
public:
  explicit Deflater(int level);
  ~Deflater();
  Deflater(Deflater&&) noexcept;
  Deflater& operator=(Deflater&&) noexcept;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  /// The most bytes deflate_raw() may write for `bytes` input bytes.
  size_t raw_bound(size_t bytes);
  /// `bytes` bytes as one complete raw deflate stream (its last block final, no zlib or gzip
  /// wrapper) into `out`, which holds at least raw_bound(bytes); returns its size.
  size_t deflate_raw(const void* data, size_t bytes, unsigned char* out, size_t room);
  /// `bytes` bytes as one gzip member (RFC 1952).
  std::vector<unsigned char> gzip(const void* data, size_t bytes);

private:
  struct State;
  std::unique_ptr<State> state_;
  int level_;
};

} // namespace dwipack::gzip
