#pragma once
// A dataset's chunks as HDF5's filter pipeline "shuffle, then deflate" stores them, made in
// memory: the chunk shape chosen for dwi_ml's reads, HDF5's shuffle, and the zlib stream of a
// chunk. Pure (no file, no HDF5 call); the compressed copy (pipeline/compress.hpp) stores the
// results with H5Dwrite_chunk.
#include "dwipack/util/bytes.hpp"
#include "dwipack/util/gzip.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dwipack::process {

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
  gzip::Deflater deflater_;
  int level_;
  double stored_above_bits_;
  Bytes shuffled_;
};

} // namespace dwipack::process
