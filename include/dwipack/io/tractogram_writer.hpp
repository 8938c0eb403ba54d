#pragma once
// Writing .trk (TrackVis v2), .tck (MRtrix, Float32LE) and .trx (TRX: a ZIP archive of stored
// arrays) files: used by the synthetic-dataset generator and to export streamline groups.
#include "dwipack/io/tractogram.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dwipack::io {

/// Streamlines in RAS mm, packed: points (P x 3 float32) and one length per streamline.
struct StreamlinesRas {
  std::vector<float> xyz;
  std::vector<int64_t> lengths;
  /// Optional data per streamline, for .trk and .trx: one (S x key.columns) row-major array per key.
  std::vector<DpsKey> dps_keys;
  std::vector<std::vector<float>> dps_values;
};

/// The space a .trk is written in (its header).
struct TrkSpace {
  Affine vox_to_ras = identity_affine();
  std::array<int64_t, 3> dimensions{};
  std::array<float, 3> voxel_sizes{1, 1, 1};
  /// Usually aff2axcodes(vox_to_ras). Another order is allowed: the voxmm points are then
  /// reoriented as nibabel expects (its inv_ornt_aff), so RAS mm still round-trips.
  std::string voxel_order = "RAS";
};

/// The space a .trx is written in (its header.json: VOXEL_TO_RASMM, DIMENSIONS).
struct TrxSpace {
  Affine vox_to_ras = identity_affine();
  std::array<int64_t, 3> dimensions{}; ///< each 1 to 32767
};

/// Write a TrackVis v2 .trk (little-endian, hdr_size 1000, n_count set). Points are converted
/// from RAS mm to TrackVis voxmm the way nibabel's TrkFile.save does (float64 inverse of the
/// float32 voxmm->RAS matrix, applied in float64, rounded to float32). Property names are
/// "name" or "name\0k" for k columns, in the given key order (nibabel sorts them). An empty
/// tractogram is written with no properties, as nibabel does (nibabel cannot load them).
/// Throws Error naming the file; a failed write leaves no file.
void write_trk(const std::string& path, const TrkSpace& space, const StreamlinesRas& streamlines);

/// Write an MRtrix .tck (Float32LE, NaN separators, Inf end marker, `count` set). Throws Error.
/// Data per streamline cannot be stored in a .tck: streamlines.dps_* are ignored.
void write_tck(const std::string& path, const StreamlinesRas& streamlines);

/// Streaming .trk writer, for files too big to hold in memory: the header goes first (n_count 0),
/// append() adds chunks, close() writes the final n_count. Every chunk must carry the dps keys
/// given here (same names and columns, same order). A writer destroyed before a successful
/// close() removes its incomplete file. write_trk() is open + one append + close.
class TrkWriter {
public:
  TrkWriter(const std::string& path, const TrkSpace& space, const std::vector<DpsKey>& dps_keys);
  ~TrkWriter();
  TrkWriter(const TrkWriter&) = delete;
  TrkWriter& operator=(const TrkWriter&) = delete;
  void append(const StreamlinesRas& chunk);
  void close();
  int64_t count() const; ///< streamlines appended so far

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Streaming .tck writer (same contract as TrkWriter; dps are ignored).
class TckWriter {
public:
  explicit TckWriter(const std::string& path);
  ~TckWriter();
  TckWriter(const TckWriter&) = delete;
  TckWriter& operator=(const TckWriter&) = delete;
  void append(const StreamlinesRas& chunk);
  void close();
  int64_t count() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Streaming TRX writer: a ZIP archive (stored members, ZIP64 records where sizes or offsets need
/// them) holding positions.3.float32 (RAS mm, as given), offsets.uint64 (NB_STREAMLINES entries),
/// dps/<name>.float32 or dps/<name>.<k>.float32 per key, and header.json. The positions go to the
/// file as they come; the offsets and dps (8 + 4 x columns bytes per streamline) are kept in
/// memory and written by close(). Same contract as TrkWriter otherwise: the dps keys of every chunk
/// are the ones given here, and a writer destroyed before a successful close() removes its file.
class TrxWriter {
public:
  TrxWriter(const std::string& path, const TrxSpace& space, const std::vector<DpsKey>& dps_keys);
  ~TrxWriter();
  TrxWriter(const TrxWriter&) = delete;
  TrxWriter& operator=(const TrxWriter&) = delete;
  void append(const StreamlinesRas& chunk);
  void close();
  int64_t count() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// TrxWriter in one call.
void write_trx(const std::string& path, const TrxSpace& space, const StreamlinesRas& streamlines);

} // namespace dwipack::io
