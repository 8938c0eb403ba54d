// TRX reader (the tee-ar-ex format: flat little-endian C-order arrays in a ZIP archive or a
// folder): header.json, positions.3.<float16|float32|float64> in RAS mm, offsets.<uint32|uint64>
// (NB_STREAMLINES entries, or one more equal to NB_VERTICES), dps/<name>[.<k>].<dtype>. Data per
// vertex (dpv/), groups (groups/) and data per group (dpg/) are not used by dwi_ml: ignored.
//
// The header plays the part of a .trk header (the space: VOXEL_TO_RASMM rounded to float32 and
// DIMENSIONS, as trx-python and dipy hold them; voxel sizes and order derived from the affine as
// dipy's get_reference_info does for a TRX). Positions are streamed: a stored ZIP member or a file
// of a folder is read in place in chunks, a deflated member inflated in blocks (src/io/zip.cpp),
// the offsets and each dps array beside them, so memory stays at a few chunks.
#include "dwipack/io/trx.hpp"
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/util/log.hpp"
#include "tractogram_internal.hpp"
#include "zip.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <dirent.h>
#include <sys/stat.h>

namespace dwipack::io::detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the TRX reader reads its little-endian arrays in place: a big-endian host needs byte swaps");

namespace {

// ---- dtypes and member names ------------------------------------------------------------------

enum class Kind { int_signed, int_unsigned, floating };

struct Dtype {
  std::string name; ///< as in the member name: "float32"
  Kind kind = Kind::floating;
  size_t bytes = 4;
};

bool parse_dtype(const std::string& text, Dtype& out) {
  static const Dtype known[] = {
      {"int8", Kind::int_signed, 1},     {"int16", Kind::int_signed, 2},    {"int32", Kind::int_signed, 4},
      {"int64", Kind::int_signed, 8},    {"uint8", Kind::int_unsigned, 1},  {"uint16", Kind::int_unsigned, 2},
      {"uint32", Kind::int_unsigned, 4}, {"uint64", Kind::int_unsigned, 8}, {"float16", Kind::floating, 2},
      {"float32", Kind::floating, 4},    {"float64", Kind::floating, 8}};
  for (const auto& d : known)
    if (d.name == text) {
      out = d;
      return true;
    }
  return false;
}

/// "<base>[.<k>].<dtype>" (the last component of a member name), as trx-python splits it: the
/// last suffix is the dtype; the one before it, if all digits, the number of columns.
bool split_array_name(
    const std::string& file, std::string& base, std::string& dtype, int64_t& columns, bool& columns_given) {
  const size_t dot = file.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  dtype = file.substr(dot + 1);
  base = file.substr(0, dot);
  columns = 1;
  columns_given = false;
  const size_t dot2 = base.rfind('.');
  if (dot2 != std::string::npos && dot2 + 1 < base.size() &&
      std::all_of(base.begin() + static_cast<std::ptrdiff_t>(dot2) + 1, base.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    const std::string digits = base.substr(dot2 + 1);
    if (digits.size() > 9) return false;
    columns = std::stoll(digits);
    columns_given = true;
    base = base.substr(0, dot2);
  }
  return !base.empty();
}

// ---- the container: a ZIP archive or a folder ---------------------------------------------------

/// A file of the TRX: its name relative to the TRX root ('/'-separated) and where its bytes are.
struct Entry {
  std::string name;
  uint64_t bytes = 0;
  ZipMember zip;    ///< archive
  std::string file; ///< folder: the file's path
};

class Container {
public:
  explicit Container(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error("cannot open: " + errno_text());
    if (S_ISDIR(st.st_mode)) {
      list_folder(path, "", 0);
    } else {
      archive_ = true;
      fd_.emplace(open_for_reading(path, true));
      archive_bytes_ = file_size(fd_->get());
      std::vector<ZipMember> members = read_zip_directory(fd_->get(), archive_bytes_);
      // `zip -r x.trx folder/` puts every member under "folder/": accept one such top folder.
      std::string prefix;
      const bool at_root = std::any_of(members.begin(), members.end(),
                                       [](const ZipMember& m) { return m.name == "header.json"; });
      if (!at_root) {
        for (const auto& m : members) {
          const size_t slash = m.name.find('/');
          if (m.name.size() > 12 && slash != std::string::npos &&
              m.name.compare(slash, std::string::npos, "/header.json") == 0)
            prefix = m.name.substr(0, slash + 1);
        }
        for (const auto& m : members)
          if (!prefix.empty() && m.name.compare(0, prefix.size(), prefix) != 0) prefix.clear();
      }
      for (auto& m : members) {
        if (m.is_directory()) continue;
        Entry e;
        e.name = m.name.substr(prefix.size());
        e.bytes = m.size;
        e.zip = std::move(m);
        entries_.push_back(std::move(e));
      }
    }
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
  }

  const std::vector<Entry>& entries() const { return entries_; }

  /// The entry's bytes as a stream (the Container must outlive it).
  std::unique_ptr<ByteStream> open(const Entry& e) {
    if (archive_) return open_member(fd_->get(), archive_bytes_, e.zip);
    files_.push_back(open_for_reading(e.file, true));
    const int64_t size = file_size(files_.back().get());
    if (static_cast<uint64_t>(size) != e.bytes)
      throw Error("changed size while being read (" + std::to_string(e.bytes) + " then " +
                  std::to_string(size) + " bytes)");
    return open_stored(files_.back().get(), 0, e.bytes, false, 0);
  }

private:
  void list_folder(const std::string& dir, const std::string& rel, int depth) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw Error("cannot list folder " + quoted(dir) + ": " + errno_text());
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name); // also skips "." and ".."
    ::closedir(d);
    for (const auto& n : names) {
      const std::string full = dir + "/" + n;
      struct stat st {};
      if (::stat(full.c_str(), &st) != 0) continue; // a dangling link: nothing to read
      if (S_ISDIR(st.st_mode)) {
        if (depth < 2) list_folder(full, rel + n + "/", depth + 1); // dpg/<group>/<array> is the deepest
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;
      Entry entry;
      entry.name = rel + n;
      entry.bytes = static_cast<uint64_t>(st.st_size);
      entry.file = full;
      entries_.push_back(std::move(entry));
    }
  }

  bool archive_ = false;
  std::optional<UniqueFd> fd_;
  int64_t archive_bytes_ = 0;
  std::vector<Entry> entries_;
  std::vector<UniqueFd> files_; ///< folder files opened by open()
};

// ---- the layout: header.json and the arrays, checked against each other -------------------------

struct Array {
  const Entry* entry = nullptr;
  Dtype dtype;
  int64_t columns = 1;
  const std::string& member() const { return entry->name; }
};

struct Layout {
  int64_t nb_streamlines = 0, nb_vertices = 0;
  Affine vox_to_ras = identity_affine();
  std::array<int64_t, 3> dimensions{};
  Array positions, offsets;
  bool offsets_with_end = false;             ///< NB_STREAMLINES + 1 entries, the last one NB_VERTICES
  std::vector<std::pair<DpsKey, Array>> dps; ///< by name
  std::map<std::string, int> ignored;        ///< "dpv/" etc. -> how many arrays
  std::vector<std::string> unknown;          ///< other members, ignored too
};

std::string member_frame(const std::string& name) {
  return "member " + quoted(name);
}

uint64_t checked_product(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(what + " overflows 64-bit byte counts");
  return r;
}

std::string read_small(Container& c, const Entry& e, size_t limit) {
  if (e.bytes > limit)
    throw Error(std::to_string(e.bytes) + " bytes (more than " + std::to_string(limit >> 20) +
                " MiB: not a TRX header)");
  std::unique_ptr<ByteStream> s = c.open(e);
  std::string text(static_cast<size_t>(e.bytes), '\0');
  if (!text.empty()) s->read(reinterpret_cast<unsigned char*>(text.data()), text.size());
  s->finish();
  return text;
}

int64_t json_count(const nlohmann::json& h, const char* key) {
  if (!h.contains(key)) throw Error(std::string("'") + key + "' is missing");
  const auto& v = h.at(key);
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > (uint64_t{1} << 62)) throw Error(std::string("'") + key + "' is too large");
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  throw Error(std::string("'") + key + "' is " + v.dump() + ", expected a non-negative integer");
}

