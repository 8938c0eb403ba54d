// util/gzip: the checksums, the gzip member decoder and the deflate compressor, whichever library
// runs them in this build (ISA-L, libdeflate or zlib), against Python's zlib and gzip modules
// (tests/python/gzip_check.py); the decoder's messages for each kind of corrupt stream.
#include "dwipack/error.hpp"
#include "dwipack/util/gzip.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using dwipack::Error;
using dwipack::test::read_file;
using dwipack::test::run_command;
using dwipack::test::shell_quote;
using dwipack::test::TempDir;
using dwipack::test::write_file;
using testing::HasSubstr;
using testing::ThrowsMessage;
using Bytes = std::vector<unsigned char>;

namespace gz = dwipack::gzip;

namespace {

/// Bytes that deflate can shrink, but not to nothing: float32 values of a noisy smooth signal.
Bytes sample(size_t bytes, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 3.f);
  Bytes out(bytes);
  for (size_t i = 0; i < bytes; i += 4) {
    const float v = static_cast<float>((i / 4) % 97) + std::floor(noise(rng));
    unsigned char b[4];
    std::memcpy(b, &v, 4);
    std::copy(b, b + std::min<size_t>(4, bytes - i), out.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return out;
}

std::string as_string(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

Bytes as_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

/// tests/python/gzip_check.py ARGS; its standard output.
std::string python(const TempDir& dir, const std::string& args) {
  const std::string out = dir / "python.out";
  const int rc = run_command(std::string(DWIPACK_PYTHON) + " " +
                             shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/gzip_check.py") + " " + args +
                             " > " + shell_quote(out) + " 2>&1");
  if (rc != 0) throw std::runtime_error("gzip_check.py " + args + " failed:\n" + read_file(out));
  return read_file(out);
}

/// Decode a whole gzip stream, fed `piece` bytes at a time, into `room`-byte outputs; every
/// member in turn. Sets `members` to how many were complete.
Bytes decode_all(const Bytes& packed, size_t piece, size_t room, int& members) {
  gz::MemberDecoder d;
  Bytes out, buf(room);
  size_t fed = 0;
  members = 0;
  for (;;) {
    if (d.member_done()) {
      ++members;
      if (d.input_left() == 0 && fed == packed.size()) break;
      d.next_member();
    }
    if (d.input_left() == 0) {
      if (fed == packed.size()) break; // cut short
      const size_t n = std::min(piece, packed.size() - fed);
      d.feed(packed.data() + fed, n);
      fed += n;
    }
    const size_t got = d.decode(buf.data(), buf.size());
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(got));
  }
  return out;
}

} // namespace

TEST(Gzip, NamesItsLibraries) {
  EXPECT_THAT(gz::backends(), testing::MatchesRegex("decode: (ISA-L|zlib), CRC-32: (ISA-L|libdeflate|zlib), "
                                                    "deflate: (libdeflate|zlib)"));
}

TEST(Gzip, ChecksumsAreZlibs) {
  // the check values of the two algorithms' definitions
  EXPECT_EQ(gz::crc32(0, "123456789", 9), 0xCBF43926u);
  EXPECT_EQ(gz::adler32(1, "Wikipedia", 9), 0x11E60398u);
  EXPECT_EQ(gz::crc32(0, "", 0), 0u);
  EXPECT_EQ(gz::adler32(1, "", 0), 1u);

  TempDir dir;
  const Bytes data = sample(3'000'001, 1);
  write_file(dir / "data", as_string(data));
  std::istringstream expected(python(dir, "sums " + shell_quote(dir / "data")));
  uint64_t crc = 0, adler = 0;
  expected >> crc >> adler;
  EXPECT_EQ(gz::crc32(0, data.data(), data.size()), crc);
  EXPECT_EQ(gz::adler32(1, data.data(), data.size()), adler);
  // continued over uneven pieces: the same values
  uint32_t c = 0, a = 1;
  for (size_t at = 0, n = 1; at < data.size(); at += n, n = n * 3 + 1) {
    const size_t len = std::min(n, data.size() - at);
    c = gz::crc32(c, data.data() + at, len);
    a = gz::adler32(a, data.data() + at, len);
  }
  EXPECT_EQ(c, crc);
  EXPECT_EQ(a, adler);
}

TEST(Gzip, DecodesPythonsMembersInAnyPieces) {
  TempDir dir;
  const std::vector<Bytes> parts = {sample(200'000, 2), Bytes{}, sample(1, 3), sample(1'500'003, 4)};
  std::string names;
  Bytes all;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string name = dir / ("part" + std::to_string(i));
    write_file(name, as_string(parts[i]));
    names += " " + shell_quote(name);
    all.insert(all.end(), parts[i].begin(), parts[i].end());
  }
  python(dir, "members " + shell_quote(dir / "all.gz") + names);
  const Bytes packed = as_bytes(read_file(dir / "all.gz"));
  for (const size_t piece : {size_t{1} << 30, size_t{65536}, size_t{7}, size_t{1}}) {
    for (const size_t room : {size_t{1} << 22, size_t{4093}}) {
      if (piece == 1 && room < 4096) continue; // a byte at a time is slow enough once
      SCOPED_TRACE("piece " + std::to_string(piece) + ", room " + std::to_string(room));
      int members = 0;
      const Bytes out = decode_all(packed, piece, room, members);
      EXPECT_EQ(members, 4);
      EXPECT_TRUE(out == all) << "decoded " << out.size() << " bytes, expected " << all.size();
    }
  }
}

TEST(Gzip, NamesWhatIsCorrupt) {
  TempDir dir;
  write_file(dir / "a", as_string(sample(100'000, 5)));
  python(dir, "members " + shell_quote(dir / "a.gz") + " " + shell_quote(dir / "a"));
  const Bytes good = as_bytes(read_file(dir / "a.gz"));
  auto decode = [](const Bytes& packed) {
    int members = 0;
    decode_all(packed, 4096, 65536, members);
  };
  Bytes crc = good; // the trailer: CRC-32, then the length mod 2^32
  crc[crc.size() - 8] ^= 0x01;
  EXPECT_THAT([&] { decode(crc); }, ThrowsMessage<Error>(HasSubstr(
                                        "corrupt gzip stream: CRC32 or length check failed (member 1)")));
  Bytes length = good;
  length[length.size() - 1] ^= 0x40;
  EXPECT_THAT([&] { decode(length); },
              ThrowsMessage<Error>(HasSubstr("CRC32 or length check failed (member 1)")));
  Bytes second = good; // the second member is the one that fails
  second.insert(second.end(), crc.begin(), crc.end());
  EXPECT_THAT([&] { decode(second); },
              ThrowsMessage<Error>(HasSubstr("CRC32 or length check failed (member 2)")));
  Bytes magic = good;
  magic[1] = 0x8c;
  EXPECT_THAT([&] { decode(magic); },
              ThrowsMessage<Error>(HasSubstr("corrupt gzip stream: invalid gzip header")));
  Bytes garbage = good; // what follows a member must be another member (a whole header's worth)
  const std::string text = "this is not a gzip member";
  garbage.insert(garbage.end(), text.begin(), text.end());
  EXPECT_THAT([&] { decode(garbage); },
              ThrowsMessage<Error>(HasSubstr("corrupt gzip stream: invalid gzip header")));
  Bytes method = good;
  method[2] = 7;
  EXPECT_THAT([&] { decode(method); },
              ThrowsMessage<Error>(HasSubstr("gzip compression method is not deflate")));
  Bytes block = good; // the first block header (after the 10-byte gzip header): BTYPE 3 is reserved
  block[10] |= 0x06;
  EXPECT_THAT([&] { decode(block); },
              ThrowsMessage<Error>(HasSubstr("corrupt gzip stream: invalid deflate block")));
}

TEST(Gzip, DeflatesWhatPythonInflates) {
  TempDir dir;
  for (const int level : {1, 4, 9, 12}) {
    gz::Deflater deflater(level);
    for (const size_t bytes : {size_t{0}, size_t{1}, size_t{70'000}, size_t{2'000'001}}) {
      SCOPED_TRACE("level " + std::to_string(level) + ", " + std::to_string(bytes) + " bytes");
      const Bytes data = sample(bytes, static_cast<unsigned>(level * 10 + bytes % 7));
      Bytes raw(deflater.raw_bound(bytes));
      raw.resize(deflater.deflate_raw(data.data(), bytes, raw.data(), raw.size()));
      write_file(dir / "raw", as_string(raw));
      python(dir, "inflate raw " + shell_quote(dir / "raw") + " " + shell_quote(dir / "raw.out"));
      EXPECT_TRUE(as_bytes(read_file(dir / "raw.out")) == data);
      if (bytes > 1000) {
        EXPECT_LT(raw.size(), bytes * 2 / 3); // it did compress
      }

      const Bytes member = deflater.gzip(data.data(), bytes);
      write_file(dir / "member.gz", as_string(member));
      python(dir, "inflate gzip " + shell_quote(dir / "member.gz") + " " + shell_quote(dir / "member.out"));
      EXPECT_TRUE(as_bytes(read_file(dir / "member.out")) == data);
      int members = 0;
      EXPECT_TRUE(decode_all(member, 1 << 16, 1 << 16, members) == data); // and our own decoder
      EXPECT_EQ(members, 1);
    }
  }
}
