#include "dwipack/io/tractogram_writer.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/crc32.hpp"
#include "zip.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

namespace dwipack::io {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Both formats are written little-endian whatever the machine.
void store_u32(unsigned char* dst, uint32_t v) {
  dst[0] = static_cast<unsigned char>(v);
  dst[1] = static_cast<unsigned char>(v >> 8);
  dst[2] = static_cast<unsigned char>(v >> 16);
  dst[3] = static_cast<unsigned char>(v >> 24);
}
void store_f32(unsigned char* dst, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  store_u32(dst, bits);
}
void store_i32(unsigned char* dst, int32_t v) {
  store_u32(dst, static_cast<uint32_t>(v));
}
void store_u16(unsigned char* dst, uint16_t v) {
  dst[0] = static_cast<unsigned char>(v);
  dst[1] = static_cast<unsigned char>(v >> 8);
}
void store_u64(unsigned char* dst, uint64_t v) {
  store_u32(dst, static_cast<uint32_t>(v));
  store_u32(dst + 4, static_cast<uint32_t>(v >> 32));
}
void store_i16(unsigned char* dst, int16_t v) {
  const auto u = static_cast<uint16_t>(v);
  dst[0] = static_cast<unsigned char>(u);
  dst[1] = static_cast<unsigned char>(u >> 8);
}

/// An output file with a write buffer. Unless commit() was called, the destructor removes the
/// file: an error half way leaves nothing that looks like a valid tractogram.
class OutputFile {
public:
  explicit OutputFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw Error("cannot create: " + errno_text());
    buffer_.resize(size_t{8} << 20);
  }
  ~OutputFile() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(path_.c_str());
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// Room for `n` more bytes at the end of the buffer (flushing first when needed).
  unsigned char* reserve(size_t n) {
    if (!file_) throw Error("the writer is already closed");
    if (used_ + n > buffer_.size()) {
      flush();
      if (n > buffer_.size()) buffer_.resize(n);
    }
    unsigned char* p = buffer_.data() + used_;
    used_ += n;
    return p;
  }
  void write(const void* bytes, size_t n) { std::memcpy(reserve(n), bytes, n); }

  void flush() {
    if (used_ > 0 && std::fwrite(buffer_.data(), 1, used_, file_) != used_)
      throw Error("write error: " + errno_text());
    used_ = 0;
  }

  /// Overwrite the first bytes of the file (the header), then close it for good.
  void finish(const void* header, size_t n) {
    if (!file_) throw Error("the writer is already closed");
    flush();
    if (std::fseek(file_, 0, SEEK_SET) != 0) throw Error("cannot seek: " + errno_text());
    if (std::fwrite(header, 1, n, file_) != n) throw Error("write error: " + errno_text());
    std::FILE* f = std::exchange(file_, nullptr);
    if (std::fclose(f) != 0) throw Error("write error on close: " + errno_text());
    committed_ = true;
  }

private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<unsigned char> buffer_;
  size_t used_ = 0;
  bool committed_ = false;
};

/// Checks a chunk's packing; returns the number of points.
int64_t check_packing(const StreamlinesRas& s) {
  int64_t points = 0;
  for (const int64_t n : s.lengths) {
    if (n < 0) throw Error("negative streamline length " + std::to_string(n));
    if (__builtin_add_overflow(points, n, &points)) throw Error("point count overflows");
  }
  if (static_cast<uint64_t>(points) * 3 != s.xyz.size())
    throw Error("streamline lengths add up to " + std::to_string(points) + " points but xyz holds " +
                std::to_string(s.xyz.size()) + " floats (expected 3 per point)");
  return points;
}

void check_point(const float* p) {
  if (!std::isfinite(p[0]) || !std::isfinite(p[1]) || !std::isfinite(p[2]))
    throw Error("a streamline point is not finite (NaN or Inf)");
}

// ---------------------------------------------------------------- TRK

constexpr size_t trk_header_size = 1000;
constexpr int max_properties = 10; // TrackVis: 10 named properties
constexpr size_t name_bytes = 20;

using Mat4 = std::array<double, 16>;

