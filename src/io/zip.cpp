// ZIP central directory (APPNOTE 6.3: end record, ZIP64 locator and end record, central and
// local headers, the ZIP64 extra field) and member streams. Written for TRX, which stores flat
// arrays as members; see zip.hpp for what is refused.
#include "zip.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/crc32.hpp"
#include "posix_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

namespace dwipack::io::detail {

namespace {

constexpr uint32_t sig_end = 0x06054b50, sig_zip64_locator = 0x07064b50, sig_zip64_end = 0x06064b50,
                   sig_central = 0x02014b50, sig_local = 0x04034b50;
constexpr size_t end_bytes = 22, zip64_locator_bytes = 20, zip64_end_bytes = 56, central_bytes = 46,
                 local_bytes = 30;
constexpr uint64_t max_directory_bytes = uint64_t{256} << 20; // TRX archives list a few members

// ZIP is little-endian whatever the machine.
uint16_t le16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const unsigned char* p) {
  return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::vector<unsigned char> read_at(int fd, int64_t offset, size_t n, const std::string& what) {
  std::vector<unsigned char> buf(n);
  if (pread_full(fd, buf.data(), n, offset) != n)
    throw Error(what + " (" + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                ") is cut short by the end of the file");
  return buf;
}

std::string method_name(uint16_t method) {
  switch (method) {
  case 1:
    return " (shrink)";
  case 6:
    return " (implode)";
  case 9:
    return " (deflate64)";
  case 12:
    return " (bzip2)";
  case 14:
    return " (lzma)";
  case 93:
    return " (zstd)";
  case 95:
    return " (xz)";
  case 99:
    return " (AES encryption)";
  default:
    return "";
  }
}

// ---- streams ---------------------------------------------------------------------------------

class StoredStream : public ByteStream {
public:
  StoredStream(int fd, int64_t offset, uint64_t size, bool check_crc, uint32_t crc)
      : fd_(fd), offset_(offset), size_(size), check_crc_(check_crc), expected_crc_(crc) {}

  void read(unsigned char* dst, size_t n) override {
    if (n > size_ - done_) throw Error("read past the end of the data (internal error)");
    const size_t got = pread_full(fd_, dst, n, offset_ + static_cast<int64_t>(done_));
    if (got < n)
      throw Error("the file ends after " + std::to_string(done_ + got) + " of the " + std::to_string(size_) +
                  " bytes of data (cut short, or it got shorter while being read)");
    if (check_crc_) crc_.update(dst, n);
    done_ += n;
  }

  void finish() override {
    if (done_ != size_) throw Error("not read to its end (internal error)");
    if (check_crc_ && crc_.value != expected_crc_)
      throw Error("CRC-32 of the data is " + hex32(crc_.value) + ", the ZIP directory says " +
                  hex32(expected_crc_) + " (corrupt archive)");
  }

  uint64_t size() const override { return size_; }

private:
  int fd_;
  int64_t offset_;
  uint64_t size_;
  uint64_t done_ = 0;
  bool check_crc_;
  uint32_t expected_crc_;
  Crc32 crc_;
};

class DeflatedStream : public ByteStream {
public:
  DeflatedStream(int fd, int64_t offset, uint64_t compressed, uint64_t size, uint32_t crc)
      : fd_(fd), next_in_offset_(offset), compressed_left_(compressed), size_(size), expected_crc_(crc) {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) // raw deflate: no zlib or gzip wrapper in a ZIP
      throw Error("zlib cannot start an inflate stream (out of memory?)");
    input_.resize(static_cast<size_t>(std::min<uint64_t>(compressed, input_block_bytes)) + 1);
  }
  ~DeflatedStream() override { inflateEnd(&z_); }
  DeflatedStream(const DeflatedStream&) = delete;
  DeflatedStream& operator=(const DeflatedStream&) = delete;

  void read(unsigned char* dst, size_t n) override {
    if (n > size_ - done_) throw Error("read past the end of the data (internal error)");
    size_t produced = 0;
    while (produced < n) {
      const size_t room = std::min<size_t>(n - produced, size_t{1} << 30);
      const size_t got = inflate_some(dst + produced, room);
      if (got == 0 && ended_)
        throw Error("the deflate data ends after " + std::to_string(done_ + produced) +
                    " bytes; the ZIP directory says " + std::to_string(size_));
      produced += got;
    }
    crc_.update(dst, n);
    done_ += n;
  }

  void finish() override {
    if (done_ != size_) throw Error("not read to its end (internal error)");
    unsigned char extra = 0;
    while (!ended_)
      if (inflate_some(&extra, 1) > 0)
        throw Error("the deflate data inflates to more than the " + std::to_string(size_) +
                    " bytes the ZIP directory says");
    if (crc_.value != expected_crc_)
      throw Error("CRC-32 of the inflated data is " + hex32(crc_.value) + ", the ZIP directory says " +
                  hex32(expected_crc_) + " (corrupt archive)");
  }

  uint64_t size() const override { return size_; }

private:
  /// One inflate() call's worth (refilling the input first when it is used up); returns the bytes
  /// written to dst. Sets ended_ at the end of the deflate stream.
  size_t inflate_some(unsigned char* dst, size_t room) {
    if (ended_) return 0;
    if (z_.avail_in == 0 && compressed_left_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(compressed_left_, input_block_bytes));
      if (pread_full(fd_, input_.data(), n, next_in_offset_) != n)
        throw Error("the file ends inside the compressed data (cut short?)");
      next_in_offset_ += static_cast<int64_t>(n);
      compressed_left_ -= n;
      z_.next_in = input_.data();
      z_.avail_in = static_cast<uInt>(n);
    }
    const uInt input_before = z_.avail_in; // 0 only once the compressed bytes are used up
    z_.next_out = dst;
    z_.avail_out = static_cast<uInt>(room);
    const int ret = ::inflate(&z_, Z_NO_FLUSH);
    const size_t got = room - z_.avail_out;
    if (ret == Z_STREAM_END) {
      ended_ = true;
    } else if (ret == Z_OK || ret == Z_BUF_ERROR) {
      if (got == 0 && z_.avail_in == input_before) // no progress: it needs input that is not there
        throw Error(input_before == 0
                        ? "the deflate data is cut short before the end of its stream (corrupt archive)"
                        : "zlib made no progress on the deflate data (corrupt archive)");
    } else {
      const std::string why = z_.msg ? z_.msg : "error " + std::to_string(ret);
      throw Error("corrupt deflate data (zlib: " + why + ")");
    }
    return got;
  }

