// process/streamline against the real dipy 1.6 / nibabel 5.0 / numpy 1.24 of Debian, run through
// tests/python/streamline_reference.py on raw float32 files, plus hand-checked values and edge
// cases. Every comparison prints how many values are bit-identical; the functions whose recipe is
// exact (all of them, on this reference stack) must be bit-identical, not only close.
#include "dwipack/error.hpp"
#include "dwipack/process/streamline.hpp"
#include "support/compare.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using dwipack::Affine;
using dwipack::Error;
using namespace dwipack::process;
using namespace dwipack::test;

using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::same_bits;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------------
// Bundles of streamlines and raw files

struct Bundle {
  std::vector<float> points; ///< all points, x y z
  std::vector<int64_t> counts;
  std::vector<int64_t> offsets; ///< first point of each streamline

  void add(const std::vector<float>& xyz) {
    offsets.push_back(static_cast<int64_t>(points.size() / 3));
    counts.push_back(static_cast<int64_t>(xyz.size() / 3));
    points.insert(points.end(), xyz.begin(), xyz.end());
  }
  size_t size() const { return counts.size(); }
  int64_t count(size_t i) const { return counts[i]; }
  const float* at(size_t i) const { return points.data() + 3 * offsets[i]; }
  float* at(size_t i) { return points.data() + 3 * offsets[i]; }
  std::vector<float> streamline(size_t i) const { return {at(i), at(i) + 3 * count(i)}; }
};

template <class T> std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <class T> std::vector<T> load(const std::string& path) {
  const std::string s = read_file(path);
  std::vector<T> v(s.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), s.data(), v.size() * sizeof(T));
  return v;
}

/// A double written so that Python parses back the same value.
std::string exact(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

/// Run streamline_reference.py with these arguments; true on success.
bool run_reference(const std::vector<std::string>& args) {
  std::string cmd = std::string(DWIPACK_PYTHON) + " " +
                    shell_quote(std::string(DWIPACK_TEST_PY_DIR) + "/streamline_reference.py");
  for (const auto& a : args)
    cmd += " " + shell_quote(a);
  const int rc = run_command(cmd);
  EXPECT_EQ(rc, 0) << cmd;
  return rc == 0;
}

/// Write a bundle as POINTS and COUNTS files in `dir`, return their paths.
std::pair<std::string, std::string>
write_bundle(const TempDir& dir, const std::string& name, const Bundle& b) {
  return {dir.write(name + ".f32", bytes_of(b.points)), dir.write(name + ".i64", bytes_of(b.counts))};
}

Bundle read_bundle(const std::string& points, const std::string& counts) {
  Bundle b;
  const auto p = load<float>(points);
  const auto c = load<int64_t>(counts);
  int64_t at = 0;
  for (int64_t n : c) {
    b.add(std::vector<float>(p.begin() + 3 * at, p.begin() + 3 * (at + n)));
    at += n;
  }
  EXPECT_EQ(static_cast<size_t>(3 * at), p.size());
  return b;
}

// ---------------------------------------------------------------------------------------------
// Comparison with a report of bit-exactness

bool same_float(float a, float b) {
  return bits(a) == bits(b) || (std::isnan(a) && std::isnan(b));
}

/// Compares `got` with `want` value by value: fails if a value is farther than `tol` (absolute,
/// or relative to |want| when `relative`), or if NaN-ness differs; counts bit-identical values
/// (NaN == NaN, but +0 != -0) and prints the tally. Returns true if every value is bit-identical.
bool compare(const std::string& what,
             const std::vector<float>& got,
             const std::vector<float>& want,
             double tol,
             bool relative = false) {
  EXPECT_EQ(got.size(), want.size()) << what;
  if (got.size() != want.size()) return false;
  size_t identical = 0;
  double worst = 0;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (same_float(got[i], want[i])) {
      ++identical;
      continue;
    }
    const double g = static_cast<double>(got[i]);
    const double w = static_cast<double>(want[i]);
    double err = std::fabs(g - w);
    if (relative && w != 0) err /= std::fabs(w);
    if (std::isnan(g) != std::isnan(w) || std::isnan(err)) err = std::numeric_limits<double>::infinity();
    worst = std::max(worst, err);
    if (reported++ < 5) {
      if (!(err <= tol))
        ADD_FAILURE() << what << ": value " << i << " is " << exact(g) << ", reference " << exact(w);
      else
        std::cout << "[ not exact ] " << what << ": value " << i << " is " << exact(g) << ", reference "
                  << exact(w) << "\n";
    }
  }
  std::cout << "[ bit-exact ] " << what << ": " << identical << "/" << got.size()
            << " values identical, worst difference " << worst << "\n";
  return identical == got.size();
}

// ---------------------------------------------------------------------------------------------
// Random streamlines (fixed seeds: std::mt19937 is the same everywhere; the distributions are
// libstdc++'s, which is fine since the reference sees the same floats)

using Vec3 = std::array<double, 3>;