Mat4 multiply(const Mat4& a, const Mat4& b) {
  Mat4 r{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double sum = 0;
      for (int k = 0; k < 4; ++k)
        sum += a[static_cast<size_t>(4 * i + k)] * b[static_cast<size_t>(4 * k + j)];
      r[static_cast<size_t>(4 * i + j)] = sum;
    }
  return r;
}

/// 4x4 inverse by Gauss-Jordan elimination with partial pivoting (numpy.linalg.inv does LU).
Mat4 inverse(Mat4 a) {
  Mat4 inv{};
  for (size_t i = 0; i < 4; ++i)
    inv[5 * i] = 1;
  for (size_t col = 0; col < 4; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < 4; ++r)
      if (std::fabs(a[4 * r + col]) > std::fabs(a[4 * pivot + col])) pivot = r;
    if (!(std::fabs(a[4 * pivot + col]) > 1e-300))
      throw Error("the TrackVis voxmm-to-RAS affine is singular");
    for (size_t c = 0; c < 4; ++c) {
      std::swap(a[4 * col + c], a[4 * pivot + c]);
      std::swap(inv[4 * col + c], inv[4 * pivot + c]);
    }
    const double d = a[4 * col + col];
    for (size_t c = 0; c < 4; ++c) {
      a[4 * col + c] /= d;
      inv[4 * col + c] /= d;
    }
    for (size_t r = 0; r < 4; ++r) {
      if (r == col) continue;
      const double f = a[4 * r + col];
      if (f == 0) continue;
      for (size_t c = 0; c < 4; ++c) {
        a[4 * r + c] -= f * a[4 * col + c];
        inv[4 * r + c] -= f * inv[4 * col + c];
      }
    }
  }
  return inv;
}

/// nibabel's axcodes2ornt for one letter: (world axis, +1 / -1).
std::pair<int, int> letter_ornt(char c) {
  switch (c) {
  case 'R':
    return {0, 1};
  case 'L':
    return {0, -1};
  case 'A':
    return {1, 1};
  case 'P':
    return {1, -1};
  case 'S':
    return {2, 1};
  case 'I':
    return {2, -1};
  default:
    return {-1, 0};
  }
}

std::string normalised_voxel_order(const std::string& order) {
  std::string up;
  for (const char c : order)
    up += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  bool seen[3] = {false, false, false};
  bool ok = up.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) {
    const int axis = letter_ornt(up[i]).first;
    ok = axis >= 0 && !seen[axis];
    if (ok) seen[axis] = true;
  }
  if (!ok) throw Error("voxel_order " + quoted(order) + " is not three of R/L, A/P, S/I");
  return up;
}

/// nibabel's get_affine_trackvis_to_rasmm (float64 products of the header's float32 values,
/// rounded to float32), then its float64 inverse: RAS mm -> TrackVis voxmm, as TrkFile.save uses.
Mat4 rasmm_to_voxmm(const Mat4& vox_to_ras_f32,
                    const std::array<float, 3>& voxel_sizes,
                    const std::array<int64_t, 3>& dims,
                    const std::string& header_order) {
  Mat4 scale_offset{}; // voxmm -> voxel (corner) -> voxel (centre)
  for (size_t i = 0; i < 3; ++i) {
    scale_offset[5 * i] = 1.0 / static_cast<double>(voxel_sizes[i]);
    scale_offset[4 * i + 3] = -0.5;
  }
  scale_offset[15] = 1;

  // inv_ornt_aff(ornt_transform(header orientation, affine orientation), dims): the identity when
  // the header's voxel order is the affine's, else a permutation/flip of the voxel axes.
  const std::string affine_order = axcodes(vox_to_ras_f32);
  if (affine_order.find('?') != std::string::npos)
    throw Error("vox_to_ras " + to_string(vox_to_ras_f32) + " has no orientation (a zero column)");
  Mat4 reorient{};
  reorient[15] = 1;
  for (size_t i = 0; i < 3; ++i) {
    const auto [axis, flip] = letter_ornt(header_order[i]);
    for (size_t j = 0; j < 3; ++j) {
      const auto [affine_axis, affine_flip] = letter_ornt(affine_order[j]);
      if (affine_axis != axis) continue;
      const double f = flip == affine_flip ? 1.0 : -1.0;
      const double centre = -(static_cast<double>(dims[i]) - 1) / 2.0;
      reorient[4 * i + j] = f;
      reorient[4 * i + 3] = f * centre - centre;
    }
  }
  Mat4 to_ras = multiply(vox_to_ras_f32, multiply(reorient, scale_offset));
  for (double& v : to_ras)
    v = static_cast<double>(static_cast<float>(v)); // nibabel: .astype(np.float32)
  return inverse(to_ras);
}

} // namespace