void parse_header(const std::string& text, Layout& L) {
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not valid JSON: ") + e.what());
  }
  if (!h.is_object()) throw Error("not a JSON object");
  L.nb_streamlines = json_count(h, "NB_STREAMLINES");
  L.nb_vertices = json_count(h, "NB_VERTICES");
  if (L.nb_streamlines == 0 && L.nb_vertices != 0)
    throw Error("'NB_STREAMLINES' is 0 but 'NB_VERTICES' is " + std::to_string(L.nb_vertices));

  if (!h.contains("DIMENSIONS")) throw Error("'DIMENSIONS' is missing");
  const auto& dims = h.at("DIMENSIONS");
  const auto bad_dims = [&] {
    return Error("'DIMENSIONS' is " + dims.dump() +
                 ", expected 3 integers from 1 to 32767 (the streamline group stores them as int16)");
  };
  if (!dims.is_array() || dims.size() != 3) throw bad_dims();
  for (size_t i = 0; i < 3; ++i) {
    if (!dims[i].is_number_integer() || dims[i].get<int64_t>() < 1 || dims[i].get<int64_t>() > 32767)
      throw bad_dims();
    L.dimensions[i] = dims[i].get<int64_t>();
  }

  if (!h.contains("VOXEL_TO_RASMM")) throw Error("'VOXEL_TO_RASMM' is missing");
  const auto& m = h.at("VOXEL_TO_RASMM");
  std::vector<const nlohmann::json*> values; // 4 rows of 4, or 16 in a row
  if (m.is_array() && m.size() == 4 && std::all_of(m.begin(), m.end(), [](const nlohmann::json& row) {
        return row.is_array() && row.size() == 4;
      })) {
    for (const auto& row : m)
      for (const auto& v : row)
        values.push_back(&v);
  } else if (m.is_array() && m.size() == 16) {
    for (const auto& v : m)
      values.push_back(&v);
  }
  if (values.size() != 16 ||
      !std::all_of(values.begin(), values.end(), [](const nlohmann::json* v) { return v->is_number(); }))
    throw Error("'VOXEL_TO_RASMM' is " + m.dump() + ", expected a 4 x 4 array of numbers");
  for (size_t i = 0; i < 16; ++i) {
    // trx-python and dipy hold the affine as float32: the same matrix as a .trk header's
    const float f = static_cast<float>(values[i]->get<double>());
    if (!std::isfinite(f))
      throw Error("'VOXEL_TO_RASMM' has a value that is not a finite float32: " + values[i]->dump());
    L.vox_to_ras[i] = static_cast<double>(f);
  }
  if (axcodes(L.vox_to_ras).find('?') != std::string::npos)
    throw Error("'VOXEL_TO_RASMM' is invalid: the axis directions cannot be determined from it: " +
                to_string(L.vox_to_ras));
  const Affine& a = L.vox_to_ras;
  const double det = a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8]) +
                     a[2] * (a[4] * a[9] - a[5] * a[8]);
  if (det == 0) throw Error("'VOXEL_TO_RASMM' is singular (dipy needs its inverse): " + to_string(a));
}

