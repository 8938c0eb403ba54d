#include "dwipack/synth/dataset.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/nifti_writer.hpp"
#include "dwipack/io/npy.hpp"
#include "dwipack/io/tractogram_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <vector>

namespace dwipack::synth {
namespace {

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error("cannot create folder " + quoted(path) + ": " + std::strerror(errno));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw Error("cannot write " + quoted(path));
}

using Shape = std::array<int64_t, 3>;

/// Squared normalised radius of voxel (i,j,k) in an ellipsoid of radii 0.42 * shape.
double radius2(const Shape& s, int64_t i, int64_t j, int64_t k) {
  const auto axis = [](int64_t v, int64_t n) {
    return (static_cast<double>(v) - 0.5 * static_cast<double>(n - 1)) / (0.42 * static_cast<double>(n));
  };
  const double x = axis(i, s[0]), y = axis(j, s[1]), z = axis(k, s[2]);
  return x * x + y * y + z * z;
}

/// RAS affine with the origin near the volume centre, as scanners write it.
Affine centred_affine(const Shape& s, const std::array<float, 3>& voxel_mm) {
  const double vx = voxel_mm[0], vy = voxel_mm[1], vz = voxel_mm[2];
  return {vx, 0,  0,  -0.5 * vx * static_cast<double>(s[0]), //
          0,  vy, 0,  -0.5 * vy * static_cast<double>(s[1]), //
          0,  0,  vz, -0.5 * vz * static_cast<double>(s[2]), //
          0,  0,  0,  1};
}

// ------------------------------------------------------------------ streamlines

/// splitmix64: tiny, fast and the same on every platform (the benchmark draws ~1e9 numbers).
class FastRng {
public:
  explicit FastRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [lo, hi].
  int64_t integer(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

private:
  uint64_t state_;
};

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
Vec3 operator+(Vec3 a, Vec3 b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z};
}
Vec3 operator-(Vec3 a, Vec3 b) {
  return {a.x - b.x, a.y - b.y, a.z - b.z};
}
Vec3 operator*(double f, Vec3 a) {
  return {f * a.x, f * a.y, f * a.z};
}
double norm(Vec3 a) {
  return std::sqrt(a.x * a.x + a.y * a.y + a.z * a.z);
}
Vec3 unit(Vec3 a) {
  const double n = norm(a);
  return n > 0 ? (1.0 / n) * a : Vec3{1, 0, 0};
}

/// Where streamline points may go, in RAS mm of the subject's (diagonal) centred affine: voxel
/// centre coordinates in [1, n-2] on every axis (so corner coordinates keep >= 1.5 voxels from
/// the bounding box) and inside the volumes' brain ellipsoid shrunk to r2 <= 0.8. Both sets are
/// convex and hold the centre, so a step towards the centre always stays inside.
struct Region {
  std::array<double, 3> origin{}, voxel{}, centre_vox{}, radius_vox{}, hi{};
  Vec3 centre_mm;

