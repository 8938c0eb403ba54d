#include "dwipack/tools/extract.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/read.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/nifti_writer.hpp"
#include "dwipack/io/npy.hpp"
#include "dwipack/io/tractogram_writer.hpp"
#include "dwipack/process/affine.hpp"
#include "dwipack/util/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

namespace dwipack::tools {
namespace {

enum class OutFormat { nii, nii_gz, trk, tck, trx, npy };

OutFormat out_format(const std::string& out) {
  const std::string ext = io::extension_of(out);
  const std::string gz = ".nii.gz";
  if (out.size() > gz.size() && out.compare(out.size() - gz.size(), gz.size(), gz) == 0)
    return OutFormat::nii_gz;
  if (ext == ".nii") return OutFormat::nii;
  if (ext == ".trk") return OutFormat::trk;
  if (ext == ".tck") return OutFormat::tck;
  if (ext == ".trx") return OutFormat::trx;
  if (ext == ".npy") return OutFormat::npy;
  throw Error("OUT " + quoted(out) + ": unknown extension " + quoted(ext) +
              " (expected .nii, .nii.gz, .trk, .tck, .trx or .npy)");
}

std::string names_text(const std::vector<h5::Child>& children) {
  std::string s;
  size_t shown = 0;
  for (const auto& c : children) {
    if (c.kind != h5::ObjectKind::group) continue;
    if (++shown > 10) return s + ", ...";
    s += (s.empty() ? "" : ", ") + c.name;
  }
  return s.empty() ? "none" : s;
}

/// The output is written next to OUT under a hidden name (same suffix, so the writers pick the same
/// format) and renamed into place when complete: a failure never leaves a half-written OUT, and an
/// existing OUT survives a failed overwrite.
class PendingOutput {
public:
  explicit PendingOutput(const std::string& out) : out_(out) {
    const std::filesystem::path p(out);
    const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
    tmp_ = (dir / (".dwipack-" + std::to_string(::getpid()) + "-" + p.filename().string())).string();
  }
  ~PendingOutput() {
    if (!committed_) std::remove(tmp_.c_str());
  }
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;
  const std::string& path() const { return tmp_; }
  void commit() {
    std::error_code ec;
    std::filesystem::rename(tmp_, out_, ec);
    if (ec)
      throw Error("OUT " + quoted(out_) + ": cannot move the finished file into place: " + ec.message());
    committed_ = true;
  }

private:
  std::string out_, tmp_;
  bool committed_ = false;
};

std::array<float, 3> column_norms(const Affine& a) {
  std::array<float, 3> n{};
  for (size_t c = 0; c < 3; ++c)
    n[c] = static_cast<float>(std::sqrt(a[c] * a[c] + a[4 + c] * a[4 + c] + a[8 + c] * a[8 + c]));
  return n;
}

Affine read_affine(hid_t group, const std::string& where) {
  const std::vector<double> v = h5::read_attr_numbers(group, "affine", where);
  if (v.size() != 16)
    throw Error(quoted(where) + ": attribute 'affine' holds " + std::to_string(v.size()) +
                " values, expected 16 (4 x 4)");
  Affine a{};
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

/// `name` (3 numbers) if present, else the affine's column norms, with a warning.
std::array<float, 3>
read_voxel_sizes(hid_t group, const std::string& name, const Affine& a, const std::string& where) {
  if (!h5::has_attribute(group, name)) {
    log::warning(quoted(where) + ": no attribute " + quoted(name) + "; voxel sizes taken from the affine");
    return column_norms(a);
  }
  const std::vector<double> v = h5::read_attr_numbers(group, name, where);
  if (v.size() != 3)
    throw Error(quoted(where) + ": attribute " + quoted(name) + " holds " + std::to_string(v.size()) +
                " values, expected 3");
  return {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])};
}

// ------------------------------------------------------------------------------------ volumes

ExtractResult
extract_volume(hid_t group, const std::string& where, const std::string& tmp, const ExtractOptions& o) {
  const std::string data_where = h5::child_path(where, "data");
  if (!h5::has_child(group, "data")) throw Error(quoted(data_where) + ": no such dataset");
  h5::Handle ds = h5::open_dataset(group, "data", data_where);
  const h5::DatasetInfo info = h5::dataset_info(ds.id(), data_where);
  if (info.shape.size() != 3 && info.shape.size() != 4)
    throw Error(quoted(data_where) + ": shape has " + std::to_string(info.shape.size()) +
                " dimensions, expected (X, Y, Z, F)");
  const uint64_t nx = info.shape[0], ny = info.shape[1], nz = info.shape[2];
  const uint64_t nf = info.shape.size() == 4 ? info.shape[3] : 1;
  for (uint64_t d : {nx, ny, nz, nf})
    if (d == 0 || d > 32767)
      throw Error(quoted(data_where) + ": a dimension of " + std::to_string(d) +
                  " cannot be stored in NIfTI-1");

  io::NiftiWriteSpec spec;
  spec.shape = {static_cast<int64_t>(nx), static_cast<int64_t>(ny), static_cast<int64_t>(nz)};
  spec.nb_frames = static_cast<int64_t>(nf);
  spec.force_4d = true; // the stored group is (X, Y, Z, F) even when F == 1
  spec.datatype = 16;   // NIFTI_TYPE_FLOAT32: what dwi_ml trains on
  spec.vox2ras = read_affine(group, where);
  spec.voxel_sizes = read_voxel_sizes(group, "voxres", spec.vox2ras, where);

  // HDF5 holds (X, Y, Z, F) with F fastest; NIfTI wants x fastest. Read slabs of x-rows
  // (contiguous on disk) and scatter them, so only one extra slab is held, not a second volume.
  std::vector<float> nifti(nx * ny * nz * nf);
  const uint64_t row = ny * nz * nf;
  const uint64_t rows_per_slab = std::max<uint64_t>(1, (uint64_t{16} << 20) / row);
  std::vector<float> slab(std::min(rows_per_slab, nx) * row);
  for (uint64_t x0 = 0; x0 < nx; x0 += rows_per_slab) {
    const uint64_t n = std::min(rows_per_slab, nx - x0);
    h5::read_rows(ds.id(), H5T_NATIVE_FLOAT, slab.data(), x0, n, data_where);
    const float* src = slab.data();
    for (uint64_t i = x0; i < x0 + n; ++i)
      for (uint64_t j = 0; j < ny; ++j)
        for (uint64_t k = 0; k < nz; ++k)
          for (uint64_t f = 0; f < nf; ++f)
            nifti[i + nx * (j + ny * (k + nz * f))] = *src++;
  }
  io::write_nifti(tmp, spec, nifti.data(), o.gzip_level);
  ExtractResult r;
  r.type = "volume";
  r.summary = "wrote " + quoted(o.out) + ": " + std::to_string(nx) + "x" + std::to_string(ny) + "x" +
              std::to_string(nz) + "x" + std::to_string(nf) + " float32 from " + quoted(where);
  return r;
}

// -------------------------------------------------------------------------------- streamlines

enum class Space { vox, voxmm, rasmm };

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string strip_prefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0 ? s.substr(prefix.size()) : s;
}