struct TrkWriter::Impl {
  std::string path;
  std::optional<OutputFile> file; // created once the arguments are checked
  std::vector<DpsKey> keys;
  int n_properties = 0;
  Mat4 to_voxmm{};
  std::array<unsigned char, trk_header_size> header{};
  int64_t count = 0;

  Impl(const std::string& p, const TrkSpace& space, const std::vector<DpsKey>& dps_keys)
      : path(p), keys(dps_keys) {
    const std::string order = normalised_voxel_order(space.voxel_order);
    Mat4 a{};
    for (size_t i = 0; i < 16; ++i) {
      if (!std::isfinite(space.vox_to_ras[i]))
        throw Error("vox_to_ras " + to_string(space.vox_to_ras) + " is not finite");
      a[i] = static_cast<double>(static_cast<float>(space.vox_to_ras[i])); // the header holds float32
    }
    for (size_t i = 0; i < 3; ++i) {
      if (space.dimensions[i] < 1 || space.dimensions[i] > SHRT_MAX)
        throw Error("dimension " + std::to_string(space.dimensions[i]) +
                    " does not fit the header (1 to 32767)");
      if (!(space.voxel_sizes[i] > 0) || !std::isfinite(space.voxel_sizes[i]))
        throw Error("voxel size " + std::to_string(space.voxel_sizes[i]) + " is not a positive number");
    }
    if (keys.size() > static_cast<size_t>(max_properties))
      throw Error(std::to_string(keys.size()) + " data_per_streamline keys (a .trk holds at most 10)");
    to_voxmm = rasmm_to_voxmm(a, space.voxel_sizes, space.dimensions, order);

    unsigned char* h = header.data();
    std::memcpy(h, "TRACK", 6);
    for (size_t i = 0; i < 3; ++i) {
      store_i16(h + 6 + 2 * i, static_cast<int16_t>(space.dimensions[i]));
      store_f32(h + 12 + 4 * i, space.voxel_sizes[i]);
    }
    // Property names: "name" for one column, "name\0k" for k columns (nibabel's encode_value_in_name).
    for (size_t k = 0; k < keys.size(); ++k) {
      const DpsKey& key = keys[k];
      if (key.name.empty() || key.name.find('\0') != std::string::npos)
        throw Error("data_per_streamline key " + quoted(key.name) + " is not a valid name");
      if (key.columns < 1) throw Error("data_per_streamline key " + quoted(key.name) + " has no columns");
      std::string encoded = key.name;
      if (key.columns > 1) encoded += std::string(1, '\0') + std::to_string(key.columns);
      if (encoded.size() > name_bytes)
        throw Error("data_per_streamline key " + quoted(key.name) +
                    " is too long for a .trk property name (" + std::to_string(name_bytes) +
                    " bytes, including the column count)");
      std::memcpy(h + 240 + name_bytes * k, encoded.data(), encoded.size());
      n_properties += key.columns;
    }
    if (n_properties > SHRT_MAX) throw Error("too many data_per_streamline columns for a .trk");
    store_i16(h + 238, static_cast<int16_t>(n_properties));
    for (size_t i = 0; i < 16; ++i)
      store_f32(h + 440 + 4 * i, static_cast<float>(a[i]));
    std::memcpy(h + 948, order.data(), 3);
    store_i32(h + 992, 2);                                     // version
    store_i32(h + 996, static_cast<int32_t>(trk_header_size)); // hdr_size
    file.emplace(path);
    file->write(h, trk_header_size); // n_count is set by close()
  }

