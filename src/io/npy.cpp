#include "dwipack/io/npy.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

namespace dwipack::io {
namespace {

constexpr char magic[] = "\x93NUMPY";
constexpr size_t magic_size = 6;

// ------------------------------------------------------------------ header literal
// The header is a Python dict literal written by repr(), read by numpy with ast.literal_eval:
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }. A small recursive-descent parser
// of the literals numpy can put there (strings, booleans, integers, tuples/lists, dicts) is
// enough; anything else is "not parseable".

struct Literal {
  enum class Kind { string, boolean, integer, sequence, dict, none } kind = Kind::none;
  std::string text;  ///< string
  bool flag = false; ///< boolean
  bool negative = false;
  uint64_t number = 0; ///< integer magnitude
  std::vector<Literal> items;
  std::vector<std::pair<Literal, Literal>> entries;
};

class LiteralParser {
public:
  explicit LiteralParser(const std::string& s) : s_(s) {}

  Literal parse_all() {
    Literal v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected " + quoted(s_.substr(pos_, 10)) + " after the dict");
    return v;
  }

private:
  const std::string& s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("header is not parseable (" + what + "): " + quoted(s_));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  char peek() {
    skip_space();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool word(const char* w) {
    const size_t n = std::strlen(w);
    if (s_.compare(pos_, n, w) != 0) return false;
    const size_t end = pos_ + n;
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_'))
      return false;
    pos_ = end;
    return true;
  }

  Literal value(int depth) {
    if (depth > 16) fail("nested too deeply");
    Literal v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Literal::Kind::string;
      ++pos_;
      for (;;) {
        if (pos_ >= s_.size()) fail("unterminated string");
        const char ch = s_[pos_++];
        if (ch == c) break;
        if (ch == '\\') {
          if (pos_ >= s_.size()) fail("unterminated string");
          v.text += s_[pos_++];
        } else {
          v.text += ch;
        }
      }
    } else if (c == '(' || c == '[') {
      v.kind = Literal::Kind::sequence;
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      while (peek() != close) {
        v.items.push_back(value(depth + 1));
        if (peek() == ',')
          ++pos_;
        else if (peek() != close)
          fail("expected ',' or '" + std::string(1, close) + "'");
      }
      ++pos_;
    } else if (c == '{') {
      v.kind = Literal::Kind::dict;
      ++pos_;
      while (peek() != '}') {
        Literal key = value(depth + 1);
        if (peek() != ':') fail("expected ':'");
        ++pos_;
        Literal item = value(depth + 1);
        v.entries.emplace_back(std::move(key), std::move(item));
        if (peek() == ',')
          ++pos_;
        else if (peek() != '}')
          fail("expected ',' or '}'");
      }
      ++pos_;
    } else if (word("True")) {
      v.kind = Literal::Kind::boolean;
      v.flag = true;
    } else if (word("False")) {
      v.kind = Literal::Kind::boolean;
    } else if (word("None")) {
      v.kind = Literal::Kind::none;
    } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
      v.kind = Literal::Kind::integer;
      if (c == '-' || c == '+') {
        v.negative = c == '-';
        ++pos_;
      }
      const size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const auto digit = static_cast<uint64_t>(s_[pos_] - '0');
        if (v.number > (UINT64_MAX - digit) / 10) fail("integer too large");
        v.number = v.number * 10 + digit;
        ++pos_;
      }
      if (pos_ == start) fail("bad number");
      if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_; // Python 2 long
      if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == 'j'))
        fail("only integers are expected");
    } else {
      fail(pos_ < s_.size() ? "unexpected " + quoted(s_.substr(pos_, 10)) : "unexpected end");
    }
    return v;
  }
};

// ------------------------------------------------------------------ dtype

enum class Kind { boolean, signed_int, unsigned_int, floating };

struct Dtype {
  Kind kind = Kind::floating;
  size_t size = 8;
  bool swap = false; ///< file byte order differs from this machine's
};

bool little_endian_machine() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