/// Open the TRX's header and arrays and check them against each other (no data is read but
/// header.json). Errors carry the fact, framed with the member when there is one.
Layout open_layout(Container& c) {
  Layout L;
  const Entry* header = nullptr;
  const auto array_of = [](const Entry& e, const std::string& file, Array& a) {
    std::string base, dtype;
    bool columns_given = false;
    if (!split_array_name(file, base, dtype, a.columns, columns_given))
      throw Error(Error("the name is not <name>[.<columns>].<dtype>"), member_frame(e.name));
    if (!parse_dtype(dtype, a.dtype))
      throw Error(Error("unknown dtype " + quoted(dtype) +
                        " (TRX arrays are int8/16/32/64, uint8/16/32/64, float16/32/64)"),
                  member_frame(e.name));
    a.entry = &e;
    return std::make_pair(base, columns_given);
  };
  for (const Entry& e : c.entries()) {
    const size_t slash = e.name.find('/');
    if (e.name == "header.json") {
      header = &e;
      continue;
    }
    if (slash == std::string::npos) {
      std::string base, dtype;
      int64_t columns = 1;
      bool given = false;
      if (!split_array_name(e.name, base, dtype, columns, given) ||
          (base != "positions" && base != "offsets")) {
        L.unknown.push_back(e.name);
        continue;
      }
      Array a;
      array_of(e, e.name, a);
      Array& slot = base == "positions" ? L.positions : L.offsets;
      if (slot.entry)
        throw Error("two " + base + " arrays: " + quoted(slot.member()) + " and " + quoted(e.name) +
                    " (a TRX has one)");
      if (base == "positions") {
        if (a.dtype.kind != Kind::floating)
          throw Error(
              Error("positions are " + a.dtype.name + "; TRX positions are float16, float32 or float64"),
              member_frame(e.name));
        if (!given || a.columns != 3)
          throw Error(Error("positions must have 3 columns (positions.3.<dtype>)"), member_frame(e.name));
        L.positions = a;
      } else {
        if (a.dtype.name != "uint32" && a.dtype.name != "uint64")
          throw Error(Error("offsets are " + a.dtype.name + "; TRX offsets are uint32 or uint64"),
                      member_frame(e.name));
        if (a.columns != 1) throw Error(Error("offsets must have 1 column"), member_frame(e.name));
        L.offsets = a;
      }
      continue;
    }
    const std::string folder = e.name.substr(0, slash + 1);
    if (folder == "dps/") {
      const std::string file = e.name.substr(slash + 1);
      if (file.find('/') != std::string::npos)
        throw Error(Error("not dps/<name>[.<columns>].<dtype> (a folder inside dps/)"), member_frame(e.name));
      Array a;
      const std::string name = array_of(e, file, a).first;
      if (a.columns < 1) throw Error(Error("0 columns"), member_frame(e.name));
      for (const auto& [key, other] : L.dps)
        if (key.name == name)
          throw Error("two dps arrays are named " + quoted(name) + ": " + quoted(other.member()) + " and " +
                      quoted(e.name));
      L.dps.push_back({DpsKey{name, static_cast<int>(a.columns)}, a});
    } else if (folder == "dpv/" || folder == "groups/" || folder == "dpg/") {
      ++L.ignored[folder];
    } else {
      L.unknown.push_back(e.name);
    }
  }
  const std::string needs = " (a TRX holds header.json, positions.3.<dtype> and offsets.<dtype>)";
  if (!header) throw Error("no member 'header.json'" + needs);
  with_context(member_frame(header->name),
               [&] { parse_header(read_small(c, *header, size_t{16} << 20), L); });
  if (!L.positions.entry) throw Error("no positions array" + needs);
  if (!L.offsets.entry) throw Error("no offsets array" + needs);
  std::sort(L.dps.begin(), L.dps.end(),
            [](const auto& a, const auto& b) { return a.first.name < b.first.name; });

  // Sizes against the header.
  const auto S = static_cast<uint64_t>(L.nb_streamlines), V = static_cast<uint64_t>(L.nb_vertices);
  {
    const Array& p = L.positions;
    const uint64_t want =
        checked_product(checked_product(V, 3, "NB_VERTICES x 3"), p.dtype.bytes, "positions");
    if (p.entry->bytes != want)
      throw Error(Error(std::to_string(p.entry->bytes) + " bytes; 'NB_VERTICES' " + std::to_string(V) +
                        " needs " + std::to_string(want) + " (" + std::to_string(V) + " x 3 x " +
                        std::to_string(p.dtype.bytes) + " bytes)"),
                  member_frame(p.member()));
  }
  {
    const Array& o = L.offsets;
    const uint64_t want = checked_product(S, o.dtype.bytes, "offsets");
    if (o.entry->bytes == want + o.dtype.bytes) {
      L.offsets_with_end = true;
    } else if (o.entry->bytes != want) {
      throw Error(Error(std::to_string(o.entry->bytes) + " bytes; 'NB_STREAMLINES' " + std::to_string(S) +
                        " needs " + std::to_string(S) + " entries (" + std::to_string(want) + " bytes), or " +
                        std::to_string(S + 1) + " with the last one equal to 'NB_VERTICES'"),
                  member_frame(o.member()));
    }
  }
  for (const auto& [key, a] : L.dps) {
    const uint64_t want =
        checked_product(checked_product(S, static_cast<uint64_t>(a.columns), "dps"), a.dtype.bytes, "dps");
    if (a.entry->bytes != want)
      throw Error(Error(std::to_string(a.entry->bytes) + " bytes; 'NB_STREAMLINES' " + std::to_string(S) +
                        " needs " + std::to_string(want) + " (" + std::to_string(S) + " x " +
                        std::to_string(a.columns) + " x " + std::to_string(a.dtype.bytes) + " bytes)"),
                  member_frame(a.member()));
  }
  return L;
}

