#pragma once
// A .trk's structure from its streamline counts alone: each streamline is an int32 point count,
// its points (3 + n_scalars floats each) and its properties. Hopping from count to count (through
// a cache-sized read window) decodes one int32 per streamline and no point data, so planning learns the
// exact streamline and point counts, whether some streamline is shorter than 2 points (dwi_ml's
// euclidean_lengths are then float64), and whether the file is cut or has trailing bytes, far
// cheaper than parsing the points.
#include "dwipack/io/tractogram.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace dwipack::io {

struct TrkLayout {
  int64_t n_streamlines = 0;
  int64_t n_points = 0;
  int64_t min_points = 0; ///< fewest points of a streamline (0 for an empty file)
};

/// Scan a .trk whose header was read. Nullopt when the counts do not add up to its size (a
/// negative count, a streamline running past the end, bytes left after the last one, a count
/// other than the header's n_count when that is not 0): the full reader then names the problem.
/// Throws Error only if the file cannot be opened or mapped.
std::optional<TrkLayout> scan_trk_layout(const TractogramHeader& header);

} // namespace dwipack::io
