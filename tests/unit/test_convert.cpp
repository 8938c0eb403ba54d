// process::convert_frames and nibabel_scaling on small hand-made arrays (no files): transpose order,
// feature offsets, byte swapping, and nibabel's scaling rules and rounding.
#include "dwipack/error.hpp"
#include "dwipack/process/convert.hpp"

#include "support/compare.hpp"
#include <gmock/gmock.h>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nifti1.h>

using dwipack::Error;
using dwipack::process::convert_frames;
using dwipack::process::datatype_name;
using dwipack::process::datatype_size;
using dwipack::process::nibabel_scaling;
using dwipack::process::Precision;
using dwipack::process::Scaling;
using testing::HasSubstr;
using testing::ThrowsMessage;

using dwipack::test::bits;
using dwipack::test::load_raw;
using dwipack::test::same_bits;

namespace {

using Shape = std::array<int64_t, 3>;

template <class T> std::vector<unsigned char> to_bytes(const std::vector<T>& values, bool swap) {
  std::vector<unsigned char> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  if (swap)
    for (size_t i = 0; i < values.size(); ++i)
      for (size_t a = 0, b = sizeof(T) - 1; a < b; ++a, --b)
        std::swap(out[i * sizeof(T) + a], out[i * sizeof(T) + b]);
  return out;
}

/// The transposition written the slow, obvious way: out[x][y][z][f_offset + t] = in[t][z][y][x].
std::vector<float> naive_transpose(
    const std::vector<float>& in, Shape s, int64_t frames, int64_t f_total, int64_t f_offset, float fill) {
  std::vector<float> out(static_cast<size_t>(s[0] * s[1] * s[2] * f_total), fill);
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t z = 0; z < s[2]; ++z)
      for (int64_t y = 0; y < s[1]; ++y)
        for (int64_t x = 0; x < s[0]; ++x)
          out[static_cast<size_t>(((x * s[1] + y) * s[2] + z) * f_total + f_offset + t)] =
              in[static_cast<size_t>(t * s[0] * s[1] * s[2] + x + s[0] * (y + s[1] * z))];
  return out;
}

TEST(ConvertFrames, TransposesNiftiOrderIntoCOrderWithFramesLast) {
  const Shape shape{4, 3, 2}; // X != Y != Z, so a wrong axis order cannot pass
  const int64_t frames = 2;
  std::vector<int16_t> raw;
  for (int t = 0; t < frames; ++t)
    for (int z = 0; z < 2; ++z)
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x)
          raw.push_back(static_cast<int16_t>(x + 10 * y + 100 * z + 1000 * t));
  std::vector<float> out(4 * 3 * 2 * 2, -1.0f);
  convert_frames(raw.data(), NIFTI_TYPE_INT16, false, Scaling{}, shape, frames, out.data(), 2, 0);
  for (int x = 0; x < 4; ++x)
    for (int y = 0; y < 3; ++y)
      for (int z = 0; z < 2; ++z)
        for (int t = 0; t < 2; ++t)
          EXPECT_EQ(out[static_cast<size_t>(((x * 3 + y) * 2 + z) * 2 + t)], x + 10 * y + 100 * z + 1000 * t)
              << "x=" << x << " y=" << y << " z=" << z << " t=" << t;
}

TEST(ConvertFrames, WritesOnlyItsFeaturesOfAWiderArray) {
  const Shape shape{3, 2, 5};
  std::vector<float> raw(3 * 2 * 5 * 2);
  for (size_t i = 0; i < raw.size(); ++i)
    raw[i] = static_cast<float>(i) + 0.5f;
  const float sentinel = -777.0f;
  std::vector<float> out(3 * 2 * 5 * 6, sentinel);
  convert_frames(raw.data(), NIFTI_TYPE_FLOAT32, false, Scaling{}, shape, 2, out.data(), 6, 3);
  EXPECT_EQ(out, naive_transpose(raw, shape, 2, 6, 3, sentinel));
}