/// numpy type strings: [<>|=] then b1, i1-i8, u1-u8, f2/f4/f8.
Dtype parse_descr(const std::string& descr) {
  const auto unsupported = [&](const std::string& why) {
    return Error("dtype " + quoted(descr) + " is not supported (" + why +
                 "; expected bool, signed/unsigned integers or floats)");
  };
  if (descr.size() < 2) throw unsupported("unknown type string");
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') throw unsupported("unknown type string");
  const char kind = descr[1];
  switch (kind) {
  case 'b':
  case 'i':
  case 'u':
  case 'f':
    break;
  case 'c':
    throw unsupported("complex");
  case 'O':
    throw unsupported("Python objects");
  case 'S':
  case 'U':
  case 'a':
    throw unsupported("strings");
  case 'V':
    throw unsupported("raw or structured records");
  case 'M':
  case 'm':
    throw unsupported("dates and times");
  default:
    throw unsupported("unknown type string");
  }
  const std::string size_text = descr.substr(2);
  if (size_text.empty() || size_text.size() > 2 ||
      !std::all_of(size_text.begin(), size_text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    throw unsupported("unknown type string");
  Dtype d;
  d.size = std::stoul(size_text);
  if (kind == 'b') {
    if (d.size != 1) throw unsupported("unknown type string");
    d.kind = Kind::boolean;
  } else if (kind == 'f') {
    if (d.size != 2 && d.size != 4 && d.size != 8) throw unsupported("float of " + size_text + " bytes");
    d.kind = Kind::floating;
  } else {
    if (d.size != 1 && d.size != 2 && d.size != 4 && d.size != 8) throw unsupported("unknown integer size");
    d.kind = kind == 'i' ? Kind::signed_int : Kind::unsigned_int;
  }
  if (order == '|' && d.size != 1) throw unsupported("'|' byte order on a multi-byte type");
  const bool file_little = order == '<' || (order == '=' && little_endian_machine());
  d.swap = d.size > 1 && order != '|' && file_little != little_endian_machine();
  return d;
}

/// Read one element as `value > 0` (numpy semantics: NaN > 0 is False).
int8_t positive(const unsigned char* raw, const Dtype& d) {
  unsigned char b[8];
  std::memcpy(b, raw, d.size);
  if (d.swap) std::reverse(b, b + d.size);
  switch (d.kind) {
  case Kind::boolean:
    return b[0] != 0;
  case Kind::unsigned_int:
    for (size_t i = 0; i < d.size; ++i)
      if (b[i] != 0) return 1;
    return 0;
  case Kind::signed_int:
    switch (d.size) {
    case 1: {
      int8_t v;
      std::memcpy(&v, b, 1);
      return v > 0;
    }
    case 2: {
      int16_t v;
      std::memcpy(&v, b, 2);
      return v > 0;
    }
    case 4: {
      int32_t v;
      std::memcpy(&v, b, 4);
      return v > 0;
    }
    default: {
      int64_t v;
      std::memcpy(&v, b, 8);
      return v > 0;
    }
    }
  case Kind::floating:
    switch (d.size) {
    case 2: { // IEEE half: positive iff sign clear, not zero, not NaN
      uint16_t v;
      std::memcpy(&v, b, 2);
      const bool nan = (v & 0x7c00u) == 0x7c00u && (v & 0x03ffu) != 0;
      return (v & 0x8000u) == 0 && (v & 0x7fffu) != 0 && !nan;
    }
    case 4: {
      float v;
      std::memcpy(&v, b, 4);
      return v > 0.0f;
    }
    default: {
      double v;
      std::memcpy(&v, b, 8);
      return v > 0.0;
    }
    }
  }
  return 0;
}

// ------------------------------------------------------------------ file

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::string read_all(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(std::string("cannot open: ") + std::strerror(errno));
  std::string bytes;
  char chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0)
    bytes.append(chunk, n);
  if (std::ferror(f.get())) throw Error(std::string("read error: ") + std::strerror(errno));
  return bytes;
}

uint32_t load_le(const std::string& bytes, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return v;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string t = "(";
  for (size_t k = 0; k < shape.size(); ++k)
    t += std::to_string(shape[k]) + (shape.size() == 1 ? "," : k + 1 < shape.size() ? ", " : "");
  return t + ")";
}

NpyBoolArray read_npy(const std::string& path) {
  const std::string bytes = read_all(path);
  if (bytes.size() < magic_size + 2 || bytes.compare(0, magic_size, magic, magic_size) != 0)
    throw Error("not a .npy file (bad magic; expected \\x93NUMPY)");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw Error(".npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                " is not supported (1.0, 2.0, 3.0)");
  // 1.0: 2-byte header length; 2.0 and 3.0 (UTF-8 header): 4 bytes.
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < magic_size + 2 + len_bytes) throw Error("truncated: the header length is cut short");
  const size_t header_len = load_le(bytes, magic_size + 2, len_bytes);
  const size_t data_start = magic_size + 2 + len_bytes + header_len;
  if (bytes.size() < data_start)
    throw Error("truncated: the header announces " + std::to_string(header_len) + " bytes, the file has " +
                std::to_string(bytes.size() - (magic_size + 2 + len_bytes)));
  std::string header = bytes.substr(magic_size + 2 + len_bytes, header_len);
  while (!header.empty() && std::isspace(static_cast<unsigned char>(header.back())))
    header.pop_back(); // the padding, kept out of messages
  if (header.find('\0') != std::string::npos) throw Error("header is not parseable (it holds a NUL byte)");

  const Literal dict = LiteralParser(header).parse_all();
  if (dict.kind != Literal::Kind::dict)
    throw Error("header is not parseable (not a dict): " + quoted(header));
  const Literal* descr = nullptr;
  const Literal* fortran = nullptr;
  const Literal* shape = nullptr;
  for (const auto& [key, item] : dict.entries) {
    if (key.kind != Literal::Kind::string) throw Error("header is not parseable (a key is not a string)");
    if (key.text == "descr")
      descr = &item;
    else if (key.text == "fortran_order")
      fortran = &item;
    else if (key.text == "shape")
      shape = &item;
    else
      throw Error("header has an unexpected key " + quoted(key.text) + " (numpy refuses it too)");
  }
  if (!descr || !fortran || !shape)
    throw Error("header lacks 'descr', 'fortran_order' or 'shape': " + quoted(header));
  if (descr->kind != Literal::Kind::string)
    throw Error("dtype is not a plain type string (structured dtypes are not supported): " + quoted(header));
  if (fortran->kind != Literal::Kind::boolean) throw Error("header 'fortran_order' is not True or False");
  if (shape->kind != Literal::Kind::sequence) throw Error("header 'shape' is not a tuple");
  const Dtype dtype = parse_descr(descr->text);

  NpyBoolArray out;
  uint64_t count = 1;
  for (const Literal& dim : shape->items) {
    if (dim.kind != Literal::Kind::integer || dim.negative)
      throw Error("header 'shape' holds a value that is not a non-negative integer");
    if (dim.number != 0 && count > UINT64_MAX / dim.number) throw Error("header 'shape' overflows");
    count *= dim.number;
    out.shape.push_back(dim.number);
  }
  const size_t available = bytes.size() - data_start;
  if (count > available / dtype.size) {
    const std::string needed =
        count > UINT64_MAX / dtype.size ? "more than 2^64" : std::to_string(count * dtype.size);
    throw Error("truncated: shape " + shape_text(out.shape) + " of " + std::to_string(dtype.size) +
                "-byte values needs " + needed + " bytes, the file has " + std::to_string(available) +
                " after the header");
  }

  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data() + data_start);
  out.values.resize(count);
  const size_t ndim = out.shape.size();
  if (!fortran->flag || ndim < 2) {
    for (size_t i = 0; i < count; ++i)
      out.values[i] = positive(raw + i * dtype.size, dtype);
    return out;
  }
  // Fortran order: the first index varies fastest in the file. Walk the C order with a
  // multi-index and pick each value at its Fortran offset.
  std::vector<uint64_t> stride(ndim), index(ndim, 0);
  stride[0] = 1;
  for (size_t k = 1; k < ndim; ++k)
    stride[k] = stride[k - 1] * out.shape[k - 1];
  uint64_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    out.values[i] = positive(raw + offset * dtype.size, dtype);
    for (size_t k = ndim; k-- > 0;) { // increment the C-order multi-index (last axis fastest)
      ++index[k];
      offset += stride[k];
      if (index[k] < out.shape[k]) break;
      offset -= stride[k] * index[k];
      index[k] = 0;
    }
  }
  return out;
}

} // namespace