  Region(const Shape& s, const Affine& a) {
    for (size_t i = 0; i < 3; ++i) {
      voxel[i] = a[5 * i];
      origin[i] = a[4 * i + 3];
      centre_vox[i] = 0.5 * static_cast<double>(s[i] - 1);
      radius_vox[i] = 0.42 * static_cast<double>(s[i]);
      hi[i] = static_cast<double>(s[i] - 2);
    }
    centre_mm = {origin[0] + voxel[0] * centre_vox[0], origin[1] + voxel[1] * centre_vox[1],
                 origin[2] + voxel[2] * centre_vox[2]};
  }
  /// Normalised squared radius of a point in mm (the volumes' radius2, continuous).
  double r2(Vec3 p) const {
    const double c[3] = {p.x, p.y, p.z};
    double sum = 0;
    for (size_t i = 0; i < 3; ++i) {
      const double v = (c[i] - origin[i]) / voxel[i];
      if (v < 1 || v > hi[i]) return 1e9; // outside the box margin
      const double u = (v - centre_vox[i]) / radius_vox[i];
      sum += u * u;
    }
    return sum;
  }
  bool inside(Vec3 p) const { return r2(p) <= 0.8; }
};

/// Appends `count` smooth random walks to `out` (RAS mm, float32) with dps weight (1) and color (3).
/// Each walk has a constant step in [0.5, 1] mm, starts near the centre heading roughly along
/// `axis` (either way), and turns a little at each step; a step that would leave the region is
/// retried with a growing pull towards the centre.
void random_walks(const Region& region,
                  Vec3 axis,
                  const std::array<float, 3>& color,
                  int64_t count,
                  int64_t mean_points,
                  FastRng& rng,
                  io::StreamlinesRas& out) {
  const int64_t min_points = std::max<int64_t>(2, mean_points / 2);
  const int64_t max_points = std::max(min_points, 3 * mean_points / 2);
  const auto noise = [&rng] { return Vec3{rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)}; };
  for (int64_t s = 0; s < count; ++s) {
    const int64_t n = rng.integer(min_points, max_points);
    const double step = rng.uniform(0.5, 1.0);
    Vec3 p = region.centre_mm;
    for (int tries = 0; tries < 32; ++tries) { // a start well inside: r2 < 0.3
      const Vec3 q =
          region.centre_mm + Vec3{rng.uniform(-1, 1) * 0.55 * region.radius_vox[0] * region.voxel[0],
                                  rng.uniform(-1, 1) * 0.55 * region.radius_vox[1] * region.voxel[1],
                                  rng.uniform(-1, 1) * 0.55 * region.radius_vox[2] * region.voxel[2]};
      if (region.r2(q) < 0.3) {
        p = q;
        break;
      }
    }
    Vec3 d = unit((rng.uniform() < 0.5 ? -1.0 : 1.0) * axis + 0.3 * noise());
    for (int64_t k = 0; k < n; ++k) {
      if (k > 0) {
        Vec3 q;
        bool ok = false;
        for (int attempt = 0; attempt < 8 && !ok; ++attempt) {
          Vec3 nd = d + 0.35 * noise();
          if (attempt >= 2) nd = nd + (0.5 * (attempt - 1)) * unit(region.centre_mm - p);
          nd = unit(nd);
          q = p + step * nd;
          if (region.inside(q)) {
            d = nd;
            ok = true;
          }
        }
        if (!ok) { // straight towards the centre: inside by convexity
          const Vec3 to_centre = region.centre_mm - p;
          d = unit(to_centre);
          q = p + std::min(step, norm(to_centre)) * d;
        }
        p = q;
      }
      out.xyz.push_back(static_cast<float>(p.x));
      out.xyz.push_back(static_cast<float>(p.y));
      out.xyz.push_back(static_cast<float>(p.z));
    }
    out.lengths.push_back(n);
    out.dps_values[0].push_back(static_cast<float>(rng.uniform(0.1, 1.0)));
    for (size_t c = 0; c < 3; ++c)
      out.dps_values[1].push_back(
          std::clamp(color[c] + static_cast<float>(rng.uniform(-30, 30)), 0.0f, 255.0f));
  }
}

/// The two bundles (.trk or .trx, in the subject's RAS space, dps weight and color) and their
/// union (.tck: bundle_a's streamlines then bundle_b's), written in chunks so that millions of
/// streamlines never sit in memory at once; plus a small connectivity matrix.
void write_tractography(
    const std::string& dir, const Shape& s, const Affine& vox2ras, const DatasetSpec& spec, uint32_t seed) {
  make_dir(dir);
  const Region region(s, vox2ras);
  io::TrkSpace space;
  space.vox_to_ras = vox2ras;
  space.dimensions = s;
  space.voxel_sizes = spec.voxel_size_mm;
  space.voxel_order = "RAS";
  const io::TrxSpace trx_space{vox2ras, s};
  const std::vector<io::DpsKey> keys = {{"weight", 1}, {"color", 3}};

  io::TckWriter whole(dir + "/whole.tck");
  const struct {
    const char* name;
    Vec3 axis;
    std::array<float, 3> color;
    int64_t count;
  } bundles[2] = {{"bundle_a", {1, 0, 0}, {220, 60, 60}, (spec.streamlines + 1) / 2},
                  {"bundle_b", {0, 1, 0.3}, {60, 80, 220}, spec.streamlines / 2}};
  constexpr int64_t chunk_streamlines = 16384;
  io::StreamlinesRas chunk;
  chunk.dps_keys = keys;
  for (size_t b = 0; b < 2; ++b) {
    FastRng rng((static_cast<uint64_t>(seed) << 8) + b + 1);
    const std::string bundle = dir + "/" + bundles[b].name + "." + spec.bundle_format;
    std::optional<io::TrkWriter> trk;
    std::optional<io::TrxWriter> trx;
    if (spec.bundle_format == "trx")
      trx.emplace(bundle, trx_space, keys);
    else
      trk.emplace(bundle, space, keys);
    for (int64_t done = 0; done < bundles[b].count; done += chunk_streamlines) {
      chunk.xyz.clear();
      chunk.lengths.clear();
      chunk.dps_values.assign(2, {});
      random_walks(region, unit(bundles[b].axis), bundles[b].color,
                   std::min(chunk_streamlines, bundles[b].count - done), spec.mean_points, rng, chunk);
      if (trx)
        trx->append(chunk);
      else
        trk->append(chunk);
      whole.append(chunk);
    }
    if (trx)
      trx->close();
    else
      trk->close();
  }
  whole.close();

  // 4x4 counts, symmetric, zero where i + j is even (the diagonal among them): dwi_ml keeps `> 0`.
  FastRng rng(static_cast<uint64_t>(seed) * 7919u + 17u);
  std::vector<double> matrix(16, 0.0);
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = i + 1; j < 4; ++j)
      if ((i + j) % 2 == 1) matrix[4 * i + j] = matrix[4 * j + i] = static_cast<double>(rng.integer(1, 100));
  io::write_npy_f64(dir + "/connectivity.npy", {4, 4}, matrix);
}