TEST(ConvertFrames, TilingMatchesNaiveTransposeOnAwkwardShapes) {
  // x beyond one 64-wide tile, z beyond a 16-deep tile, and more frames than fit in one tile
  for (const auto& [shape, frames] : std::vector<std::pair<Shape, int64_t>>{
           {{70, 3, 35}, 3}, {{130, 2, 17}, 1}, {{2, 1, 3}, 2100}, {{1, 1, 1}, 5}, {{65, 5, 1}, 40}}) {
    SCOPED_TRACE(testing::Message() << shape[0] << "x" << shape[1] << "x" << shape[2] << "x" << frames);
    const int64_t n = shape[0] * shape[1] * shape[2] * frames;
    std::vector<float> raw(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      raw[static_cast<size_t>(i)] = static_cast<float>(i);
    const int64_t f_total = frames + 2;
    std::vector<float> out(static_cast<size_t>(shape[0] * shape[1] * shape[2] * f_total), -1.0f);
    convert_frames(raw.data(), NIFTI_TYPE_FLOAT32, false, Scaling{}, shape, frames, out.data(), f_total, 1);
    EXPECT_EQ(out, naive_transpose(raw, shape, frames, f_total, 1, -1.0f));
  }
}

TEST(ConvertFrames, XRangesTouchOnlyTheirPartAndJoinToTheWhole) {
  // convert_frames over x in [0, s) and [s, nx), in either order: the same array as one call, and
  // each call leaves the other part alone
  for (const auto& [shape, frames] : std::vector<std::pair<Shape, int64_t>>{
           {{70, 3, 35}, 3}, {{130, 2, 17}, 1}, {{1, 2, 2}, 5}, {{9, 4, 3}, 7}}) {
    const int64_t n = shape[0] * shape[1] * shape[2] * frames;
    std::vector<float> raw(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      raw[static_cast<size_t>(i)] = static_cast<float>(i);
    const int64_t f_total = frames + 2;
    const std::vector<float> want = naive_transpose(raw, shape, frames, f_total, 1, -1.0f);
    for (const int64_t split : {int64_t{0}, shape[0] / 2, shape[0]}) {
      SCOPED_TRACE(testing::Message()
                   << shape[0] << "x" << shape[1] << "x" << shape[2] << "x" << frames << " split " << split);
      std::vector<float> out(want.size(), -1.0f);
      convert_frames(raw.data(), NIFTI_TYPE_FLOAT32, false, Scaling{}, shape, frames, out.data(), f_total, 1,
                     {split, shape[0]});
      const size_t first_part = static_cast<size_t>(split * shape[1] * shape[2] * f_total);
      for (size_t i = 0; i < first_part; ++i)
        ASSERT_EQ(out[i], -1.0f) << i;
      convert_frames(raw.data(), NIFTI_TYPE_FLOAT32, false, Scaling{}, shape, frames, out.data(), f_total, 1,
                     {0, split});
      EXPECT_EQ(out, want);
    }
  }
  float out = 0;
  const int16_t raw = 1;
  EXPECT_THAT(
      [&] {
        convert_frames(&raw, NIFTI_TYPE_INT16, false, Scaling{}, {1, 1, 1}, 1, &out, 1, 0, {0, 2});
      },
      ThrowsMessage<Error>(HasSubstr("invalid x range")));
}

template <class T> void check_byte_swap(int datatype, const std::vector<T>& values) {
  SCOPED_TRACE(datatype_name(datatype));
  const Shape shape{static_cast<int64_t>(values.size()), 1, 1};
  std::vector<float> native(values.size()), swapped(values.size());
  const auto le = to_bytes(values, false), be = to_bytes(values, true);
  convert_frames(le.data(), datatype, false, Scaling{}, shape, 1, native.data(), 1, 0);
  convert_frames(be.data(), datatype, true, Scaling{}, shape, 1, swapped.data(), 1, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(bits(native[i]), bits(swapped[i])) << i;
    if constexpr (std::is_integral_v<T>) {
      EXPECT_EQ(native[i], static_cast<float>(static_cast<double>(values[i])));
    }
  }
}

TEST(ConvertFrames, ByteSwapsEveryDatatype) {
  check_byte_swap<uint8_t>(NIFTI_TYPE_UINT8, {0, 1, 200, 255});
  check_byte_swap<int8_t>(NIFTI_TYPE_INT8, {-128, -1, 0, 127});
  check_byte_swap<int16_t>(NIFTI_TYPE_INT16, {-32768, -2, 258, 32767});
  check_byte_swap<uint16_t>(NIFTI_TYPE_UINT16, {0, 258, 65535, 4660});
  check_byte_swap<int32_t>(NIFTI_TYPE_INT32, {-2147483647 - 1, -5, 16909060, 2147483647});
  check_byte_swap<uint32_t>(NIFTI_TYPE_UINT32, {0, 16909060, 4294967295u, 7});
  check_byte_swap<int64_t>(NIFTI_TYPE_INT64, {INT64_MIN, -3, 72623859790382856LL, INT64_MAX});
  check_byte_swap<uint64_t>(NIFTI_TYPE_UINT64, {0, 72623859790382856ULL, UINT64_MAX, 9});
  check_byte_swap<float>(NIFTI_TYPE_FLOAT32, {-0.0f, 1.5f, std::numeric_limits<float>::infinity(),
                                              std::numeric_limits<float>::quiet_NaN(), 1e-40f});
  check_byte_swap<double>(NIFTI_TYPE_FLOAT64,
                          {-0.0, 1.5, -1e300, std::numeric_limits<double>::quiet_NaN(), 0.1});

  // and the swap really happens: big-endian int16 0x0102 is 258
  const unsigned char be[2] = {0x01, 0x02};
  float v = 0;
  convert_frames(be, NIFTI_TYPE_INT16, true, Scaling{}, {1, 1, 1}, 1, &v, 1, 0);
  EXPECT_EQ(v, 258.0f);
}

TEST(ConvertFrames, KeepsNanInfAndNegativeZeroBitForBit) {
  const std::vector<float> values{std::numeric_limits<float>::quiet_NaN(),
                                  -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::infinity(), -0.0f, 1e-45f};
  std::vector<float> out(values.size());
  convert_frames(values.data(), NIFTI_TYPE_FLOAT32, false, Scaling{}, {5, 1, 1}, 1, out.data(), 1, 0);
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(bits(out[i]), bits(values[i])) << i;
}

TEST(ConvertFrames, Int64RoundsThroughFloat64LikeNumpy) {
  // 2^60 + 2^36 + 1: a direct cast gives 2^60 + 2^37; numpy goes through float64 (2^60 + 2^36,
  // a tie) and rounds to even: 2^60.
  const std::vector<int64_t> values{(int64_t{1} << 60) + (int64_t{1} << 36) + 1};
  float out = 0;
  convert_frames(values.data(), NIFTI_TYPE_INT64, false, Scaling{}, {1, 1, 1}, 1, &out, 1, 0);
  EXPECT_EQ(out, std::ldexp(1.0f, 60));
}

TEST(ConvertFrames, Float32ScalingRoundsAfterMultiplyAndAfterAdd) {
  // 4097 * (1 + 2^-12) = 4098 + 2^-12 exactly, a tie in float32 that rounds to 4098; minus 4098
  // gives 0. A fused multiply-add would keep the 2^-12.
  const Scaling s = nibabel_scaling(NIFTI_TYPE_INT16, 1.0 + std::ldexp(1.0, -12), -4098.0);
  ASSERT_EQ(s.multiply_precision, Precision::f32);
  const int16_t raw = 4097;
  float out = -1;
  convert_frames(&raw, NIFTI_TYPE_INT16, false, s, {1, 1, 1}, 1, &out, 1, 0);
  EXPECT_EQ(bits(out), bits(0.0f));
}

TEST(ConvertFrames, Float64ScalingRoundsAfterMultiplyAndAfterAdd) {
  // The same tie one level up: (2^27 + 1) * (1 + 2^-27) = 2^27 + 2 + 2^-27 rounds (tie to even) to
  // 2^27 + 2 in float64.
  const double slope = 1.0 + std::ldexp(1.0, -27);
  const double inter = -(std::ldexp(1.0, 27) + 2.0);
  Scaling s;
  s.multiply = s.add = true;
  s.multiply_precision = s.add_precision = Precision::f64;
  s.slope = slope;
  s.inter = inter;
  const int32_t raw = (1 << 27) + 1;
  float out = -1;
  convert_frames(&raw, NIFTI_TYPE_INT32, false, s, {1, 1, 1}, 1, &out, 1, 0);
  EXPECT_EQ(bits(out), bits(0.0f));
}

TEST(ConvertFrames, AppliesScalingToEveryType) {
  const Scaling s = nibabel_scaling(NIFTI_TYPE_UINT8, 2.5, 10);
  const uint8_t raw[3] = {0, 1, 255};
  float out[3];
  convert_frames(raw, NIFTI_TYPE_UINT8, false, s, {3, 1, 1}, 1, out, 1, 0);
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[1], 12.5f);
  EXPECT_EQ(out[2], 647.5f);

  const Scaling add_only = nibabel_scaling(NIFTI_TYPE_FLOAT64, 1, -0.5);
  const double d[2] = {1.0, std::numeric_limits<double>::infinity()};
  convert_frames(d, NIFTI_TYPE_FLOAT64, false, add_only, {2, 1, 1}, 1, out, 1, 0);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], std::numeric_limits<float>::infinity());
}

