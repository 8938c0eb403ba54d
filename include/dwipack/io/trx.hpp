#pragma once
// What the pipeline needs of a TRX beyond the common tractogram interface (io/tractogram.hpp):
// its structure from the offsets array alone, as io/trk_scan.hpp gives a .trk's.
#include "dwipack/io/tractogram.hpp"
#include "dwipack/io/trk_scan.hpp"

#include <optional>

namespace dwipack::io {

/// A .trx's streamline and point counts and its shortest streamline, from its offsets array
/// (4 or 8 bytes per streamline; no point data is read): what scan_trk_layout gives for a .trk.
/// Nullopt when the offsets do not hold together (a first entry other than 0, an entry that
/// decreases or passes NB_VERTICES, a final entry other than NB_VERTICES, a CRC-32 that does not
/// match): the full reader then names the problem. Throws Error (file and member named) when the
/// TRX cannot be opened or its arrays do not match its header, as read_tractogram_header does.
std::optional<TrkLayout> scan_trx_layout(const TractogramHeader& header);

} // namespace dwipack::io
