#include "dwipack/config.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_set>
#include <utility>

namespace dwipack {

using Json = nlohmann::ordered_json;

const char* to_string(GroupType t) {
  switch (t) {
  case GroupType::volume:
    return "volume";
  case GroupType::streamlines:
    return "streamlines";
  }
  return "?";
}

const char* to_string(Standardization s) {
  switch (s) {
  case Standardization::all:
    return "all";
  case Standardization::independent:
    return "independent";
  case Standardization::per_file:
    return "per_file";
  case Standardization::none:
    return "none";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Python repr()
// ---------------------------------------------------------------------------------------------

// Code points >= 0x80 that Python's str.isprintable() rejects (categories Cc, Cf, Zs, Zl, Zp, Cs, Co;
// Unicode 14 as in Python 3.11). Unassigned code points (Cn), which Python also escapes, are not
// listed: that set changes with every Python/Unicode version and never occurs in real paths.
constexpr std::pair<char32_t, char32_t> non_printable_ranges[] = {
    {0x80, 0xa0},       {0xad, 0xad},        {0x600, 0x605},     {0x61c, 0x61c},     {0x6dd, 0x6dd},
    {0x70f, 0x70f},     {0x890, 0x891},      {0x8e2, 0x8e2},     {0x1680, 0x1680},   {0x180e, 0x180e},
    {0x2000, 0x200f},   {0x2028, 0x202f},    {0x205f, 0x2064},   {0x2066, 0x206f},   {0x3000, 0x3000},
    {0xd800, 0xf8ff},   {0xfeff, 0xfeff},    {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
    {0x13430, 0x13438}, {0x1bca0, 0x1bca3},  {0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f},
    {0xf0000, 0xffffd}, {0x100000, 0x10fffd}};

bool is_printable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return false;
  if (cp < 0x80) return true;
  for (const auto& [lo, hi] : non_printable_ranges) {
    if (cp < lo) return true; // ranges are sorted
    if (cp <= hi) return false;
  }
  return true;
}

void append_hex(std::string& out, unsigned value, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4)
    out += hex[(value >> shift) & 0xfu];
}

/// Decode one UTF-8 sequence at s[i]; returns its length, 0 if the bytes are not valid UTF-8.
std::size_t decode_utf8(const std::string& s, std::size_t i, char32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t len = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1fu;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0fu;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3fu);
  }
  return len;
}

// Python's unicode_repr(): single quotes unless the text has ' and no ".
void append_python_str(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = decode_utf8(s, i, cp);
    if (len == 0) { // cannot come from the JSON parser (it validates UTF-8); keep the byte visible
      out += "\\x";
      append_hex(out, static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    if (cp == static_cast<char32_t>(quote) || cp == U'\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == U'\t') {
      out += "\\t";
    } else if (cp == U'\n') {
      out += "\\n";
    } else if (cp == U'\r') {
      out += "\\r";
    } else if (is_printable(cp)) {
      out.append(s, i, len);
    } else if (cp < 0x100) {
      out += "\\x";
      append_hex(out, static_cast<unsigned>(cp), 2);
    } else if (cp < 0x10000) {
      out += "\\u";
      append_hex(out, static_cast<unsigned>(cp), 4);
    } else {
      out += "\\U";
      append_hex(out, static_cast<unsigned>(cp), 8);
    }
    i += len;
  }
  out += quote;
}

// Python's float.__repr__: the shortest digits that round-trip (std::to_chars gives the same
// digits as David Gay's dtoa), in positional form when -4 <= exponent < 16, else d.ddde+XX.
void append_python_float(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-inf" : "inf";
    return;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, res.ptr); // e.g. "-1.5e-07", "1e+16"
  std::size_t pos = 0;
  if (sci[0] == '-') {
    out += '-';
    pos = 1;
  }
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (std::size_t k = pos; k < e_pos; ++k)
    if (sci[k] != '.') digits += sci[k];
  const int exponent = std::stoi(sci.substr(e_pos + 1));

  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += exponent < 0 ? "e-" : "e+";
    const int magnitude = std::abs(exponent);
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
  } else if (exponent >= 0) {
    const auto int_digits = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      out += digits;
      out.append(int_digits - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, int_digits);
      out += '.';
      out.append(digits, int_digits, std::string::npos);
    }
  } else {
    out += "0.";
    out.append(static_cast<std::size_t>(-exponent - 1), '0');
    out += digits;
  }
}

