#include "dwipack/process/convert.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nifti1.h>

// nibabel rounds after the multiply and again after the add (two numpy ufuncs); a fused
// multiply-add would round once and differ in the last bit. g++ contracts across statements by
// default in C++ (-ffp-contract=fast) when the target has FMA (e.g. -march=native), so turn it off
// for this file; clang honours the standard pragma.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace dwipack::process {

namespace {

/// numpy's value-based np.can_cast(float64 scalar, float32): min_scalar_type gives float32 (or
/// float16) when the value is not finite or -3.4e38 < v < 3.4e38 (numpy's own constant).
bool numpy_can_cast_to_f32(double v) {
  return !std::isfinite(v) || std::fabs(v) < 3.4e38;
}

/// float32(v) as numpy casts it: out-of-range values become +-inf (explicit, as ISO C++ leaves
/// it undefined).
float to_f32(double v) {
  constexpr double overflow = 3.4028235677973366e38; // float max + half an ulp: ties go to inf
  if (v >= overflow) return std::numeric_limits<float>::infinity();
  if (v <= -overflow) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(v);
}

/// numpy.promote_types(T, float32) is float64 for the 32/64-bit integers and float64 itself.
template <class T>
constexpr bool promotes_to_double = std::is_same_v<T, double> || (std::is_integral_v<T> && sizeof(T) >= 4);

/// Call f(T{}) with T the C++ type of a supported NIfTI datatype; returns false if unsupported.
template <class F> bool with_type(int datatype, F&& f) {
  switch (datatype) {
  case NIFTI_TYPE_UINT8:
    f(uint8_t{});
    return true;
  case NIFTI_TYPE_INT8:
    f(int8_t{});
    return true;
  case NIFTI_TYPE_INT16:
    f(int16_t{});
    return true;
  case NIFTI_TYPE_UINT16:
    f(uint16_t{});
    return true;
  case NIFTI_TYPE_INT32:
    f(int32_t{});
    return true;
  case NIFTI_TYPE_UINT32:
    f(uint32_t{});
    return true;
  case NIFTI_TYPE_INT64:
    f(int64_t{});
    return true;
  case NIFTI_TYPE_UINT64:
    f(uint64_t{});
    return true;
  case NIFTI_TYPE_FLOAT32:
    f(float{});
    return true;
  case NIFTI_TYPE_FLOAT64:
    f(double{});
    return true;
  default:
    return false;
  }
}

[[noreturn]] void throw_unsupported(int datatype) {
  throw Error("datatype " + std::string(datatype_name(datatype)) + " (code " + std::to_string(datatype) +
              ") is not supported (supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, "
              "float32, float64)");
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// ---- element loads with optional byte swap -------------------------------------------------

template <size_t N> struct UintOf;
template <> struct UintOf<2> { using type = uint16_t; };
template <> struct UintOf<4> { using type = uint32_t; };
template <> struct UintOf<8> { using type = uint64_t; };

inline uint16_t bswap(uint16_t v) {
  return __builtin_bswap16(v);
}
inline uint32_t bswap(uint32_t v) {
  return __builtin_bswap32(v);
}
inline uint64_t bswap(uint64_t v) {
  return __builtin_bswap64(v);
}

template <class T, bool Swap> inline T load(const unsigned char* p) {
  T v;
  if constexpr (Swap && sizeof(T) > 1) {
    typename UintOf<sizeof(T)>::type u;
    std::memcpy(&u, p, sizeof u);
    u = bswap(u);
    std::memcpy(&v, &u, sizeof v);
  } else {
    std::memcpy(&v, p, sizeof v);
  }
  return v;
}

// ---- one run of consecutive voxels -> float32 ----------------------------------------------

struct Factors {
  double slope = 1, inter = 0;
};

using RunFn = void (*)(const unsigned char*, int64_t, float*, const Factors&);

/// No scaling: numpy casts to promote_types(raw, float32) first (float64 for the 32/64-bit
/// integers: int64 values round twice), then get_fdata casts to float32.
template <class T, bool Swap>
void plain_run(const unsigned char* src, int64_t n, float* dst, const Factors&) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = load<T, Swap>(src + i * static_cast<int64_t>(sizeof(T)));
    if constexpr (promotes_to_double<T>)
      dst[i] = static_cast<float>(static_cast<double>(v));
    else
      dst[i] = static_cast<float>(v);
  }
}

