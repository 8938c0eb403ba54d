#pragma once
// --compression gzip[:LEVEL]: a compressed copy of a complete (uncompressed) output file.
//
// The conversion itself is unchanged (uncompressed, independent writes by whichever worker
// converts a subject, into OUT.partial, journaled for --resume). Once that file is complete and
// closed, every rank joins one pass that writes the compressed copy:
//   - rank 0 creates the new file (serial HDF5, the properties of h5py's files: no timestamps,
//     no creation order, the source's name encodings and attribute types and values), and every
//     dataset chunked with the shuffle and deflate filters, as h5py's
//     compression='gzip', shuffle=True writes it;
//   - the datasets' chunks are cut into tasks of 4 MiB, dealt round-robin to the workers (ranks
//     1..N-1; rank 0 itself when N == 1). A worker reads its rows from the uncompressed file
//     (O_DIRECT unless they are in the page cache; the next task's rows are read in the
//     background while it compresses), shuffles and deflates each chunk itself (ChunkCompressor:
//     libdeflate, about twice as fast as zlib, writing the zlib stream HDF5's filter 1 reads)
//     and sends the chunks to rank 0, up to 8 tasks ahead;
//   - rank 0 stores them in task order with H5Dwrite_chunk (the filters are recorded as applied),
//     so the file does not depend on the number of ranks.
// So compression, the expensive part, runs on every worker at once, with no collective call
// while it runs; rank 0 only copies compressed bytes into the file (and sleeps while it waits).
//
// Why not HDF5's own parallel filtered writes (each rank compressing its share of chunks inside
// collective H5Dwrite calls): in HDF5 1.10.8, measured on a 2.2 GB file with 3 ranks on 2
// cores, that pass took 14-37 s, the ranks spinning in HDF5's collective calls most of the time
// (an irregular selection even made HDF5 map it element by element: 55-80 s); this design takes
// 3.3-4 s. H5Dwrite_chunk is used on a serial file only (in parallel it loses chunks).
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct libdeflate_compressor; // <libdeflate.h>

namespace dwipack::h5 {

/// An allocator whose resize() leaves new bytes uninitialised (buffers filled right after).
template <class T> struct UninitializedAllocator : std::allocator<T> {
  template <class U> struct rebind { using other = UninitializedAllocator<U>; };
  UninitializedAllocator() = default;
  template <class U> UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <class U> void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
  template <class U, class... Args> void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Bytes = std::vector<unsigned char, UninitializedAllocator<unsigned char>>;

/// The gzip level of --compression gzip (without ':LEVEL'), as h5py's compression='gzip'.
inline constexpr int default_gzip_level = 4;

/// Where the compressed copy of `partial` is written before it is renamed into place.
std::string compressed_path(const std::string& partial);

/// The chunk shape of a dataset of shape `dims` and `element_bytes`-byte elements: whole rows
/// along the first axis, as many as fit in about 96 KiB for streamline points (dwi_ml reads them
/// a few rows at a time), 4 MiB for volumes (read whole: a few X-slices per chunk) and 1 MiB for
/// the other arrays; a row too large for that is split along the next axes. A zero-length axis
/// gets the count that would fit (h5py too makes chunks larger than an empty dataset).
std::vector<uint64_t>
chunk_shape(const std::vector<uint64_t>& dims, size_t element_bytes, bool streamline_points);

/// HDF5's shuffle filter (filter 2), forward: byte b of element i goes to b * n + i. A trailing
/// partial element is copied as is. `out` holds `bytes` bytes.
void shuffle_bytes(const unsigned char* in, unsigned char* out, size_t bytes, size_t element_bytes);

/// One chunk through HDF5's filter pipeline "shuffle, then deflate", done here: the output is
/// what HDF5 stores for the chunk (a zlib stream of the shuffled bytes). Leading byte planes that
/// are noise (the low mantissa bytes of floats, typically) are put in deflate's stored blocks
/// instead of being run through the compressor, which costs as much as on any other byte and
/// gains nothing on them: at levels 4-9, planes whose order-0 entropy exceeds 7.92 bits per byte
/// (deflate would shrink them by less than 1 %); at levels 1-3, which favour speed, 7.2 bits
/// (less than 10 %). The planes from the first compressible one on are deflated at the level.
/// Any zlib/HDF5 reader decodes the result.
class ChunkCompressor {
public:
  explicit ChunkCompressor(int level);
  ~ChunkCompressor();
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;

  /// Append the stored form of `bytes` bytes of `element_bytes`-byte elements to `out`; returns
  /// its size.
  size_t compress(const unsigned char* chunk, size_t bytes, size_t element_bytes, Bytes& out);

private:
  ::libdeflate_compressor* compressor_;
  int level_;
  double stored_above_bits_;
  Bytes shuffled_;
};

/// Collective over comm. Write `to`: a copy of the closed HDF5 file `from` with every dataset
/// chunked (chunk_shape) and compressed with shuffle + deflate at `level` (1..9); see above.
/// Returns 0 on every rank when `to` is complete, or, on every rank, the signal (SIGTERM/SIGINT)
/// that stopped it (then `to` is removed). Throws Error on an HDF5, MPI or file failure; the
/// caller must abort the job (the other ranks may be waiting for this one).
int write_compressed_copy(const std::string& from, const std::string& to, int level, MPI_Comm comm);

} // namespace dwipack::h5