/// A fibre-like random walk: `n` points, steps of length in [step_lo, step_hi], direction
/// drifting by `turn` per step.
std::vector<float>
random_walk(std::mt19937& rng, int64_t n, Vec3 start, double step_lo, double step_hi, double turn) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_real_distribution<double> len(step_lo, step_hi);
  Vec3 dir{u(rng), u(rng), u(rng)};
  Vec3 p = start;
  std::vector<float> xyz;
  for (int64_t i = 0; i < n; ++i) {
    for (size_t d = 0; d < 3; ++d)
      xyz.push_back(static_cast<float>(p[d]));
    for (size_t d = 0; d < 3; ++d)
      dir[d] += turn * u(rng);
    const double norm = std::sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    const double l = len(rng);
    for (size_t d = 0; d < 3; ++d)
      p[d] += l * dir[d] / norm;
  }
  return xyz;
}

/// A straight line from `a` to `b` with `n` points, each jittered by up to `noise` mm.
std::vector<float> noisy_line(std::mt19937& rng, int64_t n, Vec3 a, Vec3 b, double noise) {
  std::uniform_real_distribution<double> u(-noise, noise);
  std::vector<float> xyz;
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(n - 1);
    for (size_t d = 0; d < 3; ++d)
      xyz.push_back(static_cast<float>(a[d] + t * (b[d] - a[d]) + u(rng)));
  }
  return xyz;
}

std::vector<float> repeated(const std::vector<float>& point, int64_t n) {
  std::vector<float> xyz;
  for (int64_t i = 0; i < n; ++i)
    xyz.insert(xyz.end(), point.begin(), point.end());
  return xyz;
}

/// Random walks plus every edge case of the brief, in RAS mm. `with_long` adds a streamline of
/// 20000 points (more than numpy's 8192-element chunk); `with_nan` a streamline with a NaN.
Bundle edge_bundle(unsigned seed, bool with_long, bool with_nan) {
  std::mt19937 rng(seed);
  Bundle b;
  for (int i = 0; i < 40; ++i) {
    std::uniform_int_distribution<int> count(3, 150);
    std::uniform_real_distribution<double> pos(-60.0, 60.0);
    const double lo = i % 3 == 0 ? 0.05 : 0.4;
    b.add(random_walk(rng, count(rng), {pos(rng), pos(rng), pos(rng)}, lo, 1.6, 0.3));
  }
  b.add({1.5f, -2.25f, 3.0f});                                          // 1 point
  b.add({1.5f, -2.25f, 3.0f, 2.5f, -1.25f, 4.5f});                      // 2 points
  b.add({0.1f, 0.2f, 0.3f, 0.1f, 0.2f, 0.3f});                          // 2 equal points
  b.add(repeated({10.125f, -7.5f, 3.0625f}, 6));                        // zero length
  b.add({0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 2, 0, 0, 3, 1, 0});        // duplicates inside
  b.add(noisy_line(rng, 60, {-30, 5, 2}, {30, 7, -4}, 0.004));          // nearly collinear
  b.add(noisy_line(rng, 25, {0, 0, 0}, {90, 0, 0}, 0.0));               // 3.75 mm steps on a line
  b.add({0, 0, 0, 0.5f, 0.1f, 0, 25, 0, 0, 26, 3, 0, 60, 2, 1});        // long segments (> 10 mm)
  b.add(random_walk(rng, 80, {1000.0, -2000.0, 500.0}, 0.3, 1.2, 0.2)); // far from 0: coarse floats
  if (with_nan) {
    auto s = random_walk(rng, 12, {0, 0, 0}, 0.5, 1.0, 0.2);
    s[3 * 5 + 1] = kNaN;
    b.add(s);
  }
  if (with_long) b.add(random_walk(rng, 20000, {0, 0, 0}, 0.2, 1.0, 0.1));
  return b;
}

// ---------------------------------------------------------------------------------------------
// Hand-checked values (no Python)

/// 2 mm voxels, translation -10: voxel-corner coordinate c <-> RAS 2c - 11, exact in float32.
const Affine kBorderAffine{2, 0, 0, -10, 0, 2, 0, -10, 0, 0, 2, -10, 0, 0, 0, 1};

TEST(StreamlineBasics, LengthsOfAKnownPolyline) {
  const std::vector<float> s{0, 0, 0, 3, 4, 0, 3, 4, 12}; // segments 5 and 12
  EXPECT_EQ(euclidean_length(s.data(), 3), 17.0f);
  EXPECT_EQ(length_double(s.data(), 3), 17.0);
  EXPECT_EQ(euclidean_length(s.data(), 1), 0.0f);
  EXPECT_EQ(euclidean_length(s.data(), 0), 0.0f);
  EXPECT_EQ(length_double(s.data(), 1), 0.0);
}

TEST(StreamlineBasics, PairwiseSumOfSmallIntegersIsExact) {
  for (int64_t n : {0, 1, 7, 8, 9, 128, 129, 1000, 8192, 8193, 20000}) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] = static_cast<float>(i % 5);
    double want = 0;
    for (float x : v)
      want += static_cast<double>(x);
    EXPECT_EQ(static_cast<double>(pairwise_sum32(v.data(), n)), want) << "n=" << n;
  }
}

TEST(StreamlineBasics, PairwiseSumIsNotASequentialSum) {
  // 1 + 2^-24 * many: sequential float32 addition loses every small term, pairwise keeps them.
  std::vector<float> v(4096, 1.0f / 16777216.0f);
  v[0] = 1.0f;
  float sequential = 0.0f;
  for (float x : v)
    sequential += x;
  EXPECT_EQ(sequential, 1.0f);
  EXPECT_GT(pairwise_sum32(v.data(), static_cast<int64_t>(v.size())), 1.0f);
}