TEST(ConvertFrames, RefusesUnsupportedDatatypesAndBadRanges) {
  float out[4];
  const unsigned char raw[64] = {};
  EXPECT_THAT(
      [&] {
        convert_frames(raw, NIFTI_TYPE_COMPLEX64, false, Scaling{}, {1, 1, 1}, 1, out, 1, 0);
      },
      ThrowsMessage<Error>(HasSubstr("datatype complex64 (code 32) is not supported")));
  EXPECT_THAT(
      [&] {
        convert_frames(raw, NIFTI_TYPE_INT16, false, Scaling{}, {1, 1, 1}, 2, out, 2, 1);
      },
      ThrowsMessage<Error>(HasSubstr("invalid shape or feature range")));
}

TEST(ConvertDatatypes, SizesAndNames) {
  struct Row {
    int code;
    int size;
    const char* name;
  };
  for (const Row& r : std::vector<Row>{{NIFTI_TYPE_UINT8, 1, "uint8"},
                                       {NIFTI_TYPE_INT8, 1, "int8"},
                                       {NIFTI_TYPE_INT16, 2, "int16"},
                                       {NIFTI_TYPE_UINT16, 2, "uint16"},
                                       {NIFTI_TYPE_INT32, 4, "int32"},
                                       {NIFTI_TYPE_UINT32, 4, "uint32"},
                                       {NIFTI_TYPE_INT64, 8, "int64"},
                                       {NIFTI_TYPE_UINT64, 8, "uint64"},
                                       {NIFTI_TYPE_FLOAT32, 4, "float32"},
                                       {NIFTI_TYPE_FLOAT64, 8, "float64"},
                                       {NIFTI_TYPE_COMPLEX64, 0, "complex64"},
                                       {NIFTI_TYPE_COMPLEX128, 0, "complex128"},
                                       {NIFTI_TYPE_RGB24, 0, "rgb24"},
                                       {NIFTI_TYPE_RGBA32, 0, "rgba32"},
                                       {NIFTI_TYPE_FLOAT128, 0, "float128"},
                                       {DT_BINARY, 0, "binary"},
                                       {12345, 0, "unknown"}}) {
    EXPECT_EQ(datatype_size(r.code), r.size) << r.name;
    EXPECT_STREQ(datatype_name(r.code), r.name);
  }
}

