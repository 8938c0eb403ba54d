// MRtrix .tck reader, reproducing nibabel 5 (nibabel/streamlines/tck.py) on every file nibabel
// accepts, plus Float64 data (MRtrix writes it, nibabel refuses it). Streams the points through
// TractogramScratch::chunk.
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram.hpp"
#include "tractogram_internal.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

namespace dwipack::io::detail {

namespace {

const std::string tck_magic = "mrtrix tracks";
constexpr int64_t max_header_bytes = int64_t{64} << 20; // MRtrix headers are kilobytes

/// Python's str.strip() for the characters that matter in a header: ASCII whitespace, the
/// separators 0x1c-0x1f, and U+0085 / U+00A0 (UTF-8 C2 85 / C2 A0).
std::string strip(const std::string& s) {
  const auto space_at_front = [&](size_t b, size_t e) -> size_t {
    const auto c = static_cast<unsigned char>(s[b]);
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c == 0xc2 && e - b >= 2 &&
        (static_cast<unsigned char>(s[b + 1]) == 0x85 || static_cast<unsigned char>(s[b + 1]) == 0xa0))
      return 2;
    return 0;
  };
  const auto space_at_back = [&](size_t b, size_t e) -> size_t {
    const auto c = static_cast<unsigned char>(s[e - 1]);
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
    if ((c == 0x85 || c == 0xa0) && e - b >= 2 && static_cast<unsigned char>(s[e - 2]) == 0xc2) return 2;
    return 0;
  };
  size_t b = 0, e = s.size();
  while (b < e) {
    const size_t k = space_at_front(b, e);
    if (k == 0) break;
    b += k;
  }
  while (e > b) {
    const size_t k = space_at_back(b, e);
    if (k == 0) break;
    e -= k;
  }
  return s.substr(b, e - b);
}

/// Strict UTF-8 (what Python's bytes.decode('utf-8') accepts).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false; // sequence cut by the end of the line
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

std::vector<std::string> split_whitespace(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
      ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j])))
      ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string shorten(const std::string& s) {
  std::string out;
  for (const char ch : s.substr(0, 60)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return s.size() > 60 ? out + "..." : out;
}

} // namespace

