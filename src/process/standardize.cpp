#include "dwipack/process/standardize.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace dwipack::process {
namespace {

/// Which voxels enter the statistics: mask[v] != 0, or (no mask) every one of the nf features
/// non-zero.
struct Selection {
  const uint8_t* mask;
  int64_t nf;
  bool operator()(const float* voxel, int64_t v) const {
    if (mask) return mask[v] != 0;
    for (int64_t f = 0; f < nf; ++f)
      if (voxel[f] == 0.0f) return false;
    return true;
  }
};

/// (x - mean) / std in float32, on voxels [v0, v1). One stat: the inner loop over a voxel's
/// features is contiguous and vectorises (IEEE division either way: same bits as scalar code).
void apply_range(float* data,
                 int64_t v0,
                 int64_t v1,
                 int64_t f_total,
                 int64_t f0,
                 int64_t nf,
                 const float* __restrict mean,
                 const float* __restrict std_dev,
                 bool independent) noexcept {
  if (!independent) {
    const float m = mean[0], s = std_dev[0];
    if (nf == f_total) { // the whole array: one contiguous run
      float* __restrict p = data + v0 * f_total;
      const int64_t n = (v1 - v0) * f_total;
      for (int64_t i = 0; i < n; ++i)
        p[i] = (p[i] - m) / s;
      return;
    }
    for (int64_t v = v0; v < v1; ++v) {
      float* __restrict p = data + v * f_total + f0;
      for (int64_t f = 0; f < nf; ++f)
        p[f] = (p[f] - m) / s;
    }
    return;
  }
  for (int64_t v = v0; v < v1; ++v) {
    float* __restrict p = data + v * f_total + f0;
    for (int64_t f = 0; f < nf; ++f)
      p[f] = (p[f] - mean[f]) / std_dev[f];
  }
}

} // namespace

StandardizeStats standardize(float* data,
                             int64_t n_voxels,
                             int64_t f_total,
                             int64_t f0,
                             int64_t nf,
                             bool independent,
                             const uint8_t* mask,
                             StdRule rule,
                             int threads) {
  const size_t n_stats = independent ? static_cast<size_t>(nf) : 1;
  const Selection selected{mask, nf};
  // The sums are accumulated in double, voxel after voxel and feature after feature, always in
  // this order (the output must not depend on the thread count): one running sum per statistic.
  // (dwi_ml sums in float32; double is closer to the exact value and stays within the 5e-4
  // agreement of docs/format.md §4.5.)
  // Pass 1: sums.
  std::vector<double> sum(n_stats, 0.0);
  int64_t count = 0;
  if (!independent) {
    double acc = 0.0; // a local: the compiler keeps it in a register (same additions, same order)
    for (int64_t v = 0; v < n_voxels; ++v) {
      const float* voxel = data + v * f_total + f0;
      if (!selected(voxel, v)) continue;
      ++count;
      for (int64_t f = 0; f < nf; ++f)
        acc += static_cast<double>(voxel[f]);
    }
    sum[0] = acc;
  } else {
    double* __restrict s = sum.data();
    for (int64_t v = 0; v < n_voxels; ++v) {
      const float* voxel = data + v * f_total + f0;
      if (!selected(voxel, v)) continue;
      ++count;
      for (int64_t f = 0; f < nf; ++f)
        s[f] += static_cast<double>(voxel[f]);
    }
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
  if (!independent) {
    const double m = mean[0];
    double acc = 0.0;
    for (int64_t v = 0; v < n_voxels; ++v) {
      const float* voxel = data + v * f_total + f0;
      if (!selected(voxel, v)) continue;
      for (int64_t f = 0; f < nf; ++f) {
        const double d = static_cast<double>(voxel[f]) - m;
        acc += d * d;
      }
    }
    sq[0] = acc;
  } else {
    double* __restrict q = sq.data();
    const double* __restrict m = mean.data();
    for (int64_t v = 0; v < n_voxels; ++v) {
      const float* voxel = data + v * f_total + f0;
      if (!selected(voxel, v)) continue;
      for (int64_t f = 0; f < nf; ++f) {
        const double d = static_cast<double>(voxel[f]) - m[f];
        q[f] += d * d;
      }
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

  // Apply in float32: numpy computes (data - mean) / std with float32 operands. Element-wise, so
  // the voxels can be split between threads without changing a bit.
  const float* m = stats.mean.data();
  const float* s = stats.std.data();
  const bool split = threads >= 2 && n_voxels * nf >= (int64_t{1} << 20);
  if (!split) {
    apply_range(data, 0, n_voxels, f_total, f0, nf, m, s, independent);
    return stats;
  }
  // apply_range is arithmetic only (it cannot throw), so the helper needs no error plumbing.
  const int64_t half = n_voxels / 2;
  std::thread helper([&] { apply_range(data, half, n_voxels, f_total, f0, nf, m, s, independent); });
  apply_range(data, 0, half, f_total, f0, nf, m, s, independent);
  helper.join();
  return stats;
}

} // namespace dwipack::process
