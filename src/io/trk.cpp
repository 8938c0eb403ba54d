// TrackVis .trk reader, reproducing nibabel 5 (nibabel/streamlines/trk.py): the same header
// checks, the same data-per-streamline keys, and the same float32 voxmm -> RAS mm conversion bit
// for bit. Streams the file through TractogramScratch::chunk.
#include "dwipack/error.hpp"
#include "dwipack/io/tractogram.hpp"
#include "tractogram_internal.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace dwipack::io {

namespace detail {

namespace {

constexpr int64_t trk_header_size = 1000;
constexpr int trk_name_count = 10; // scalar_name / property_name: 10 fields of 20 bytes
constexpr int trk_name_bytes = 20;

// Byte offsets in the 1000-byte header (nibabel's header_2_dtd).
constexpr size_t off_dimensions = 6, off_voxel_sizes = 12, off_n_scalars = 36, off_scalar_name = 38,
                 off_n_properties = 238, off_property_name = 240, off_vox_to_ras = 440, off_voxel_order = 948,
                 off_n_count = 988, off_version = 992, off_hdr_size = 996;

constexpr bool host_is_little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

/// Bytes as text for a message: printable ASCII kept, the rest as \xNN.
std::string escaped(const unsigned char* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
      out += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
      out += buf;
    }
  }
  return out;
}