/// As dwi_ml's reader: lower-cased, 'space.' stripped.
Space parse_space(const std::string& text, const std::string& where) {
  const std::string s = strip_prefix(lower(text), "space.");
  if (s == "vox") return Space::vox;
  if (s == "voxmm") return Space::voxmm;
  if (s == "rasmm") return Space::rasmm;
  throw Error(quoted(where) + ": attribute 'space' is " + quoted(text) + ", expected vox, voxmm or rasmm");
}

/// As dwi_ml's reader: lower-cased, 'origin.' stripped; true for the corner origin. Without the
/// attribute (dwi_ml's 2021 layout), the points are voxel-centred, as that layout's reader assumes.
bool parse_corner_origin(hid_t group, const std::string& where) {
  if (!h5::has_attribute(group, "origin")) {
    log::warning(quoted(where) + ": no attribute 'origin'; reading the points with the center origin "
                                 "(dwi_ml's 2021 layout)");
    return false;
  }
  const std::string text = h5::read_attr_text(group, "origin", where);
  const std::string s = strip_prefix(lower(text), "origin.");
  if (s == "trackvis" || s == "corner") return true;
  if (s == "nifti" || s == "center") return false;
  throw Error(quoted(where) + ": attribute 'origin' is " + quoted(text) +
              ", expected trackvis, nifti, corner or center");
}

