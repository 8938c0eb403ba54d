#pragma once
// Raw NIfTI voxels -> float32, the way nibabel's get_fdata(dtype=float32) computes them. Pure.
#include <array>
#include <cstdint>

namespace dwipack::process {

/// Precision of one arithmetic step: numpy float32, float64 or longdouble (x87 80-bit, which is
/// g++'s long double on x86-64).
enum class Precision { f32, f64, f80 };

/// How nibabel 5 applies scl_slope / scl_inter (ArrayProxy._get_scaled + apply_read_scaling):
/// - slope 0 or non-finite: no scaling at all;
/// - slope and intercept are first cast to float32 when numpy's value-based can_cast allows it
///   (|v| < 3.4e38), so a NIfTI-2 float64 slope of 0.1 is used as float32(0.1);
/// - (slope, inter) == (1, 0) after that cast: no scaling;
/// - multiply only if slope != 1, add only if inter != 0;
/// - integers: the factors' type is the first of float32 (float64 if the slope stayed float64),
///   float64, longdouble for which [min, max] * slope + inter stays finite (int_scinter_ftype);
///   each step is done in promote_types(raw dtype, that type): int8/uint8/int16/uint16 in float32
///   (multiply, round, add, round), the 32/64-bit integers in float64;
/// - floats: each step is done in promote_types(current dtype, the factor's dtype).
/// The result is then rounded once more to float32.
struct Scaling {
  bool multiply = false;
  bool add = false;
  Precision multiply_precision = Precision::f32; ///< dtype of raw * slope
  Precision add_precision = Precision::f32;      ///< dtype of (...) + inter (never below the former)
  double slope = 1;                              ///< as used (already float32-rounded if nibabel does)
  double inter = 0;                              ///< as used (already float32-rounded if nibabel does)
};

/// Throws Error where nibabel raises: a valid slope with a non-finite intercept; factors that
/// overflow every float type on the datatype's range (int_scinter_ftype's "Overflow using highest
/// floating point type", e.g. an integer image whose intercept does not fit float32). Also throws
/// for an unsupported datatype.
Scaling nibabel_scaling(int nifti_datatype, double scl_slope, double scl_inter);

/// A range of x, the first voxel axis: [begin, end); end < 0 means up to the last x.
struct XRange {
  int64_t begin = 0;
  int64_t end = -1;
};

/// Convert `nb_frames` consecutive raw frames (each shape[0]*shape[1]*shape[2] voxels in NIfTI
/// order: x fastest) into `out`, a C-order (X, Y, Z, f_total) array (last index fastest), at
/// features [f_offset, f_offset + nb_frames): out[((x*Y + y)*Z + z)*f_total + f_offset + t] is
/// voxel (x, y, z) of frame t. `byte_swapped` says the raw values need a byte swap.
/// NaN and Inf are kept. Throws Error for an unsupported datatype.
/// With `x_range`, only the voxels with x in [x_range.begin, x_range.end) are converted: that
/// part of `out` (x is its slowest axis) is written exactly as by a whole call and nothing else is
/// touched, so threads can share a block by splitting x.
void convert_frames(const void* raw,
                    int nifti_datatype,
                    bool byte_swapped,
                    const Scaling& scaling,
                    const std::array<int64_t, 3>& shape,
                    int64_t nb_frames,
                    float* out,
                    int64_t f_total,
                    int64_t f_offset,
                    XRange x_range = {});

/// Bytes per voxel of a supported datatype, 0 if unsupported.
int datatype_size(int nifti_datatype);
/// True for the signed and unsigned integer datatypes.
bool is_integer_datatype(int nifti_datatype);
/// Name of a datatype ("int16", "float32", "complex64", ...; "unknown" for other codes).
const char* datatype_name(int nifti_datatype);

} // namespace dwipack::process