  void append(const StreamlinesRas& s) {
    check_packing(s);
    const auto n_streamlines = static_cast<int64_t>(s.lengths.size());
    if (s.dps_keys.size() != keys.size() || s.dps_values.size() != keys.size())
      throw Error("the chunk has " + std::to_string(s.dps_keys.size()) + " data_per_streamline keys and " +
                  std::to_string(s.dps_values.size()) + " value arrays; the file was opened with " +
                  std::to_string(keys.size()));
    for (size_t k = 0; k < keys.size(); ++k) {
      if (s.dps_keys[k].name != keys[k].name || s.dps_keys[k].columns != keys[k].columns)
        throw Error("data_per_streamline key " + std::to_string(k) + " is " + quoted(s.dps_keys[k].name) +
                    " (" + std::to_string(s.dps_keys[k].columns) + " columns); the file was opened with " +
                    quoted(keys[k].name) + " (" + std::to_string(keys[k].columns) + ")");
      const uint64_t expected = static_cast<uint64_t>(n_streamlines) * static_cast<uint64_t>(keys[k].columns);
      if (s.dps_values[k].size() != expected)
        throw Error("data_per_streamline " + quoted(keys[k].name) + " holds " +
                    std::to_string(s.dps_values[k].size()) + " values, expected " + std::to_string(expected) +
                    " (" + std::to_string(n_streamlines) + " streamlines x " +
                    std::to_string(keys[k].columns) + " columns)");
    }
    if (count + n_streamlines > INT32_MAX) throw Error("more than 2^31-1 streamlines (the n_count limit)");

    const Mat4& m = to_voxmm;
    const float* p = s.xyz.data();
    for (int64_t i = 0; i < n_streamlines; ++i) {
      const int64_t n = s.lengths[static_cast<size_t>(i)];
      if (n > INT32_MAX) throw Error("a streamline of " + std::to_string(n) + " points");
      const size_t bytes = 4 + 12 * static_cast<size_t>(n) + 4 * static_cast<size_t>(n_properties);
      unsigned char* out = file->reserve(bytes);
      store_i32(out, static_cast<int32_t>(n));
      out += 4;
      for (int64_t j = 0; j < n; ++j, p += 3, out += 12) {
        check_point(p);
        // nibabel's apply_affine: float32 points times the float64 matrix, then .astype('<f4')
        const double x = static_cast<double>(p[0]), y = static_cast<double>(p[1]),
                     z = static_cast<double>(p[2]);
        for (size_t r = 0; r < 3; ++r)
          store_f32(out + 4 * r,
                    static_cast<float>(x * m[4 * r] + y * m[4 * r + 1] + z * m[4 * r + 2] + m[4 * r + 3]));
      }
      for (size_t k = 0; k < keys.size(); ++k) {
        const auto cols = static_cast<size_t>(keys[k].columns);
        const float* v = s.dps_values[k].data() + static_cast<size_t>(i) * cols;
        for (size_t c = 0; c < cols; ++c, out += 4)
          store_f32(out, v[c]);
      }
    }
    count += n_streamlines;
  }

  void close() {
    store_i32(header.data() + 988, static_cast<int32_t>(count));
    if (count == 0) { // as nibabel saves an empty tractogram: nibabel cannot load properties of none
      store_i16(header.data() + 238, 0);
      std::memset(header.data() + 240, 0, max_properties * name_bytes);
    }
    file->finish(header.data(), header.size());
  }
};

TrkWriter::TrkWriter(const std::string& path, const TrkSpace& space, const std::vector<DpsKey>& dps_keys) {
  with_context("file " + quoted(path), [&] { impl_ = std::make_unique<Impl>(path, space, dps_keys); });
}
TrkWriter::~TrkWriter() = default;
void TrkWriter::append(const StreamlinesRas& chunk) {
  with_context("file " + quoted(impl_->path), [&] { impl_->append(chunk); });
}
void TrkWriter::close() {
  with_context("file " + quoted(impl_->path), [&] { impl_->close(); });
}
int64_t TrkWriter::count() const {
  return impl_->count;
}

// ---------------------------------------------------------------- TCK