/// raw * slope in P1, then + inter in P2, then float32: one rounding per numpy ufunc.
template <class T, bool Swap, class P1, class P2, bool Mul, bool Add>
void scaled_run(const unsigned char* src, int64_t n, float* dst, const Factors& k) {
  const auto slope = static_cast<P1>(k.slope);
  const auto inter = static_cast<P2>(k.inter);
  for (int64_t i = 0; i < n; ++i) {
    P1 x = static_cast<P1>(load<T, Swap>(src + i * static_cast<int64_t>(sizeof(T))));
    if constexpr (Mul) x = x * slope;
    P2 y = static_cast<P2>(x);
    if constexpr (Add) y = y + inter;
    dst[i] = static_cast<float>(y);
  }
}

template <class T, bool Swap, class P1, class P2> RunFn pick_flags(const Scaling& s) {
  if (s.multiply && s.add) return &scaled_run<T, Swap, P1, P2, true, true>;
  if (s.multiply) return &scaled_run<T, Swap, P1, P2, true, false>;
  return &scaled_run<T, Swap, P2, P2, false, true>; // add only: the add's dtype throughout
}

/// The kernel for one datatype, byte order and scaling. Only the precisions nibabel can pick for
/// the type are instantiated.
template <class T, bool Swap> RunFn pick_run(const Scaling& s) {
  using P = Precision;
  if (!s.multiply && !s.add) return &plain_run<T, Swap>;
  const P mp = s.multiply ? s.multiply_precision : s.add_precision, ap = s.add_precision;
  if constexpr (std::is_floating_point_v<T>) {
    if (mp == P::f32 && ap == P::f32) return pick_flags<T, Swap, float, float>(s);
    if (mp == P::f32 && ap == P::f64) return pick_flags<T, Swap, float, double>(s);
    if (mp == P::f64 && ap == P::f64) return pick_flags<T, Swap, double, double>(s);
  } else {
    if (mp == P::f32 && ap == P::f32 && !promotes_to_double<T>) return pick_flags<T, Swap, float, float>(s);
    if (mp == P::f64 && ap == P::f64) return pick_flags<T, Swap, double, double>(s);
    if (mp == P::f80 && ap == P::f80) return pick_flags<T, Swap, long double, long double>(s);
  }
  throw Error("convert_frames: scaling precisions not reachable for this datatype");
}

} // namespace

int datatype_size(int datatype) {
  int size = 0;
  with_type(datatype, [&](auto t) { size = static_cast<int>(sizeof(t)); });
  return size;
}

bool is_integer_datatype(int datatype) {
  switch (datatype) {
  case NIFTI_TYPE_UINT8:
  case NIFTI_TYPE_INT8:
  case NIFTI_TYPE_INT16:
  case NIFTI_TYPE_UINT16:
  case NIFTI_TYPE_INT32:
  case NIFTI_TYPE_UINT32:
  case NIFTI_TYPE_INT64:
  case NIFTI_TYPE_UINT64:
    return true;
  default:
    return false;
  }
}

const char* datatype_name(int datatype) {
  switch (datatype) {
  case NIFTI_TYPE_UINT8:
    return "uint8";
  case NIFTI_TYPE_INT8:
    return "int8";
  case NIFTI_TYPE_INT16:
    return "int16";
  case NIFTI_TYPE_UINT16:
    return "uint16";
  case NIFTI_TYPE_INT32:
    return "int32";
  case NIFTI_TYPE_UINT32:
    return "uint32";
  case NIFTI_TYPE_INT64:
    return "int64";
  case NIFTI_TYPE_UINT64:
    return "uint64";
  case NIFTI_TYPE_FLOAT32:
    return "float32";
  case NIFTI_TYPE_FLOAT64:
    return "float64";
  case NIFTI_TYPE_FLOAT128:
    return "float128";
  case NIFTI_TYPE_COMPLEX64:
    return "complex64";
  case NIFTI_TYPE_COMPLEX128:
    return "complex128";
  case NIFTI_TYPE_COMPLEX256:
    return "complex256";
  case NIFTI_TYPE_RGB24:
    return "rgb24";
  case NIFTI_TYPE_RGBA32:
    return "rgba32";
  case DT_BINARY:
    return "binary";
  default:
    return "unknown";
  }
}