void write_subject(const std::string& dir, const Shape& s, const DatasetSpec& spec, uint32_t seed) {
  make_dir(dir);
  make_dir(dir + "/dwi");
  make_dir(dir + "/anat");
  make_dir(dir + "/masks");
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 20.0f);
  const auto n_vox = static_cast<size_t>(s[0] * s[1] * s[2]);

  io::NiftiWriteSpec base;
  base.shape = s;
  base.voxel_sizes = spec.voxel_size_mm;
  base.vox2ras = centred_affine(s, spec.voxel_size_mm);

  // WM mask (uint8) and T1 (int16 with scl_slope/scl_inter: exercises read scaling)
  std::vector<uint8_t> mask(n_vox);
  std::vector<int16_t> t1(n_vox);
  for (int64_t k = 0; k < s[2]; ++k)
    for (int64_t j = 0; j < s[1]; ++j)
      for (int64_t i = 0; i < s[0]; ++i) {
        const auto v = static_cast<size_t>(i + s[0] * (j + s[1] * k));
        const double r2 = radius2(s, i, j, k);
        mask[v] = r2 < 0.6 ? 1 : 0;
        t1[v] = static_cast<int16_t>(r2 < 1 ? 800 + 400 * (1 - r2) + static_cast<double>(noise(rng)) : 0);
      }
  io::NiftiWriteSpec m = base;
  m.datatype = 2; // NIFTI_TYPE_UINT8
  io::write_nifti(dir + "/masks/wm.nii.gz", m, mask.data(), spec.gzip_level);
  io::NiftiWriteSpec t = base;
  t.datatype = 4; // NIFTI_TYPE_INT16
  t.scl_slope = 0.5f;
  t.scl_inter = 10.0f;
  io::write_nifti(dir + "/anat/t1.nii.gz", t, t1.data(), spec.gzip_level);

  // DWI (float32): a b0 frame, then diffusion-weighted frames with a direction-dependent decay
  const int64_t frames = spec.dwi_frames;
  std::vector<float> dwi(n_vox * static_cast<size_t>(frames));
  for (int64_t f = 0; f < frames; ++f) {
    const double angle = 2.399963 * static_cast<double>(f); // golden-angle spread of directions
    const double b = f == 0 ? 0.0 : 1.0;
    for (int64_t k = 0; k < s[2]; ++k)
      for (int64_t j = 0; j < s[1]; ++j)
        for (int64_t i = 0; i < s[0]; ++i) {
          const double r2 = radius2(s, i, j, k);
          float value = 0.0f;
          if (r2 < 1) {
            const double s0 = 1000.0 * (1.2 - 0.4 * r2);
            const double adc = 0.7 + 0.5 * std::pow(std::cos(angle + 0.05 * static_cast<double>(i + j)), 2);
            value = static_cast<float>(s0 * std::exp(-b * adc)) + noise(rng);
            if (value <= 0.0f) value = 1.0f; // keep the brain non-zero in every frame
          }
          dwi[static_cast<size_t>(i + s[0] * (j + s[1] * (k + s[2] * f)))] = value;
        }
  }
  io::NiftiWriteSpec d = base;
  d.datatype = 16; // NIFTI_TYPE_FLOAT32
  d.nb_frames = frames;
  io::write_nifti(dir + "/dwi/dwi.nii.gz", d, dwi.data(), spec.gzip_level);

  if (spec.streamlines > 0) write_tractography(dir + "/tractography", s, base.vox2ras, spec, seed);
}

} // namespace