namespace {

constexpr int64_t max_tck_count = 9999999999; // `count` is written with 10 digits, then patched

/// The header text. Like MRtrix, the data offset is rounded up to a multiple of 4 (nibabel writes
/// it unpadded; both readers seek to `file: . OFFSET`); the padding bytes are zeros.
std::string tck_header(int64_t count) {
  char count_field[16];
  std::snprintf(count_field, sizeof count_field, "%010lld", static_cast<long long>(count));
  const std::string head = std::string("mrtrix tracks\ncount: ") + count_field + "\ndatatype: Float32LE\n";
  size_t offset = 0;
  std::string text;
  for (;;) { // the offset's own digits count: settle on a fixed point
    text = head + "file: . " + std::to_string(offset) + "\nEND\n";
    const size_t aligned = (text.size() + 3) / 4 * 4;
    if (aligned == offset) break;
    offset = aligned;
  }
  text.resize(offset, '\0');
  return text;
}

} // namespace

struct TckWriter::Impl {
  std::string path;
  OutputFile file;
  int64_t count = 0;

  explicit Impl(const std::string& p) : path(p), file(p) {
    const std::string h = tck_header(0);
    file.write(h.data(), h.size());
  }

  void append(const StreamlinesRas& s) {
    check_packing(s);
    const auto n_streamlines = static_cast<int64_t>(s.lengths.size());
    if (count + n_streamlines > max_tck_count) throw Error("more than 9999999999 streamlines");
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float* p = s.xyz.data();
    for (int64_t i = 0; i < n_streamlines; ++i) {
      const auto n = static_cast<size_t>(s.lengths[static_cast<size_t>(i)]);
      unsigned char* out = file.reserve(12 * (n + 1));
      for (size_t j = 0; j < n; ++j, p += 3, out += 12) {
        check_point(p); // a NaN would read back as a separator
        for (size_t r = 0; r < 3; ++r)
          store_f32(out + 4 * r, p[r]);
      }
      for (size_t r = 0; r < 3; ++r)
        store_f32(out + 4 * r, nan); // end of this streamline
    }
    count += n_streamlines;
  }

  void close() {
    const float inf = std::numeric_limits<float>::infinity();
    unsigned char* out = file.reserve(12);
    for (size_t r = 0; r < 3; ++r)
      store_f32(out + 4 * r, inf);           // end of file
    const std::string h = tck_header(count); // same length: count has a fixed width
    file.finish(h.data(), h.size());
  }
};

TckWriter::TckWriter(const std::string& path) {
  with_context("file " + quoted(path), [&] { impl_ = std::make_unique<Impl>(path); });
}
TckWriter::~TckWriter() = default;
void TckWriter::append(const StreamlinesRas& chunk) {
  with_context("file " + quoted(impl_->path), [&] { impl_->append(chunk); });
}
void TckWriter::close() {
  with_context("file " + quoted(impl_->path), [&] { impl_->close(); });
}
int64_t TckWriter::count() const {
  return impl_->count;
}

// ---------------------------------------------------------------- TRX

namespace {

// ZIP records (APPNOTE 6.3) as TRX archives need them: stored members, UTF-8 names, a fixed
// timestamp (1980-01-01 00:00, so that the same streamlines give the same bytes).
constexpr uint32_t zip_local_sig = 0x04034b50, zip_central_sig = 0x02014b50, zip_end_sig = 0x06054b50,
                   zip64_end_sig = 0x06064b50, zip64_locator_sig = 0x07064b50;
constexpr uint16_t zip_version_made_by = (3 << 8) | 45; // Unix, ZIP 4.5
constexpr uint16_t zip_dos_date = (0 << 9) | (1 << 5) | 1, zip_dos_time = 0;
constexpr uint32_t zip_file_attributes = 0100644u << 16; // -rw-r--r--

uint16_t zip_name_flags(const std::string& name) {
  for (const char c : name)
    if (static_cast<unsigned char>(c) >= 0x80) return 0x800; // the name is UTF-8
  return 0;
}

/// A stored member's local header. `zip64` adds the ZIP64 extra field with both sizes (and puts
/// 0xffffffff in the 32-bit fields), so that sizes unknown when the header is written fit.
std::vector<unsigned char>
zip_local_header(const std::string& name, uint32_t crc, uint64_t size, bool zip64) {
  std::vector<unsigned char> h(30 + name.size() + (zip64 ? 20 : 0));
  unsigned char* p = h.data();
  store_u32(p, zip_local_sig);
  store_u16(p + 4, zip64 ? 45 : 20);
  store_u16(p + 6, zip_name_flags(name));
  store_u16(p + 8, 0); // stored
  store_u16(p + 10, zip_dos_time);
  store_u16(p + 12, zip_dos_date);
  store_u32(p + 14, crc);
  const uint32_t size32 = zip64 ? 0xffffffffu : static_cast<uint32_t>(size);
  store_u32(p + 18, size32);
  store_u32(p + 22, size32);
  store_u16(p + 26, static_cast<uint16_t>(name.size()));
  store_u16(p + 28, zip64 ? 20 : 0);
  std::memcpy(p + 30, name.data(), name.size());
  if (zip64) {
    unsigned char* x = p + 30 + name.size();
    store_u16(x, 0x0001);
    store_u16(x + 2, 16);
    store_u64(x + 4, size);
    store_u64(x + 12, size);
  }
  return h;
}

/// "dps/<name>.float32", or "dps/<name>.<k>.float32": the column count is written when it is not
/// 1, and when the name itself ends in ".<digits>" (which a reader would take for one).
std::string trx_dps_member(const DpsKey& key) {
  const size_t dot = key.name.rfind('.');
  const bool digits_at_end = dot != std::string::npos && dot + 1 < key.name.size() &&
                             key.name.find_first_not_of("0123456789", dot + 1) == std::string::npos;
  if (key.columns == 1 && !digits_at_end) return "dps/" + key.name + ".float32";
  return "dps/" + key.name + "." + std::to_string(key.columns) + ".float32";
}

} // namespace