/// Stored point -> RAS mm with the voxel-centre convention of .trk/.tck readers, in double,
/// rounded once to float32. The inverse of dwipack's to_voxel_corner (v = ras2vox·p + 0.5) and of
/// dipy's StatefulTractogram to_vox/to_voxmm/to_corner.
struct ToRas {
  Space space = Space::vox;
  bool corner = true;
  Affine a = identity_affine();
  std::array<double, 3> voxel_sizes{1, 1, 1};

  void apply(const double* in, float* out, int64_t n) const {
    for (int64_t i = 0; i < n; ++i, in += 3, out += 3) {
      if (space == Space::rasmm) {
        // dipy's corner shift in RASMM: the linear part applied to [0.5, 0.5, 0.5]
        for (size_t r = 0; r < 3; ++r) {
          const double shift = corner ? 0.5 * (a[4 * r] + a[4 * r + 1] + a[4 * r + 2]) : 0.0;
          out[r] = static_cast<float>(in[r] - shift);
        }
        continue;
      }
      double c[3];
      for (size_t d = 0; d < 3; ++d) {
        const double v = space == Space::voxmm ? in[d] / voxel_sizes[d] : in[d];
        c[d] = corner ? v - 0.5 : v;
      }
      for (size_t r = 0; r < 3; ++r)
        out[r] =
            static_cast<float>(a[4 * r] * c[0] + a[4 * r + 1] * c[1] + a[4 * r + 2] * c[2] + a[4 * r + 3]);
    }
  }
};

std::array<int64_t, 3> read_dimensions(hid_t group, const std::string& where) {
  if (!h5::has_attribute(group, "dimensions"))
    throw Error(quoted(where) + ": attribute 'dimensions' is missing");
  const std::vector<double> dims = h5::read_attr_numbers(group, "dimensions", where);
  if (dims.size() != 3) throw Error(quoted(where) + ": attribute 'dimensions' does not hold 3 values");
  return {static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1]), static_cast<int64_t>(dims[2])};
}

struct DpsSource {
  io::DpsKey key;
  h5::Handle dataset;
  std::string where;
};

