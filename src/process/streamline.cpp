#include "dwipack/process/streamline.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dwipack/error.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

// Every expression below reproduces a numpy / BLAS / Cython operation sequence in which each
// multiply and each add is rounded separately; a fused multiply-add would round once and differ in
// the last bit. g++ contracts by default (-ffp-contract=fast) when the target has FMA (e.g.
// -march=native), so turn contraction off for this file; clang honours the standard pragma.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace dwipack::process {

namespace {

// ----------------------------------------------------------------------------------------------
// numpy float32 summation

/// numpy's iterator buffer size: np.sum reduces a contiguous array in chunks of this many elements.
constexpr int64_t numpy_buffer_size = 8192;

/// numpy's FLOAT_pairwise_sum (loops_utils.h.src, numpy 1.24) on one chunk.
float pairwise_block(const float* a, int64_t n) {
  if (n < 8) {
    float res = 0.0f;
    for (int64_t i = 0; i < n; ++i)
      res += a[i];
    return res;
  }
  if (n <= 128) {
    // Eight independent accumulators (vectorisable without changing the order within each lane).
    float r[8];
    for (int j = 0; j < 8; ++j)
      r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j)
        r[j] += a[i + j];
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i)
      res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8; // split on a multiple of the unroll factor, as numpy does
  return pairwise_block(a, n2) + pairwise_block(a + n2, n - n2);
}

// ----------------------------------------------------------------------------------------------
// Segment arithmetic shared by the dipy Cython functions: the coordinate difference is taken in
// float32 (float - float in C), then promoted to double; squares and sums are in double.

inline double diff_d(const float* xyz, int64_t from, int64_t to, int d) {
  return static_cast<double>(xyz[3 * to + d] - xyz[3 * from + d]);
}

/// ((0 + dx²) + dy²) + dz² in double (dipy's `sum_dn_sqr`; the leading 0 + changes nothing).
inline double squared_distance_d(const float* xyz, int64_t from, int64_t to) {
  const double dx = diff_d(xyz, from, to, 0);
  const double dy = diff_d(xyz, from, to, 1);
  const double dz = diff_d(xyz, from, to, 2);
  return dx * dx + dy * dy + dz * dz;
}

inline double distance_d(const float* xyz, int64_t from, int64_t to) {
  return std::sqrt(squared_distance_d(xyz, from, to));
}

// ----------------------------------------------------------------------------------------------
// Affines

