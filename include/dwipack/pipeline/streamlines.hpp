#pragma once
// Processing one streamline group of one subject, the way dwi_ml's HDF5Creator does it
// (docs/format.md §5.3): for each file in order, load (with dipy's bounding-box check), keep the
// requested data per streamline, resample or compress, optionally drop invalid streamlines, measure
// euclidean lengths in RAS mm, convert to voxel space with corner origin, and append.
//
// The same code runs twice: while planning, without a sink, only to count streamlines and
// points (their sizes are known only after processing, and every dataset must be created
// collectively before any data is written); then while writing, with a sink that receives the
// points in blocks, so a rank never holds a whole tractogram.
#include "dwipack/format/content.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/process/streamline.hpp"
#include "dwipack/util/crc32.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dwipack::pipeline {

using format::StreamlineGroupPlan;
using format::StreamlineOptions;

/// Receives a group's processed data, in order.
class StreamlineSink {
public:
  virtual ~StreamlineSink() = default;
  /// Rows [row0, row0 + n_rows) of the (P, 3) voxel-space points.
  virtual void points(int64_t row0, const float* xyz_vox, int64_t n_rows) = 0;
  /// The byte position of point row 0 within a 4 KiB page of the file, when the points go
  /// straight to the file (0 otherwise). Data handed to points() at the same position within a
  /// page of memory reaches the disk without a copy (h5::DirectWriter). Called before points().
  virtual size_t points_page_phase() const { return 0; }
  /// The CRC-32 of all the point rows, in row order, taken by the processing thread while they
  /// were in cache (a second pass over them in memory cost 7% of a conversion). Called once,
  /// after the last points().
  virtual void points_crc(const Crc32& crc) = 0;
  /// The per-streamline arrays, once all points were delivered. dps[k] is S x columns(k).
  virtual void streamline_arrays(const std::vector<int64_t>& offsets,
                                 const std::vector<int64_t>& lengths,
                                 const std::vector<float>& euclidean_lengths,
                                 const std::vector<std::vector<float>>& dps) = 0;
};

struct StreamlineCounts {
  int64_t n_streamlines = 0;
  int64_t n_points = 0;
  /// Some streamline has fewer than 2 points: dipy measures its length as the integer 0, so
  /// dwi_ml's euclidean_lengths become float64.
  bool has_short_streamline = false;
  /// --remove_invalid: streamlines dropped for a point too close to the volume's border.
  int64_t n_removed_invalid = 0;
};

/// Streamlines parsed ahead by the reader thread (RAS mm), waiting to be processed.
struct ReadBatch {
  std::vector<float> points;   ///< the streamlines' points, one after the other
  std::vector<int64_t> counts; ///< points per streamline
  std::vector<float> dps;      ///< n_properties values per streamline
  void clear() {
    points.clear();
    counts.clear();
    dps.clear();
  }
};

/// Buffers a worker keeps across groups and subjects.
struct StreamlineBuffers {
  io::TractogramScratch reader;
  std::vector<float> work;                 ///< the current streamline (RAS mm, transformed in place)
  std::vector<float> resampled;            ///< its resampled / compressed version
  std::vector<int64_t> kept;               ///< indices kept by compression
  std::vector<ReadBatch> read_batches;     ///< between the reader and the processing thread
  bool read_ahead = true;                  ///< parse on a thread of its own (when a core is spare)
  const std::atomic<bool>* busy = nullptr; ///< while it holds true, no read-ahead (a file's choice)
  process::ConvertScratch convert;         ///< convert_to_corner's coordinate arrays
  std::vector<std::vector<float>> blocks;  ///< point blocks between the processing and writing threads
  std::vector<int64_t> offsets, lengths;
  std::vector<float> euclidean_lengths;
  std::vector<std::vector<float>> dps;
  size_t block_points = size_t{1} << 21; ///< 2 Mi points (24 MiB) per sink call
};

/// Process the group's files. Without a sink (planning) only the counts are produced. Throws
/// Error naming the file (and the streamline index) for invalid input.
StreamlineCounts process_streamline_group(const StreamlineGroupPlan& plan,
                                          const StreamlineOptions& options,
                                          StreamlineBuffers& buffers,
                                          StreamlineSink* sink);

} // namespace dwipack::pipeline
