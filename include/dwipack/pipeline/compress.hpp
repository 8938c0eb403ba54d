#pragma once
// --compression gzip[:LEVEL]: a compressed copy of a complete (uncompressed) output file.
//
// The conversion itself is unchanged (uncompressed, independent writes by whichever worker
// converts a subject, into OUT.partial, journaled for --resume). Once that file is complete and
// closed, every rank joins one pass that writes the compressed copy:
//   - rank 0 creates the new file (serial HDF5, the properties of h5py's files: no timestamps,
//     no creation order, the source's name encodings and attribute types and values), and every
//     dataset chunked with the shuffle and deflate filters, as h5py's
//     compression='gzip', shuffle=True writes it (h5/copy.hpp);
//   - the datasets' chunks are cut into tasks of 4 MiB, dealt round-robin to the workers (ranks
//     1..N-1; rank 0 itself when N == 1). A worker reads its rows from the uncompressed file
//     (O_DIRECT unless they are in the page cache; the next task's rows are read in the
//     background while it compresses), shuffles and deflates each chunk itself
//     (process::ChunkCompressor: libdeflate when built with it, about twice as fast as zlib,
//     else zlib; the zlib stream HDF5's filter 1 reads) and sends the chunks to rank 0, up to 8
//     tasks ahead;
//   - rank 0 stores them in task order with H5Dwrite_chunk (the filters are recorded as applied),
//     so the file does not depend on the number of ranks, and reports the bytes of data stored
//     so far to the caller's progress display (CompressionProgress).
// So compression, the expensive part, runs on every worker at once, with no collective call
// while it runs; rank 0 only copies compressed bytes into the file (and sleeps while it waits).
// The messages go through mpi::Comm (tags compressed_chunks and compression_over) on a duplicate
// of the caller's communicator.
//
// Why not HDF5's own parallel filtered writes (each rank compressing its share of chunks inside
// collective H5Dwrite calls): in HDF5 1.10.8, measured on a 2.2 GB file with 3 ranks on 2
// cores, that pass took 14-37 s, the ranks spinning in HDF5's collective calls most of the time
// (an irregular selection even made HDF5 map it element by element: 55-80 s); this design takes
// 3.3-4 s. H5Dwrite_chunk is used on a serial file only (in parallel it loses chunks).
#include "dwipack/mpi/comm.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace dwipack::pipeline {

/// The gzip level of --compression gzip (without ':LEVEL'), as h5py's compression='gzip'.
inline constexpr int default_gzip_level = 4;

/// Where the compressed copy of `partial` is written before it is renamed into place.
std::string compressed_path(const std::string& partial);

/// Rank 0's view of the pass, for a progress display: the chunks of `stored_bytes` of data
/// (uncompressed bytes) of `total_bytes` are in the copy. Called once with 0 when the copy's
/// structure is written, then after each task stored (every 4 MiB of data or so), on rank 0 only.
using CompressionProgress = std::function<void(uint64_t stored_bytes, uint64_t total_bytes)>;

/// Collective over comm. Write `to`: a copy of the closed HDF5 file `from` with every dataset
/// chunked (process::chunk_shape) and compressed with shuffle + deflate at `level` (1..9); see
/// above. Returns 0 on every rank when `to` is complete, or, on every rank, the signal
/// (SIGTERM/SIGINT) that stopped it (then `to` is removed). Throws Error on an HDF5, MPI or file
/// failure; the caller must abort the job (the other ranks may be waiting for this one).
/// `on_stored` (rank 0; may be empty): see CompressionProgress.
int write_compressed_copy(const std::string& from,
                          const std::string& to,
                          int level,
                          const mpi::Comm& comm,
                          const CompressionProgress& on_stored = {});

} // namespace dwipack::pipeline