/// nibabel's voxel_sizes on the float32 affine, as trx-python and dipy compute a TRX's:
/// sqrt(sum(affine[:3, :3] ** 2, axis=0)) in float32, the rows added in order.
std::array<float, 3> column_norms32(const Affine& a) {
  std::array<float, 3> out{};
  for (size_t c = 0; c < 3; ++c) {
    const auto x = static_cast<float>(a[c]), y = static_cast<float>(a[4 + c]),
               z = static_cast<float>(a[8 + c]);
    const float squares = (x * x + y * y) + z * z;
    out[c] = std::sqrt(squares);
  }
  return out;
}

/// The dpv/groups/dpg note, once per file per process (headers are read several times a run).
void note_ignored(const std::string& path, const Layout& L) {
  if (L.ignored.empty() && L.unknown.empty()) return;
  static std::mutex mutex;
  static std::set<std::string> noted;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (!noted.insert(path).second) return;
  }
  static const std::map<std::string, std::string> meaning = {
      {"dpv/", "data per vertex"}, {"groups/", "groups"}, {"dpg/", "data per group"}};
  std::string what;
  for (const auto& [folder, n] : L.ignored)
    what += (what.empty() ? "" : ", ") + meaning.at(folder) + " (" + folder + ": " + std::to_string(n) +
            (n == 1 ? " array)" : " arrays)");
  if (!L.unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < L.unknown.size() && i < 5; ++i)
      list += (list.empty() ? "" : ", ") + quoted(L.unknown[i]);
    if (L.unknown.size() > 5) list += ", ...";
    what += (what.empty() ? "" : ", ") + std::string("other members (") + list + ")";
  }
  log::info("file " + quoted(path) + ": ignored, as dwi_ml does not use them: " + what);
}