void append_python_repr(std::string& out, const Json& v) {
  switch (v.type()) {
  case Json::value_t::object: {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      if (!first) out += ", ";
      first = false;
      append_python_str(out, key);
      out += ": ";
      append_python_repr(out, value);
    }
    out += '}';
    break;
  }
  case Json::value_t::array: {
    out += '[';
    bool first = true;
    for (const auto& item : v) {
      if (!first) out += ", ";
      first = false;
      append_python_repr(out, item);
    }
    out += ']';
    break;
  }
  case Json::value_t::string:
    append_python_str(out, v.get_ref<const std::string&>());
    break;
  case Json::value_t::boolean:
    out += v.get<bool>() ? "True" : "False";
    break;
  case Json::value_t::null:
    out += "None";
    break;
  case Json::value_t::number_integer:
    out += std::to_string(v.get<std::int64_t>());
    break;
  case Json::value_t::number_unsigned:
    out += std::to_string(v.get<std::uint64_t>());
    break;
  case Json::value_t::number_float:
    append_python_float(out, v.get<double>());
    break;
  case Json::value_t::binary:
  case Json::value_t::discarded:
    throw Error(std::string("python_repr: a ") + v.type_name() + " value has no Python equivalent");
  }
}

// ---------------------------------------------------------------------------------------------
// JSON syntax
// ---------------------------------------------------------------------------------------------