TractogramHeader read_tck_header(const std::string& path, int fd) {
  TractogramHeader hdr;
  hdr.path = path;
  hdr.format = TractogramFormat::tck;
  const int64_t size = file_size(fd);

  std::vector<unsigned char> buffer;
  ChunkReader in(fd, 0, size, buffer, size_t{1} << 16);
  const size_t magic_read =
      static_cast<size_t>(std::min<int64_t>(size, static_cast<int64_t>(tck_magic.size())));
  in.ensure(magic_read);
  if (magic_read < tck_magic.size() || std::memcmp(in.data(), tck_magic.data(), tck_magic.size()) != 0)
    throw Error(
        "bad magic '" +
        (magic_read ? shorten(std::string(reinterpret_cast<const char*>(in.data()), magic_read)) : "") +
        "' (expected 'mrtrix tracks'): not an MRtrix .tck file");
  in.consume(magic_read);
  if (in.ensure(1)) in.consume(1); // nibabel skips the byte after the magic (the newline) unread

  // key: value lines until END; a line without ':' continues the previous key; a repeated key
  // accumulates (nibabel joins the values with '\n').
  std::vector<std::pair<std::string, std::vector<std::string>>> fields;
  std::vector<std::string>* current = nullptr;
  bool found_end = false;
  int64_t end_of_header = 0;
  for (int64_t n_line = 1; in.remaining() > 0; ++n_line) {
    size_t len;
    const unsigned char* nl = nullptr;
    for (size_t scanned = 0;;) {
      nl =
          static_cast<const unsigned char*>(std::memchr(in.data() + scanned, '\n', in.available() - scanned));
      if (nl || static_cast<int64_t>(in.available()) == in.remaining()) break;
      if (in.offset() + static_cast<int64_t>(in.available()) > max_header_bytes)
        throw Error("header has no 'END' line in its first " + std::to_string(max_header_bytes >> 20) +
                    " MiB");
      scanned = in.available();
      in.ensure(in.available() +
                std::min<size_t>(size_t{1} << 16, static_cast<size_t>(in.remaining()) - in.available()));
    }
    len = nl ? static_cast<size_t>(nl - in.data()) + 1 : in.available();
    const std::string raw(reinterpret_cast<const char*>(in.data()), nl ? len - 1 : len);
    in.consume(len);
    if (!valid_utf8(raw))
      throw Error("header has no 'END' line before line " + std::to_string(n_line) +
                  ", which is not UTF-8 text (nibabel: Missing END in the header)");
    const std::string line = strip(raw);
    if (line.empty()) continue;
    if (line == "END") {
      found_end = true;
      end_of_header = in.offset();
      break;
    }
    const size_t colon = line.find(':');
    std::string value = line;
    if (colon != std::string::npos) {
      const std::string key = strip(line.substr(0, colon));
      value = line.substr(colon + 1);
      auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
      if (it == fields.end()) it = fields.insert(fields.end(), {key, {}});
      current = &it->second;
    }
    if (!current)
      throw Error("header line " + std::to_string(n_line) + " is not 'key: value': '" + shorten(line) + "'");
    current->push_back(strip(value));
  }
  if (!found_end) throw Error("header has no 'END' line (nibabel: Missing END in the header)");

  const auto field = [&](const std::string& key, std::string& value) {
    for (const auto& f : fields) {
      if (f.first != key) continue;
      value.clear();
      for (size_t i = 0; i < f.second.size(); ++i)
        value += (i ? "\n" : "") + f.second[i];
      return true;
    }
    return false;
  };

  std::string datatype;
  if (!field("datatype", datatype)) {
    datatype = "Float32LE";
    hdr.warnings.push_back("header has no 'datatype': Float32LE assumed, as nibabel does");
  } else if (datatype == "Float32") {
    datatype = "Float32LE"; // nibabel reads a datatype without a byte order as little-endian
    hdr.warnings.push_back(
        "header 'datatype' Float32 has no byte order: little-endian assumed, as nibabel does");
  }
  if (datatype != "Float32LE" && datatype != "Float32BE" && datatype != "Float64LE" &&
      datatype != "Float64BE")
    throw Error("header 'datatype' is '" + shorten(datatype) +
                "'; expected one of Float32LE, Float32BE, Float64LE, Float64BE");
  hdr.tck_datatype = datatype;
  const bool big_endian = datatype.compare(datatype.size() - 2, 2, "BE") == 0;
  hdr.byte_swapped = big_endian == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);

  std::string file;
  if (!field("file", file)) {
    hdr.data_offset = end_of_header;
    hdr.warnings.push_back("header has no 'file': the data is assumed to follow 'END', as nibabel does");
  } else {
    const std::vector<std::string> parts = split_whitespace(file);
    if (parts.empty() || parts[0] != ".")
      throw Error("header 'file' is '" + shorten(file) +
                  "'; only '. <offset>' (the data in this same file) is supported, as in nibabel");
    int64_t offset = 0;
    if (parts.size() < 2 || !parse_python_int(parts[1], offset))
      throw Error("header 'file' is '" + shorten(file) +
                  "'; expected '. <offset>' with an integer byte offset");
    if (offset < end_of_header)
      throw Error("header 'file' offset " + std::to_string(offset) +
                  " points inside the header (which ends at byte " + std::to_string(end_of_header) + ")");
    if (offset > size)
      throw Error("header 'file' offset " + std::to_string(offset) + " is beyond the end of the file (" +
                  std::to_string(size) + " bytes)");
    hdr.data_offset = offset;
  }

  std::string count;
  if (field("count", count)) {
    int64_t value = -1;
    if (parse_python_int(count, value) && value >= 0) {
      hdr.count_in_header = value;
    } else {
      hdr.warnings.push_back("header 'count' is '" + shorten(count) + "', not a count (nibabel ignores it)");
    }
  }
  return hdr;
}

