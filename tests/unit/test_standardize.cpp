// process::standardize against numpy running dwi_ml's own standardize_data.
#include "dwipack/error.hpp"
#include "dwipack/process/standardize.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using dwipack::Error;
using dwipack::process::standardize;
using namespace dwipack::test;
using ::testing::HasSubstr;

namespace {

struct Volume {
  int64_t x, y, z, f;
  std::vector<float> data;
  int64_t n_voxels() const { return x * y * z; }
};

/// A brain-like volume: zeros outside an ellipsoid, noisy positive signal inside, with one
/// feature optionally zero in a few voxels (exercises the no-mask rule).
Volume make_volume(int64_t x, int64_t y, int64_t z, int64_t f, unsigned seed) {
  Volume v{x, y, z, f, std::vector<float>(static_cast<size_t>(x * y * z * f))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 20.0f);
  for (int64_t i = 0; i < x; ++i)
    for (int64_t j = 0; j < y; ++j)
      for (int64_t k = 0; k < z; ++k) {
        const double r = std::pow((i - x / 2.0) / (0.45 * x), 2) + std::pow((j - y / 2.0) / (0.45 * y), 2) +
                         std::pow((k - z / 2.0) / (0.45 * z), 2);
        for (int64_t c = 0; c < f; ++c) {
          float value = r < 1 ? 1000.0f / static_cast<float>(c + 1) + noise(rng) : 0.0f;
          if (c == f - 1 && (i + j + k) % 7 == 0) value = 0.0f;
          v.data[static_cast<size_t>(((i * y + j) * z + k) * f + c)] = value;
        }
      }
  return v;
}

std::vector<float>
numpy_reference(const Volume& v, const std::string& mode, const std::vector<uint8_t>* mask) {
  TempDir dir;
  write_file(dir / "in.raw", std::string(reinterpret_cast<const char*>(v.data.data()), v.data.size() * 4));
  std::string cmd = std::string(DWIPACK_PYTHON) + " " +
                    shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/standardize_reference.py") + " " +
                    shell_quote(dir / "in.raw") + " " + std::to_string(v.x) + " " + std::to_string(v.y) +
                    " " + std::to_string(v.z) + " " + std::to_string(v.f) + " " + mode + " " +
                    shell_quote(dir / "out.raw");
  if (mask) {
    write_file(dir / "mask.raw", std::string(reinterpret_cast<const char*>(mask->data()), mask->size()));
    cmd += " " + shell_quote(dir / "mask.raw");
  }
  EXPECT_EQ(run_command(cmd), 0) << cmd;
  const std::string out = read_file(dir / "out.raw");
  std::vector<float> result(out.size() / 4);
  std::memcpy(result.data(), out.data(), out.size());
  return result;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
  // The agreement bound for standardized values (docs/format.md §4.5: dwi_ml sums in float32, we in double).
  EXPECT_LE(worst, 5e-4);
  // ...and in practice much closer: a difference this large would mean a formula error.
  EXPECT_LE(worst, 1e-4);
}

struct Case {
  const char* name;
  const char* mode;
  bool with_mask;
};

class StandardizeVsNumpy : public ::testing::TestWithParam<Case> {};

TEST_P(StandardizeVsNumpy, MatchesDwiMl) {
  const Case c = GetParam();
  Volume v = make_volume(9, 11, 7, 4, 42);
  std::vector<uint8_t> mask;
  if (c.with_mask) {
    mask.resize(static_cast<size_t>(v.n_voxels()));
    for (size_t i = 0; i < mask.size(); ++i)
      mask[i] = (i % 3 == 0) ? 1 : 0;
  }
  const auto want = numpy_reference(v, c.mode, c.with_mask ? &mask : nullptr);
  standardize(v.data.data(), v.n_voxels(), v.f, 0, v.f, std::string(c.mode) == "independent",
              c.with_mask ? mask.data() : nullptr);
  expect_close(v.data, want);
}

INSTANTIATE_TEST_SUITE_P(Modes,
                         StandardizeVsNumpy,
                         ::testing::Values(Case{"all_nomask", "all", false},
                                           Case{"all_mask", "all", true},
                                           Case{"independent_nomask", "independent", false},
                                           Case{"independent_mask", "independent", true}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Standardize, PerFileTouchesOnlyItsFeatures) {
  // per_file: features [1, 3) of a 4-feature array are standardized alone, the rest untouched.
  Volume v = make_volume(6, 5, 4, 4, 7);
  const std::vector<float> before = v.data;
  Volume part{v.x, v.y, v.z, 2, {}};
  for (int64_t i = 0; i < v.n_voxels(); ++i)
    for (int64_t c = 1; c < 3; ++c)
      part.data.push_back(v.data[static_cast<size_t>(i * 4 + c)]);
  const auto want = numpy_reference(part, "all", nullptr);
  standardize(v.data.data(), v.n_voxels(), 4, 1, 2, false, nullptr);
  std::vector<float> got;
  for (int64_t i = 0; i < v.n_voxels(); ++i) {
    for (int64_t c = 1; c < 3; ++c)
      got.push_back(v.data[static_cast<size_t>(i * 4 + c)]);
    EXPECT_EQ(v.data[static_cast<size_t>(i * 4)], before[static_cast<size_t>(i * 4)]);
    EXPECT_EQ(v.data[static_cast<size_t>(i * 4 + 3)], before[static_cast<size_t>(i * 4 + 3)]);
  }
  expect_close(got, want);
}

/// The straightforward implementation (one running double sum per statistic, voxel after voxel,
/// feature after feature; apply in float32) that the optimised one must match bit for bit.
void standardize_reference(float* data,
                           int64_t n_voxels,
                           int64_t f_total,
                           int64_t f0,
                           int64_t nf,
                           bool independent,
                           const uint8_t* mask) {
  const size_t n_stats = independent ? static_cast<size_t>(nf) : 1;
  auto selected = [&](const float* voxel, int64_t v) {
    if (mask) return mask[v] != 0;
    for (int64_t f = 0; f < nf; ++f)
      if (voxel[f] == 0.0f) return false;
    return true;
  };
  std::vector<double> sum(n_stats, 0.0), sq(n_stats, 0.0);
  int64_t count = 0;
  for (int64_t v = 0; v < n_voxels; ++v) {
    const float* voxel = data + v * f_total + f0;
    if (!selected(voxel, v)) continue;
    ++count;
    for (int64_t f = 0; f < nf; ++f)
      sum[independent ? static_cast<size_t>(f) : 0] += static_cast<double>(voxel[f]);
  }
  const double per_stat = independent ? static_cast<double>(count) : static_cast<double>(count * nf);
  std::vector<double> mean(n_stats);
  for (size_t i = 0; i < n_stats; ++i)
    mean[i] = sum[i] / per_stat;
  for (int64_t v = 0; v < n_voxels; ++v) {
    const float* voxel = data + v * f_total + f0;
    if (!selected(voxel, v)) continue;
    for (int64_t f = 0; f < nf; ++f) {
      const size_t i = independent ? static_cast<size_t>(f) : 0;
      const double d = static_cast<double>(voxel[f]) - mean[i];
      sq[i] += d * d;
    }
  }
  std::vector<float> m(n_stats), sd(n_stats);
  for (size_t i = 0; i < n_stats; ++i) {
    m[i] = static_cast<float>(mean[i]);
    sd[i] = std::max(static_cast<float>(std::sqrt(sq[i] / per_stat)), dwipack::process::min_std);
  }
  for (int64_t v = 0; v < n_voxels; ++v)
    for (int64_t f = 0; f < nf; ++f) {
      float& x = data[v * f_total + f0 + f];
      const size_t i = independent ? static_cast<size_t>(f) : 0;
      x = (x - m[i]) / sd[i];
    }
}

TEST(Standardize, SameBytesAsTheReferenceForAnyThreadCount) {
  // 41 x 37 x 33 voxels x 24 features: above the size where 2 threads split the application;
  // the whole array, a sub-range (per_file), with and without mask, one or per-feature stats.
  Volume v = make_volume(41, 37, 33, 24, 11);
  std::vector<uint8_t> mask(static_cast<size_t>(v.n_voxels()));
  for (size_t i = 0; i < mask.size(); ++i)
    mask[i] = v.data[i * 24] > 900.0f ? 1 : 0;
  struct Range {
    int64_t f0, nf;
  };
  int checked = 0;
  for (const Range r : {Range{0, 24}, Range{1, 22}, Range{23, 1}})
    for (const bool independent : {false, true})
      for (const bool with_mask : {false, true}) {
        SCOPED_TRACE("f0 " + std::to_string(r.f0) + " nf " + std::to_string(r.nf) +
                     (independent ? " independent" : "") + (with_mask ? " mask" : ""));
        std::vector<float> want = v.data;
        standardize_reference(want.data(), v.n_voxels(), v.f, r.f0, r.nf, independent,
                              with_mask ? mask.data() : nullptr);
        for (const int threads : {1, 2}) {
          std::vector<float> got = v.data;
          standardize(got.data(), v.n_voxels(), v.f, r.f0, r.nf, independent,
                      with_mask ? mask.data() : nullptr, dwipack::process::StdRule::clamp_1e6, threads);
          EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
              << threads << " threads";
          ++checked;
        }
      }
  EXPECT_EQ(checked, 24);
}

TEST(Standardize, KnownValues) {
  // mean 2.5, population std sqrt(1.25) over the mask {1,2,3,4}; background -> -mean/std.
  std::vector<float> data = {1, 2, 3, 4, 0};
  const auto stats = standardize(data.data(), 5, 1, 0, 1, false, nullptr);
  EXPECT_EQ(stats.n_voxels, 4);
  EXPECT_FLOAT_EQ(stats.mean[0], 2.5f);
  EXPECT_FLOAT_EQ(stats.std[0], std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(data[0], (1 - 2.5f) / std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(data[4], -2.5f / std::sqrt(1.25f));
}

TEST(Standardize, ConstantDataClampsStd) {
  std::vector<float> data = {5, 5, 5};
  const auto stats = standardize(data.data(), 3, 1, 0, 1, false, nullptr);
  EXPECT_EQ(stats.std[0], dwipack::process::min_std);
  EXPECT_EQ(data[0], 0.0f);
}

TEST(Standardize, EmptyMaskIsAnError) {
  std::vector<float> data = {1, 2, 3};
  std::vector<uint8_t> mask = {0, 0, 0};
  EXPECT_THAT([&] { standardize(data.data(), 3, 1, 0, 1, false, mask.data()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("mask selects no voxel")));
  std::vector<float> zeros = {0, 1, 0, 2}; // 2 voxels x 2 features; each voxel has a zero
  EXPECT_THAT([&] { standardize(zeros.data(), 2, 2, 0, 2, false, nullptr); },
              ::testing::ThrowsMessage<Error>(HasSubstr("every feature is non-zero")));
}

} // namespace