/// nibabel decodes names as latin-1; h5py and JSON want UTF-8.
std::string latin1_to_utf8(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

/// nibabel's decode_value_from_name over the 10 name fields, then its slicing rules in load():
/// "name" is 1 column, "name\0k" is k columns, an empty field or k = 0 is skipped, and columns not
/// covered by a name become one more key named `remainder` ("scalars" / "properties").
/// nibabel would silently hand out clipped arrays when the names declare more columns than the
/// count, or let a repeated name overwrite the first; both are refused here.
std::vector<DpsKey> decode_names(const unsigned char* fields,
                                 int total,
                                 const std::string& field,
                                 const std::string& count_field,
                                 const std::string& remainder) {
  std::vector<DpsKey> keys;
  if (total == 0) return keys; // nibabel only looks at the names when the count is positive
  int64_t covered = 0;
  const auto add = [&](const std::string& name, int64_t columns) {
    for (const auto& k : keys)
      if (k.name == name)
        throw Error("header '" + field + "' names " + quoted(name) +
                    " twice (nibabel would keep only the last one's columns)");
    keys.push_back(DpsKey{name, static_cast<int>(columns)});
  };
  for (int i = 0; i < trk_name_count; ++i) {
    const unsigned char* raw = fields + trk_name_bytes * i;
    size_t len = trk_name_bytes;
    while (len > 0 && raw[len - 1] == 0) // numpy's 'S20' drops trailing NULs
      --len;
    if (len == 0) continue;
    const std::string text(reinterpret_cast<const char*>(raw), len);
    const std::string where =
        "header '" + field + "' [" + std::to_string(i) + "] '" + escaped(raw, len) + "'";
    const size_t nul = text.find('\0');
    int64_t columns = 1;
    if (nul != std::string::npos) {
      const std::string value = text.substr(nul + 1);
      if (value.find('\0') != std::string::npos)
        throw Error(where +
                    ": characters after the column count (nibabel: unused characters should be \\x00)");
      if (!parse_python_int(value, columns))
        throw Error(where + ": the column count after the NUL is not an integer");
      if (columns < 0) throw Error(where + ": negative column count " + std::to_string(columns));
      if (columns == 0) continue; // nibabel skips a zero-column name
    }
    add(latin1_to_utf8(text.substr(0, nul)), columns);
    covered += columns;
  }
  if (covered > total)
    throw Error("header '" + field + "' names " + std::to_string(covered) + " columns but '" + count_field +
                "' is " + std::to_string(total));
  if (covered < total) add(remainder, total - covered);
  return keys;
}

/// nibabel's axcodes2ornt on the upper-cased voxel order: for each voxel axis, the RAS axis and
/// the direction (+1 towards R/A/S, -1 towards L/P/I). False unless it is a permutation.
bool orientation_of(const std::string& codes, std::array<int, 3>& axis, std::array<int, 3>& flip) {
  if (codes.size() != 3) return false;
  static const char labels[3][2] = {{'L', 'R'}, {'P', 'A'}, {'I', 'S'}};
  bool used[3] = {false, false, false};
  for (size_t i = 0; i < 3; ++i) {
    const char c = static_cast<char>(std::toupper(static_cast<unsigned char>(codes[i])));
    bool found = false;
    for (int a = 0; a < 3 && !found; ++a) {
      for (int s = 0; s < 2 && !found; ++s) {
        if (c != labels[a][s]) continue;
        if (used[a]) return false;
        used[a] = true;
        axis[i] = a;
        flip[i] = s == 0 ? -1 : 1;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

using Mat4 = std::array<double, 16>;

/// C = A·B accumulated as reference BLAS dgemm does (numpy's np.dot on Debian): from +0, over
/// the inner index in increasing order, one rounding per multiply and per add (no FMA: ISO C++
/// mode, so GCC does not contract).
Mat4 matmul(const Mat4& a, const Mat4& b) {
  Mat4 c{};
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 4; ++j) {
      double acc = 0.0;
      for (size_t l = 0; l < 4; ++l)
        acc += a[4 * i + l] * b[4 * l + j];
      c[4 * i + j] = acc;
    }
  return c;
}

Mat4 eye4() {
  return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
}

double det3(const Affine& a) {
  return a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8]) +
         a[2] * (a[4] * a[9] - a[5] * a[8]);
}

} // namespace

TractogramHeader read_trk_header(const std::string& path, int fd) {
  TractogramHeader hdr;
  hdr.path = path;
  hdr.format = TractogramFormat::trk;

  unsigned char h[trk_header_size];
  const size_t n = pread_full(fd, h, sizeof h, 0);
  if (n < sizeof h)
    throw Error("too short for a TrackVis header: " + std::to_string(n) + " bytes, expected at least 1000");
  if (std::memcmp(h, "TRACK", 5) != 0)
    throw Error("bad magic '" + escaped(h, 5) + "' (expected 'TRACK'): not a TrackVis file");

  // nibabel tries the machine's byte order first, then the other one.
  const int32_t hdr_size = load_i32(h + off_hdr_size, false);
  const int32_t hdr_size_swapped = load_i32(h + off_hdr_size, true);
  bool swap = false;
  if (hdr_size != trk_header_size) {
    if (hdr_size_swapped != trk_header_size)
      throw Error("header 'hdr_size' is " +
                  std::to_string(host_is_little_endian ? hdr_size : hdr_size_swapped) + " little-endian, " +
                  std::to_string(host_is_little_endian ? hdr_size_swapped : hdr_size) +
                  " big-endian; expected 1000");
    swap = true;
  }
  hdr.byte_swapped = swap;

  hdr.version = load_i32(h + off_version, swap);
  if (hdr.version != 1 && hdr.version != 2 && hdr.version != 3)
    throw Error("header 'version' is " + std::to_string(hdr.version) +
                "; TrackVis files are version 1 or 2 (nibabel also reads 3 as 2)");
  if (hdr.version == 3) hdr.warnings.push_back("TrackVis version 3 read as version 2, as nibabel does");

  for (size_t i = 0; i < 16; ++i)
    hdr.vox_to_ras[i] = static_cast<double>(load_f32(h + off_vox_to_ras + 4 * i, swap));
  if (hdr.version == 1) {
    // nibabel zeroes the matrix of a v1 file (it has none), then treats it as not recorded.
    hdr.vox_to_ras = identity_affine();
    hdr.warnings.push_back("TrackVis version 1 has no 'vox_to_ras': identity assumed, as nibabel does");
  } else if (hdr.vox_to_ras[15] == 0) {
    hdr.vox_to_ras = identity_affine();
    hdr.warnings.push_back(
        "header 'vox_to_ras' was not recorded (its [3][3] is 0): identity assumed, as nibabel does");
  }
  for (size_t i = 0; i < 16; ++i)
    if (!std::isfinite(hdr.vox_to_ras[i]))
      throw Error("header 'vox_to_ras' has a non-finite value: " + to_string(hdr.vox_to_ras));
  const std::string affine_codes = axcodes(hdr.vox_to_ras);
  if (affine_codes.find('?') != std::string::npos)
    throw Error("header 'vox_to_ras' is invalid: the axis directions cannot be determined from it (nibabel "
                "refuses it too): " +
                to_string(hdr.vox_to_ras));
  if (det3(hdr.vox_to_ras) == 0)
    throw Error("header 'vox_to_ras' is singular (dipy needs its inverse): " + to_string(hdr.vox_to_ras));

  for (size_t i = 0; i < 3; ++i) {
    hdr.dimensions[i] = load_i16(h + off_dimensions + 2 * i, swap);
    hdr.voxel_sizes[i] = load_f32(h + off_voxel_sizes + 4 * i, swap);
  }
  for (size_t i = 0; i < 3; ++i)
    if (!std::isfinite(hdr.voxel_sizes[i]) || hdr.voxel_sizes[i] == 0)
      throw Error("header 'voxel_sizes' is (" + number(static_cast<double>(hdr.voxel_sizes[0])) + ", " +
                  number(static_cast<double>(hdr.voxel_sizes[1])) + ", " +
                  number(static_cast<double>(hdr.voxel_sizes[2])) +
                  "): nibabel divides the coordinates by them and would produce NaN/Inf points");

  size_t order_len = 4;
  while (order_len > 0 && h[off_voxel_order + order_len - 1] == 0)
    --order_len;
  hdr.voxel_order.assign(reinterpret_cast<const char*>(h + off_voxel_order), order_len);
  if (hdr.voxel_order.empty()) {
    hdr.voxel_order = "LPS"; // TrackVis' default, as nibabel assumes
    hdr.warnings.push_back("header 'voxel_order' is empty: 'LPS' assumed, as nibabel does");
  }
  std::array<int, 3> axis{}, flip{};
  if (!orientation_of(hdr.voxel_order, axis, flip))
    throw Error("header 'voxel_order' is '" + escaped(h + off_voxel_order, order_len) +
                "'; expected 3 axis codes, one of R/L, one of A/P and one of S/I");

  const int n_scalars = load_i16(h + off_n_scalars, swap);
  const int n_properties = load_i16(h + off_n_properties, swap);
  if (n_scalars < 0) throw Error("header 'n_scalars' is negative: " + std::to_string(n_scalars));
  if (n_properties < 0) throw Error("header 'n_properties' is negative: " + std::to_string(n_properties));
  hdr.n_scalars = n_scalars;
  hdr.n_properties = n_properties;
  hdr.dpp_keys = decode_names(h + off_scalar_name, n_scalars, "scalar_name", "n_scalars", "scalars");
  hdr.dps_keys =
      decode_names(h + off_property_name, n_properties, "property_name", "n_properties", "properties");

  const int32_t n_count = load_i32(h + off_n_count, swap);
  if (n_count < 0)
    throw Error("header 'n_count' is negative: " + std::to_string(n_count) +
                " (nibabel would read no streamline)");
  hdr.count_in_header = n_count;
  return hdr;
}

} // namespace detail

