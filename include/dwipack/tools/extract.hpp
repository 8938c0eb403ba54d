#pragma once
// `dwipack extract FILE SUBJECT GROUP OUT`: one group of a dwi_ml HDF5 file back to a file a
// viewer opens (like dwi_ml's dwiml_hdf5_extract_data), so a user can look at what went into
// training:
// - a volume group -> OUT.nii or OUT.nii.gz: float32 (X, Y, Z, F) data, the group's `affine`
//   (sform), voxel sizes from `voxres`;
// - a streamline group -> OUT.trk, OUT.tck or OUT.trx in RAS mm. The stored points are converted
//   back from the group's `space` / `origin` (vox, voxmm or rasmm; corner or center; dwipack and
//   dwi_ml write vox + corner) with its `affine`, in double, then rounded to float32.
//   data_per_streamline/* become .trk properties or .trx dps arrays (float32); a .tck cannot hold
//   them (dropped, with a warning). A .trx is a stored ZIP archive (positions.3.float32,
//   offsets.uint64, dps/*, header.json with the group's affine and dimensions);
// - a streamline group's `connectivity_matrix` -> OUT.npy: numpy bool, as dwi_ml stores it
//   (np.load(file) > 0; docs/format.md §5.8); a matrix of another type becomes float64.
#include <cstdint>
#include <string>

namespace dwipack::tools {

struct ExtractOptions {
  std::string file;       ///< the HDF5 file
  std::string subject;    ///< subject id (a root group)
  std::string group;      ///< group name under the subject
  std::string out;        ///< .nii, .nii.gz, .trk, .tck, .trx or .npy, matching the group's type
  bool overwrite = false; ///< replace an existing `out`
  int gzip_level = 6;     ///< for .nii.gz
};

struct ExtractResult {
  std::string type;        ///< "volume" or "streamlines"
  std::string summary;     ///< one line for the user: what was written where
  int64_t streamlines = 0; ///< streamlines written (streamline groups)
  int64_t points = 0;      ///< points written (streamline groups)
};

/// Write the group to opts.out. Throws Error naming the file, the HDF5 path and the fact (no such
/// subject or group, not a dwi_ml group, output extension not matching the group's type, existing
/// output without overwrite, inconsistent offsets/lengths, ...). Warnings (dropped dps, a missing
/// `origin` read as center, a missing `voxres`) go to the log.
ExtractResult extract(const ExtractOptions& opts);

} // namespace dwipack::tools