bool is_identity(const Affine32& a) {
  // nibabel's Tractogram.apply_affine returns early when `np.all(affine == np.eye(4))`, so the
  // points are not touched at all (matters for -0.0 and non-finite coordinates).
  static constexpr float eye[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  for (int i = 0; i < 12; ++i)
    if (!(a.m[static_cast<size_t>(i)] == eye[i])) return false;
  return true;
}

/// nibabel Tractogram.apply_affine (in place, skipped for the identity).
void tractogram_apply_affine(const Affine32& a, float* xyz, int64_t n) {
  if (!is_identity(a)) apply_affine32(a, xyz, n);
}

/// dipy's _shift_voxel_origin in RASMM: shift = apply_affine(eye with R, [0.5, 0.5, 0.5]), float64.
std::array<double, 3> rasmm_half_voxel(const Affine32& vox2ras) {
  std::array<double, 3> s{};
  for (int r = 0; r < 3; ++r) {
    const float* row = vox2ras.m.data() + 4 * r;
    // dgemm order: ((0 + 0.5*R_r0) + 0.5*R_r1) + 0.5*R_r2, then + 0 (the eye's translation).
    s[static_cast<size_t>(r)] = 0.5 * static_cast<double>(row[0]) + 0.5 * static_cast<double>(row[1]) +
                                0.5 * static_cast<double>(row[2]);
  }
  return s;
}

/// SFT to_vox() then to_corner(): v = aff(ras2vox, p), then `data += [0.5]*3` (a float64 array, so
/// the add happens in double and is cast back to float32).
void rasmm_center_to_vox_corner(const StreamlineSpace& space, float* xyz, int64_t n) {
  tractogram_apply_affine(space.ras2vox, xyz, n);
  // float32(double(v) + 0.5) is exactly the float32 sum v + 0.5f for every float v: the double sum
  // is exact whenever it matters (|v| >= 2^-31), and below that both round to 0.5. The float form
  // vectorises.
  for (int64_t i = 0; i < 3 * n; ++i)
    xyz[i] = xyz[i] + 0.5f;
}

/// SFT to_space(RASMM) then to_origin(NIFTI) from vox/corner: r = aff(vox2ras, v), then
/// `data += -shift` in double, cast to float32.
void vox_corner_to_rasmm_center(const StreamlineSpace& space, float* xyz, int64_t n) {
  tractogram_apply_affine(space.vox2ras, xyz, n);
  const std::array<double, 3> s = rasmm_half_voxel(space.vox2ras);
  for (int64_t i = 0; i < n; ++i) {
    float* p = xyz + 3 * i;
    for (int d = 0; d < 3; ++d)
      p[d] = static_cast<float>(static_cast<double>(p[d]) + -s[static_cast<size_t>(d)]);
  }
}

// --- numpy.linalg.inv = LAPACK dgesv(A, I) on reference LAPACK/BLAS, column-major, in double ---

constexpr int kN = 4; // matrix order and leading dimension

/// dlaswp: for k in [k1, k2), swap rows k and ipiv[k] over `cols` columns starting at `a`.
void laswp(double* a, int cols, int k1, int k2, const int* ipiv) {
  for (int k = k1; k < k2; ++k) {
    const int p = ipiv[k];
    if (p == k) continue;
    for (int j = 0; j < cols; ++j)
      std::swap(a[k + kN * j], a[p + kN * j]);
  }
}

/// dtrsm('L', 'L', 'N', 'U'): B := inv(unit lower L) * B, L is m x m, B is m x cols.
void trsm_lower_unit(const double* l, int m, double* b, int cols) {
  for (int j = 0; j < cols; ++j)
    for (int k = 0; k < m; ++k) {
      const double bk = b[k + kN * j];
      if (bk == 0.0) continue; // reference BLAS skips zero entries
      for (int i = k + 1; i < m; ++i)
        b[i + kN * j] = b[i + kN * j] - bk * l[i + kN * k];
    }
}

/// dtrsm('L', 'U', 'N', 'N'): B := inv(upper U) * B.
void trsm_upper(const double* u, int m, double* b, int cols) {
  for (int j = 0; j < cols; ++j)
    for (int k = m - 1; k >= 0; --k) {
      if (b[k + kN * j] == 0.0) continue;
      b[k + kN * j] = b[k + kN * j] / u[k + kN * k];
      const double bk = b[k + kN * j];
      for (int i = 0; i < k; ++i)
        b[i + kN * j] = b[i + kN * j] - bk * u[i + kN * k];
    }
}

/// dgemm('N', 'N', alpha = -1, beta = 1): C := C - A * B, A is m x k, B is k x cols.
void gemm_minus(int m, int cols, int k, const double* a, const double* b, double* c) {
  for (int j = 0; j < cols; ++j)
    for (int l = 0; l < k; ++l) {
      const double temp = -b[l + kN * j];
      for (int i = 0; i < m; ++i)
        c[i + kN * j] = c[i + kN * j] + temp * a[i + kN * l];
    }
}

/// dgetrf2: recursive LU with partial pivoting of the m x n block at `a`. Returns false if a
/// pivot is exactly zero (singular).
bool getrf2(double* a, int m, int n, int* ipiv) {
  if (m == 1) {
    ipiv[0] = 0;
    return a[0] != 0.0;
  }
  if (n == 1) {
    int p = 0; // idamax: first index of the largest |value|
    double best = std::fabs(a[0]);
    for (int i = 1; i < m; ++i)
      if (std::fabs(a[i]) > best) {
        best = std::fabs(a[i]);
        p = i;
      }
    ipiv[0] = p;
    if (a[p] == 0.0) return false;
    if (p != 0) std::swap(a[0], a[p]);
    if (std::fabs(a[0]) >= DBL_MIN) {
      const double r = 1.0 / a[0]; // dscal by the reciprocal
      for (int i = 1; i < m; ++i)
        a[i] = r * a[i];
    } else {
      for (int i = 1; i < m; ++i)
        a[i] = a[i] / a[0];
    }
    return true;
  }
  const int n1 = std::min(m, n) / 2;
  const int n2 = n - n1;
  bool ok = getrf2(a, m, n1, ipiv);
  laswp(a + kN * n1, n2, 0, n1, ipiv);
  trsm_lower_unit(a, n1, a + kN * n1, n2);
  gemm_minus(m - n1, n2, n1, a + n1, a + kN * n1, a + n1 + kN * n1);
  ok = getrf2(a + n1 + kN * n1, m - n1, n2, ipiv + n1) && ok;
  for (int i = n1; i < std::min(m, n); ++i)
    ipiv[i] += n1;
  laswp(a, n1, n1, std::min(m, n), ipiv);
  return ok;
}

} // namespace