std::array<float, 16> trk_voxmm_to_rasmm(const TractogramHeader& header) {
  using detail::Mat4;
  // nibabel's get_affine_trackvis_to_rasmm, step by step in float64, then cast to float32.
  Mat4 scale = detail::eye4();
  for (size_t i = 0; i < 3; ++i)
    scale[5 * i] = 1.0 / static_cast<double>(header.voxel_sizes[i]);
  Mat4 affine = detail::matmul(scale, detail::eye4());
  Mat4 offset = detail::eye4();
  for (size_t i = 0; i < 3; ++i)
    offset[4 * i + 3] = -0.5; // TrackVis' origin is the voxel corner, nibabel's the centre
  affine = detail::matmul(offset, affine);

  // voxel order of the header -> voxel order of the affine: ornt_transform, then inv_ornt_aff.
  std::array<int, 3> header_axis{}, header_flip{}, affine_axis{}, affine_flip{};
  if (!detail::orientation_of(header.voxel_order, header_axis, header_flip) ||
      !detail::orientation_of(axcodes(header.vox_to_ras), affine_axis, affine_flip))
    throw Error("voxel orders " + quoted(header.voxel_order) + " / " + quoted(axcodes(header.vox_to_ras)) +
                " are not permutations of RAS"); // read_trk_header has refused such headers
  Mat4 undo_flip = detail::eye4(), undo_reorder{};
  for (size_t i = 0; i < 3; ++i) {
    size_t to = 0;
    for (size_t j = 0; j < 3; ++j)
      if (affine_axis[j] == header_axis[i]) to = j;
    const int f = header_flip[i] == affine_flip[to] ? 1 : -1;
    undo_reorder[4 * i + to] = 1;
    undo_flip[5 * i] = f;
    // -(shape - 1) / 2 with shape in int16, as nibabel computes it from the int16 header field
    const double centre = -static_cast<double>(static_cast<int16_t>(header.dimensions[i] - 1)) / 2.0;
    undo_flip[4 * i + 3] = f * centre - centre;
  }
  undo_reorder[15] = 1;
  affine = detail::matmul(detail::matmul(undo_flip, undo_reorder), affine);

  affine = detail::matmul(header.vox_to_ras, affine);
  std::array<float, 16> out{};
  for (size_t i = 0; i < 16; ++i)
    out[i] = static_cast<float>(affine[i]);
  return out;
}