  static constexpr uint64_t input_block_bytes = uint64_t{1} << 20;
  int fd_;
  int64_t next_in_offset_;
  uint64_t compressed_left_;
  uint64_t size_;
  uint64_t done_ = 0;
  uint32_t expected_crc_;
  bool ended_ = false;
  z_stream z_;
  std::vector<unsigned char> input_;
  Crc32 crc_;
};

} // namespace

// ---- central directory -----------------------------------------------------------------------

std::vector<ZipMember> read_zip_directory(int fd, int64_t file_bytes) {
  if (file_bytes < static_cast<int64_t>(end_bytes))
    throw Error("not a ZIP archive: " + std::to_string(file_bytes) +
                " bytes, too short for the end of central directory record");
  // The end record is the last thing in the file, followed only by a comment of at most 64 KiB.
  const size_t tail = static_cast<size_t>(std::min<int64_t>(file_bytes, end_bytes + 0xffff));
  const int64_t tail_offset = file_bytes - static_cast<int64_t>(tail);
  const std::vector<unsigned char> t = read_at(fd, tail_offset, tail, "the end of the archive");
  size_t at = tail;
  for (size_t i = tail - end_bytes + 1; i-- > 0;) {
    if (le32(t.data() + i) == sig_end && i + end_bytes + le16(t.data() + i + 20) <= tail) {
      at = i;
      break;
    }
  }
  if (at == tail)
    throw Error("not a ZIP archive: no end of central directory record (a .trx is a ZIP archive, or a "
                "folder)");
  const unsigned char* e = t.data() + at;
  const int64_t end_offset = tail_offset + static_cast<int64_t>(at);
  uint64_t disk = le16(e + 4), directory_disk = le16(e + 6), entries_here = le16(e + 8),
           entries = le16(e + 10);
  uint64_t directory_bytes = le32(e + 12), directory_offset = le32(e + 16);
  int64_t directory_end = end_offset; // what follows the central directory

  // ZIP64: a locator right before the end record points to the ZIP64 end record.
  bool zip64 = false;
  if (end_offset >= static_cast<int64_t>(zip64_locator_bytes)) {
    const auto loc = read_at(fd, end_offset - static_cast<int64_t>(zip64_locator_bytes), zip64_locator_bytes,
                             "the ZIP64 locator");
    if (le32(loc.data()) == sig_zip64_locator) {
      zip64 = true;
      if (le32(loc.data() + 4) != 0 || le32(loc.data() + 16) > 1)
        throw Error("the archive is split over several disks (not supported)");
      const uint64_t record = le64(loc.data() + 8);
      if (record > static_cast<uint64_t>(end_offset) - zip64_locator_bytes ||
          static_cast<uint64_t>(end_offset) - zip64_locator_bytes - record < zip64_end_bytes)
        throw Error("the ZIP64 locator points to offset " + std::to_string(record) +
                    ", where no ZIP64 end record fits");
      const auto z = read_at(fd, static_cast<int64_t>(record), zip64_end_bytes, "the ZIP64 end record");
      if (le32(z.data()) != sig_zip64_end)
        throw Error("no ZIP64 end of central directory record at offset " + std::to_string(record) +
                    ", where the ZIP64 locator points");
      disk = le32(z.data() + 16);
      directory_disk = le32(z.data() + 20);
      entries_here = le64(z.data() + 24);
      entries = le64(z.data() + 32);
      directory_bytes = le64(z.data() + 40);
      directory_offset = le64(z.data() + 48);
      directory_end = static_cast<int64_t>(record);
    }
  }
  if (disk != 0 || directory_disk != 0 || entries_here != entries)
    throw Error("the archive is split over several disks (not supported)");
  if (directory_offset > static_cast<uint64_t>(directory_end) ||
      directory_bytes > static_cast<uint64_t>(directory_end) - directory_offset)
    throw Error("the central directory (" + std::to_string(directory_bytes) + " bytes at offset " +
                std::to_string(directory_offset) + ") does not end before the end record at offset " +
                std::to_string(directory_end) +
                (!zip64 && (directory_bytes == 0xffffffff || directory_offset == 0xffffffff)
                     ? " (these are ZIP64 markers, but there is no ZIP64 locator)"
                     : ""));
  if (directory_bytes > max_directory_bytes)
    throw Error("the central directory is " + std::to_string(directory_bytes) + " bytes (more than " +
                std::to_string(max_directory_bytes >> 20) + " MiB: not a TRX file)");
  if (entries > directory_bytes / central_bytes)
    throw Error("the end record announces " + std::to_string(entries) + " members, more than the " +
                std::to_string(directory_bytes) + "-byte central directory can hold");

  const std::vector<unsigned char> d = read_at(fd, static_cast<int64_t>(directory_offset),
                                               static_cast<size_t>(directory_bytes), "the central directory");
  std::vector<ZipMember> members;
  std::set<std::string> names;
  size_t pos = 0;
  for (uint64_t k = 0; k < entries; ++k) {
    const std::string entry = "central directory entry " + std::to_string(k);
    if (d.size() - pos < central_bytes) throw Error(entry + " is cut short");
    const unsigned char* c = d.data() + pos;
    if (le32(c) != sig_central) throw Error(entry + " has no central header signature");
    ZipMember m;
    m.flags = le16(c + 8);
    m.method = le16(c + 10);
    m.crc32 = le32(c + 16);
    m.compressed_size = le32(c + 20);
    m.size = le32(c + 24);
    const size_t name_bytes = le16(c + 28), extra_bytes = le16(c + 30), comment_bytes = le16(c + 32);
    uint32_t start_disk = le16(c + 34);
    m.local_header_offset = le32(c + 42);
    if (d.size() - pos - central_bytes < name_bytes + extra_bytes + comment_bytes)
      throw Error(entry + " is cut short");
    m.name.assign(reinterpret_cast<const char*>(c + central_bytes), name_bytes);
    // The ZIP64 extra field holds, in this order, the values whose 32-bit field is all ones.
    const unsigned char* x = c + central_bytes + name_bytes;
    for (size_t i = 0; i + 4 <= extra_bytes;) {
      const uint16_t id = le16(x + i), len = le16(x + i + 2);
      if (i + 4 + len > extra_bytes)
        throw Error("member " + quoted(m.name) + ": an extra field is cut short");
      if (id == 0x0001) {
        const unsigned char* v = x + i + 4;
        size_t used = 0;
        const auto take64 = [&](uint64_t& field) {
          if (used + 8 > len)
            throw Error("member " + quoted(m.name) + ": its ZIP64 extra field is too short");
          field = le64(v + used);
          used += 8;
        };
        if (m.size == 0xffffffff) take64(m.size);
        if (m.compressed_size == 0xffffffff) take64(m.compressed_size);
        if (m.local_header_offset == 0xffffffff) take64(m.local_header_offset);
        if (start_disk == 0xffff && used + 4 <= len) start_disk = le32(v + used);
      }
      i += 4 + static_cast<size_t>(len);
    }
    if (start_disk != 0) throw Error("member " + quoted(m.name) + " is on another disk (split archive)");
    if (!names.insert(m.name).second) throw Error("two members are named " + quoted(m.name));
    members.push_back(std::move(m));
    pos += central_bytes + name_bytes + extra_bytes + comment_bytes;
  }
  return members;
}