// ----------------------------------------------------------------------------------------------

Affine32 to_affine32(const Affine& a) {
  Affine32 out;
  for (size_t i = 0; i < 12; ++i)
    out.m[i] = static_cast<float>(a[i]); // numpy astype(float32): round to nearest
  return out;
}

Affine32 inverse32(const Affine32& a) {
  // numpy's umath_linalg hands LAPACK the matrix in Fortran order (element (r,c) at r + 4c) and
  // the identity as right-hand side; float32 input is computed in double and cast back.
  double lu[kN * kN];
  double b[kN * kN];
  for (int r = 0; r < kN; ++r)
    for (int c = 0; c < kN; ++c) {
      lu[r + kN * c] =
          r < 3 ? static_cast<double>(a.m[static_cast<size_t>(4 * r + c)]) : (c == 3 ? 1.0 : 0.0);
      b[r + kN * c] = r == c ? 1.0 : 0.0;
    }
  int ipiv[kN];
  if (!getrf2(lu, kN, kN, ipiv)) throw Error("affine is singular, it has no inverse");
  laswp(b, kN, 0, kN, ipiv);      // dgetrs: apply the row interchanges to B,
  trsm_lower_unit(lu, kN, b, kN); // solve L Y = P B,
  trsm_upper(lu, kN, b, kN);      // then U X = Y.
  Affine32 out;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < kN; ++c)
      out.m[static_cast<size_t>(4 * r + c)] = static_cast<float>(b[r + kN * c]);
  return out;
}

namespace {
#if defined(__SSE2__)
/// Four interleaved points (x0 y0 z0 x1 | y1 z1 x2 y2 | z2 x3 y3 z3) as x, y and z of the four.
inline void load_points4(const float* p, __m128& x, __m128& y, __m128& z) {
  const __m128 a0 = _mm_loadu_ps(p), a1 = _mm_loadu_ps(p + 4), a2 = _mm_loadu_ps(p + 8);
  // Each coordinate: pick its two values from each half ([c0 c0 c1 c1], [c2 c2 c3 c3]), then
  // take elements 0 and 2 of both.
  constexpr int even = _MM_SHUFFLE(2, 0, 2, 0);
  x = _mm_shuffle_ps(_mm_shuffle_ps(a0, a0, _MM_SHUFFLE(3, 3, 0, 0)),
                     _mm_shuffle_ps(a1, a2, _MM_SHUFFLE(1, 1, 2, 2)), even);
  y = _mm_shuffle_ps(_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(0, 0, 1, 1)),
                     _mm_shuffle_ps(a1, a2, _MM_SHUFFLE(2, 2, 3, 3)), even);
  z = _mm_shuffle_ps(_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(1, 1, 2, 2)),
                     _mm_shuffle_ps(a2, a2, _MM_SHUFFLE(3, 3, 0, 0)), even);
}

