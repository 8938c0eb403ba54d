#pragma once
// Streamline numerics of dipy / nibabel / scilpy as dwi_ml uses them (spec §7.4-§7.7). Pure: no
// files, no HDF5, no MPI. Every function works on one streamline: `xyz` is n x 3 float32,
// row-major (x0 y0 z0 x1 y1 z1 ...).
#include "dwipack/process/affine.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace dwipack::process {

/// A float32 3x4 affine (the last row is [0 0 0 1]): what numpy holds after casting to float32.
struct Affine32 {
  std::array<float, 12> m{}; ///< row-major 3 rows x 4 columns
};

Affine32 to_affine32(const Affine& a);
/// float32(inv(float64(a))), as dipy computes the inverse of a float32 affine.
Affine32 inverse32(const Affine32& a);

/// nibabel's in-place apply_affine on float32 points: for each row r,
/// q_r = fl32(fl32(fl32(x*M_r0) + fl32(y*M_r1)) + fl32(z*M_r2)), then q_r = fl32(q_r + M_r3).
/// No fused multiply-add (numpy's reference BLAS order).
void apply_affine32(const Affine32& m, float* xyz, int64_t n);

/// The space of a streamline group: the reference's vox2ras as float32 and its inverse, and the
/// volume dimensions (for validity checks).
struct StreamlineSpace {
  Affine32 vox2ras;
  Affine32 ras2vox;
  std::array<int64_t, 3> dimensions{};
};
StreamlineSpace make_space(const Affine& vox2ras, const std::array<int64_t, 3>& dimensions);

/// dipy's load_tractogram(bbox_valid_check=True) for one streamline in RAS mm, in place (§7.4 step 1):
/// v = aff(ras2vox, p) + 0.5 (voxel corner space); if any coordinate of v is < 0 or > dimension,
/// returns false (dipy refuses the whole file); otherwise p = aff(vox2ras, v) then
/// p = fl32(double(p) - double(R)·[0.5, 0.5, 0.5]) (back to RAS mm, center origin), true.
bool load_round_trip(const StreamlineSpace& space, float* xyz, int64_t n);

/// dipy's remove_invalid_streamlines test (epsilon 1e-3) for one streamline in RAS mm: in voxel
/// corner space, any coordinate < 1e-3 or > dimension - 1e-3 makes it invalid (returns false).
/// A kept streamline is moved through dipy's round trip (to vox/corner and back), in place.
bool remove_invalid_round_trip(const StreamlineSpace& space, float* xyz, int64_t n);

/// Final storage: RAS mm -> voxel space with corner origin: v = fl32(aff(ras2vox, p) + 0.5), in place.
void to_voxel_corner(const StreamlineSpace& space, float* xyz, int64_t n);

/// dipy.tracking.metrics.length in float32 (§7.5): segment lengths sqrt32(((0+dx²)+dy²)+dz²)
/// summed with numpy's pairwise float32 summation. 0 for fewer than 2 points.
float euclidean_length(const float* xyz, int64_t n);

/// dipy's Cython length in double (float32 differences promoted to double), for --step_size.
double length_double(const float* xyz, int64_t n);

/// scilpy resample_streamlines_step_size: n = ceil(L / step_mm), 1 -> 2. Returns 0 when the
/// streamline cannot be resampled (fewer than 2 points, or zero length), which callers report.
int64_t step_size_point_count(const float* xyz, int64_t n, double step_mm);

/// dipy set_number_of_points: `n_out` points equally spaced along the polyline (arc lengths in
/// double, interpolation in double from float32 differences, stored float32; the first and last
/// points kept). Requires n >= 2 and n_out >= 2. `out` has room for n_out x 3 values.
void set_number_of_points(const float* xyz, int64_t n, float* out, int64_t n_out);

/// dipy compress_streamlines(tol_error, max_segment_length): the indices of the kept points (a
/// subset, first and last always kept; streamlines with <= 2 points untouched), written to
/// `kept`; returns their number.
int64_t compress_streamline(const float* xyz, int64_t n, double tol_error_mm, double max_segment_mm,
                            std::vector<int64_t>& kept);

} // namespace dwipack::process