int64_t zip_data_offset(int fd, int64_t file_bytes, const ZipMember& m) {
  if (m.local_header_offset > static_cast<uint64_t>(file_bytes) ||
      static_cast<uint64_t>(file_bytes) - m.local_header_offset < local_bytes)
    throw Error("its local header offset " + std::to_string(m.local_header_offset) +
                " is outside the archive (" + std::to_string(file_bytes) + " bytes)");
  const auto offset = static_cast<int64_t>(m.local_header_offset);
  const auto h = read_at(fd, offset, local_bytes, "its local header");
  if (le32(h.data()) != sig_local)
    throw Error("no local header signature at offset " + std::to_string(offset) +
                ", where the central directory says the member starts");
  const size_t name_bytes = le16(h.data() + 26), extra_bytes = le16(h.data() + 28);
  const auto name = read_at(fd, offset + static_cast<int64_t>(local_bytes), name_bytes, "its local header");
  if (std::string(name.begin(), name.end()) != m.name)
    throw Error("its local header names " + quoted(std::string(name.begin(), name.end())) +
                " (the central directory and the local header disagree)");
  if (le16(h.data() + 8) != m.method)
    throw Error("its local header says compression method " + std::to_string(le16(h.data() + 8)) +
                ", the central directory " + std::to_string(m.method));
  const uint64_t data = m.local_header_offset + local_bytes + name_bytes + extra_bytes;
  if (data > static_cast<uint64_t>(file_bytes) ||
      m.compressed_size > static_cast<uint64_t>(file_bytes) - data)
    throw Error("its data (" + std::to_string(m.compressed_size) + " bytes at offset " +
                std::to_string(data) + ") runs past the end of the archive (" + std::to_string(file_bytes) +
                " bytes)");
  return static_cast<int64_t>(data);
}

