#include "dwipack/process/affine.hpp"

#include <cmath>
#include <cstdio>

namespace dwipack {

bool allclose(const double* a, const double* b, int n, double rtol, double atol) {
  for (int i = 0; i < n; ++i) {
    // numpy: NaN never compares close (equal_nan=False)
    if (!(std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(b[i]))) return false;
  }
  return true;
}

namespace {
using M3 = std::array<double, 9>;

double det3(const M3& m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
         m[2] * (m[3] * m[7] - m[4] * m[6]);
}

// Orthogonal polar factor of a full-rank 3x3 matrix by Newton iteration R <- (R + R^-T)/2,
// the same matrix as nibabel's P·Qs from the SVD.
bool polar_factor(M3& r) {
  for (int iter = 0; iter < 100; ++iter) {
    const double d = det3(r);
    if (!(std::fabs(d) > 1e-12)) return false;
    // inverse transpose = cofactor matrix / det
    M3 cof = {r[4] * r[8] - r[5] * r[7],    -(r[3] * r[8] - r[5] * r[6]), r[3] * r[7] - r[4] * r[6],
              -(r[1] * r[8] - r[2] * r[7]), r[0] * r[8] - r[2] * r[6],    -(r[0] * r[7] - r[1] * r[6]),
              r[1] * r[5] - r[2] * r[4],    -(r[0] * r[5] - r[2] * r[3]), r[0] * r[4] - r[1] * r[3]};
    double change = 0;
    for (int i = 0; i < 9; ++i) {
      const double next = 0.5 * (r[i] + cof[i] / d);
      change = std::fmax(change, std::fabs(next - r[i]));
      r[i] = next;
    }
    if (change < 1e-15) break;
  }
  return true;
}
} // namespace

std::string axcodes(const Affine& a) {
  M3 r{};
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 3; ++col)
      r[3 * row + col] = a[4 * row + col];
  // normalise columns by their zooms (a zero column stays zero)
  for (int col = 0; col < 3; ++col) {
    double z = std::sqrt(r[col] * r[col] + r[3 + col] * r[3 + col] + r[6 + col] * r[6 + col]);
    if (z == 0) z = 1;
    for (int row = 0; row < 3; ++row)
      r[3 * row + col] /= z;
  }
  polar_factor(r); // rank-deficient input: keep the normalised matrix, good enough for axis picking
  static const char labels[3][2] = {{'L', 'R'}, {'P', 'A'}, {'I', 'S'}};
  std::string codes(3, '?');
  for (int col = 0; col < 3; ++col) {
    double best = 0;
    int out_ax = -1;
    bool all_zero = true;
    for (int row = 0; row < 3; ++row) {
      const double v = r[3 * row + col];
      if (std::fabs(v) > 1e-8) all_zero = false;
      if (std::fabs(v) > best) {
        best = std::fabs(v);
        out_ax = row;
      }
    }
    if (all_zero || out_ax < 0) continue;
    codes[static_cast<size_t>(col)] = labels[out_ax][r[3 * out_ax + col] < 0 ? 0 : 1];
    // remove the chosen output axis from later columns, as nibabel does for ties
    for (int c2 = 0; c2 < 3; ++c2)
      r[3 * out_ax + c2] = 0;
  }
  return codes;
}

std::string to_string(const Affine& a) {
  std::string s = "[";
  char buf[64];
  for (int row = 0; row < 4; ++row) {
    for (int col = 0; col < 4; ++col) {
      std::snprintf(buf, sizeof buf, "%s%.6g", col ? " " : "", a[4 * row + col]);
      s += buf;
    }
    s += row < 3 ? "; " : "]";
  }
  return s;
}

} // namespace dwipack