// ---- streaming the arrays --------------------------------------------------------------------

/// Sequential reader of an array's elements through one reusable buffer (at most
/// max(chunk, the largest unit asked for) elements), as ChunkReader does for bytes. Errors from
/// the stream come out framed with the file and the member.
template <class T> class ArrayReader {
public:
  ArrayReader(const TractogramHeader& header,
              const std::string& member,
              ByteStream& source,
              std::vector<T>& storage,
              size_t chunk_elements)
      : header_(header), member_(member), source_(source), storage_(storage),
        chunk_(std::max<size_t>(1, chunk_elements)), left_(source.size() / sizeof(T)) {}

  const T* data() const { return storage_.data() + pos_; }
  size_t available() const { return filled_ - pos_; }
  void consume(size_t n) { pos_ += n; }

  /// At least `n` elements at data(); false if the array holds fewer more.
  bool ensure(size_t n) {
    if (available() >= n) return true;
    if (available() + left_ < n) return false;
    const size_t tail = available();
    if (tail > 0 && pos_ > 0) std::memmove(storage_.data(), storage_.data() + pos_, tail * sizeof(T));
    pos_ = 0;
    filled_ = tail;
    const size_t target = std::max<size_t>(n, static_cast<size_t>(std::min<uint64_t>(chunk_, tail + left_)));
    if (storage_.size() < target) grow(storage_, target);
    const size_t want = target - tail;
    framed([&] { source_.read(reinterpret_cast<unsigned char*>(storage_.data() + tail), want * sizeof(T)); });
    filled_ += want;
    left_ -= want;
    return true;
  }

  /// After the last element: the end of the data and its CRC-32.
  void finish() {
    framed([&] { source_.finish(); });
  }

  [[noreturn]] void fail(const std::string& fact) const {
    throw Error(Error(Error(fact), member_frame(member_)), "file " + quoted(header_.path));
  }

private:
  template <class Body> void framed(Body&& body) {
    try {
      body();
    } catch (const Error& e) {
      throw Error(Error(e, member_frame(member_)), "file " + quoted(header_.path));
    }
  }

  const TractogramHeader& header_;
  const std::string& member_;
  ByteStream& source_;
  std::vector<T>& storage_;
  size_t chunk_;
  uint64_t left_; ///< elements not read from the source yet
  size_t pos_ = 0, filled_ = 0;
};

