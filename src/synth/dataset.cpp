#include "dwipack/synth/dataset.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/nifti_writer.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
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
}

} // namespace

std::string write_dataset(const DatasetSpec& spec) {
  if (spec.nb_subjects < 1) throw Error("synth: at least one subject is needed");
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

  // The config mirrors dwi_ml's own test config (spec §10).
  write_text(spec.out_dir + "/config.json", "{\n"
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
                                            "  }\n"
                                            "}\n");
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
  return d.str();
}

} // namespace dwipack::synth
