#include "dwipack/process/standardize.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cmath>

namespace dwipack::process {
namespace {

bool voxel_selected(const float* voxel, int64_t nf, const uint8_t* mask, int64_t v) {
  if (mask) return mask[v] != 0;
  for (int64_t f = 0; f < nf; ++f)
    if (voxel[f] == 0.0f) return false;
  return true;
}

} // namespace

StandardizeStats standardize(float* data,
                             int64_t n_voxels,
                             int64_t f_total,
                             int64_t f0,
                             int64_t nf,
                             bool independent,
                             const uint8_t* mask,
                             StdRule rule) {
  const size_t n_stats = independent ? static_cast<size_t>(nf) : 1;
  // Pass 1: sums in double (dwi_ml sums in float32; double is closer to the exact value and
  // stays within the 5e-4 agreement the spec asks for).
  std::vector<double> sum(n_stats, 0.0);
  int64_t count = 0;
  for (int64_t v = 0; v < n_voxels; ++v) {
    const float* voxel = data + v * f_total + f0;
    if (!voxel_selected(voxel, nf, mask, v)) continue;
    ++count;
    for (int64_t f = 0; f < nf; ++f)
      sum[independent ? static_cast<size_t>(f) : 0] += static_cast<double>(voxel[f]);
  }
  if (count == 0)
    throw Error(mask ? "standardization mask selects no voxel (all mask values are <= 0)"
                     : "standardization without std_mask uses the voxels where every feature is non-zero, "
                       "and there is none; give a std_mask or standardization 'none'");
  const double per_stat =
      independent ? static_cast<double>(count) : static_cast<double>(count) * static_cast<double>(nf);
  std::vector<double> mean(n_stats);
  for (size_t s = 0; s < n_stats; ++s)
    mean[s] = sum[s] / per_stat;

  // Pass 2: centred sum of squares (two-pass: no cancellation).
  std::vector<double> sq(n_stats, 0.0);
  for (int64_t v = 0; v < n_voxels; ++v) {
    const float* voxel = data + v * f_total + f0;
    if (!voxel_selected(voxel, nf, mask, v)) continue;
    for (int64_t f = 0; f < nf; ++f) {
      const size_t s = independent ? static_cast<size_t>(f) : 0;
      const double d = static_cast<double>(voxel[f]) - mean[s];
      sq[s] += d * d;
    }
  }

  StandardizeStats stats;
  stats.n_voxels = count;
  stats.mean.resize(n_stats);
  stats.std.resize(n_stats);
  for (size_t s = 0; s < n_stats; ++s) {
    stats.mean[s] = static_cast<float>(mean[s]);
    const auto std_f = static_cast<float>(std::sqrt(sq[s] / per_stat));
    stats.std[s] = rule == StdRule::clamp_1e6 ? std::max(std_f, min_std) : (std_f == 0.0f ? 1.0f : std_f);
  }

  // Apply in float32: numpy computes (data - mean) / std with float32 operands.
  for (int64_t v = 0; v < n_voxels; ++v) {
    float* voxel = data + v * f_total + f0;
    for (int64_t f = 0; f < nf; ++f) {
      const size_t s = independent ? static_cast<size_t>(f) : 0;
      const float centred = voxel[f] - stats.mean[s];
      voxel[f] = centred / stats.std[s];
    }
  }
  return stats;
}

} // namespace dwipack::process