ExtractResult extract_streamlines(hid_t group,
                                  const std::string& where,
                                  const std::string& tmp,
                                  OutFormat format,
                                  const ExtractOptions& o) {
  for (const char* name : {"data", "offsets", "lengths"})
    if (!h5::has_child(group, name)) throw Error(quoted(h5::child_path(where, name)) + ": no such dataset");
  const std::string data_where = h5::child_path(where, "data");
  h5::Handle data = h5::open_dataset(group, "data", data_where);
  const h5::DatasetInfo data_info = h5::dataset_info(data.id(), data_where);
  // dwi_ml wrote an empty tractogram's points as float64 (0,)
  const bool empty_1d = data_info.shape.size() == 1 && data_info.shape[0] == 0;
  if (!empty_1d && (data_info.shape.size() != 2 || data_info.shape[1] != 3))
    throw Error(quoted(data_where) + ": shape " + std::to_string(data_info.shape.size()) +
                "-D, expected (points, 3)");
  const int64_t total_points = static_cast<int64_t>(data_info.shape.empty() ? 0 : data_info.shape[0]);

  const auto read_index = [&](const char* name) {
    const std::string w = h5::child_path(where, name);
    h5::Handle ds = h5::open_dataset(group, name, w);
    const h5::DatasetInfo info = h5::dataset_info(ds.id(), w);
    if (info.shape.size() != 1) throw Error(quoted(w) + ": expected a 1-D dataset");
    if (info.shape[0] == 0) return std::vector<int64_t>{}; // old empty files store them as float64
    return h5::read_all_i64(ds.id(), w);
  };
  const std::vector<int64_t> offsets = read_index("offsets");
  const std::vector<int64_t> lengths = read_index("lengths");
  if (offsets.size() != lengths.size())
    throw Error(quoted(where) + ": 'offsets' has " + std::to_string(offsets.size()) + " rows, 'lengths' " +
                std::to_string(lengths.size()));
  const auto count = static_cast<int64_t>(lengths.size());
  for (size_t i = 0; i < lengths.size(); ++i)
    if (lengths[i] < 0 || offsets[i] < 0 || offsets[i] > total_points - lengths[i])
      throw Error(quoted(where) + ": streamline " + std::to_string(i) + " (offset " +
                  std::to_string(offsets[i]) + ", length " + std::to_string(lengths[i]) +
                  ") lies outside 'data' (" + std::to_string(total_points) + " points)");

  ToRas to_ras;
  to_ras.a = read_affine(group, where);
  if (!h5::has_attribute(group, "space")) throw Error(quoted(where) + ": attribute 'space' is missing");
  to_ras.space = parse_space(h5::read_attr_text(group, "space", where), where);
  to_ras.corner = parse_corner_origin(group, where);
  const bool need_sizes = format == OutFormat::trk || to_ras.space == Space::voxmm;
  const std::array<float, 3> voxel_sizes =
      need_sizes ? read_voxel_sizes(group, "voxel_sizes", to_ras.a, where) : column_norms(to_ras.a);
  for (size_t d = 0; d < 3; ++d)
    to_ras.voxel_sizes[d] = static_cast<double>(voxel_sizes[d]);

  // data_per_streamline/<key>: (S, k) or (S,), in name order
  std::vector<DpsSource> dps;
  if (h5::has_child(group, "data_per_streamline")) {
    const std::string dps_where = h5::child_path(where, "data_per_streamline");
    h5::Handle g = h5::open_group(group, "data_per_streamline", dps_where);
    for (const auto& c : h5::list_children(g.id(), dps_where)) {
      if (c.kind != h5::ObjectKind::dataset) continue;
      DpsSource s;
      s.key.name = c.name;
      s.where = h5::child_path(dps_where, c.name);
      s.dataset = h5::open_dataset(g.id(), c.name, s.where);
      const h5::DatasetInfo info = h5::dataset_info(s.dataset.id(), s.where);
      if (info.shape.empty() || info.shape.size() > 2 || static_cast<int64_t>(info.shape[0]) != count)
        throw Error(quoted(s.where) + ": expected " + std::to_string(count) + " rows (one per streamline)");
      if (info.shape.size() == 2) s.key.columns = static_cast<int>(info.shape[1]);
      dps.push_back(std::move(s));
    }
  }
  if (format == OutFormat::tck && !dps.empty()) {
    std::string names;
    for (const auto& s : dps)
      names += (names.empty() ? "" : ", ") + s.key.name;
    log::warning(quoted(where) + ": data_per_streamline " + names + " dropped: a .tck cannot hold them");
    dps.clear();
  }
  if (count == 0 && format == OutFormat::trk) dps.clear(); // as nibabel: an empty .trk has no properties

  std::optional<io::TrkWriter> trk;
  std::optional<io::TckWriter> tck;
  std::optional<io::TrxWriter> trx;
  std::vector<io::DpsKey> keys;
  for (const auto& s : dps)
    keys.push_back(s.key);
  if (format == OutFormat::trk) {
    io::TrkSpace space;
    space.vox_to_ras = to_ras.a;
    space.dimensions = read_dimensions(group, where);
    space.voxel_sizes = voxel_sizes;
    space.voxel_order = h5::has_attribute(group, "voxel_order")
                            ? h5::read_attr_text(group, "voxel_order", where)
                            : axcodes(to_ras.a);
    trk.emplace(tmp, space, keys);
  } else if (format == OutFormat::trx) {
    io::TrxSpace space; // the header.json of a TRX: the group's affine and dimensions
    space.vox_to_ras = to_ras.a;
    space.dimensions = read_dimensions(group, where);
    trx.emplace(tmp, space, keys);
  } else {
    tck.emplace(tmp);
  }

  // Batches of about 1 Mi points: memory stays bounded whatever the tractogram's size.
  constexpr int64_t batch_points = int64_t{1} << 20;
  std::vector<double> buffer;
  io::StreamlinesRas chunk;
  chunk.dps_keys = keys;
  int64_t written = 0, points = 0, dropped_empty = 0;
  for (int64_t i = 0; i < count;) {
    int64_t j = i, n_points = 0;
    while (j < count && (j == i || n_points + lengths[static_cast<size_t>(j)] <= batch_points))
      n_points += lengths[static_cast<size_t>(j++)];
    buffer.resize(static_cast<size_t>(3 * n_points));
    bool packed = true;
    for (int64_t m = i; m + 1 < j; ++m)
      packed = packed && offsets[static_cast<size_t>(m + 1)] ==
                             offsets[static_cast<size_t>(m)] + lengths[static_cast<size_t>(m)];
    if (packed) {
      h5::read_rows(data.id(), H5T_NATIVE_DOUBLE, buffer.data(),
                    static_cast<uint64_t>(offsets[static_cast<size_t>(i)]), static_cast<uint64_t>(n_points),
                    data_where);
    } else { // offsets in another order: one read per streamline
      int64_t at = 0;
      for (int64_t m = i; m < j; ++m) {
        const auto mi = static_cast<size_t>(m);
        h5::read_rows(data.id(), H5T_NATIVE_DOUBLE, buffer.data() + 3 * at,
                      static_cast<uint64_t>(offsets[mi]), static_cast<uint64_t>(lengths[mi]), data_where);
        at += lengths[mi];
      }
    }
    chunk.xyz.resize(static_cast<size_t>(3 * n_points));
    to_ras.apply(buffer.data(), chunk.xyz.data(), n_points);
    chunk.lengths.clear();
    for (int64_t m = i; m < j; ++m) {
      const int64_t len = lengths[static_cast<size_t>(m)];
      // a .tck cannot hold an empty streamline (it would read back as nothing): leave it out
      if (tck && len == 0) {
        ++dropped_empty;
        continue;
      }
      chunk.lengths.push_back(len);
    }
    chunk.dps_values.assign(dps.size(), {});
    for (size_t k = 0; k < dps.size(); ++k) {
      chunk.dps_values[k].resize(static_cast<size_t>((j - i) * dps[k].key.columns));
      h5::read_rows(dps[k].dataset.id(), H5T_NATIVE_FLOAT, chunk.dps_values[k].data(),
                    static_cast<uint64_t>(i), static_cast<uint64_t>(j - i), dps[k].where);
    }
    if (trk) trk->append(chunk);
    if (tck) tck->append(chunk);
    if (trx) trx->append(chunk);
    written += static_cast<int64_t>(chunk.lengths.size());
    points += n_points;
    i = j;
  }
  if (trk) trk->close();
  if (tck) tck->close();
  if (trx) trx->close();
  if (dropped_empty > 0)
    log::warning(quoted(where) + ": " + std::to_string(dropped_empty) +
                 " empty streamline(s) left out: a .tck cannot hold them");

  ExtractResult r;
  r.type = "streamlines";
  r.streamlines = written;
  r.points = points;
  r.summary = "wrote " + quoted(o.out) + ": " + std::to_string(written) + " streamlines, " +
              std::to_string(points) + " points in RAS mm from " + quoted(where);
  if (!keys.empty()) r.summary += " with data_per_streamline " + std::to_string(keys.size()) + " key(s)";
  return r;
}