std::string write_dataset(const DatasetSpec& spec) {
  if (spec.nb_subjects < 1) throw Error("synth: at least one subject is needed");
  if (spec.bundle_format != "trk" && spec.bundle_format != "trx")
    throw Error("synth: the bundle format must be trk or trx, got " + quoted(spec.bundle_format));
  if (spec.streamlines < 0 || spec.streamlines == 1)
    throw Error("synth: streamlines must be 0 (none) or at least 2 (two bundles), got " +
                std::to_string(spec.streamlines));
  if (spec.streamlines > 0) {
    if (spec.mean_points < 2)
      throw Error("synth: mean_points must be at least 2, got " + std::to_string(spec.mean_points));
    // The streamline region keeps a margin of one voxel plus half a voxel to the volume's border.
    const int64_t smallest = *std::min_element(spec.shape.begin(), spec.shape.end()) +
                             std::min<int64_t>(0, spec.shape_step * (spec.nb_subjects - 1));
    if (smallest < 6) throw Error("synth: streamlines need volumes of at least 6 voxels on every axis");
  }
  make_dir(spec.out_dir);
  const std::string root = spec.out_dir + "/dwi_ml_ready";
  make_dir(root);

  std::vector<std::string> ids;
  for (int n = 0; n < spec.nb_subjects; ++n) {
    char id[32];
    std::snprintf(id, sizeof id, "sub-%02d", n + 1);
    ids.emplace_back(id);
    // Uneven subject sizes, as in real data (different fields of view).
    const Shape s = {spec.shape[0] + spec.shape_step * n, spec.shape[1] + spec.shape_step * n,
                     spec.shape[2] + spec.shape_step * n};
    write_subject(root + "/" + id, s, spec, spec.seed * 1000u + static_cast<uint32_t>(n));
  }

  // The config mirrors dwi_ml's own test config (docs/format.md §1.3).
  std::string config = "{\n"
                       "  \"input\": {\n"
                       "    \"type\": \"volume\",\n"
                       "    \"files\": [\"dwi/dwi.nii.gz\", \"anat/t1.nii.gz\"],\n"
                       "    \"standardization\": \"per_file\",\n"
                       "    \"std_mask\": [\"masks/wm.nii.gz\"]\n"
                       "  },\n"
                       "  \"wm_mask\": {\n"
                       "    \"type\": \"volume\",\n"
                       "    \"files\": [\"masks/wm.nii.gz\"],\n"
                       "    \"standardization\": \"none\"\n"
                       "  }";
  if (spec.streamlines > 0)
    config += ",\n"
              "  \"bundles\": {\n"
              "    \"type\": \"streamlines\",\n"
              "    \"files\": [\"tractography/bundle_*." +
              spec.bundle_format +
              "\"],\n"
              "    \"dps_keys\": [\"weight\"],\n"
              "    \"connectivity_matrix\": \"tractography/connectivity.npy\",\n"
              "    \"connectivity_nb_blocs\": 4\n"
              "  },\n"
              "  \"tracking\": {\n"
              "    \"type\": \"streamlines\",\n"
              "    \"files\": \"tractography/whole.tck\"\n"
              "  }";
  write_text(spec.out_dir + "/config.json", config + "\n}\n");
  // Lists: about 60 % training, then validation, then testing (each non-empty when possible).
  const size_t n = ids.size();
  const size_t n_test = n >= 3 ? std::max<size_t>(1, n / 5) : 0;
  const size_t n_valid = n >= 2 ? std::max<size_t>(1, n / 5) : 0;
  const size_t n_train = n - n_valid - n_test;
  std::string train, valid, test;
  for (size_t i = 0; i < n; ++i) {
    std::string& list = i < n_train ? train : i < n_train + n_valid ? valid : test;
    list += ids[i] + "\n";
  }
  write_text(spec.out_dir + "/training_subjs.txt", train);
  write_text(spec.out_dir + "/validation_subjs.txt", valid);
  write_text(spec.out_dir + "/testing_subjs.txt", test);

  const auto& s = spec.shape;
  const int64_t last = spec.shape_step * (spec.nb_subjects - 1);
  std::ostringstream d;
  d << "synthetic dataset in '" << spec.out_dir << "': " << n << " subjects in dwi_ml_ready/ (dwi/dwi.nii.gz "
    << s[0] << "x" << s[1] << "x" << s[2] << " to " << s[0] + last << "x" << s[1] + last << "x" << s[2] + last
    << " voxels x " << spec.dwi_frames << " frames float32, anat/t1.nii.gz int16 with scaling, "
    << "masks/wm.nii.gz uint8), config.json, training_subjs.txt (" << n_train << "), validation_subjs.txt ("
    << n_valid << "), testing_subjs.txt (" << n_test << ")";
  if (spec.streamlines > 0)
    d << "; per subject, tractography/bundle_a." << spec.bundle_format << " and bundle_b."
      << spec.bundle_format << " (" << (spec.streamlines + 1) / 2 << " and " << spec.streamlines / 2
      << " streamlines of about " << spec.mean_points
      << " points, data_per_streamline 'weight' and 'color'), tractography/whole.tck (their union) and "
         "tractography/connectivity.npy (4x4 float64); config groups 'bundles' and 'tracking'";
  return d.str();
}

} // namespace dwipack::synth