/// The inverse of load_points4: x, y, z of four points stored interleaved.
inline void store_points4(__m128 x, __m128 y, __m128 z, float* p) {
  const __m128 xy_lo = _mm_unpacklo_ps(x, y); // x0 y0 x1 y1
  const __m128 xy_hi = _mm_unpackhi_ps(x, y); // x2 y2 x3 y3
  const __m128 z0x1 = _mm_shuffle_ps(z, xy_lo, _MM_SHUFFLE(2, 2, 0, 0));
  const __m128 y1z1 = _mm_shuffle_ps(y, z, _MM_SHUFFLE(1, 1, 1, 1));
  const __m128 z2x3 = _mm_shuffle_ps(z, xy_hi, _MM_SHUFFLE(2, 2, 2, 2));
  const __m128 x3y3z3 = _mm_shuffle_ps(xy_hi, z, _MM_SHUFFLE(3, 3, 3, 2));
  _mm_storeu_ps(p, _mm_shuffle_ps(xy_lo, z0x1, _MM_SHUFFLE(2, 0, 1, 0)));
  _mm_storeu_ps(p + 4, _mm_shuffle_ps(y1z1, xy_hi, _MM_SHUFFLE(1, 0, 2, 0)));
  _mm_storeu_ps(p + 8, _mm_shuffle_ps(z2x3, x3y3z3, _MM_SHUFFLE(2, 1, 2, 0)));
}
#endif

/// One point, scalar: the reference order of operations (see apply_affine32).
inline void apply_affine32_point(const float* m, float* p) {
  const float x = p[0];
  const float y = p[1];
  const float z = p[2];
  float q[3];
  for (int r = 0; r < 3; ++r) {
    // np.dot(pts, R.T, out=pts) = reference sgemm: C = 0, then C += x*R_r0, += y*R_r1, += z*R_r2.
    // The leading 0 + turns a -0.0 product into +0.0, as sgemm does.
    float acc = 0.0f + x * m[4 * r + 0];
    acc = acc + y * m[4 * r + 1];
    acc = acc + z * m[4 * r + 2];
    q[r] = acc;
  }
  // then `pts += trans` (float32 + float32)
  p[0] = q[0] + m[3];
  p[1] = q[1] + m[7];
  p[2] = q[2] + m[11];
}
} // namespace

void apply_affine32(const Affine32& a, float* xyz, int64_t n) {
  const float* m = a.m.data();
  int64_t i = 0;
#if defined(__SSE2__)
  // Four points at a time: the same IEEE float32 multiplies and adds in the same order as the
  // scalar code (SSE arithmetic is exactly rounded; no FMA), so the results are bit-identical.
  // This is the hottest loop of a tractogram conversion (several passes over every point).
  const __m128 zero = _mm_setzero_ps();
  __m128 row[3][4];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      row[r][c] = _mm_set1_ps(m[4 * r + c]);
  for (; i + 4 <= n; i += 4) {
    float* p = xyz + 3 * i;
    __m128 x, y, z;
    load_points4(p, x, y, z);
    __m128 q[3];
    for (int r = 0; r < 3; ++r) {
      __m128 acc = _mm_add_ps(zero, _mm_mul_ps(x, row[r][0]));
      acc = _mm_add_ps(acc, _mm_mul_ps(y, row[r][1]));
      acc = _mm_add_ps(acc, _mm_mul_ps(z, row[r][2]));
      q[r] = _mm_add_ps(acc, row[r][3]);
    }
    store_points4(q[0], q[1], q[2], p);
  }
#endif
  for (; i < n; ++i)
    apply_affine32_point(m, xyz + 3 * i);
}

StreamlineSpace make_space(const Affine& vox2ras, const std::array<int64_t, 3>& dimensions) {
  StreamlineSpace s;
  s.vox2ras = to_affine32(vox2ras);
  s.ras2vox = inverse32(s.vox2ras);
  s.dimensions = dimensions;
  return s;
}

// ----------------------------------------------------------------------------------------------
// Validity checks and round trips

VoxelBounds::VoxelBounds() {
  lo.fill(std::numeric_limits<float>::infinity());
  hi.fill(-std::numeric_limits<float>::infinity());
}

void VoxelBounds::merge(const VoxelBounds& other) {
  for (size_t d = 0; d < 3; ++d) {
    lo[d] = std::min(lo[d], other.lo[d]);
    hi[d] = std::max(hi[d], other.hi[d]);
    nan[d] = nan[d] || other.nan[d];
  }
}

bool VoxelBounds::valid(const std::array<int64_t, 3>& dimensions) const {
  for (size_t d = 0; d < 3; ++d) {
    if (nan[d]) continue; // np.min/np.max give NaN, and NaN < 0, NaN > dim are both false
    // dipy compares float32 values with 0 and with the int16 dimension in float32 (exact).
    if (lo[d] < 0.0f || hi[d] > static_cast<float>(dimensions[d])) return false;
  }
  return true;
}