// ------------------------------------------------------------------------ connectivity matrices

/// A streamline group's connectivity_matrix as numpy holds it in dwi_ml (np.load(file) > 0: bool);
/// a matrix of another type, written by some other tool, goes out as float64.
ExtractResult
extract_connectivity(hid_t group, const std::string& where, const std::string& tmp, const ExtractOptions& o) {
  const std::string matrix_where = h5::child_path(where, "connectivity_matrix");
  if (!h5::has_child(group, "connectivity_matrix"))
    throw Error(quoted(where) + ": no dataset 'connectivity_matrix' (its config group had no " +
                "'connectivity_matrix')");
  h5::Handle ds = h5::open_dataset(group, "connectivity_matrix", matrix_where);
  const h5::DatasetInfo info = h5::dataset_info(ds.id(), matrix_where);
  if (info.shape.empty()) throw Error(quoted(matrix_where) + ": a scalar, expected a matrix");
  uint64_t count = 1;
  for (const uint64_t n : info.shape)
    count *= n;
  if (info.dtype == "bool") {
    // h5py's bool is an enum over int8, which HDF5 converts only to an enum: read its native form.
    h5::Handle file_type(H5Dget_type(ds.id()));
    h5::Handle native(H5Tget_native_type(file_type.id(), H5T_DIR_DEFAULT));
    if (H5Tget_size(native.id()) != 1) throw Error(quoted(matrix_where) + ": a bool of more than one byte");
    std::vector<int8_t> values(count);
    h5::read_rows(ds.id(), native.id(), values.data(), 0, info.shape[0], matrix_where);
    io::write_npy_bool(tmp, info.shape, values);
  } else {
    std::vector<double> values(count);
    h5::read_rows(ds.id(), H5T_NATIVE_DOUBLE, values.data(), 0, info.shape[0], matrix_where);
    io::write_npy_f64(tmp, info.shape, values);
  }
  std::string shape;
  for (const uint64_t n : info.shape)
    shape += (shape.empty() ? "" : " x ") + std::to_string(n);
  ExtractResult r;
  r.type = "streamlines";
  r.summary = "wrote " + quoted(o.out) + ": the " + shape + " connectivity matrix (" +
              (info.dtype == "bool" ? std::string("bool") : info.dtype + " as float64") + ") of " +
              quoted(where);
  return r;
}