struct StepCase {
  const char* name;
  std::vector<float> xyz;
  double step;
  int64_t expected;
};

class StreamlineStepCount : public ::testing::TestWithParam<StepCase> {};

TEST_P(StreamlineStepCount, FollowsScilpy) {
  const StepCase& c = GetParam();
  EXPECT_EQ(step_size_point_count(c.xyz.data(), static_cast<int64_t>(c.xyz.size() / 3), c.step), c.expected);
}

const std::vector<float> kFive{0, 0, 0, 3, 4, 0}; // 5 mm

INSTANTIATE_TEST_SUITE_P(Streamline,
                         StreamlineStepCount,
                         ::testing::Values(StepCase{"one_point", {1, 2, 3}, 1.0, 0},
                                           StepCase{"no_point", {}, 1.0, 0},
                                           StepCase{"zero_length", {1, 2, 3, 1, 2, 3, 1, 2, 3}, 1.0, 0},
                                           StepCase{"nan_length", {0, 0, 0, kNaN, 0, 0}, 1.0, 0},
                                           StepCase{"infinite_length", {0, 0, 0, kInf, 0, 0}, 1.0, 0},
                                           StepCase{"longer_step_gives_2", kFive, 10.0, 2},
                                           StepCase{"equal_step_1_gives_2", kFive, 5.0, 2},
                                           StepCase{"exact_division_no_plus_one", kFive, 2.5, 2},
                                           StepCase{"ceil", kFive, 2.0, 3},
                                           StepCase{"small_step", kFive, 0.01, 500},
                                           StepCase{"zero_step", kFive, 0.0, 0},
                                           StepCase{"negative_step", kFive, -1.0, 0},
                                           StepCase{"nan_step", kFive, std::nan(""), 0}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(StreamlineBasics, SetNumberOfPointsOnAStraightLine) {
  const std::vector<float> line{0, 0, 0, 4, 0, 0, 10, 0, 0};
  std::vector<float> out(11 * 3, -1.0f);
  set_number_of_points(line.data(), 3, out.data(), 11);
  for (int i = 0; i < 11; ++i) {
    EXPECT_FLOAT_EQ(out[static_cast<size_t>(3 * i)], static_cast<float>(i)) << i;
    EXPECT_EQ(out[static_cast<size_t>(3 * i + 1)], 0.0f);
  }
  EXPECT_EQ(out[30], 10.0f); // last point is the original one
}

TEST(StreamlineBasics, SetNumberOfPointsDegenerateInputGivesZerosAndTheLastPoint) {
  // dipy's ArraySequence path: np.zeros, nothing written while the arc length is 0.
  for (const auto& in : {std::vector<float>{7, 8, 9}, repeated({7, 8, 9}, 4)}) {
    std::vector<float> out(4 * 3, -1.0f);
    set_number_of_points(in.data(), static_cast<int64_t>(in.size() / 3), out.data(), 4);
    EXPECT_THAT(out, ::testing::ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 8, 9));
  }
  std::vector<float> out(2 * 3);
  EXPECT_THROW(set_number_of_points(kFive.data(), 2, out.data(), 1), Error);
}

TEST(StreamlineBasics, CompressKeepsEndsOfStraightRunsAndCapsSegments) {
  std::vector<float> line;
  for (int i = 0; i <= 30; ++i)
    line.insert(line.end(), {static_cast<float>(i), 0, 0});
  std::vector<int64_t> kept;
  // Collinear: only the 10 mm cap keeps inner points (point 10 is 10 mm from 0, 11 is not).
  EXPECT_EQ(compress_streamline(line.data(), 31, 0.01, 10.0, kept), 4);
  EXPECT_THAT(kept, ::testing::ElementsAre(0, 10, 20, 30));
  EXPECT_EQ(compress_streamline(line.data(), 31, 0.01, 1000.0, kept), 2);
  EXPECT_THAT(kept, ::testing::ElementsAre(0, 30));
  // A corner is kept.
  const std::vector<float> corner{0, 0, 0, 1, 0, 0, 2, 0, 0, 2, 1, 0, 2, 2, 0};
  EXPECT_EQ(compress_streamline(corner.data(), 5, 0.01, 10.0, kept), 3);
  EXPECT_THAT(kept, ::testing::ElementsAre(0, 2, 4));
  // <= 2 points untouched.
  EXPECT_EQ(compress_streamline(corner.data(), 2, 0.01, 10.0, kept), 2);
  EXPECT_EQ(compress_streamline(corner.data(), 1, 0.01, 10.0, kept), 1);
  EXPECT_EQ(compress_streamline(corner.data(), 0, 0.01, 10.0, kept), 0);
  EXPECT_TRUE(kept.empty());
}

TEST(StreamlineBasics, InverseOfADiagonalAffineAndSingularAffine) {
  const Affine a{2, 0, 0, -10, 0, 4, 0, 6, 0, 0, 0.5, 1, 0, 0, 0, 1};
  const StreamlineSpace s = make_space(a, {10, 20, 30});
  const std::array<float, 12> want{0.5f, 0, 0, 5, 0, 0.25f, 0, -1.5f, 0, 0, 2, -2};
  for (size_t i = 0; i < 12; ++i)
    EXPECT_EQ(s.ras2vox.m[i], want[i]) << i;
  const Affine singular{1, 2, 3, 0, 2, 4, 6, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  EXPECT_THROW(make_space(singular, {1, 1, 1}), Error);
}

TEST(StreamlineBasics, EmptyStreamlinesPassTheChecksUntouched) {
  const StreamlineSpace s = make_space(kBorderAffine, {20, 24, 16});
  VoxelBounds bounds;
  EXPECT_TRUE(load_round_trip(s, nullptr, 0, &bounds));
  EXPECT_TRUE(bounds.valid(s.dimensions));
  EXPECT_TRUE(remove_invalid_round_trip(s, nullptr, 0));
  to_voxel_corner(s, nullptr, 0);
}

TEST(StreamlineBasics, VoxelBoundsFollowNumpyNanPropagation) {
  VoxelBounds b;
  EXPECT_TRUE(b.valid({10, 10, 10})); // nothing seen
  b.lo = {-1.0f, 0.0f, 0.0f};
  b.hi = {5.0f, 10.0f, 10.5f};
  EXPECT_FALSE(b.valid({10, 10, 10}));
  b.nan = {true, false, true}; // NaN on x and z: their checks are void, y is fine
  EXPECT_TRUE(b.valid({10, 10, 10}));
  VoxelBounds other;
  other.lo = {0.0f, -0.5f, 0.0f};
  other.hi = {1.0f, 1.0f, 1.0f};
  b.merge(other);
  EXPECT_FALSE(b.valid({10, 10, 10}));
}

TEST(StreamlineFused, ConvertToCornerIsBitIdenticalToTheSeparatePasses) {
  // convert_to_corner must give exactly load_round_trip + euclidean_length + to_voxel_corner, for
  // every length (SIMD groups of 4 and their scalar tails, numpy's 8192-element sum chunks),
  // oblique, flipped and identity affines, and the same bounding-box verdict.
  const std::vector<std::pair<Affine, std::array<int64_t, 3>>> spaces = {
      {{1.25, 0.1, -0.05, -60, -0.08, 1.25, 0.2, -70, 0.03, -0.1, 1.5, -40, 0, 0, 0, 1}, {96, 114, 80}},
      {{-2, 0, 0, 90, 0, 2, 0, -126, 0, 0, 2, -72, 0, 0, 0, 1}, {91, 109, 91}},
      {{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, {64, 64, 64}}, // identity: skipped affines
  };
  std::mt19937 rng(20261126);
  ConvertScratch scratch;
  int checked = 0, refused = 0;
  for (const auto& [vox2ras, dims] : spaces) {
    const StreamlineSpace s = make_space(vox2ras, dims);
    for (const int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 100, 257, 8193, 8194, 20000}) {
      for (const bool inside : {true, false}) {
        // A random walk in voxel space, mapped to RAS mm; `inside == false` pushes one point out.
        std::uniform_real_distribution<double> start(10.0, 50.0), step(-0.4, 0.4);
        std::vector<float> ras(static_cast<size_t>(3 * n));
        double v[3] = {start(rng), start(rng), start(rng)};
        for (int64_t i = 0; i < n; ++i) {
          for (double& c : v)
            c = std::clamp(c + step(rng), 1.0, 60.0);
          if (!inside && i == n / 2) v[1] = -3.0;
          for (int r = 0; r < 3; ++r)
            ras[static_cast<size_t>(3 * i + r)] =
                static_cast<float>(vox2ras[4 * r] * v[0] + vox2ras[4 * r + 1] * v[1] +
                                   vox2ras[4 * r + 2] * v[2] + vox2ras[4 * r + 3]);
        }
        std::vector<float> want = ras;
        const bool want_ok = load_round_trip(s, want.data(), n);
        const float want_length = euclidean_length(want.data(), n);
        to_voxel_corner(s, want.data(), n);

        std::vector<float> got(ras.size() + 1, -7.0f); // one guard value after the points
        float got_length = -1.0f;
        const bool got_ok = convert_to_corner(s, ras.data(), n, got.data(), got_length, scratch);
        ASSERT_EQ(got_ok, want_ok) << "n = " << n;
        EXPECT_EQ(got.back(), -7.0f) << "wrote past the end, n = " << n;
        if (!want_ok) {
          ++refused;
          continue;
        }
        got.pop_back();
        EXPECT_TRUE(same_bits(got, want)) << "n = " << n;
        EXPECT_EQ(bits(got_length), bits(want_length))
            << "n = " << n << ": " << got_length << " vs " << want_length;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 40);
  EXPECT_GT(refused, 30); // the out-of-box streamlines (n >= 1) were refused by both
}

// ---------------------------------------------------------------------------------------------
// Against numpy / dipy

TEST(StreamlineVsNumpy, PairwiseSumMatchesNpSum) {
  TempDir dir;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 3.0f);
  // Sizes around every branch of numpy's pairwise sum (8, 128) and its 8192-element chunks.
  const std::vector<int64_t> sizes{1,   2,   7,   8,    9,    15,   16,   17,    127,   128,   129,   130,
                                   255, 256, 257, 1000, 8191, 8192, 8193, 16384, 16385, 20000, 100001};
  std::vector<float> values;
  for (int64_t n : sizes)
    for (int64_t i = 0; i < n; ++i) // magnitudes over 2^-10..2^9, so the order of additions shows
      values.push_back(u(rng) * std::exp2(static_cast<float>(static_cast<int>(rng() % 20)) - 10.0f));
  ASSERT_TRUE(run_reference(
      {"sum", dir.write("v.f32", bytes_of(values)), dir.write("n.i64", bytes_of(sizes)), dir / "sum.f32"}));
  const auto want = load<float>(dir / "sum.f32");
  ASSERT_EQ(want.size(), sizes.size());
  std::vector<float> got;
  const float* at = values.data();
  for (int64_t n : sizes) {
    got.push_back(pairwise_sum32(at, n));
    at += n;
  }
  EXPECT_TRUE(compare("pairwise_sum32 vs np.sum", got, want, 0.0));
}

TEST(StreamlineVsDipy, LengthsMatchMetricsLengthAndCythonLength) {
  TempDir dir;
  const Bundle b = edge_bundle(21, true, true);
  const auto [pts, cnt] = write_bundle(dir, "in", b);
  ASSERT_TRUE(run_reference({"lengths", pts, cnt, dir / "l32", dir / "l64"}));
  const auto want32 = load<float>(dir / "l32");
  const auto want64 = load<double>(dir / "l64");
  ASSERT_EQ(want32.size(), b.size());
  ASSERT_EQ(want64.size(), b.size());
  std::vector<float> got32;
  size_t identical64 = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    got32.push_back(euclidean_length(b.at(i), b.count(i)));
    const double got64 = length_double(b.at(i), b.count(i));
    if (got64 == want64[i] || (std::isnan(got64) && std::isnan(want64[i])))
      ++identical64;
    else
      ADD_FAILURE() << "length_double of streamline " << i << ": " << exact(got64) << " vs dipy "
                    << exact(want64[i]);
  }
  EXPECT_TRUE(compare("euclidean_length vs dipy.tracking.utils.length", got32, want32, 1e-4, true));
  std::cout << "[ bit-exact ] length_double vs dipy Cython length: " << identical64 << "/" << b.size()
            << " identical\n";
  // The 20000-point streamline is the last one: its sum spans three numpy chunks.
  EXPECT_GT(b.count(b.size() - 1), 2 * 8192);
}

class StreamlineNbPoints : public ::testing::TestWithParam<int64_t> {};

TEST_P(StreamlineNbPoints, MatchesDipySetNumberOfPoints) {
  const int64_t n_out = GetParam();
  TempDir dir;
  const Bundle b = edge_bundle(31, true, true);
  const auto [pts, cnt] = write_bundle(dir, "in", b);
  ASSERT_TRUE(run_reference({"nb_points", pts, cnt, std::to_string(n_out), dir / "out.f32"}));
  const auto want = load<float>(dir / "out.f32");
  std::vector<float> got(b.size() * static_cast<size_t>(3 * n_out));
  for (size_t i = 0; i < b.size(); ++i)
    set_number_of_points(b.at(i), b.count(i), got.data() + i * static_cast<size_t>(3 * n_out), n_out);
  EXPECT_TRUE(compare("set_number_of_points(" + std::to_string(n_out) + ") vs dipy", got, want, 1e-4));
}

INSTANTIATE_TEST_SUITE_P(Streamline, StreamlineNbPoints, ::testing::Values(2, 3, 12, 128, 1000));

class StreamlineStepSize : public ::testing::TestWithParam<double> {};

TEST_P(StreamlineStepSize, MatchesScilpyRecipe) {
  const double step = GetParam();
  TempDir dir;
  // No 20000-point streamline here: at 0.01 mm it would make a million points per streamline.
  const Bundle b = edge_bundle(41, false, true);
  const auto [pts, cnt] = write_bundle(dir, "in", b);
  ASSERT_TRUE(run_reference({"step_size", pts, cnt, exact(step), dir / "out.f32", dir / "out.i64"}));
  const Bundle want = read_bundle(dir / "out.f32", dir / "out.i64");
  ASSERT_EQ(want.size(), b.size());
  std::vector<float> got;
  size_t unresampled = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const int64_t m = step_size_point_count(b.at(i), b.count(i), step);
    EXPECT_EQ(m, want.count(i)) << "point count of streamline " << i;
    if (m == 0) {
      ++unresampled;
      continue;
    }
    std::vector<float> out(static_cast<size_t>(3 * m));
    set_number_of_points(b.at(i), b.count(i), out.data(), m);
    got.insert(got.end(), out.begin(), out.end());
  }
  EXPECT_EQ(unresampled, 4u); // 1 point, 2 equal points, zero length, NaN
  EXPECT_TRUE(compare("step size " + exact(step) + " vs scilpy/dipy", got, want.points, 1e-4));
}

// 0.01 is smaller than every segment; 1000 longer than every streamline (n = 2).
INSTANTIATE_TEST_SUITE_P(Streamline, StreamlineStepSize, ::testing::Values(0.01, 0.37, 1.0, 2.5, 1000.0));

struct CompressCase {
  const char* name;
  double tol;
  double max_segment;
};

class StreamlineCompress : public ::testing::TestWithParam<CompressCase> {};

TEST_P(StreamlineCompress, KeepsExactlyDipysPoints) {
  const CompressCase c = GetParam();
  TempDir dir;
  const Bundle b = edge_bundle(51, true, true);
  const auto [pts, cnt] = write_bundle(dir, "in", b);
  ASSERT_TRUE(run_reference(
      {"compress", pts, cnt, exact(c.tol), exact(c.max_segment), dir / "out.f32", dir / "out.i64"}));
  const Bundle want = read_bundle(dir / "out.f32", dir / "out.i64");
  ASSERT_EQ(want.size(), b.size());
  std::vector<int64_t> kept;
  std::vector<float> got;
  for (size_t i = 0; i < b.size(); ++i) {
    const int64_t m = compress_streamline(b.at(i), b.count(i), c.tol, c.max_segment, kept);
    ASSERT_EQ(m, static_cast<int64_t>(kept.size()));
    EXPECT_EQ(m, want.count(i)) << "kept points of streamline " << i;
    for (int64_t k : kept)
      got.insert(got.end(), b.at(i) + 3 * k, b.at(i) + 3 * k + 3);
  }
  // A subset of the original points: nothing but bit-identical values is acceptable.
  EXPECT_TRUE(compare(std::string("compress ") + c.name + " vs dipy", got, want.points, 0.0));
}

INSTANTIATE_TEST_SUITE_P(Streamline,
                         StreamlineCompress,
                         ::testing::Values(CompressCase{"tol_0_01", 0.01, 10.0},
                                           CompressCase{"tol_0_1", 0.1, 10.0},
                                           CompressCase{"tol_0_5_max_2", 0.5, 2.0},
                                           CompressCase{"tol_5_max_1000", 5.0, 1000.0}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// ---------------------------------------------------------------------------------------------
// Affines and the StatefulTractogram round trips

/// R (rotation about x, y, z) * diag(voxel sizes) + small shear, with translation: an oblique
/// scanner-like vox2ras.
Affine oblique_affine(Vec3 angles, Vec3 voxel, Vec3 translation, double shear) {
  const double cx = std::cos(angles[0]), sx = std::sin(angles[0]);
  const double cy = std::cos(angles[1]), sy = std::sin(angles[1]);
  const double cz = std::cos(angles[2]), sz = std::sin(angles[2]);
  const double rx[9] = {1, 0, 0, 0, cx, -sx, 0, sx, cx};
  const double ry[9] = {cy, 0, sy, 0, 1, 0, -sy, 0, cy};
  const double rz[9] = {cz, -sz, 0, sz, cz, 0, 0, 0, 1};
  auto mul = [](const double* a, const double* b, double* out) {
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
  };
  double t1[9], rot[9];
  mul(rz, ry, t1);
  mul(t1, rx, rot);
  Affine a{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c)
      a[static_cast<size_t>(4 * r + c)] = rot[3 * r + c] * voxel[static_cast<size_t>(c)];
    a[static_cast<size_t>(4 * r + 3)] = translation[static_cast<size_t>(r)];
  }
  a[1] += shear;
  a[15] = 1;
  return a;
}

Vec3 vox_to_ras(const Affine& a, Vec3 v) {
  Vec3 p{};
  for (size_t r = 0; r < 3; ++r)
    p[r] = a[4 * r] * v[0] + a[4 * r + 1] * v[1] + a[4 * r + 2] * v[2] + a[4 * r + 3];
  return p;
}

std::vector<float> to_ras(const Affine& a, const std::vector<double>& vox_xyz) {
  std::vector<float> out;
  for (size_t i = 0; i < vox_xyz.size(); i += 3) {
    const Vec3 p = vox_to_ras(a, {vox_xyz[i], vox_xyz[i + 1], vox_xyz[i + 2]});
    for (double v : p)
      out.push_back(static_cast<float>(v));
  }
  return out;
}

const Affine kOblique = oblique_affine({0.31, -0.22, 0.15}, {1.25, 1.1, 2.0}, {-80.3, -95.7, -60.1}, 0.07);
const Affine kLps = {-1.5, 0, 0, 90.25, 0, -1.5, 0, 126.5, 0, 0, 1.5, -72.75, 0, 0, 0, 1};

TEST(StreamlineVsNibabel, ApplyAffineAndInverseAreBitExact) {
  TempDir dir;
  std::mt19937 rng(61);
  std::uniform_real_distribution<float> u(-200.0f, 200.0f);
  std::vector<float> pts;
  for (int i = 0; i < 3000; ++i)
    pts.push_back(u(rng) * (i % 7 == 0 ? 1e-3f : 1.0f));
  // Signed zeros, tiny and huge values, and non-finite ones (inf * 0 = NaN in BLAS).
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 3e30f, kInf, -kInf, kNaN})
    pts.insert(pts.end(), {v, -0.0f, 1.0f, 0.0f, v, -0.0f, 0.0f, 0.0f, v, v, v, v});
  const std::vector<Affine> affines{
      kOblique, kLps, dwipack::identity_affine(),
      oblique_affine({1.2, 0.4, -2.1}, {0.7, 3.3, 1.0}, {12345.678, -0.001, 3e-7}, -0.3),
      Affine{2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1},
      // -0.0 translation: only then does the sign of a zero sum survive (BLAS starts from +0)
      Affine{2, 0, 0, -0.0, 0, -3, 0, -0.0, 0, 0, 0.5, -0.0, 0, 0, 0, 1}};
  for (size_t k = 0; k < affines.size(); ++k) {
    const std::string in = dir.write("pts.f32", bytes_of(pts));
    const std::string aff =
        dir.write("aff.f64", bytes_of(std::vector<double>(affines[k].begin(), affines[k].end())));
    ASSERT_TRUE(run_reference({"affine", aff, in, dir / "out.f32", dir / "inv.f32"}));
    const Affine32 a32 = to_affine32(affines[k]);
    std::vector<float> got = pts;
    apply_affine32(a32, got.data(), static_cast<int64_t>(got.size() / 3));
    EXPECT_TRUE(compare("apply_affine32 #" + std::to_string(k) + " vs nibabel", got,
                        load<float>(dir / "out.f32"), 0.0));
    const auto inv = load<float>(dir / "inv.f32");
    ASSERT_EQ(inv.size(), 16u);
    const Affine32 i32 = inverse32(a32);
    EXPECT_TRUE(compare("inverse32 #" + std::to_string(k) + " vs np.linalg.inv",
                        std::vector<float>(i32.m.begin(), i32.m.end()),
                        std::vector<float>(inv.begin(), inv.begin() + 12), 0.0));
  }
}

