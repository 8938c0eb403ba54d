#pragma once
// Z-score standardization of volume features, dwi_ml's standardize_data (docs/format.md §4.4). Pure.
#include <cstdint>
#include <vector>

namespace dwipack::process {

/// The statistics used; one entry, or one per feature when independent.
struct StandardizeStats {
  std::vector<float> mean;
  std::vector<float> std;
  int64_t n_voxels = 0; ///< voxels that entered the statistics
};

/// dwi_ml's floor on the standard deviation (HEAD clamps std to >= 1e-6).
inline constexpr float min_std = 1e-6f;

/// What a degenerate standard deviation becomes: HEAD clamps it to >= 1e-6; the 2021 code
/// replaced exactly 0 by 1 and left other values alone.
enum class StdRule { clamp_1e6, zero_to_one };

/// Standardize features [f0, f0 + nf) of `data`, a voxel-major array of `n_voxels` voxels with
/// `f_total` features each, in place: x <- (x - mean) / std, in float32 as numpy does, on every
/// voxel (background included).
/// The statistics (population std, accumulated in double) use the voxels where `mask` is
/// non-zero, or, when `mask` is null, the voxels where every one of the nf features is non-zero.
/// `independent` gives one mean/std per feature instead of one over all of them.
/// Throws Error when no voxel qualifies (dwi_ml would silently write NaN everywhere).
/// `threads` >= 2 splits the (element-wise) application over two threads for large arrays; the
/// statistics are accumulated in one fixed order, so the result is the same bytes for any value.
StandardizeStats standardize(float* data,
                             int64_t n_voxels,
                             int64_t f_total,
                             int64_t f0,
                             int64_t nf,
                             bool independent,
                             const uint8_t* mask,
                             StdRule rule = StdRule::clamp_1e6,
                             int threads = 1);

} // namespace dwipack::process