namespace {
VoxelBounds bounds_of(const float* xyz, int64_t n) {
  VoxelBounds box;
  for (int64_t i = 0; i < n; ++i)
    for (size_t d = 0; d < 3; ++d) {
      const float v = xyz[3 * i + static_cast<int64_t>(d)];
      if (std::isnan(v)) {
        box.nan[d] = true;
        continue;
      }
      box.lo[d] = std::min(box.lo[d], v);
      box.hi[d] = std::max(box.hi[d], v);
    }
  return box;
}
} // namespace

bool load_round_trip(const StreamlineSpace& space, float* xyz, int64_t n, VoxelBounds* bounds) {
  // dipy is_bbox_in_vox_valid: to_vox(), to_corner(), bounding box check, to_space(RASMM),
  // to_origin(NIFTI). The points come back changed in the last bits: that is the point.
  rasmm_center_to_vox_corner(space, xyz, n);
  const VoxelBounds box = bounds_of(xyz, n);
  if (bounds) bounds->merge(box);
  vox_corner_to_rasmm_center(space, xyz, n);
  return box.valid(space.dimensions);
}

bool surely_in_bounding_box(const StreamlineSpace& space, const float* xyz, int64_t n) {
  if (n == 0) return true;
  float lo[3] = {xyz[0], xyz[1], xyz[2]}, hi[3] = {xyz[0], xyz[1], xyz[2]};
  for (int64_t i = 1; i < n; ++i)
    for (int d = 0; d < 3; ++d) {
      const float v = xyz[3 * i + d];
      lo[d] = v < lo[d] ? v : lo[d];
      hi[d] = v > hi[d] ? v : hi[d];
    }
  for (int d = 0; d < 3; ++d)
    if (!(std::isfinite(lo[d]) && std::isfinite(hi[d]))) return false; // NaN/Inf: exact rules
  constexpr double margin = 0.01;
  const float* m = space.ras2vox.m.data();
  // The image of a box under an affine map is bounded by the images of its 8 corners.
  for (int corner = 0; corner < 8; ++corner) {
    const double p[3] = {(corner & 1) ? hi[0] : lo[0], (corner & 2) ? hi[1] : lo[1],
                         (corner & 4) ? hi[2] : lo[2]};
    for (int r = 0; r < 3; ++r) {
      const double v = static_cast<double>(m[4 * r]) * p[0] + static_cast<double>(m[4 * r + 1]) * p[1] +
                       static_cast<double>(m[4 * r + 2]) * p[2] + static_cast<double>(m[4 * r + 3]) + 0.5;
      if (!(v >= margin && v <= static_cast<double>(space.dimensions[static_cast<size_t>(r)]) - margin))
        return false;
    }
  }
  return true;
}

bool in_bounding_box(const StreamlineSpace& space, float* xyz, int64_t n) {
  rasmm_center_to_vox_corner(space, xyz, n);
  return bounds_of(xyz, n).valid(space.dimensions);
}

bool remove_invalid_round_trip(const StreamlineSpace& space, float* xyz, int64_t n) {
  constexpr float epsilon = 1e-3f; // `min < epsilon`: float32 array vs Python float -> float32
  rasmm_center_to_vox_corner(space, xyz, n);
  // `data > dimensions - epsilon`: an int16 array minus a Python float is float64, so the
  // comparison is in double.
  double upper[3];
  for (size_t d = 0; d < 3; ++d)
    upper[d] = static_cast<double>(space.dimensions[d]) - 1e-3;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = xyz + 3 * i;
    // np.min(row) is NaN when the row holds a NaN, and NaN < epsilon is false.
    const bool any_nan = std::isnan(p[0]) || std::isnan(p[1]) || std::isnan(p[2]);
    const bool below = !any_nan && (p[0] < epsilon || p[1] < epsilon || p[2] < epsilon);
    const bool above = static_cast<double>(p[0]) > upper[0] || static_cast<double>(p[1]) > upper[1] ||
                       static_cast<double>(p[2]) > upper[2];
    if (below || above) return false;
  }
  vox_corner_to_rasmm_center(space, xyz, n);
  return true;
}