struct TrxWriter::Impl {
  struct Member {
    std::string name;
    uint32_t crc = 0;
    uint64_t size = 0;
    uint64_t local_offset = 0;
    bool local_zip64 = false;
  };

  std::string path;
  std::optional<OutputFile> file;
  TrxSpace space;
  std::vector<DpsKey> keys;
  std::vector<uint64_t> offsets;       ///< first point of each streamline
  std::vector<std::vector<float>> dps; ///< per key, S x columns
  uint64_t points = 0;
  uint64_t written = 0; ///< bytes handed to the file so far
  Crc32 positions_crc;
  std::vector<Member> members;
  static constexpr const char* positions_name = "positions.3.float32";

  Impl(const std::string& p, const TrxSpace& s, const std::vector<DpsKey>& dps_keys)
      : path(p), space(s), keys(dps_keys), dps(dps_keys.size()) {
    for (size_t i = 0; i < 16; ++i)
      if (!std::isfinite(static_cast<float>(space.vox_to_ras[i])))
        throw Error("VOXEL_TO_RASMM " + to_string(space.vox_to_ras) + " is not finite in float32");
    for (size_t i = 0; i < 3; ++i)
      if (space.dimensions[i] < 1 || space.dimensions[i] > SHRT_MAX)
        throw Error("dimension " + std::to_string(space.dimensions[i]) + " is not from 1 to 32767");
    for (size_t k = 0; k < keys.size(); ++k) {
      const std::string& n = keys[k].name;
      if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos ||
          n.find('\0') != std::string::npos)
        throw Error("data_per_streamline key " + quoted(n) + " is not a valid TRX array name");
      if (keys[k].columns < 1) throw Error("data_per_streamline key " + quoted(n) + " has no columns");
      for (size_t j = 0; j < k; ++j)
        if (keys[j].name == n) throw Error("data_per_streamline key " + quoted(n) + " is given twice");
    }
    file.emplace(path);
    // Sizes are known at close(): the ZIP64 extra field reserves room for them.
    put(zip_local_header(positions_name, 0, 0, true));
    members.push_back({positions_name, 0, 0, 0, true});
  }

  void put(const std::vector<unsigned char>& bytes) { put(bytes.data(), bytes.size()); }
  void put(const void* bytes, size_t n) {
    file->write(bytes, n);
    written += n;
  }

  void append(const StreamlinesRas& s) {
    const int64_t n_points = check_packing(s);
    const auto n_streamlines = static_cast<int64_t>(s.lengths.size());
    if (s.dps_keys.size() != keys.size() || s.dps_values.size() != keys.size())
      throw Error("the chunk has " + std::to_string(s.dps_keys.size()) + " data_per_streamline keys and " +
                  std::to_string(s.dps_values.size()) + " value arrays; the file was opened with " +
                  std::to_string(keys.size()));
    for (size_t k = 0; k < keys.size(); ++k) {
      if (s.dps_keys[k].name != keys[k].name || s.dps_keys[k].columns != keys[k].columns)
        throw Error("data_per_streamline key " + std::to_string(k) + " is " + quoted(s.dps_keys[k].name) +
                    "; the file was opened with " + quoted(keys[k].name));
      const uint64_t expected = static_cast<uint64_t>(n_streamlines) * static_cast<uint64_t>(keys[k].columns);
      if (s.dps_values[k].size() != expected)
        throw Error("data_per_streamline " + quoted(keys[k].name) + " holds " +
                    std::to_string(s.dps_values[k].size()) + " values, expected " + std::to_string(expected));
    }
    for (int64_t i = 0; i < n_points; ++i)
      check_point(s.xyz.data() + 3 * i);
    for (const int64_t n : s.lengths) {
      offsets.push_back(points);
      points += static_cast<uint64_t>(n);
    }
    // float32 little-endian: the bytes as they are in memory on this (little-endian) machine
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TRX positions are little-endian");
    const size_t bytes = 4 * s.xyz.size();
    positions_crc.update(s.xyz.data(), bytes);
    put(s.xyz.data(), bytes);
    for (size_t k = 0; k < keys.size(); ++k)
      dps[k].insert(dps[k].end(), s.dps_values[k].begin(), s.dps_values[k].end());
  }

  /// A whole member from memory: local header, data.
  void put_member(const std::string& name, const unsigned char* data, size_t n) {
    Crc32 crc;
    crc.update(data, n);
    const bool zip64 = n > detail::zip64_write_limit();
    members.push_back({name, crc.value, n, written, zip64});
    put(zip_local_header(name, crc.value, n, zip64));
    put(data, n);
  }

  void close() {
    members[0].crc = positions_crc.value;
    members[0].size = 12 * points;
    std::vector<unsigned char> bytes(8 * offsets.size());
    for (size_t i = 0; i < offsets.size(); ++i)
      store_u64(bytes.data() + 8 * i, offsets[i]);
    put_member("offsets.uint64", bytes.data(), bytes.size());
    for (size_t k = 0; k < keys.size(); ++k) {
      bytes.resize(4 * dps[k].size());
      for (size_t i = 0; i < dps[k].size(); ++i)
        store_f32(bytes.data() + 4 * i, dps[k][i]);
      put_member(trx_dps_member(keys[k]), bytes.data(), bytes.size());
    }
    nlohmann::json affine = nlohmann::json::array();
    for (size_t r = 0; r < 4; ++r)
      affine.push_back({space.vox_to_ras[4 * r], space.vox_to_ras[4 * r + 1], space.vox_to_ras[4 * r + 2],
                        space.vox_to_ras[4 * r + 3]});
    const nlohmann::json header = {{"VOXEL_TO_RASMM", affine},
                                   {"DIMENSIONS", space.dimensions},
                                   {"NB_VERTICES", points},
                                   {"NB_STREAMLINES", offsets.size()}};
    const std::string text = header.dump();
    put_member("header.json", reinterpret_cast<const unsigned char*>(text.data()), text.size());

    // Central directory, then the end records (ZIP64 ones when a count, size or offset is large).
    const uint64_t limit = detail::zip64_write_limit();
    const uint64_t directory_offset = written;
    for (const Member& m : members) {
      const bool big_size = m.size > limit, big_offset = m.local_offset > limit;
      const size_t extra = (big_size ? 16 : 0) + (big_offset ? 8 : 0);
      std::vector<unsigned char> c(46 + m.name.size() + (extra ? 4 + extra : 0));
      unsigned char* p = c.data();
      store_u32(p, zip_central_sig);
      store_u16(p + 4, zip_version_made_by);
      store_u16(p + 6, m.local_zip64 || extra ? 45 : 20);
      store_u16(p + 8, zip_name_flags(m.name));
      store_u16(p + 10, 0);
      store_u16(p + 12, zip_dos_time);
      store_u16(p + 14, zip_dos_date);
      store_u32(p + 16, m.crc);
      store_u32(p + 20, big_size ? 0xffffffffu : static_cast<uint32_t>(m.size));
      store_u32(p + 24, big_size ? 0xffffffffu : static_cast<uint32_t>(m.size));
      store_u16(p + 28, static_cast<uint16_t>(m.name.size()));
      store_u16(p + 30, static_cast<uint16_t>(extra ? 4 + extra : 0));
      store_u16(p + 32, 0); // comment
      store_u16(p + 34, 0); // disk
      store_u16(p + 36, 0); // internal attributes
      store_u32(p + 38, zip_file_attributes);
      store_u32(p + 42, big_offset ? 0xffffffffu : static_cast<uint32_t>(m.local_offset));
      std::memcpy(p + 46, m.name.data(), m.name.size());
      if (extra) {
        unsigned char* x = p + 46 + m.name.size();
        store_u16(x, 0x0001);
        store_u16(x + 2, static_cast<uint16_t>(extra));
        x += 4;
        if (big_size) {
          store_u64(x, m.size); // uncompressed, then compressed
          store_u64(x + 8, m.size);
          x += 16;
        }
        if (big_offset) store_u64(x, m.local_offset);
      }
      put(c);
    }
    const uint64_t directory_bytes = written - directory_offset;
    const uint64_t n = members.size();
    if (n >= 0xffff || directory_bytes > limit || directory_offset > limit) {
      const uint64_t zip64_end = written;
      std::vector<unsigned char> z(56 + 20);
      unsigned char* p = z.data();
      store_u32(p, zip64_end_sig);
      store_u64(p + 4, 44); // the record's size after this field
      store_u16(p + 12, zip_version_made_by);
      store_u16(p + 14, 45);
      store_u32(p + 16, 0);
      store_u32(p + 20, 0);
      store_u64(p + 24, n);
      store_u64(p + 32, n);
      store_u64(p + 40, directory_bytes);
      store_u64(p + 48, directory_offset);
      store_u32(p + 56, zip64_locator_sig);
      store_u32(p + 60, 0);
      store_u64(p + 64, zip64_end);
      store_u32(p + 72, 1);
      put(z);
    }
    std::vector<unsigned char> e(22);
    store_u32(e.data(), zip_end_sig);
    store_u16(e.data() + 8, static_cast<uint16_t>(std::min<uint64_t>(n, 0xffff)));
    store_u16(e.data() + 10, static_cast<uint16_t>(std::min<uint64_t>(n, 0xffff)));
    store_u32(e.data() + 12, directory_bytes > limit ? 0xffffffffu : static_cast<uint32_t>(directory_bytes));
    store_u32(e.data() + 16,
              directory_offset > limit ? 0xffffffffu : static_cast<uint32_t>(directory_offset));
    put(e);
    // Last: the positions' local header, now that their CRC-32 and size are known.
    const std::vector<unsigned char> first =
        zip_local_header(positions_name, members[0].crc, members[0].size, true);
    file->finish(first.data(), first.size());
  }
};

