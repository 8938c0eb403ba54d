#pragma once
// A synthetic dwi_ml_ready dataset, so that the demo, the tests and the benchmarks need no
// downloaded data: per subject a 4-D float32 DWI (S0 field x diffusion attenuation inside an
// ellipsoid "brain", Gaussian noise, zeros outside), an int16 T1 with scl_slope, a uint8 WM mask,
// and (unless streamlines is 0) tractograms in the same space: two .trk (or .trx) bundles with data
// per streamline, their union as a .tck, a connectivity .npy; plus a config JSON and the three lists.
#include <array>
#include <cstdint>
#include <string>

namespace dwipack::synth {

struct DatasetSpec {
  std::string out_dir; ///< created if missing; gets dwi_ml_ready/, config.json, lists
  int nb_subjects = 4;
  std::array<int64_t, 3> shape{32, 38, 32};
  int64_t dwi_frames = 16; ///< DWI frames (the same for every subject, as dwi_ml models need)
  int64_t shape_step = 2;  ///< each next subject is this many voxels larger on every axis
  std::array<float, 3> voxel_size_mm{2, 2, 2};
  int gzip_level = 6;
  uint32_t seed = 1;
  int64_t streamlines = 200; ///< per subject, split between the two bundles; 0: no streamline groups
  int64_t mean_points = 40;  ///< streamline lengths are uniform in [mean/2, 3*mean/2] points
  /// Format of the two bundles: "trk" (TrackVis) or "trx" (TRX, a stored ZIP archive); the same
  /// streamlines and dps either way. Their union stays a .tck.
  std::string bundle_format = "trk";
};

/// Write the dataset; returns a one-paragraph description (what and where) for the user.
std::string write_dataset(const DatasetSpec& spec);

} // namespace dwipack::synth