/// IEEE binary16 -> binary32 (exact; what numpy's astype(float32) gives).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13); // Inf, NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign; // +-0
  } else {       // subnormal: normalise
    uint32_t e = 113;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <class Raw> float to_float(const unsigned char* p) {
  Raw v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<float>(v);
}

/// One dps value of any TRX dtype, as float32 (numpy's astype(float32): nearest).
float dps_value(const Dtype& d, const unsigned char* p) {
  switch (d.kind) {
  case Kind::floating:
    if (d.bytes == 2) {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return half_to_float(h);
    }
    return d.bytes == 4 ? to_float<float>(p) : to_float<double>(p);
  case Kind::int_signed:
    return d.bytes == 1   ? to_float<int8_t>(p)
           : d.bytes == 2 ? to_float<int16_t>(p)
           : d.bytes == 4 ? to_float<int32_t>(p)
                          : to_float<int64_t>(p);
  case Kind::int_unsigned:
    return d.bytes == 1   ? to_float<uint8_t>(p)
           : d.bytes == 2 ? to_float<uint16_t>(p)
           : d.bytes == 4 ? to_float<uint32_t>(p)
                          : to_float<uint64_t>(p);
  }
  return 0.0f;
}

/// Whether all `n` floats are finite (one pass over the bits, vectorised).
bool all_finite(const float* p, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, p + i, 4);
    bad |= static_cast<uint32_t>(non_finite_bits(b));
  }
  return bad == 0;
}

/// Positions of one streamline as float32 in `out` (float16 widened, float64 rounded once).
/// Returns false if a finite float64 does not fit in float32.
bool convert_positions(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = half_to_float(in[i]);
  return true;
}
bool convert_positions(const double* in, size_t n, float* out) {
  bool fits = true;
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(in[i]);
    fits = fits && !(std::isinf(out[i]) && std::isfinite(in[i]));
  }
  return fits;
}

struct Streams {
  std::unique_ptr<ByteStream> positions, offsets;
  std::vector<std::unique_ptr<ByteStream>> dps;
};

