#pragma once
// 4x4 affines (row-major, float64) and the comparisons dwi_ml makes on them. Pure.
#include <array>
#include <string>

namespace dwipack {

/// Row-major 4x4 matrix; element (r,c) is m[4*r+c]. A vox2ras maps voxel indices to RAS mm.
using Affine = std::array<double, 16>;

constexpr Affine identity_affine() {
  return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
}

/// numpy.allclose(a, b, rtol, atol): |a-b| <= atol + rtol*|b| for every element (b is the reference).
bool allclose(const double* a, const double* b, int n, double rtol, double atol);
inline bool allclose(const Affine& a, const Affine& b, double rtol, double atol) {
  return allclose(a.data(), b.data(), 16, rtol, atol);
}

/// nibabel's aff2axcodes: the direction ('R'/'L', 'A'/'P', 'S'/'I') each voxel axis points to,
/// via the polar decomposition of the zoom-normalised 3x3 part (io_orientation). E.g. "RAS".
/// An axis whose column is zero gets '?'.
std::string axcodes(const Affine& vox2ras);

/// The affine as text, rows separated by "; ", for messages.
std::string to_string(const Affine& a);

} // namespace dwipack