Scaling nibabel_scaling(int datatype, double scl_slope, double scl_inter) {
  Scaling s;
  bool is_integer = false, is_narrow_integer = false, is_float32 = false;
  long double type_min = 0, type_max = 0;
  const bool known = with_type(datatype, [&](auto t) {
    using T = decltype(t);
    is_integer = std::is_integral_v<T>;
    is_narrow_integer = is_integer && !promotes_to_double<T>;
    is_float32 = std::is_same_v<T, float>;
    type_min = static_cast<long double>(std::numeric_limits<T>::lowest());
    type_max = static_cast<long double>(std::numeric_limits<T>::max());
  });
  if (!known) throw_unsupported(datatype);

  // Nifti1Header.get_slope_inter
  if (scl_slope == 0 || !std::isfinite(scl_slope)) return s;
  if (!std::isfinite(scl_inter))
    throw Error("scl_slope is " + number(scl_slope) + " but scl_inter is " + number(scl_inter) +
                " (nibabel: valid slope but invalid intercept)");

  // ArrayProxy._get_scaled: the factors become float32 when numpy's can_cast allows it
  const bool slope_f32 = numpy_can_cast_to_f32(scl_slope);
  const bool inter_f32 = numpy_can_cast_to_f32(scl_inter);
  const double slope = slope_f32 ? static_cast<double>(static_cast<float>(scl_slope)) : scl_slope;
  const double inter = inter_f32 ? static_cast<double>(static_cast<float>(scl_inter)) : scl_inter;
  if (slope == 1 && inter == 0) return s; // apply_read_scaling: (slope, inter) == (1, 0)
  s.multiply = slope != 1;
  s.add = inter != 0;
  s.slope = slope;
  s.inter = inter;

  using P = Precision;
  if (is_integer) {
    // int_scinter_ftype: the first float type, from the slope's dtype up, for which
    // [min, max] * slope + inter stays finite. Like nibabel, the test casts the factors to each
    // candidate in turn, so an intercept that became inf in float32 stays inf (and fails) later.
    long double test_slope = slope, test_inter = inter;
    bool found = false;
    P ftype = P::f32;
    for (const P candidate : {P::f32, P::f64, P::f80}) {
      if (candidate == P::f32 && !slope_f32) continue;
      if (candidate == P::f32) {
        test_slope = to_f32(static_cast<double>(test_slope));
        test_inter = to_f32(static_cast<double>(test_inter));
      }
      const P step = candidate == P::f32 && !is_narrow_integer ? P::f64 : candidate;
      bool finite = true;
      for (const long double v : {type_min, type_max}) {
        long double r;
        if (step == P::f32) {
          float x = static_cast<float>(v);
          if (test_slope != 1) x = x * static_cast<float>(test_slope);
          if (test_inter != 0) x = x + static_cast<float>(test_inter);
          r = static_cast<long double>(x);
        } else if (step == P::f64) {
          double x = static_cast<double>(v);
          if (test_slope != 1) x = x * static_cast<double>(test_slope);
          if (test_inter != 0) x = x + static_cast<double>(test_inter);
          r = static_cast<long double>(x);
        } else {
          long double x = v;
          if (test_slope != 1) x = x * test_slope;
          if (test_inter != 0) x = x + test_inter;
          r = static_cast<long double>(x);
        }
        finite = finite && std::isfinite(r);
      }
      if (finite) {
        ftype = candidate;
        found = true;
        break;
      }
    }
    if (!found)
      throw Error("scl_slope " + number(scl_slope) + " with scl_inter " + number(scl_inter) +
                  " overflows every float type on the " + datatype_name(datatype) +
                  " range (nibabel: Overflow using highest floating point type)");
    // promote_types(raw, ftype)
    const P step = ftype == P::f32 && !is_narrow_integer ? P::f64 : ftype;
    s.multiply_precision = step;
    s.add_precision = step;
  } else if (is_float32) {
    // float32 * factor stays float32 only if the factor is float32; likewise for the add
    s.multiply_precision = slope_f32 ? P::f32 : P::f64;
    const bool after_multiply_f64 = s.multiply && s.multiply_precision == P::f64;
    s.add_precision = after_multiply_f64 || !inter_f32 ? P::f64 : P::f32;
  } else { // float64
    s.multiply_precision = P::f64;
    s.add_precision = P::f64;
  }
  return s;
}