// ---- nibabel's scaling rules, one row per rule ---------------------------------------------------

struct ScalingRow {
  const char* what;
  int datatype;
  double slope, inter;
  bool multiply, add;
  Precision multiply_precision, add_precision;
  double used_slope, used_inter;
  const char* error; ///< nullptr: no error expected
};

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();
constexpr auto f32 = Precision::f32;
constexpr auto f64 = Precision::f64;
constexpr auto f80 = Precision::f80;

const ScalingRow scaling_rows[] = {
    {"slope NaN: no scaling", NIFTI_TYPE_INT16, nan_v, 3, false, false, f32, f32, 1, 0, nullptr},
    {"slope 0: no scaling", NIFTI_TYPE_INT16, 0, 5, false, false, f32, f32, 1, 0, nullptr},
    {"slope inf: no scaling", NIFTI_TYPE_FLOAT32, inf_v, 5, false, false, f32, f32, 1, 0, nullptr},
    {"(1, 0): no scaling", NIFTI_TYPE_FLOAT64, 1, 0, false, false, f32, f32, 1, 0, nullptr},
    {"slope rounds to 1 in float32: no scaling", NIFTI_TYPE_INT16, 1 + 1e-10, 0, false, false, f32, f32, 1, 0,
     nullptr},
    {"int16 in float32", NIFTI_TYPE_INT16, 2.5, 10, true, true, f32, f32, 2.5, 10, nullptr},
    {"add only", NIFTI_TYPE_UINT8, 1, 3, false, true, f32, f32, 1, 3, nullptr},
    {"multiply only", NIFTI_TYPE_INT8, -0.5, 0, true, false, f32, f32, -0.5, 0, nullptr},
    {"slope rounded to float32", NIFTI_TYPE_UINT16, 0.1, 0.2, true, true, f32, f32, double(0.1f),
     double(0.2f), nullptr},
    {"int32 promotes to float64", NIFTI_TYPE_INT32, 2.5, 10, true, true, f64, f64, 2.5, 10, nullptr},
    {"uint64 promotes to float64", NIFTI_TYPE_UINT64, 0.1, 0, true, false, f64, f64, double(0.1f), 0,
     nullptr},
    {"int16 overflowing float32 goes float64", NIFTI_TYPE_INT16, 1e36, 0, true, false, f64, f64,
     double(1e36f), 0, nullptr},
    {"uint8 fits float32 even with 1e36", NIFTI_TYPE_UINT8, 1e36, 0, true, false, f32, f32, double(1e36f), 0,
     nullptr},
    {"float32 stays float32", NIFTI_TYPE_FLOAT32, 2.5, 10, true, true, f32, f32, 2.5, 10, nullptr},
    {"float64 in float64", NIFTI_TYPE_FLOAT64, 2.5, 10, true, true, f64, f64, 2.5, 10, nullptr},
    {"float32 max is not castable: float64", NIFTI_TYPE_FLOAT32, 3.4028234663852886e38, 0, true, false, f64,
     f64, 3.4028234663852886e38, 0, nullptr},
    {"float32 data, huge intercept: add in float64", NIFTI_TYPE_FLOAT32, 2, 1e39, true, true, f32, f64, 2,
     1e39, nullptr},
    {"float32 data, add only in float64", NIFTI_TYPE_FLOAT32, 1, 1e39, false, true, f32, f64, 1, 1e39,
     nullptr},
    {"int8 with a float64 slope", NIFTI_TYPE_INT8, 1e300, 0, true, false, f64, f64, 1e300, 0, nullptr},
    {"int32 overflowing float64 goes longdouble", NIFTI_TYPE_INT32, 1e300, 0, true, false, f80, f80, 1e300, 0,
     nullptr},
    {"tiny slope becomes float32 0", NIFTI_TYPE_INT16, 1e-50, 1, true, true, f32, f32, 0, 1, nullptr},
    {"integer with intercept beyond float32", NIFTI_TYPE_INT16, 2, 1e39, false, false, f32, f32, 0, 0,
     "overflows every float type on the int16 range"},
    {"integer with intercept beyond float32 (int64)", NIFTI_TYPE_INT64, 0.1, -1e39, false, false, f32, f32, 0,
     0, "nibabel: Overflow using highest floating point type"},
    {"valid slope, NaN intercept", NIFTI_TYPE_INT16, 2, nan_v, false, false, f32, f32, 0, 0,
     "scl_slope is 2 but scl_inter is nan (nibabel: valid slope but invalid intercept)"},
    {"valid slope, inf intercept", NIFTI_TYPE_FLOAT32, 2, -inf_v, false, false, f32, f32, 0, 0,
     "invalid intercept"},
    {"unsupported datatype", NIFTI_TYPE_COMPLEX128, 1, 0, false, false, f32, f32, 0, 0,
     "datatype complex128 (code 1792) is not supported"},
};

TEST(ConvertScaling, FollowsNibabelRules) {
  for (const ScalingRow& r : scaling_rows) {
    SCOPED_TRACE(r.what);
    if (r.error) {
      EXPECT_THAT([&] { nibabel_scaling(r.datatype, r.slope, r.inter); },
                  ThrowsMessage<Error>(HasSubstr(r.error)));
      continue;
    }
    const Scaling s = nibabel_scaling(r.datatype, r.slope, r.inter);
    EXPECT_EQ(s.multiply, r.multiply);
    EXPECT_EQ(s.add, r.add);
    if (s.multiply) {
      EXPECT_EQ(s.multiply_precision, r.multiply_precision);
      EXPECT_EQ(s.slope, r.used_slope);
    }
    if (s.add) {
      EXPECT_EQ(s.add_precision, r.add_precision);
      EXPECT_EQ(s.inter, r.used_inter);
    }
  }
}

} // namespace