namespace {

/// Reads one point (3 values of the file's type) as float32; Float64 is rounded once, to nearest.
template <bool Float64, bool Swap> struct PointLoader {
  static constexpr size_t bytes = Float64 ? 24 : 12;
  /// False if a finite Float64 value does not fit in float32.
  static bool load(const unsigned char* p, float* xyz) {
    for (size_t k = 0; k < 3; ++k) {
      if (Float64) {
        const double d = load_f64(p + 8 * k, Swap);
        xyz[k] = static_cast<float>(d);
        if (std::isinf(xyz[k]) && std::isfinite(d)) return false;
      } else {
        xyz[k] = load_f32(p + 4 * k, Swap);
      }
    }
    return true;
  }
};

template <bool Float64, bool Swap>
int64_t parse_points(const TractogramHeader& header,
                     ChunkReader& in,
                     const StreamlineVisitor& visit,
                     TractogramScratch& scratch) {
  using Loader = PointLoader<Float64, Swap>;
  constexpr size_t point_bytes = Loader::bytes;
  int64_t index = 0;
  size_t n = 0; // points of the current streamline so far
  std::vector<float>& line = scratch.streamline;
  const auto where = [&](size_t p) {
    return " at byte " + std::to_string(in.offset() + static_cast<int64_t>(p));
  };

  for (;;) {
    if (!in.ensure(point_bytes)) {
      // nibabel: "Cannot find a streamline delimiter" / "Expecting end-of-file marker 'inf inf inf'"
      if (in.remaining() == 0)
        fail(header, "truncated: the data ends without the end-of-file marker (a triplet of Inf)" +
                         (n > 0 ? ", in streamline " + std::to_string(index) + " after " + std::to_string(n) +
                                      " points"
                                : ", after " + std::to_string(index) + " complete streamlines"));
      fail(header, "truncated: the data ends with " + std::to_string(in.remaining()) +
                       " bytes, not a whole point, and without the end-of-file marker (a triplet of Inf)");
    }
    const size_t batch = in.available() / point_bytes;
    const unsigned char* data = in.data();
    for (size_t i = 0; i < batch; ++i) {
      float xyz[3];
      const size_t at = i * point_bytes;
      if (!Loader::load(data + at, xyz))
        fail(header, "streamline " + std::to_string(index) + ", point " + std::to_string(n) +
                         " has a Float64 coordinate beyond the float32 range" + where(at));
      const bool finite = std::isfinite(xyz[0]) && std::isfinite(xyz[1]) && std::isfinite(xyz[2]);
      if (finite) {
        if (line.size() < 3 * (n + 1)) grow(line, 3 * (n + 1));
        std::memcpy(line.data() + 3 * n, xyz, sizeof xyz);
        ++n;
        continue;
      }
      if (std::isnan(xyz[0]) && std::isnan(xyz[1]) && std::isnan(xyz[2])) {
        // a NaN triplet ends a streamline; nibabel drops empty ones (two delimiters in a row)
        if (n > 0) visit(index++, line.data(), static_cast<int64_t>(n), nullptr);
        n = 0;
        continue;
      }
      if (std::isinf(xyz[0]) && std::isinf(xyz[1]) && std::isinf(xyz[2])) {
        if (n > 0)
          fail(header, "streamline " + std::to_string(index) + " (" + std::to_string(n) +
                           " points) is not closed by a NaN triplet before the end-of-file marker" +
                           where(at) + " (nibabel refuses this: Expecting end-of-file marker)");
        const std::string marker_at = where(at);
        in.consume(at + point_bytes);
        if (in.remaining() > 0)
          fail(header, std::to_string(in.remaining()) +
                           " bytes follow the end-of-file marker (a triplet of Inf)" + marker_at);
        return index;
      }
      fail(header, "streamline " + std::to_string(index) + ", point " + std::to_string(n) +
                       " has a non-finite coordinate (" + number(static_cast<double>(xyz[0])) + ", " +
                       number(static_cast<double>(xyz[1])) + ", " + number(static_cast<double>(xyz[2])) +
                       ")" + where(at));
    }
    in.consume(batch * point_bytes);
  }
}

} // namespace

int64_t read_tck_streamlines(const TractogramHeader& header,
                             int fd,
                             int64_t size,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch) {
  if (header.data_offset < 0 || header.data_offset > size)
    fail(header, "data offset " + std::to_string(header.data_offset) + " is outside the file (" +
                     std::to_string(size) + " bytes)");
  ChunkReader in(fd, header.data_offset, size, scratch.chunk, scratch.chunk_bytes);
  const bool f64 = header.tck_datatype.rfind("Float64", 0) == 0;
  const bool swap = header.byte_swapped;
  if (f64)
    return swap ? parse_points<true, true>(header, in, visit, scratch)
                : parse_points<true, false>(header, in, visit, scratch);
  return swap ? parse_points<false, true>(header, in, visit, scratch)
              : parse_points<false, false>(header, in, visit, scratch);
}

} // namespace dwipack::io::detail