namespace detail {

namespace {

/// In place on `count` points (x, y, z float32, file byte order): swap the bytes if needed, then
/// apply nibabel's apply_affine as it runs on float32 points: q = ((0 + x·m0) + y·m1) + z·m2, then
/// + m3, every step in float32 (np.dot through reference BLAS sgemm, which starts its sums from
/// zero; no FMA: ISO C++ mode, so GCC does not contract). Written as plain loops over
/// contiguous floats so that GCC vectorizes them (the results are the same IEEE operations).
/// Returns false if a result is NaN or Inf (a non-finite input always gives one).
bool finish_points(float* __restrict p, int64_t count, bool swap, bool identity, const float* matrix) {
  const size_t n = 3 * static_cast<size_t>(count);
  if (swap) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t b;
      std::memcpy(&b, p + i, 4);
      b = __builtin_bswap32(b);
      std::memcpy(p + i, &b, 4);
    }
  }
  // nibabel skips apply_affine when the matrix is exactly the identity: values kept as stored
  // (this keeps -0.0, which the sums below would turn into +0.0).
  if (!identity) {
    const float m0 = matrix[0], m1 = matrix[1], m2 = matrix[2], m3 = matrix[3], m4 = matrix[4],
                m5 = matrix[5], m6 = matrix[6], m7 = matrix[7], m8 = matrix[8], m9 = matrix[9],
                m10 = matrix[10], m11 = matrix[11];
    for (int64_t i = 0; i < count; ++i) {
      const float x = p[3 * i], y = p[3 * i + 1], z = p[3 * i + 2];
      p[3 * i] = (((0.0f + x * m0) + y * m1) + z * m2) + m3;
      p[3 * i + 1] = (((0.0f + x * m4) + y * m5) + z * m6) + m7;
      p[3 * i + 2] = (((0.0f + x * m8) + y * m9) + z * m10) + m11;
    }
  }
  uint32_t non_finite = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, p + i, 4);
    non_finite |= static_cast<uint32_t>(non_finite_bits(b));
  }
  return non_finite == 0;
}

/// Copy the x, y, z of `count` records of `record` bytes (scalars follow them) to `out`.
void gather_xyz(const unsigned char* in, size_t record, int64_t count, float* out) {
  if (record == 12) {
    std::memcpy(out, in, 12 * static_cast<size_t>(count));
    return;
  }
  for (int64_t i = 0; i < count; ++i, in += record)
    std::memcpy(out + 3 * i, in, 12);
}

std::string ordinal_streamlines(int64_t n) {
  return std::to_string(n) + (n == 1 ? " streamline" : " streamlines");
}

} // namespace