void convert_frames(const void* raw,
                    int datatype,
                    bool byte_swapped,
                    const Scaling& scaling,
                    const std::array<int64_t, 3>& shape,
                    int64_t nb_frames,
                    float* out,
                    int64_t f_total,
                    int64_t f_offset,
                    XRange x_range) {
  RunFn run = nullptr;
  if (!with_type(datatype, [&](auto t) {
        using T = decltype(t);
        run = byte_swapped ? pick_run<T, true>(scaling) : pick_run<T, false>(scaling);
      }))
    throw_unsupported(datatype);
  const int64_t nx = shape[0], ny = shape[1], nz = shape[2];
  if (nx < 1 || ny < 1 || nz < 1 || nb_frames < 0 || f_offset < 0 || f_offset + nb_frames > f_total)
    throw Error("convert_frames: invalid shape or feature range");
  const int64_t x_begin = x_range.begin, x_end = x_range.end < 0 ? nx : x_range.end;
  if (x_begin < 0 || x_end > nx || x_begin > x_end) throw Error("convert_frames: invalid x range");
  if (nb_frames == 0 || x_begin == x_end) return;
  const Factors k{scaling.slope, scaling.inter};

  const auto size = static_cast<int64_t>(datatype_size(datatype));
  const auto* bytes = static_cast<const unsigned char*>(raw);
  const int64_t frame_voxels = nx * ny * nz;

  // A 3-D transpose (x fastest in, z fastest out) plus frame interleave, done by tiles of
  // (frame, z, x) at one y: convert raw rows (contiguous reads, vectorisable) into the tile, then
  // write it out voxel by voxel, each voxel's frames being contiguous in `out` (one output stream:
  // measured faster than 4x4 SSE transposes writing four voxels' streams at once). The tile (at
  // most 256 KiB) stays in L2; its frame stride is padded by a cache line so that the strided
  // reads of the second step do not all fall into one L1 set (4 KiB aliasing).
  // When few frames come per call, every call still sweeps the whole output; that cost is the
  // caller's choice of block size (see io::ReadScratch).
  constexpr int64_t tile_floats = 64 * 1024;
  const int64_t tx = std::min<int64_t>(x_end - x_begin, 64);
  const int64_t tt = std::min<int64_t>(nb_frames, std::max<int64_t>(1, tile_floats / tx));
  const int64_t tz = std::clamp<int64_t>(tile_floats / (tx * tt), 1, std::min<int64_t>(nz, 16));
  const int64_t frame_stride = tz * tx + 16;
  std::vector<float> tile(static_cast<size_t>(tt * frame_stride));

  for (int64_t t0 = 0; t0 < nb_frames; t0 += tt) {
    const int64_t nt = std::min(tt, nb_frames - t0);
    for (int64_t y = 0; y < ny; ++y) {
      for (int64_t z0 = 0; z0 < nz; z0 += tz) {
        const int64_t nzb = std::min(tz, nz - z0);
        for (int64_t x0 = x_begin; x0 < x_end; x0 += tx) {
          const int64_t nxb = std::min(tx, x_end - x0);
          for (int64_t t = 0; t < nt; ++t)
            for (int64_t z = 0; z < nzb; ++z) {
              const int64_t in_index = (t0 + t) * frame_voxels + x0 + nx * (y + ny * (z0 + z));
              run(bytes + in_index * size, nxb, &tile[static_cast<size_t>(t * frame_stride + z * tx)], k);
            }
          for (int64_t x = 0; x < nxb; ++x)
            for (int64_t z = 0; z < nzb; ++z) {
              float* dst = out + (((x0 + x) * ny + y) * nz + z0 + z) * f_total + f_offset + t0;
              const float* src = &tile[static_cast<size_t>(z * tx + x)];
              for (int64_t t = 0; t < nt; ++t)
                dst[t] = src[t * frame_stride];
            }
        }
      }
    }
  }
}

} // namespace dwipack::process
