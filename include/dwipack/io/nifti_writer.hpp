#pragma once
// Writing NIfTI-1 single files (.nii, or .nii.gz). Used by the
// synthetic-dataset generator and to export volumes.
#include "dwipack/process/affine.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace dwipack::io {

struct NiftiWriteSpec {
  std::array<int64_t, 3> shape{};     ///< X, Y, Z
  int64_t nb_frames = 1;              ///< 1 writes a 3-D image, more a 4-D one
  bool force_4d = false;              ///< write a 4-D image even with one frame (X, Y, Z, 1)
  int datatype = 16;                  ///< NIFTI_TYPE_* : UINT8 (2), INT16 (4), FLOAT32 (16)
  Affine vox2ras = identity_affine(); ///< stored as the sform (code 1, scanner) and the qform (code 0)
  std::array<float, 3> voxel_sizes{1, 1, 1};
  float scl_slope = 0; ///< 0: no scaling
  float scl_inter = 0;
};

/// Write `data` (NIfTI order: x fastest, then y, z, frame; values of spec.datatype) to `path`.
/// A path ending in ".gz" is gzip-compressed at `gzip_level` (1..12; zlib builds: 10..12 are 9).
void write_nifti(const std::string& path, const NiftiWriteSpec& spec, const void* data, int gzip_level = 6);

/// Write a C-order (X, Y, Z, F) float32 array (dwipack's group layout) as a 4-D float32 NIfTI,
/// transposing it to NIfTI order (holds one extra copy of the data).
void write_nifti_xyzf(const std::string& path,
                      const float* data_xyzf,
                      const std::array<int64_t, 3>& shape,
                      int64_t nb_features,
                      const Affine& vox2ras,
                      const std::array<float, 3>& voxel_sizes,
                      int gzip_level = 6);

} // namespace dwipack::io