/// `e` with the writers' name for the temporary file replaced by OUT, which is what the user knows.
Error naming_out(const Error& e, const std::string& tmp, const std::string& out) {
  const auto fix = [&](std::string text) {
    for (const auto& [from, to] :
         {std::pair{"file " + quoted(tmp), "OUT " + quoted(out)}, {quoted(tmp), quoted(out)}})
      for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
  };
  const auto& frames = e.frames(); // outermost first
  Error fixed(fix(frames.back()));
  for (auto it = frames.rbegin() + 1; it != frames.rend(); ++it)
    fixed = Error(fixed, fix(*it));
  return fixed;
}

/// The group to extract, open, with what the checks learnt about it.
struct Source {
  h5::File file;
  h5::Handle group;
  std::string where; ///< its HDF5 path
  std::string type;  ///< "volume" or "streamlines"
};

Source open_source(const ExtractOptions& o, OutFormat format) {
  h5::File file = h5::open_file_read(o.file);
  const std::string subject_where = h5::child_path("/", o.subject);
  // '/' inside a name would reach another object than the one named: refuse it
  if (o.subject.empty() || o.subject.find('/') != std::string::npos || !h5::has_child(file.id(), o.subject))
    throw Error(quoted(subject_where) +
                ": no such subject (the file has: " + names_text(h5::list_children(file.id(), "/")) + ")");
  h5::Handle subject = h5::open_group(file.id(), o.subject, subject_where);
  const std::string where = h5::child_path(subject_where, o.group);
  if (o.group.empty() || o.group.find('/') != std::string::npos || !h5::has_child(subject.id(), o.group))
    throw Error(quoted(where) + ": no such group in subject " + quoted(o.subject) +
                " (it has: " + names_text(h5::list_children(subject.id(), subject_where)) + ")");
  h5::Handle group = h5::open_group(subject.id(), o.group, where);
  if (!h5::has_attribute(group.id(), "type"))
    throw Error(quoted(where) + ": no attribute 'type': not a dwi_ml group");
  const std::string type = h5::read_attr_text(group.id(), "type", where);
  const bool volume_out = format == OutFormat::nii || format == OutFormat::nii_gz;
  if (type != "volume" && type != "streamlines")
    throw Error(quoted(where) + ": unknown type " + quoted(type) + " (expected 'volume' or 'streamlines')");
  if (type == "volume" && !volume_out)
    throw Error(quoted(where) + " is a volume group: OUT " + quoted(o.out) + " must end in .nii or .nii.gz");
  if (type == "streamlines" && volume_out)
    throw Error(quoted(where) + " is a streamline group: OUT " + quoted(o.out) +
                " must end in .trk, .tck or .trx (or .npy for its connectivity matrix)");
  return Source{std::move(file), std::move(group), where, type};
}

} // namespace

ExtractResult extract(const ExtractOptions& o) {
  const OutFormat format = out_format(o.out);
  h5::SilenceErrors quiet; // HDF5 failures become Error messages
  const std::string context = "file " + quoted(o.file);
  Source src = with_context(context, [&] { return open_source(o, format); });
  const std::filesystem::path p(o.out);
  if (p.has_parent_path() && !std::filesystem::is_directory(p.parent_path()))
    throw Error("OUT " + quoted(o.out) + ": folder " + quoted(p.parent_path().string()) + " does not exist");
  if (std::filesystem::exists(p) && !o.overwrite)
    throw Error("OUT " + quoted(o.out) + " already exists; use -f to overwrite it");
  PendingOutput pending(o.out);
  try {
    ExtractResult r = with_context(context, [&] {
      if (format == OutFormat::npy) return extract_connectivity(src.group.id(), src.where, pending.path(), o);
      return src.type == "volume" ? extract_volume(src.group.id(), src.where, pending.path(), o)
                                  : extract_streamlines(src.group.id(), src.where, pending.path(), format, o);
    });
    pending.commit();
    return r;
  } catch (const Error& e) {
    throw naming_out(e, pending.path(), o.out);
  }
}

} // namespace dwipack::tools
