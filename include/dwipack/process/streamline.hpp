#pragma once
// Streamline numerics of dipy / nibabel / scilpy as dwi_ml uses them (docs/format.md §5.4-§5.7). Pure: no
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
/// float32(inv(float64(a))), as dipy computes the inverse of a float32 affine: numpy's LAPACK
/// dgesv (recursive LU with partial pivoting, then two triangular solves) replayed operation by
/// operation in double. Throws Error if the matrix is singular (numpy raises LinAlgError).
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
/// Throws Error if the affine is singular.
StreamlineSpace make_space(const Affine& vox2ras, const std::array<int64_t, 3>& dimensions);

/// Per-axis bounding box of voxel-corner coordinates as numpy's min/max compute it over a whole
/// file: a NaN anywhere on an axis makes that axis' min and max NaN, and NaN passes dipy's check.
/// (Accumulate it over every streamline of a file for dipy's exact file-level verdict.)
struct VoxelBounds {
  std::array<float, 3> lo{}; ///< min per axis over the non-NaN values seen (+inf if none)
  std::array<float, 3> hi{}; ///< max per axis over the non-NaN values seen (-inf if none)
  std::array<bool, 3> nan{}; ///< a NaN was seen on this axis
  VoxelBounds();
  void merge(const VoxelBounds& other);
  /// dipy's is_bbox_in_vox_valid on these bounds: no axis with min < 0 or max > dimension.
  bool valid(const std::array<int64_t, 3>& dimensions) const;
};

/// dipy's load_tractogram(bbox_valid_check=True) for one streamline in RAS mm, in place
/// (docs/format.md §5.4 step 1):
/// v = aff(ras2vox, p) + 0.5 (voxel corner space); if any coordinate of v is < 0 or > dimension,
/// returns false (dipy refuses the whole file); otherwise p = aff(vox2ras, v) then
/// p = fl32(double(p) - double(R)·[0.5, 0.5, 0.5]) (back to RAS mm, center origin), true.
/// The round trip is applied either way. The verdict is dipy's for a file holding this streamline
/// alone (NaN on an axis disables that axis' check); for the file-level verdict, pass `bounds` and
/// call bounds->valid() after the last streamline (differs only when NaN and out-of-range values
/// meet on one axis in different streamlines). An identity affine is skipped, as nibabel does.
bool load_round_trip(const StreamlineSpace& space, float* xyz, int64_t n, VoxelBounds* bounds = nullptr);

/// A cheap, conservative pre-check for the bounding-box verdict: true when the RAS bounding box of
/// the points, mapped to voxel corner space in double, lies inside the volume with a 0.01 voxel
/// margin (far above float32 rounding), so that the exact check cannot fail. False means "not
/// sure": run the exact check.
bool surely_in_bounding_box(const StreamlineSpace& space, const float* xyz, int64_t n);

/// The first half of load_round_trip only: the same verdict, with the points left in voxel
/// corner space. For a counting pass that needs the verdict but not the points.
bool in_bounding_box(const StreamlineSpace& space, float* xyz, int64_t n);

/// dipy's remove_invalid_streamlines test (epsilon 1e-3) for one streamline in RAS mm: in voxel
/// corner space, any coordinate < 1e-3 or > dimension - 1e-3 makes it invalid (returns false).
/// A kept streamline is moved through dipy's round trip (to vox/corner and back), in place; a
/// removed one is left in voxel corner space. NaN as numpy sees it: a point with a NaN coordinate
/// is never "< 1e-3" (np.min of its row is NaN), but its other coordinates can still be "> dim".
bool remove_invalid_round_trip(const StreamlineSpace& space, float* xyz, int64_t n);

/// Final storage: RAS mm -> voxel space with corner origin: v = fl32(aff(ras2vox, p) + 0.5), in place.
void to_voxel_corner(const StreamlineSpace& space, float* xyz, int64_t n);

/// Scratch memory for convert_to_corner, kept by the caller across streamlines (no allocation per
/// streamline once it has seen the longest one).
struct ConvertScratch {
  std::vector<float> x, y, z;  ///< the streamline as three coordinate arrays (vectorisable loops)
  std::vector<float> segments; ///< segment lengths, for numpy's pairwise sum
};

/// The whole per-point work of a conversion without resampling, compression or removal, fused
/// into a few vectorised loops over one streamline held in L1 cache: load_round_trip (the
/// verdict is returned; false leaves `vox_corner` unspecified), then euclidean_length of the
/// round-tripped points (`length_mm`), then to_voxel_corner, written to `vox_corner` (n x 3, may
/// not overlap `ras_mm`). Bit-identical to those three calls in sequence (tested), two to three
/// times faster: one pass in and out of the interleaved layout instead of six.
bool convert_to_corner(const StreamlineSpace& space,
                       const float* ras_mm,
                       int64_t n,
                       float* vox_corner,
                       float& length_mm,
                       ConvertScratch& scratch);

/// numpy's np.sum of a contiguous float32 array (docs/format.md §4.5): pairwise summation inside chunks of
/// 8192 elements (the iterator buffer), chunk sums added in order to a float32 total from 0.
float pairwise_sum32(const float* values, int64_t n);

/// dipy.tracking.metrics.length in float32 (docs/format.md §5.5): segment lengths
/// sqrt32(((0+dx²)+dy²)+dz²) summed with numpy's pairwise float32 summation. 0 for fewer than 2 points.
float euclidean_length(const float* xyz, int64_t n);

/// dipy's Cython length in double (float32 differences promoted to double), for --step_size.
double length_double(const float* xyz, int64_t n);

/// scilpy resample_streamlines_step_size: n = ceil(L / step_mm), 1 -> 2. Returns 0 when the
/// streamline cannot be resampled (fewer than 2 points, or zero length), which callers report.
int64_t step_size_point_count(const float* xyz, int64_t n, double step_mm);

/// dipy set_number_of_points: `n_out` points equally spaced along the polyline (arc lengths in
/// double, interpolation in double from float32 differences, stored float32; the first and last
/// points kept). `out` has room for n_out x 3 values; throws Error if n_out < 2.
/// Degenerate input behaves as dipy's ArraySequence path (np.zeros output, which scilpy's
/// --nb_points uses): when the arc length is 0 or NaN (1 point, all points equal), the first
/// n_out-1 points are (0,0,0) and the last is the original last point; n == 0 gives all zeros.
void set_number_of_points(const float* xyz, int64_t n, float* out, int64_t n_out);

/// dipy compress_streamlines(tol_error, max_segment_length): the indices of the kept points (a
/// subset, first and last always kept; streamlines with <= 2 points untouched), written to
/// `kept`; returns their number.
int64_t compress_streamline(
    const float* xyz, int64_t n, double tol_error_mm, double max_segment_mm, std::vector<int64_t>& kept);

} // namespace dwipack::process
