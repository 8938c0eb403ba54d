#pragma once
// NIfTI-1 / NIfTI-2 volumes (.nii, .nii.gz). nifticlib reads the header; the voxel data is read by
// dwipack itself (streaming inflate for .gz, util/gzip.hpp), which avoids two nifticlib pitfalls
// (NaN/Inf rewritten as 0; data read from a sibling x.nii when x.nii.gz is asked for) and, with
// ISA-L, is ~4x faster.
#include "dwipack/process/affine.hpp"

#include "dwipack/util/grow_buffer.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dwipack::io {

struct NiftiHeader {
  std::string path;             ///< as given (used in messages)
  int version = 1;              ///< 1 or 2
  bool gzipped = false;         ///< file name ends in .gz
  int ndim = 0;                 ///< dim[0]; dwipack accepts 3 or 4
  std::array<int64_t, 7> dim{}; ///< dim[1..7]
  int datatype = 0;             ///< NIFTI_TYPE_* code (nifti1.h)
  int bytes_per_voxel = 0;
  bool byte_swapped = false; ///< file byte order differs from this machine's
  int64_t vox_offset = 0;    ///< data offset in bytes in the (uncompressed) file
  double scl_slope = 0;      ///< raw header value (float32 in NIfTI-1)
  double scl_inter = 0;      ///< raw header value
  /// pixdim[1..3] = nibabel get_zooms()[:3], after nibabel's load-time fix (0 -> 1, negative ->
  /// absolute value); NIfTI-2's float64 pixdims are rounded to float32 here.
  std::array<float, 3> voxel_sizes{};
  /// The same zooms at the header's precision: float64 for NIfTI-2 (what nibabel returns, and so
  /// what dwi_ml writes as `voxres`), the float32 values for NIfTI-1.
  std::array<double, 3> zooms{};
  int qform_code = 0; ///< as nibabel sees it: codes outside 0..5 read as 0
  int sform_code = 0; ///< as nibabel sees it: codes outside 0..5 read as 0
  /// nibabel's best affine: sform if sform_code > 0, else qform if qform_code > 0, else the
  /// zoom-based fallback (x flipped, origin at the volume centre).
  Affine vox2ras = identity_affine();

  std::array<int64_t, 3> shape3() const { return {dim[0], dim[1], dim[2]}; }
  int64_t voxels_per_frame() const { return dim[0] * dim[1] * dim[2]; }
  /// Number of 3-D frames: dim[4] for a 4-D file, 1 for a 3-D file.
  int64_t nb_frames() const { return ndim >= 4 ? dim[3] : 1; }
  /// Bytes of voxel data (after vox_offset).
  int64_t data_bytes() const { return voxels_per_frame() * nb_frames() * bytes_per_voxel; }
};

/// Read and check a header. Throws Error naming the file and what is wrong: not found, not
/// NIfTI, extension other than .nii/.gz, dim[0] outside 3..4, unsupported datatype (complex,
/// RGB, float128, ...), vox_offset inside the header, invalid intercept with a valid slope.
NiftiHeader read_nifti_header(const std::string& path);

/// Buffers reused across files and subjects (fresh memory is slow to touch on these VMs).
struct ReadScratch {
  std::vector<unsigned char> compressed; ///< input chunk
  GrowBuffer<unsigned char> frames;      ///< decoded raw frames (one block, or the pipeline's slots)
  /// Raw frames decoded at a time, in bytes (whole frames, at least one); 0: automatic
  /// (decode_block_frames). Tests set it to exercise the block boundaries.
  int64_t block_bytes = 0;
  /// Read this many bytes of a .gz file at a time. Tests lower it to exercise the boundaries.
  int64_t chunk_bytes = int64_t{4} << 20;
  /// With 2 threads, a file of more than `pipeline_frames` frames is decoded by a helper thread
  /// (file reading and inflate only) into two slots of `pipeline_frames` frames while the calling
  /// thread converts the previous slot; both convert the last one (halves along x). Same output
  /// bytes as the serial path. 0: automatic (half the serial block: the same raw memory).
  int threads = 1; ///< 1: serial; the caller raises it where a core is spare (mpi::cores_per_worker)
  int64_t pipeline_frames = 0;
};

/// The automatic block of the serial path, in frames of `frame_bytes` for a file of `nb_frames`:
/// the whole file when its raw frames take at most 64 MiB; otherwise at least 16 frames (each
/// pass of the transpose then writes a whole 64-byte line of every voxel's float32 features) and
/// as many as fit in 64 MiB. The raw frames held at once are thus a small fraction of a large
/// group's float32 array (16 of 144 DWI frames: 11 %), not a second copy of it.
int64_t decode_block_frames(int64_t frame_bytes, int64_t nb_frames);

/// The raw bytes read_nifti_into holds at once for such a file with `scratch`'s settings (either
/// path): what a memory estimate adds to the group's array.
int64_t decode_memory_bytes(int64_t frame_bytes, int64_t nb_frames, const ReadScratch& scratch);

/// Read every voxel of `hdr`'s file, convert to float32 exactly as nibabel's
/// get_fdata(dtype=float32) does, and transpose from NIfTI order (x fastest) into `out`, which is
/// a C-order (X, Y, Z, f_total) float32 array; this file's frames land at features
/// [f_offset, f_offset + hdr.nb_frames()). Extra memory: decode_memory_bytes of raw frames.
/// Throws Error naming the file for I/O errors, truncation and corrupt gzip (CRC, bad stream).
void read_nifti_into(
    const NiftiHeader& hdr, float* out, int64_t f_total, int64_t f_offset, ReadScratch& scratch);

} // namespace dwipack::io