template <class Pos, class Off>
int64_t stream_streamlines(const TractogramHeader& header,
                           const Layout& L,
                           Streams& streams,
                           const StreamlineVisitor& visit,
                           TractogramScratch& scratch) {
  constexpr bool in_place = std::is_same<Pos, float>::value;
  std::vector<Pos> raw_positions; // float16 / float64 chunks (float32 ones go to scratch.points)
  std::vector<Pos>* position_storage;
  if constexpr (in_place)
    position_storage = &scratch.points;
  else
    position_storage = &raw_positions;
  ArrayReader<Pos> positions(header, L.positions.member(), *streams.positions, *position_storage,
                             scratch.chunk_bytes / sizeof(float));
  std::vector<Off> offset_storage;
  ArrayReader<Off> offsets(header, L.offsets.member(), *streams.offsets, offset_storage, size_t{1} << 15);
  std::vector<std::vector<unsigned char>> dps_storage(L.dps.size());
  std::vector<ArrayReader<unsigned char>> dps;
  std::vector<size_t> dps_first_column;
  size_t columns = 0;
  for (size_t k = 0; k < L.dps.size(); ++k) {
    dps.emplace_back(header, L.dps[k].second.member(), *streams.dps[k], dps_storage[k], size_t{1} << 14);
    dps_first_column.push_back(columns);
    columns += static_cast<size_t>(L.dps[k].second.columns);
  }
  grow(scratch.dps, columns);

  const auto S = static_cast<uint64_t>(L.nb_streamlines), V = static_cast<uint64_t>(L.nb_vertices);
  uint64_t entry = 0; // offsets entries read
  const auto next_offset = [&]() -> uint64_t {
    if (!offsets.ensure(1)) offsets.fail("fewer entries than its size says (internal error)");
    const uint64_t v = *offsets.data();
    offsets.consume(1);
    ++entry;
    return v;
  };
  uint64_t start = 0;
  if (S > 0) {
    start = next_offset();
    if (start != 0)
      offsets.fail("its first entry is " + std::to_string(start) + "; the first streamline starts at 0");
  }
  for (uint64_t i = 0; i < S; ++i) {
    const uint64_t end = i + 1 < S || L.offsets_with_end ? next_offset() : V;
    if (end < start)
      offsets.fail("entry " + std::to_string(entry - 1) + " (" + std::to_string(end) +
                   ") is less than entry " + std::to_string(entry - 2) + " (" + std::to_string(start) +
                   "): offsets must not decrease");
    if (end > V)
      offsets.fail("entry " + std::to_string(entry - 1) + " (" + std::to_string(end) +
                   ") is beyond 'NB_VERTICES' (" + std::to_string(V) + ")");
    const size_t n = static_cast<size_t>(end - start);
    if (!positions.ensure(3 * n)) positions.fail("fewer points than 'NB_VERTICES' says (internal error)");
    const float* xyz;
    if constexpr (in_place) {
      xyz = positions.data();
    } else {
      grow(scratch.streamline, 3 * n);
      if (!convert_positions(positions.data(), 3 * n, scratch.streamline.data()))
        positions.fail("streamline " + std::to_string(i) +
                       " has a float64 coordinate beyond the float32 range");
      xyz = scratch.streamline.data();
    }
    if (!all_finite(xyz, 3 * n)) {
      for (size_t p = 0; p < n; ++p)
        if (!all_finite(xyz + 3 * p, 3))
          positions.fail("streamline " + std::to_string(i) + ", point " + std::to_string(p) +
                         " has a non-finite coordinate (" + number(static_cast<double>(xyz[3 * p])) + ", " +
                         number(static_cast<double>(xyz[3 * p + 1])) + ", " +
                         number(static_cast<double>(xyz[3 * p + 2])) + ")");
    }
    for (size_t k = 0; k < dps.size(); ++k) {
      const Array& a = L.dps[k].second;
      const auto cols = static_cast<size_t>(a.columns);
      if (!dps[k].ensure(cols * a.dtype.bytes))
        dps[k].fail("fewer rows than 'NB_STREAMLINES' (internal error)");
      for (size_t c = 0; c < cols; ++c)
        scratch.dps[dps_first_column[k] + c] = dps_value(a.dtype, dps[k].data() + c * a.dtype.bytes);
      dps[k].consume(cols * a.dtype.bytes);
    }
    visit(static_cast<int64_t>(i), xyz, static_cast<int64_t>(n), scratch.dps.data());
    positions.consume(3 * n);
    start = end;
  }
  if (L.offsets_with_end && start != V)
    offsets.fail("its last entry is " + std::to_string(start) +
                 "; with 'NB_STREAMLINES' + 1 entries it must be " + "'NB_VERTICES' (" + std::to_string(V) +
                 ")");
  if (S == 0 && L.offsets_with_end) {
    const uint64_t only = next_offset();
    if (only != 0) offsets.fail("its only entry is " + std::to_string(only) + ", expected 0 (no streamline)");
  }
  positions.finish();
  offsets.finish();
  for (auto& d : dps)
    d.finish();
  return static_cast<int64_t>(S);
}

} // namespace

TractogramHeader read_trx_header(const std::string& path) {
  Container c(path);
  const Layout L = open_layout(c);
  note_ignored(path, L);
  TractogramHeader h;
  h.path = path;
  h.format = TractogramFormat::trx;
  h.count_in_header = L.nb_streamlines;
  h.points_in_header = L.nb_vertices;
  h.vox_to_ras = L.vox_to_ras;
  h.dimensions = L.dimensions;
  h.voxel_sizes = column_norms32(L.vox_to_ras);
  h.voxel_order = axcodes(L.vox_to_ras);
  for (const auto& [key, array] : L.dps) {
    h.dps_keys.push_back(key);
    h.n_properties += key.columns;
  }
  return h;
}