struct SpaceCase {
  const char* name;
  Affine affine;
  std::array<int64_t, 3> dims;
  std::function<Bundle(const Affine&, const std::array<int64_t, 3>&)> make;
  bool file_valid; ///< dipy's verdict for the whole file, stated here so the case means something
};

/// Random walks in voxel space (inside the volume, or leaving it when `escape`), mapped to RAS.
Bundle
voxel_walks(const Affine& a, const std::array<int64_t, 3>& dims, unsigned seed, int count, bool escape) {
  std::mt19937 rng(seed);
  Bundle b;
  for (int i = 0; i < count; ++i) {
    std::uniform_int_distribution<int> n(2, 60);
    Vec3 start{};
    for (size_t d = 0; d < 3; ++d) {
      std::uniform_real_distribution<double> u(0.3 * static_cast<double>(dims[d]),
                                               0.7 * static_cast<double>(dims[d]));
      start[d] = u(rng);
    }
    const auto walk = random_walk(rng, n(rng), start, 0.1, escape && i % 4 == 0 ? 3.0 : 0.4, 0.3);
    b.add(to_ras(a, std::vector<double>(walk.begin(), walk.end())));
  }
  return b;
}

Bundle with_nan_on_x(const Affine& a, const std::array<int64_t, 3>& dims, Bundle b) {
  (void)dims;
  auto s = to_ras(a, {10.0, 10.0, 10.0, 11.0, 10.5, 10.2, 12.0, 11.0, 10.4});
  s[3] = kNaN;
  b.add(s);
  return b;
}