std::unique_ptr<ByteStream>
open_stored(int fd, int64_t offset, uint64_t size, bool check_crc, uint32_t crc32) {
  return std::make_unique<StoredStream>(fd, offset, size, check_crc, crc32);
}

std::unique_ptr<ByteStream>
open_deflated(int fd, int64_t offset, uint64_t compressed_size, uint64_t size, uint32_t crc32) {
  return std::make_unique<DeflatedStream>(fd, offset, compressed_size, size, crc32);
}

std::unique_ptr<ByteStream> open_member(int fd, int64_t file_bytes, const ZipMember& m) {
  if (m.flags & 1) throw Error("it is encrypted (not supported)");
  if (m.method != 0 && m.method != 8)
    throw Error("compression method " + std::to_string(m.method) + method_name(m.method) +
                " is not supported (TRX members are stored or deflated)");
  if (m.method == 0 && m.compressed_size != m.size)
    throw Error("a stored member of " + std::to_string(m.size) + " bytes takes " +
                std::to_string(m.compressed_size) + " bytes in the archive (corrupt directory)");
  const int64_t data = zip_data_offset(fd, file_bytes, m);
  if (m.method == 0) return open_stored(fd, data, m.size, true, m.crc32);
  return open_deflated(fd, data, m.compressed_size, m.size, m.crc32);
}

namespace {
std::atomic<uint64_t> write_limit{0x7fffffff};
} // namespace

uint64_t zip64_write_limit() {
  return write_limit.load();
}

uint64_t set_zip64_write_limit(uint64_t bytes) {
  return write_limit.exchange(bytes);
}

} // namespace dwipack::io::detail