TrxWriter::TrxWriter(const std::string& path, const TrxSpace& space, const std::vector<DpsKey>& dps_keys) {
  with_context("file " + quoted(path), [&] { impl_ = std::make_unique<Impl>(path, space, dps_keys); });
}
TrxWriter::~TrxWriter() = default;
void TrxWriter::append(const StreamlinesRas& chunk) {
  with_context("file " + quoted(impl_->path), [&] { impl_->append(chunk); });
}
void TrxWriter::close() {
  with_context("file " + quoted(impl_->path), [&] { impl_->close(); });
}
int64_t TrxWriter::count() const {
  return static_cast<int64_t>(impl_->offsets.size());
}

// ---------------------------------------------------------------- one-shot

void write_trk(const std::string& path, const TrkSpace& space, const StreamlinesRas& streamlines) {
  TrkWriter w(path, space, streamlines.dps_keys);
  w.append(streamlines);
  w.close();
}

void write_tck(const std::string& path, const StreamlinesRas& streamlines) {
  TckWriter w(path);
  w.append(streamlines);
  w.close();
}

void write_trx(const std::string& path, const TrxSpace& space, const StreamlinesRas& streamlines) {
  TrxWriter w(path, space, streamlines.dps_keys);
  w.append(streamlines);
  w.close();
}

} // namespace dwipack::io