NpyBoolArray read_npy_positive(const std::string& path) {
  return with_context("file " + quoted(path), [&] { return read_npy(path); });
}

namespace {

/// A C-order .npy (format 1.0) of `descr` ("<f8", "|b1") holding `data` (the elements, already
/// in that dtype's bytes).
void write_npy(const std::string& path,
               const std::string& descr,
               size_t item_bytes,
               const std::vector<uint64_t>& shape,
               const std::string& data) {
  with_context("file " + quoted(path), [&] {
    uint64_t count = 1;
    for (const uint64_t n : shape)
      count *= n;
    const std::string shape_str = shape_text(shape);
    if (count * item_bytes != data.size())
      throw Error("shape " + shape_str + " holds " + std::to_string(count) + " values, got " +
                  std::to_string(data.size() / item_bytes));
    // Format 1.0 as numpy writes it: the dict, spaces, '\n', the whole preamble a multiple of 64 bytes.
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_str + ", }";
    const size_t preamble = magic_size + 2 + 2;
    header.append((64 - (preamble + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    if (header.size() > 65535) throw Error("shape " + shape_str + " makes a header too long for format 1.0");

    std::string bytes(magic, magic_size);
    bytes += '\x01';
    bytes += '\x00';
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    bytes += header;
    bytes += data;
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
    if (!f) throw Error(std::string("cannot create: ") + std::strerror(errno));
    if (std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
      throw Error(std::string("write error: ") + std::strerror(errno));
    std::FILE* raw = f.release();
    if (std::fclose(raw) != 0) throw Error(std::string("write error on close: ") + std::strerror(errno));
  });
}

} // namespace

void write_npy_f64(const std::string& path,
                   const std::vector<uint64_t>& shape,
                   const std::vector<double>& values) {
  std::string data(8 * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t bits;
    std::memcpy(&bits, &values[i], 8);
    for (size_t b = 0; b < 8; ++b)
      data[8 * i + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  write_npy(path, "<f8", 8, shape, data);
}

void write_npy_bool(const std::string& path,
                    const std::vector<uint64_t>& shape,
                    const std::vector<int8_t>& values) {
  std::string data(values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    data[i] = values[i] != 0 ? '\x01' : '\x00'; // numpy's bool: one byte, 0 or 1
  write_npy(path, "|b1", 1, shape, data);
}

} // namespace dwipack::io