int64_t read_trx_streamlines(const TractogramHeader& header,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch) {
  Streams streams;
  // Reopened here (the header was read earlier, perhaps on another rank): the arrays are checked
  // again, and must still be what the header announced.
  Container c = with_context("file " + quoted(header.path), [&] { return Container(header.path); });
  const Layout L = with_context("file " + quoted(header.path), [&] {
    Layout layout = open_layout(c);
    bool same = layout.nb_streamlines == header.count_in_header &&
                layout.nb_vertices == header.points_in_header && layout.dps.size() == header.dps_keys.size();
    for (size_t k = 0; same && k < layout.dps.size(); ++k)
      same = layout.dps[k].first.name == header.dps_keys[k].name &&
             layout.dps[k].first.columns == header.dps_keys[k].columns;
    if (!same) throw Error("changed since its header was read");
    const auto open = [&](const Array& a) {
      return with_context(member_frame(a.member()), [&] { return c.open(*a.entry); });
    };
    streams.positions = open(layout.positions);
    streams.offsets = open(layout.offsets);
    for (const auto& d : layout.dps)
      streams.dps.push_back(open(d.second));
    return layout;
  });
  const bool wide = L.offsets.dtype.bytes == 8;
  switch (L.positions.dtype.bytes) {
  case 2:
    return wide ? stream_streamlines<uint16_t, uint64_t>(header, L, streams, visit, scratch)
                : stream_streamlines<uint16_t, uint32_t>(header, L, streams, visit, scratch);
  case 8:
    return wide ? stream_streamlines<double, uint64_t>(header, L, streams, visit, scratch)
                : stream_streamlines<double, uint32_t>(header, L, streams, visit, scratch);
  default:
    return wide ? stream_streamlines<float, uint64_t>(header, L, streams, visit, scratch)
                : stream_streamlines<float, uint32_t>(header, L, streams, visit, scratch);
  }
}

} // namespace dwipack::io::detail

namespace dwipack::io {

std::optional<TrkLayout> scan_trx_layout(const TractogramHeader& header) {
  using namespace detail;
  return with_context("file " + quoted(header.path), [&]() -> std::optional<TrkLayout> {
    Container c(header.path);
    const Layout L = open_layout(c);
    const auto S = static_cast<uint64_t>(L.nb_streamlines), V = static_cast<uint64_t>(L.nb_vertices);
    TrkLayout out;
    out.n_streamlines = L.nb_streamlines;
    out.n_points = L.nb_vertices;
    if (S == 0) return out;
    std::unique_ptr<ByteStream> stream =
        with_context(member_frame(L.offsets.member()), [&] { return c.open(*L.offsets.entry); });
    // The offsets, widened, in blocks; then the stream's end (CRC-32). Any error: not scanned.
    try {
      const size_t item = L.offsets.dtype.bytes;
      const uint64_t entries = S + (L.offsets_with_end ? 1 : 0);
      std::vector<unsigned char> block;
      uint64_t previous = 0, shortest = V;
      for (uint64_t done = 0; done < entries;) {
        const auto n = static_cast<size_t>(std::min<uint64_t>(entries - done, uint64_t{1} << 16));
        block.resize(n * item);
        stream->read(block.data(), block.size());
        for (size_t i = 0; i < n; ++i, ++done) {
          uint64_t v;
          if (item == 8) {
            std::memcpy(&v, block.data() + 8 * i, 8);
          } else {
            uint32_t v32;
            std::memcpy(&v32, block.data() + 4 * i, 4);
            v = v32;
          }
          if ((done == 0 && v != 0) || v < previous || v > V) return std::nullopt;
          if (done > 0) shortest = std::min(shortest, v - previous);
          previous = v;
        }
      }
      if (L.offsets_with_end && previous != V) return std::nullopt;
      if (!L.offsets_with_end) shortest = std::min(shortest, V - previous); // the last streamline
      stream->finish();
      out.min_points = static_cast<int64_t>(shortest);
    } catch (const Error&) {
      return std::nullopt;
    }
    return out;
  });
}

} // namespace dwipack::io