/// Points exactly on the voxel-corner borders 0 and dim, just outside them, and around the
/// remove_invalid epsilon. For kBorderAffine (2 mm, translation -10) everything is exact in
/// float32: corner coordinate c <-> RAS 2c - 11.

Bundle border_points(const Affine&, const std::array<int64_t, 3>& dims) {
  Bundle b;
  const float center = 9.0f; // corner 10
  std::vector<float> ras_values;
  for (size_t axis = 0; axis < 3; ++axis) {
    const auto dim = static_cast<float>(dims[axis]);
    const float on_low = -11.0f, on_high = 2.0f * dim - 11.0f;
    for (float v :
         {on_low, std::nextafter(on_low, -kInf), std::nextafter(on_low, kInf), on_high,
          std::nextafter(on_high, kInf), std::nextafter(on_high, -kInf),
          // corner 1e-3 and dim - 1e-3, and their neighbours (remove_invalid's epsilon)
          2.0f * 1e-3f - 11.0f, 2.0f * 0.00099f - 11.0f, 2.0f * 0.00101f - 11.0f,
          2.0f * (dim - 1e-3f) - 11.0f, 2.0f * (dim - 0.00099f) - 11.0f, 2.0f * (dim - 0.00101f) - 11.0f,
          // clearly (1e-5 voxel) outside: one ulp above 2 dim - 11 can round back onto the border
          2.0f * -1e-5f - 11.0f, 2.0f * (dim + 1e-5f) - 11.0f}) {
      std::vector<float> s{center, center, center, center, center, center};
      s[3 + axis] = v;
      b.add(s);
    }
  }
  return b;
}