void to_voxel_corner(const StreamlineSpace& space, float* xyz, int64_t n) {
  rasmm_center_to_vox_corner(space, xyz, n);
}

// ----------------------------------------------------------------------------------------------
// Lengths

float pairwise_sum32(const float* values, int64_t n) {
  float total = 0.0f;
  for (int64_t start = 0; start < n; start += numpy_buffer_size)
    total += pairwise_block(values + start, std::min(numpy_buffer_size, n - start));
  return total;
}

float euclidean_length(const float* xyz, int64_t n) {
  if (n < 2) return 0.0f;
  // np.sum(np.sqrt((np.diff(xyz, axis=0)**2).sum(axis=1))): the segment lengths of one numpy
  // buffer chunk go to the stack, so the pairwise sum sees exactly numpy's chunks.
  float seg[numpy_buffer_size];
  const int64_t segments = n - 1;
  float total = 0.0f;
  for (int64_t start = 0; start < segments; start += numpy_buffer_size) {
    const int64_t count = std::min(numpy_buffer_size, segments - start);
    const float* p = xyz + 3 * start;
    for (int64_t k = 0; k < count; ++k) {
      const float dx = p[3 * k + 3] - p[3 * k + 0];
      const float dy = p[3 * k + 4] - p[3 * k + 1];
      const float dz = p[3 * k + 5] - p[3 * k + 2];
      seg[k] = std::sqrt(dx * dx + dy * dy + dz * dz); // the row sum ((0 + dx²) + dy²) + dz²
    }
    total += pairwise_block(seg, count);
  }
  return total;
}

double length_double(const float* xyz, int64_t n) {
  double out = 0.0;
  for (int64_t i = 1; i < n; ++i)
    out += distance_d(xyz, i - 1, i);
  return out;
}

// ----------------------------------------------------------------------------------------------
// Resampling and compression

int64_t step_size_point_count(const float* xyz, int64_t n, double step_mm) {
  if (n < 2 || !(step_mm > 0.0)) return 0;
  const double length = length_double(xyz, n);
  if (!(length > 0.0) || !std::isfinite(length)) return 0; // dipy would raise
  // np.ceil(lengths / step_size).astype(int); 1 -> 2. A count of 0 (L/step underflowed) or one
  // past int64 is not resamplable either.
  const double count = std::ceil(length / step_mm);
  if (!(count >= 1.0) || !(count < 9.2e18)) return 0;
  const auto points = static_cast<int64_t>(count);
  return points == 1 ? 2 : points;
}

void set_number_of_points(const float* xyz, int64_t n, float* out, int64_t n_out) {
  if (n_out < 2)
    throw Error("set_number_of_points: nb_points must be at least 2, got " + std::to_string(n_out));
  int64_t i = 0; // output points written
  if (n >= 2) {
    // Arc lengths a_k are recomputed incrementally instead of stored (dipy mallocs an array):
    // the recurrence a_k = a_{k-1} + sqrt(...) is the same, so the values are identical.
    double total = 0.0;
    for (int64_t k = 1; k < n; ++k)
      total += distance_d(xyz, k - 1, k);
    const double step = total / static_cast<double>(n_out - 1);
    double next_point = 0.0;
    int64_t k = 0;       // dipy's k (== j): the point whose arc length is a_k
    double a_k = 0.0;    // arclengths[k]
    double a_prev = 0.0; // arclengths[k-1]
    // dipy loops `while next_point < a_N`; the last output is overwritten below, so stopping at
    // n_out - 1 changes nothing but bounds the writes if rounding ever produced an extra target.
    while (next_point < total && i < n_out - 1) {
      if (next_point == a_k) {
        for (int d = 0; d < 3; ++d)
          out[3 * i + d] = xyz[3 * k + d];
        next_point += step;
        ++i;
        ++k;
        a_prev = a_k;
        a_k = a_k + distance_d(xyz, k - 1, k);
      } else if (next_point < a_k) {
        const double ratio = 1.0 - ((a_k - next_point) / (a_k - a_prev));
        for (int d = 0; d < 3; ++d) {
          const double delta = diff_d(xyz, k - 1, k, d);
          out[3 * i + d] = static_cast<float>(static_cast<double>(xyz[3 * (k - 1) + d]) + ratio * delta);
        }
        next_point += step;
        ++i;
      } else {
        ++k;
        a_prev = a_k;
        a_k = a_k + distance_d(xyz, k - 1, k);
      }
    }
  }
  // Targets never reached (zero or NaN length, 1 point): np.zeros in dipy's ArraySequence path.
  for (; i < n_out - 1; ++i)
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = 0.0f;
  for (int d = 0; d < 3; ++d)
    out[3 * (n_out - 1) + d] = n > 0 ? xyz[3 * (n - 1) + d] : 0.0f;
}