std::string escape_pointer_token(const std::string& token) {
  std::string out;
  for (const char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string child_pointer(const std::string& parent, const std::string& key) {
  return parent + "/" + escape_pointer_token(key);
}

[[noreturn]] void fail_at(const std::string& pointer, const std::string& fact) {
  throw Error(Error(fact), pointer);
}

// "[json.exception.parse_error.101] parse error at line 3, column 1: syntax error ..." becomes
// "syntax error ... at line 3, column 1".
std::string clean_parse_error(const std::string& what) {
  std::string text = what;
  if (text.rfind("[json.exception.", 0) == 0) {
    const std::size_t close = text.find("] ");
    if (close != std::string::npos) text.erase(0, close + 2);
  }
  const std::string prefix = "parse error";
  if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
  std::string position;
  if (text.rfind(" at ", 0) == 0) {
    const std::size_t colon = text.find(": ");
    if (colon != std::string::npos) {
      position = text.substr(0, colon); // " at line L, column C"
      text.erase(0, colon + 2);
    }
  } else if (text.rfind(": ", 0) == 0) {
    text.erase(0, 2);
  }
  return text + position;
}

// A first pass over the text with nlohmann's SAX interface, for what the DOM parser cannot tell:
// where syntax errors are (cleanly), integers too big for 64 bits (nlohmann silently turns them
// into doubles; Python keeps them exact), numbers that overflow to infinity, and duplicated keys
// (both Python and nlohmann keep the last value at the first key's position: warn, it is usually
// a copy-paste slip that silently drops a group).
class SyntaxCheck : public nlohmann::json_sax<Json> {
public:
  std::vector<std::string> warnings;
  std::string error; ///< set when the pass stopped

  bool null() override { return value_done(); }
  bool boolean(bool) override { return value_done(); }
  bool number_integer(number_integer_t) override { return value_done(); }
  bool number_unsigned(number_unsigned_t) override { return value_done(); }
  bool number_float(number_float_t value, const string_t& text) override {
    if (text.find_first_of(".eE") == string_t::npos)
      return stop(pointer() + ": integer " + text + " does not fit in 64 bits");
    if (!std::isfinite(value))
      return stop(pointer() + ": number " + text + " is out of the range of a 64-bit float");
    return value_done();
  }
  bool string(string_t&) override { return value_done(); }
  bool binary(binary_t&) override { return value_done(); }
  bool start_object(std::size_t) override {
    frames_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    Frame& frame = frames_.back();
    frame.key = name;
    if (!frame.keys.insert(name).second)
      warnings.push_back(pointer() + ": key " + quoted(name) +
                         " is given twice in the same object; the last value is used");
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return value_done();
  }
  bool start_array(std::size_t) override {
    frames_.emplace_back();
    frames_.back().is_array = true;
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return value_done();
  }
  bool parse_error(std::size_t, const std::string& last_token, const Json::exception& ex) override {
    // out_of_range.406: a float literal beyond the double range (1e400); it has no line/column.
    if (ex.id == 406)
      return stop(pointer() + ": number " + last_token + " is out of the range of a 64-bit float");
    return stop("invalid JSON: " + clean_parse_error(ex.what()));
  }

private:
  struct Frame {
    bool is_array = false;
    std::size_t index = 0;      // arrays: index of the element being read
    std::string key;            // objects: key of the value being read
    std::set<std::string> keys; // objects: keys seen so far
  };
  std::vector<Frame> frames_;

  std::string pointer() const {
    std::string p;
    for (const Frame& f : frames_)
      p += f.is_array ? "/" + std::to_string(f.index) : child_pointer("", f.key);
    return p;
  }
  bool value_done() {
    if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
    return true;
  }
  bool stop(std::string message) {
    error = std::move(message);
    return false;
  }
};

Json parse_json(const std::string& text, const std::string& source) {
  SyntaxCheck check;
  if (!Json::sax_parse(text, &check)) throw Error(check.error.empty() ? "invalid JSON" : check.error);
  for (const std::string& w : check.warnings)
    log::warning("config " + quoted(source) + ": " + w);
  return Json::parse(text);
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// "number 3", "array [1,2]", "null": what was found, for "expected X, got Y" messages.
std::string describe(const Json& v) {
  if (v.is_null()) return "null";
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

// The keys dwi_ml reads in a group, by group type.
const std::vector<std::string> common_key_names = {"type", "files"};
const std::vector<std::string> volume_key_names = {"standardization", "std_mask"};
const std::vector<std::string> streamline_key_names = {"dps_keys", "connectivity_matrix",
                                                       "connectivity_nb_blocs", "connectivity_labels"};

bool is_known_key(const std::string& key) {
  for (const auto* keys : {&common_key_names, &volume_key_names, &streamline_key_names})
    if (std::find(keys->begin(), keys->end(), key) != keys->end()) return true;
  return false;
}

const Json& required(const Json& group, const std::string& key, const std::string& group_ptr) {
  if (group.contains(key)) return group.at(key);
  // "standardisation" for "standardization": say what was found, the fix is then obvious.
  for (const auto& [found, value] : group.items()) {
    (void)value;
    if (!is_known_key(found) && !likely_meant(found, {key}).empty())
      fail_at(group_ptr, "missing required key " + quoted(key) + "; found " + quoted(found));
  }
  fail_at(group_ptr, "missing required key " + quoted(key));
}

std::string non_empty_string(const Json& v, const std::string& ptr) {
  if (!v.is_string()) fail_at(ptr, "expected a string, got " + describe(v));
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) fail_at(ptr, "the string is empty");
  return s;
}

/// A string or a list of strings (dwi_ml accepts both for files, std_mask and dps_keys).
std::vector<std::string> string_or_list(const Json& v, const std::string& ptr, bool allow_empty_list) {
  if (v.is_string()) return {non_empty_string(v, ptr)};
  if (!v.is_array()) fail_at(ptr, "expected a string or a list of strings, got " + describe(v));
  if (v.empty() && !allow_empty_list) fail_at(ptr, "the list is empty");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(non_empty_string(v[i], ptr + "/" + std::to_string(i)));
  return out;
}

/// An int64 > 0, or nothing.
bool positive_int(const Json& v, std::int64_t& out) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned() &&
      v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    return false;
  out = v.get<std::int64_t>();
  return out > 0;
}

// dwi_ml: int n -> [n, n, n]; [n] -> [n, n, n]; a list of 3 is kept; anything else fails.
std::vector<std::int64_t> nb_blocs(const Json& v, const std::string& ptr) {
  std::int64_t n = 0;
  if (positive_int(v, n)) return {n, n, n};
  if (v.is_array() && (v.size() == 1 || v.size() == 3)) {
    std::vector<std::int64_t> out;
    for (const auto& item : v)
      if (positive_int(item, n)) out.push_back(n);
    if (out.size() == v.size()) return out.size() == 1 ? std::vector<std::int64_t>(3, out[0]) : out;
  }
  fail_at(ptr, "expected a positive integer or a list of 1 or 3 positive integers, got " + describe(v));
}

class Validator {
public:
  explicit Validator(std::string source) : source_(std::move(source)) {}

  std::vector<GroupConfig> groups(const Json& root) const {
    if (!root.is_object()) throw Error("the top level must be an object of groups, got " + describe(root));
    if (root.empty()) throw Error("the top level object is empty: no groups are configured");
    std::vector<GroupConfig> out;
    for (const auto& [name, value] : root.items())
      out.push_back(group(name, value));
    return out;
  }

private:
  std::string source_;

  void warn(const std::string& ptr, const std::string& message) const {
    log::warning("config " + quoted(source_) + ": " + ptr + ": " + message);
  }

  GroupConfig group(const std::string& name, const Json& g) const {
    const std::string ptr = child_pointer("", name);
    // The name becomes an HDF5 link name under each subject.
    if (name.empty()) fail_at(ptr, "a group name must not be empty");
    if (name.find('/') != std::string::npos)
      fail_at(ptr, "group name " + quoted(name) + " must not contain '/' (it separates HDF5 paths)");
    if (name[0] == '.') fail_at(ptr, "group name " + quoted(name) + " must not start with '.'");
    if (!g.is_object()) fail_at(ptr, "a group must be an object, got " + describe(g));

    GroupConfig gc;
    gc.name = name;
    const std::string type_ptr = child_pointer(ptr, "type");
    const std::string type = non_empty_string(required(g, "type", ptr), type_ptr);
    if (type == "volume")
      gc.type = GroupType::volume;
    else if (type == "streamlines")
      gc.type = GroupType::streamlines;
    else
      fail_at(type_ptr, quoted(type) + " is not one of volume, streamlines");
    gc.files = string_or_list(required(g, "files", ptr), child_pointer(ptr, "files"), false);

    if (gc.type == GroupType::volume)
      volume_keys(g, ptr, gc);
    else
      streamline_keys(g, ptr, gc);
    unknown_keys(g, ptr, gc);
    return gc;
  }

  void volume_keys(const Json& g, const std::string& ptr, GroupConfig& gc) const {
    const std::string std_ptr = child_pointer(ptr, "standardization");
    const std::string s = non_empty_string(required(g, "standardization", ptr), std_ptr);
    if (s == "all")
      gc.standardization = Standardization::all;
    else if (s == "independent")
      gc.standardization = Standardization::independent;
    else if (s == "per_file")
      gc.standardization = Standardization::per_file;
    else if (s == "none")
      gc.standardization = Standardization::none;
    else
      fail_at(std_ptr, quoted(s) + " is not one of all, independent, per_file, none");

    if (g.contains("std_mask")) {
      const std::string mask_ptr = child_pointer(ptr, "std_mask");
      gc.std_mask = string_or_list(g.at("std_mask"), mask_ptr, true);
      if (gc.standardization == Standardization::none && !gc.std_mask.empty()) {
        warn(mask_ptr, "ignored: group " + quoted(gc.name) + " has standardization 'none'");
        gc.std_mask.clear(); // as dwi_ml: the mask only matters for standardization
      }
    }
  }

  void streamline_keys(const Json& g, const std::string& ptr, GroupConfig& gc) const {
    if (g.contains("dps_keys"))
      gc.dps_keys = string_or_list(g.at("dps_keys"), child_pointer(ptr, "dps_keys"), true);

    const bool has_blocs = g.contains("connectivity_nb_blocs");
    const bool has_labels = g.contains("connectivity_labels");
    if (!g.contains("connectivity_matrix")) {
      for (const char* key : {"connectivity_nb_blocs", "connectivity_labels"})
        if (g.contains(key))
          warn(child_pointer(ptr, key),
               "ignored: group " + quoted(gc.name) + " has no 'connectivity_matrix'");
      return;
    }
    gc.connectivity_matrix =
        non_empty_string(g.at("connectivity_matrix"), child_pointer(ptr, "connectivity_matrix"));
    if (has_blocs == has_labels)
      fail_at(ptr, std::string("'connectivity_matrix' needs exactly one of 'connectivity_nb_blocs' or "
                               "'connectivity_labels', got ") +
                       (has_blocs ? "both" : "neither"));
    if (has_blocs)
      gc.connectivity_nb_blocs =
          nb_blocs(g.at("connectivity_nb_blocs"), child_pointer(ptr, "connectivity_nb_blocs"));
    else
      gc.connectivity_labels =
          non_empty_string(g.at("connectivity_labels"), child_pointer(ptr, "connectivity_labels"));
  }

  // Unknown keys are ignored by dwi_ml; a warning catches typos such as "standardisation".
  void unknown_keys(const Json& g, const std::string& ptr, const GroupConfig& gc) const {
    const bool is_volume = gc.type == GroupType::volume;
    std::vector<std::string> own = common_key_names;
    const auto& own_typed = is_volume ? volume_key_names : streamline_key_names;
    own.insert(own.end(), own_typed.begin(), own_typed.end());
    const auto& other = is_volume ? streamline_key_names : volume_key_names;
    for (const auto& [key, value] : g.items()) {
      (void)value;
      if (std::find(own.begin(), own.end(), key) != own.end()) continue;
      if (std::find(other.begin(), other.end(), key) != other.end()) {
        warn(child_pointer(ptr, key), "ignored: key " + quoted(key) + " does not apply to " +
                                          to_string(gc.type) + " group " + quoted(gc.name));
        continue;
      }
      const std::string meant = likely_meant(key, own);
      warn(child_pointer(ptr, key), "unknown key " + quoted(key) + " in group " + quoted(gc.name) +
                                        (meant.empty() ? "" : " (did you mean " + quoted(meant) + "?)") +
                                        ", ignored");
    }
  }
};

std::string read_text_file(const std::string& path) {
  // std::ifstream opens a directory without complaint; say what it is instead of "empty".
  if (io::is_directory(path)) throw Error("cannot read: it is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string("cannot open: ") + std::strerror(errno != 0 ? errno : ENOENT));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(std::string("read error: ") + std::strerror(errno != 0 ? errno : EIO));
  return buffer.str();
}

} // namespace

std::string python_repr(const nlohmann::ordered_json& value) {
  std::string out;
  append_python_repr(out, value);
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  // Three rows of the dynamic programme: d[i][j] is the distance between a's first i characters
  // and b's first j.
  std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string likely_meant(const std::string& word, const std::vector<std::string>& candidates) {
  const auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  if (std::find(candidates.begin(), candidates.end(), word) != candidates.end()) return {};
  const std::string w = lower(word);
  std::string best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(w, lower(candidate));
    if (d <= std::max<std::size_t>(1, candidate.size() / 4) && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

Config parse_config(const std::string& text, const std::string& source) {
  return with_context("config " + quoted(source), [&] {
    const Json root = parse_json(text, source);
    Config config;
    config.groups = Validator(source).groups(root);
    config.python_repr = python_repr(root);
    config.canonical_json = root.dump();
    return config;
  });
}

Config load_config(const std::string& path) {
  const std::string text = with_context("config " + quoted(path), [&] { return read_text_file(path); });
  return parse_config(text, path);
}

namespace {

/// The length of the UTF-8 sequence starting at text[i] (1..4), or 0 if it is not valid UTF-8
/// (overlong forms, surrogates and values above U+10FFFF included).
std::size_t utf8_sequence_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  uint32_t code = 0, min = 0;
  if ((c & 0xe0) == 0xc0) {
    n = 2, code = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, code = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, code = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return n;
}

} // namespace

std::string printable(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t n = utf8_sequence_length(text, i);
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

std::string why_not_subject_id(const std::string& id) {
  if (id.empty()) return "it is empty";
  if (id == "." || id == "..") return "'.' and '..' are not subject folders";
  if (id.find('/') != std::string::npos)
    return "it contains '/' (an id is the name of a folder in the dwi_ml_ready folder, not a path)";
  for (std::size_t i = 0; i < id.size();) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7f) return "it contains a control character";
    const std::size_t n = utf8_sequence_length(id, i);
    if (n == 0) return "it is not valid UTF-8";
    i += n;
  }
  return {};
}

std::vector<std::string> read_subject_list(const std::string& path) {
  return with_context("subject list " + quoted(path), [&] {
    const std::string text = read_text_file(path);
    // The ASCII characters Python's str.split() treats as whitespace (\x1c-\x1f included).
    static const char whitespace[] = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    std::vector<std::string> ids;
    std::unordered_set<std::string> seen;
    std::size_t start = text.find_first_not_of(whitespace);
    while (start != std::string::npos) {
      const std::size_t end = text.find_first_of(whitespace, start);
      std::string id = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      // Ids become folder paths and HDF5 group names: checked before anything is read or written.
      if (const std::string why = why_not_subject_id(id); !why.empty())
        throw Error("line " + std::to_string(1 + std::count(text.begin(), text.begin() + start, '\n')) +
                    ": subject id " + quoted(printable(id)) + " is not a plain folder name: " + why);
      if (!seen.insert(id).second) throw Error("subject " + quoted(id) + " is listed twice");
      ids.push_back(std::move(id));
      start = end == std::string::npos ? end : text.find_first_not_of(whitespace, end);
    }
    return ids;
  });
}

std::vector<std::string> union_of_lists(const std::vector<std::string>& training,
                                        const std::vector<std::string>& validation,
                                        const std::vector<std::string>& testing) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const auto* list : {&training, &validation, &testing})
    for (const std::string& id : *list)
      if (seen.insert(id).second) out.push_back(id);
  return out;
}

} // namespace dwipack