/// Identity affine: nibabel skips it, so +inf stays +inf and fails the check (had it been
/// multiplied, inf * 0 = NaN would pass).
Bundle identity_specials(const Affine&, const std::array<int64_t, 3>&) {
  Bundle b;
  b.add({50.0f, 50.0f, 50.0f, kInf, 50.0f, 50.0f});
  b.add({50.0f, -0.0f, 50.0f, 49.5f, 0.0f, 50.25f});
  b.add({50.0f, 50.0f, 50.0f, 51.0f, 52.0f, 53.0f});
  b.add({-0.5f, -0.5f, -0.5f, 99.5f, 99.5f, 99.5f});
  // NaN with a coordinate below 0: np.min of the row is NaN, so remove_invalid keeps it (the bbox
  // check still sees y < 0); NaN with a coordinate above dim: removed.
  b.add({50.0f, 50.0f, 50.0f, kNaN, -5.0f, 50.0f});
  b.add({50.0f, 50.0f, 50.0f, kNaN, 150.0f, 50.0f});
  return b;
}

class StreamlineVsStatefulTractogram : public ::testing::TestWithParam<SpaceCase> {};

TEST_P(StreamlineVsStatefulTractogram, RoundTripsChecksAndRemoval) {
  const SpaceCase& c = GetParam();
  TempDir dir;
  const Bundle b = c.make(c.affine, c.dims);
  const auto [pts, cnt] = write_bundle(dir, "in", b);
  const std::string aff =
      dir.write("aff.f64", bytes_of(std::vector<double>(c.affine.begin(), c.affine.end())));
  const std::string dims =
      dir.write("dims.i64", bytes_of(std::vector<int64_t>(c.dims.begin(), c.dims.end())));
  ASSERT_TRUE(run_reference({"sft", aff, dims, pts, cnt, dir / "out"}));

  const StreamlineSpace space = make_space(c.affine, c.dims);
  const auto inv = load<float>(dir / "out/inv.f32");
  ASSERT_EQ(inv.size(), 16u);
  EXPECT_TRUE(compare(std::string(c.name) + ": inverse32 vs dipy's _inv_affine",
                      std::vector<float>(space.ras2vox.m.begin(), space.ras2vox.m.end()),
                      std::vector<float>(inv.begin(), inv.begin() + 12), 0.0));

  // load_tractogram: bbox verdicts (per streamline and per file) and the round trip.
  Bundle round = b;
  VoxelBounds bounds;
  const auto each = load<uint8_t>(dir / "out/bbox_each.u8");
  ASSERT_EQ(each.size(), b.size());
  size_t invalid = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const bool ok = load_round_trip(space, round.at(i), round.count(i), &bounds);
    EXPECT_EQ(ok, each[i] != 0) << "bbox verdict of streamline " << i;
    invalid += ok ? 0 : 1;
  }
  const auto file = load<uint8_t>(dir / "out/bbox_file.u8");
  ASSERT_EQ(file.size(), 1u);
  EXPECT_EQ(file[0] != 0, c.file_valid) << "the case's premise about dipy";
  EXPECT_EQ(bounds.valid(c.dims), file[0] != 0) << "file-level bbox verdict";
  std::cout << "[ info      ] " << c.name << ": " << invalid << "/" << b.size()
            << " streamlines fail the bbox check alone\n";
  EXPECT_TRUE(compare(std::string(c.name) + ": load round trip vs is_bbox_in_vox_valid", round.points,
                      load<float>(dir / "out/roundtrip.f32"), 1e-4));

  // Final storage: to_vox(); to_corner().
  Bundle corner = round;
  for (size_t i = 0; i < corner.size(); ++i)
    to_voxel_corner(space, corner.at(i), corner.count(i));
  EXPECT_TRUE(compare(std::string(c.name) + ": to_voxel_corner vs to_vox();to_corner()", corner.points,
                      load<float>(dir / "out/corner.f32"), 1e-4));

  // remove_invalid_streamlines on the input points.
  std::vector<int64_t> kept;
  std::vector<float> kept_points;
  for (size_t i = 0; i < b.size(); ++i) {
    std::vector<float> s = b.streamline(i);
    if (remove_invalid_round_trip(space, s.data(), b.count(i))) {
      kept.push_back(static_cast<int64_t>(i));
      kept_points.insert(kept_points.end(), s.begin(), s.end());
    }
  }
  EXPECT_EQ(kept, load<int64_t>(dir / "out/kept.i64")) << "kept streamlines";
  std::cout << "[ info      ] " << c.name << ": remove_invalid keeps " << kept.size() << "/" << b.size()
            << "\n";
  EXPECT_TRUE(compare(std::string(c.name) + ": remove_invalid round trip vs dipy", kept_points,
                      load<float>(dir / "out/kept.f32"), 1e-4));
}