int64_t compress_streamline(
    const float* xyz, int64_t n, double tol_error_mm, double max_segment_mm, std::vector<int64_t>& kept) {
  kept.clear();
  if (n <= 2) { // dipy returns a copy
    for (int64_t i = 0; i < n; ++i)
      kept.push_back(i);
    return n;
  }
  kept.push_back(0);
  int64_t prev = 0;
  for (int64_t next = 2; next < n; ++next) {
    // c_segment_length(prev, next); the same value is dipy's norm2 in c_dist_to_line.
    const double segment = distance_d(xyz, prev, next);
    if (segment > max_segment_mm) { // NaN is not > : falls through to the distance test
      kept.push_back(next - 1);
      prev = next - 1;
      continue;
    }
    const double bx = diff_d(xyz, prev, next, 0);
    const double by = diff_d(xyz, prev, next, 1);
    const double bz = diff_d(xyz, prev, next, 2);
    for (int64_t curr = prev + 1; curr < next; ++curr) {
      if (squared_distance_d(xyz, curr, prev) == 0.0) continue; // sqrt(s) == 0 iff s == 0
      // |(next - prev) x (curr - next)| / |next - prev|
      const double cx = diff_d(xyz, next, curr, 0);
      const double cy = diff_d(xyz, next, curr, 1);
      const double cz = diff_d(xyz, next, curr, 2);
      const double ax = by * cz - bz * cy;
      const double ay = bz * cx - bx * cz;
      const double az = bx * cy - by * cx;
      const double dist = std::sqrt(ax * ax + ay * ay + az * az) / segment;
      if (std::isnan(dist) || dist > tol_error_mm) {
        kept.push_back(next - 1);
        prev = next - 1;
        break;
      }
    }
  }
  kept.push_back(n - 1);
  return static_cast<int64_t>(kept.size());
}

} // namespace dwipack::process

// ----------------------------------------------------------------------------------------------
// The fused conversion

namespace dwipack::process {

namespace {

/// x, y, z <- aff(m, (x, y, z)) with apply_affine32's operation order, on coordinate arrays (GCC
/// vectorises this form; the interleaved one needs shuffles per pass).
inline void
affine_arrays(const Affine32& a, float* __restrict x, float* __restrict y, float* __restrict z, int64_t n) {
  const float* m = a.m.data();
  const float m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5], m6 = m[6], m7 = m[7],
              m8 = m[8], m9 = m[9], m10 = m[10], m11 = m[11];
  for (int64_t i = 0; i < n; ++i) {
    const float px = x[i], py = y[i], pz = z[i];
    x[i] = (((0.0f + px * m0) + py * m1) + pz * m2) + m3;
    y[i] = (((0.0f + px * m4) + py * m5) + pz * m6) + m7;
    z[i] = (((0.0f + px * m8) + py * m9) + pz * m10) + m11;
  }
}

/// dipy's verdict on one axis of voxel-corner coordinates (VoxelBounds::valid): a NaN anywhere
/// disables the axis' check, otherwise every value must lie in [0, dimension]. Integer
/// or-reductions, which vectorise (a float min/max reduction would not, without fast-math).
inline bool axis_valid(const float* v, int64_t n, float dimension) {
  int nan = 0, outside = 0;
  for (int64_t i = 0; i < n; ++i) {
    nan |= static_cast<int>(v[i] != v[i]);
    outside |= static_cast<int>(v[i] < 0.0f) | static_cast<int>(v[i] > dimension);
  }
  return nan != 0 || outside == 0;
}

} // namespace