int64_t read_trk_streamlines(const TractogramHeader& header,
                             int fd,
                             int64_t size,
                             const StreamlineVisitor& visit,
                             TractogramScratch& scratch) {
  const std::array<float, 16> m =
      with_context("file " + quoted(header.path), [&] { return trk_voxmm_to_rasmm(header); });
  bool identity = true;
  for (size_t i = 0; i < 16; ++i)
    identity = identity && m[i] == ((i % 5 == 0) ? 1.0f : 0.0f);
  const bool swap = header.byte_swapped;

  const size_t record = 4 * static_cast<size_t>(3 + header.n_scalars);
  const size_t properties = 4 * static_cast<size_t>(header.n_properties);
  grow(scratch.dps, static_cast<size_t>(header.n_properties));
  const int64_t n_count = header.count_in_header; // 0: read to the end of the file

  ChunkReader in(fd, trk_header_size, size, scratch.chunk, scratch.chunk_bytes);
  int64_t index = 0;
  for (; n_count <= 0 || index < n_count; ++index) {
    if (in.remaining() == 0) break;
    if (!in.ensure(4))
      fail(header, "truncated: streamline " + std::to_string(index) +
                       " is cut short (its point count has only " + std::to_string(in.remaining()) +
                       " of 4 bytes)");
    const int32_t n_points = load_i32(in.data(), swap);
    in.consume(4);
    if (n_points < 0)
      fail(header, "streamline " + std::to_string(index) + " has a negative point count (" +
                       std::to_string(n_points) + ") at byte " + std::to_string(in.offset() - 4));
    const int64_t body =
        static_cast<int64_t>(n_points) * static_cast<int64_t>(record) + static_cast<int64_t>(properties);
    if (body > in.remaining())
      fail(header, "truncated: streamline " + std::to_string(index) + " has " + std::to_string(n_points) +
                       " points (" + std::to_string(body) + " bytes with its properties) but only " +
                       std::to_string(in.remaining()) + " bytes remain");

    grow(scratch.streamline, 3 * static_cast<size_t>(n_points));
    float* out = scratch.streamline.data();
    for (int64_t done = 0; done < n_points;) {
      in.ensure(record); // the size check above guarantees the bytes are there
      const int64_t batch = std::min<int64_t>(n_points - done, static_cast<int64_t>(in.available() / record));
      gather_xyz(in.data(), record, batch, out + 3 * done);
      if (!finish_points(out + 3 * done, batch, swap, identity, m.data())) {
        for (int64_t p = 0; p < batch; ++p) {
          const unsigned char* q = in.data() + static_cast<size_t>(p) * record;
          const float x = load_f32(q, swap), y = load_f32(q + 4, swap), z = load_f32(q + 8, swap);
          const std::string where =
              "streamline " + std::to_string(index) + ", point " + std::to_string(done + p);
          if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z))
            fail(header, where + " has a non-finite coordinate (" + number(static_cast<double>(x)) + ", " +
                             number(static_cast<double>(y)) + ", " + number(static_cast<double>(z)) +
                             " voxmm)");
          const float* r = out + 3 * (done + p);
          if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || !std::isfinite(r[2]))
            fail(header, where + " (" + number(static_cast<double>(x)) + ", " +
                             number(static_cast<double>(y)) + ", " + number(static_cast<double>(z)) +
                             " voxmm) overflows float32 in RAS mm");
        }
      }
      in.consume(static_cast<size_t>(batch) * record);
      done += batch;
    }
    if (properties > 0) {
      in.ensure(properties);
      for (size_t k = 0; k < static_cast<size_t>(header.n_properties); ++k)
        scratch.dps[k] = load_f32(in.data() + 4 * k, swap);
      in.consume(properties);
    }
    visit(index, out, n_points, scratch.dps.data());
  }

  if (n_count > 0 && index < n_count)
    fail(header, "header 'n_count' says " + ordinal_streamlines(n_count) + " but the file ends after " +
                     std::to_string(index) + " (truncated? nibabel would silently return fewer)");
  if (n_count > 0 && in.remaining() > 0)
    fail(header, "header 'n_count' says " + ordinal_streamlines(n_count) + " but " +
                     std::to_string(in.remaining()) +
                     " more bytes follow the last one (nibabel would silently "
                     "drop them)");
  return index;
}

} // namespace detail

} // namespace dwipack::io