INSTANTIATE_TEST_SUITE_P(
    Streamline,
    StreamlineVsStatefulTractogram,
    ::testing::Values(
        SpaceCase{
            "oblique_mixed",
            kOblique,
            {64, 72, 40},
            [](const Affine& a, const std::array<int64_t, 3>& d) { return voxel_walks(a, d, 71, 120, true); },
            false},
        SpaceCase{"oblique_inside_with_nan",
                  kOblique,
                  {64, 72, 40},
                  [](const Affine& a, const std::array<int64_t, 3>& d) {
                    return with_nan_on_x(a, d, voxel_walks(a, d, 72, 60, false));
                  },
                  true},
        SpaceCase{"nan_hides_other_streamlines_x",
                  kOblique,
                  {64, 72, 40},
                  [](const Affine& a, const std::array<int64_t, 3>& d) {
                    Bundle b = voxel_walks(a, d, 73, 10, false);
                    b.add(to_ras(a, {-3.0, 30.0, 20.0, 5.0, 30.0, 20.0})); // x < 0 in voxels
                    return with_nan_on_x(a, d, b);
                  },
                  true},
        SpaceCase{
            "lps_walks",
            kLps,
            {120, 150, 90},
            [](const Affine& a, const std::array<int64_t, 3>& d) { return voxel_walks(a, d, 74, 80, true); },
            false},
        SpaceCase{"exact_borders", kBorderAffine, {20, 24, 16}, border_points, false},
        SpaceCase{"identity_skip", dwipack::identity_affine(), {100, 100, 100}, identity_specials, false}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

} // namespace
