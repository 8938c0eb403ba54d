#pragma once
// Cheap completeness checks of input files, for the planning phase: a file cut short (a copy
// interrupted, a quota reached while writing it) is refused before the output exists, and by
// --dry-run, from its size and a few bytes at its end rather than by reading all of it.
//   .nii      the file holds vox_offset + the voxel bytes its header describes
//   .nii.gz   the gzip trailer's ISIZE equals that size modulo 2^32; when it does not (several
//             gzip members, bytes after the image, or a cut file), the stream is decoded once to
//             tell a valid file from a cut one
//   .tck      whole points after the header's offset, the last one the end-of-file marker (Inf)
// A .trk is checked by planning's hop over its streamline counts (io/trk_scan) and, when that
// fails, its full counting pass; a .trx by its header and ZIP directory. What only reading all
// the data can find (a corrupt deflate block with an intact trailer, a bad point inside a
// tractogram) is still found while writing.
#include "dwipack/io/nifti.hpp"
#include "dwipack/io/tractogram.hpp"

#include <string>

namespace dwipack::io {

/// Throws Error("file 'PATH': truncated: ...") if the NIfTI file whose header is `h` is shorter
/// than that header says. (Planning passes the header it read: no second read of it.)
void check_complete(const NiftiHeader& h);
/// The same for a .tck; a .trk or .trx is not looked at here (see above).
void check_complete(const TractogramHeader& h);

/// A checksum of the whole content of `path` (--checksum: for file systems whose modification
/// times cannot be trusted): "crc32:<8 hex digits>", read in 4 MiB pieces. Throws Error.
std::string content_checksum(const std::string& path);

} // namespace dwipack::io
