#pragma once
// Reading ZIP archives as TRX files need it (src/io/trx.cpp): the central directory, ZIP64
// included, and each member as a sequential byte stream. A stored member is read in place with
// pread (no copy of the archive, nothing mapped); a deflated one is inflated in blocks with zlib.
// Both check the member's CRC-32 once its last byte was read. Private to src/io.
//
// What is refused (an Error with the fact only; callers add the file and member): archives split
// over several disks, a central directory that is cut short or not where the end record says,
// two members with one name, encrypted members, methods other than stored (0) and deflated (8),
// a local header that disagrees with the directory, data that ends early or inflates to another
// size, a CRC-32 that does not match.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dwipack::io::detail {

struct ZipMember {
  std::string name;                 ///< as stored (UTF-8 or CP437 bytes, '/' separated)
  uint16_t method = 0;              ///< 0 stored, 8 deflated
  uint16_t flags = 0;               ///< general purpose bits (bit 0: encrypted)
  uint32_t crc32 = 0;               ///< of the uncompressed bytes
  uint64_t compressed_size = 0;     ///< bytes of data in the archive
  uint64_t size = 0;                ///< uncompressed bytes
  uint64_t local_header_offset = 0; ///< where its local header starts
  bool is_directory() const { return !name.empty() && name.back() == '/'; }
};

/// The members listed in the central directory of the archive open on `fd` (`file_bytes` long),
/// in directory order. Throws Error if the file is not a ZIP archive this reader handles.
std::vector<ZipMember> read_zip_directory(int fd, int64_t file_bytes);

/// File offset of the member's data (after its local header, which must name the same member
/// with the same method); checks that the data lies inside the file.
int64_t zip_data_offset(int fd, int64_t file_bytes, const ZipMember& member);

/// A member's bytes (or a whole plain file's), in order.
class ByteStream {
public:
  virtual ~ByteStream() = default;
  /// Exactly `n` bytes into `dst` (the caller never asks for more than size() minus what it read);
  /// throws Error if they cannot be had (a read error, a file cut short, corrupt deflate data).
  virtual void read(unsigned char* dst, size_t n) = 0;
  /// After the last byte: checks that the data ends there and that its CRC-32 matches.
  virtual void finish() = 0;
  /// Uncompressed bytes in all.
  virtual uint64_t size() const = 0;
};

/// Bytes [offset, offset + size) of `fd`, read in place with pread. `crc32` is checked by finish()
/// unless `check_crc` is false (a plain file of a TRX folder has none). `fd` must outlive it.
std::unique_ptr<ByteStream>
open_stored(int fd, int64_t offset, uint64_t size, bool check_crc, uint32_t crc32);

/// Raw deflate data [offset, offset + compressed_size) of `fd`, inflated to `size` bytes with
/// zlib, reading the compressed bytes in blocks of about 1 MiB.
std::unique_ptr<ByteStream>
open_deflated(int fd, int64_t offset, uint64_t compressed_size, uint64_t size, uint32_t crc32);

/// A member of an open archive as a stream (stored or deflated, as it says).
std::unique_ptr<ByteStream> open_member(int fd, int64_t file_bytes, const ZipMember& member);

/// Writing (TrxWriter): sizes and offsets above this many bytes get ZIP64 records, as Python's
/// zipfile decides (2^31 - 1: some readers take the 32-bit fields as signed). The setter exists
/// for the tests, which cannot write gigabytes; it returns the previous value.
uint64_t zip64_write_limit();
uint64_t set_zip64_write_limit(uint64_t bytes);

} // namespace dwipack::io::detail
