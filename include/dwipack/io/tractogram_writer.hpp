#pragma once
// Writing .trk (TrackVis v2) and .tck (MRtrix, Float32LE) files: used by the synthetic-dataset
// generator and to export streamline groups.
#include "dwipack/io/tractogram.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace dwipack::io {

/// Streamlines in RAS mm, packed: points (P x 3 float32) and one length per streamline.
struct StreamlinesRas {
  std::vector<float> xyz;
  std::vector<int64_t> lengths;
  /// Optional data per streamline, for .trk only: one (S x key.columns) row-major array per key.
  std::vector<DpsKey> dps_keys;
  std::vector<std::vector<float>> dps_values;
};

/// The space a .trk is written in (its header).
struct TrkSpace {
  Affine vox_to_ras = identity_affine();
  std::array<int64_t, 3> dimensions{};
  std::array<float, 3> voxel_sizes{1, 1, 1};
  std::string voxel_order = "RAS"; ///< must agree with vox_to_ras (aff2axcodes)
};

/// Write a TrackVis v2 .trk (little-endian, hdr_size 1000, n_count set). Points are converted
/// from RAS mm to TrackVis voxmm the way nibabel's TrkFile.save does. Throws Error.
void write_trk(const std::string& path, const TrkSpace& space, const StreamlinesRas& streamlines);

/// Write an MRtrix .tck (Float32LE, NaN separators, Inf end marker, `count` set). Throws Error.
void write_tck(const std::string& path, const StreamlinesRas& streamlines);

} // namespace dwipack::io