// Cloned for AVX2 (8 floats per instruction; no FMA, so the same roundings), chosen at load time.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
bool convert_to_corner(const StreamlineSpace& space,
                       const float* ras_mm,
                       int64_t n,
                       float* vox_corner,
                       float& length_mm,
                       ConvertScratch& scratch) {
  const auto un = static_cast<size_t>(n);
  if (scratch.x.size() < un) {
    scratch.x.resize(un);
    scratch.y.resize(un);
    scratch.z.resize(un);
    scratch.segments.resize(un);
  }
  float* __restrict x = scratch.x.data();
  float* __restrict y = scratch.y.data();
  float* __restrict z = scratch.z.data();
  int64_t first_scalar = 0; // after the SIMD part
#if defined(__SSE2__)
  for (; first_scalar + 4 <= n; first_scalar += 4) {
    const int64_t i = first_scalar;
    __m128 px, py, pz;
    load_points4(ras_mm + 3 * i, px, py, pz);
    _mm_storeu_ps(x + i, px);
    _mm_storeu_ps(y + i, py);
    _mm_storeu_ps(z + i, pz);
  }
#endif
  for (int64_t i = first_scalar; i < n; ++i) {
    x[i] = ras_mm[3 * i];
    y[i] = ras_mm[3 * i + 1];
    z[i] = ras_mm[3 * i + 2];
  }
  const bool ras2vox_identity = is_identity(space.ras2vox);
  const bool vox2ras_identity = is_identity(space.vox2ras);

  // load_round_trip: to voxel corner space, the verdict, and back (rasmm_center_to_vox_corner,
  // bounds, vox_corner_to_rasmm_center, with the same operations).
  if (!ras2vox_identity) affine_arrays(space.ras2vox, x, y, z, n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = x[i] + 0.5f;
    y[i] = y[i] + 0.5f;
    z[i] = z[i] + 0.5f;
  }
  const auto& dim = space.dimensions;
  if (!axis_valid(x, n, static_cast<float>(dim[0])) || !axis_valid(y, n, static_cast<float>(dim[1])) ||
      !axis_valid(z, n, static_cast<float>(dim[2])))
    return false;
  if (!vox2ras_identity) affine_arrays(space.vox2ras, x, y, z, n);
  const std::array<double, 3> s = rasmm_half_voxel(space.vox2ras);
  const double sx = -s[0], sy = -s[1], sz = -s[2];
  for (int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(static_cast<double>(x[i]) + sx);
    y[i] = static_cast<float>(static_cast<double>(y[i]) + sy);
    z[i] = static_cast<float>(static_cast<double>(z[i]) + sz);
  }

  // euclidean_length of the round-tripped points.
  length_mm = 0.0f;
  if (n >= 2) {
    float* __restrict seg = scratch.segments.data();
    for (int64_t k = 0; k + 1 < n; ++k) {
      const float dx = x[k + 1] - x[k];
      const float dy = y[k + 1] - y[k];
      const float dz = z[k + 1] - z[k];
      seg[k] = std::sqrt(dx * dx + dy * dy + dz * dz);
    }
    length_mm = pairwise_sum32(seg, n - 1);
  }

  // to_voxel_corner, interleaved into the output.
  if (!ras2vox_identity) affine_arrays(space.ras2vox, x, y, z, n);
  first_scalar = 0;
#if defined(__SSE2__)
  const __m128 half = _mm_set1_ps(0.5f);
  for (; first_scalar + 4 <= n; first_scalar += 4) {
    const int64_t i = first_scalar;
    store_points4(_mm_add_ps(_mm_loadu_ps(x + i), half), _mm_add_ps(_mm_loadu_ps(y + i), half),
                  _mm_add_ps(_mm_loadu_ps(z + i), half), vox_corner + 3 * i);
  }
#endif
  for (int64_t i = first_scalar; i < n; ++i) {
    vox_corner[3 * i] = x[i] + 0.5f;
    vox_corner[3 * i + 1] = y[i] + 0.5f;
    vox_corner[3 * i + 2] = z[i] + 0.5f;
  }
  return true;
}

} // namespace dwipack::process
