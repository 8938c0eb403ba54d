#pragma once
// Tractogram readers written for dwipack: TrackVis .trk, MRtrix .tck and TRX (.trx: a ZIP archive
// or a folder of flat arrays). They stream: the file is read in chunks and each streamline is
// handed to a visitor as soon as it is parsed, in RAS mm float32, so a caller never needs the whole
// file (nor a copy of it) in memory.
#include "dwipack/process/affine.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dwipack::io {

enum class TractogramFormat { trk, tck, trx };

/// One data-per-streamline key of a .trk (a TrackVis "property"; nibabel encodes a key with k
/// columns as "name\0k" in the 20-byte name field, k = 1 when there is no suffix) or of a .trx
/// (an array dps/<name>[.<k>].<dtype>).
struct DpsKey {
  std::string name;
  int columns = 1;
};

struct TractogramHeader {
  std::string path;
  TractogramFormat format = TractogramFormat::trk;
  /// Streamline count announced by the header: TRK n_count (0 means "unknown" in TrackVis),
  /// TCK `count`, TRX NB_STREAMLINES; -1 when the header has none.
  int64_t count_in_header = -1;
  /// Point count announced by the header: TRX NB_VERTICES (checked against the arrays' sizes);
  /// -1 for the other formats.
  int64_t points_in_header = -1;
  bool byte_swapped = false; ///< file byte order differs from this machine's

  // --- TRK and TRX: the header's own space, which defines the group's space attributes ---
  int version = 0;                       ///< TRK: 1 or 2 (3: read as 2, as nibabel does)
  Affine vox_to_ras = identity_affine(); ///< float32 values of the header, widened (v1: see .cpp);
                                         ///< TRX: VOXEL_TO_RASMM rounded to float32, as trx-python
  std::array<int64_t, 3> dimensions{};   ///< header `dimensions`; TRX: DIMENSIONS
  std::array<float, 3> voxel_sizes{};    ///< header `voxel_sizes`; TRX: the affine's column norms
  std::string voxel_order;      ///< header `voxel_order` ("RAS", "LPS", ...; "LPS" if empty, as nibabel);
                                ///< TRX: the affine's axis codes
  int n_scalars = 0;            ///< values per point after x, y, z (data per point: dropped)
  std::vector<DpsKey> dps_keys; ///< data per streamline, in file order (TRX: sorted by name)
  int n_properties = 0;         ///< values per streamline (sum of dps_keys columns)
  std::vector<DpsKey> dpp_keys; ///< data per point (TrackVis scalars), decoded as dps_keys

  // --- TCK only ---
  std::string tck_datatype; ///< Float32LE, Float32BE, Float64LE, Float64BE
  int64_t data_offset = 0;  ///< byte offset of the first point

  /// What nibabel would warn about (HeaderWarning) while accepting the file, e.g. a v1 .trk
  /// read with an identity vox_to_ras, or a .tck without 'datatype'. For the caller to log once.
  std::vector<std::string> warnings;
};

/// Read and check a header. Throws Error naming the file and what is wrong (unknown extension,
/// bad magic, hdr_size not 1000 in either byte order, unknown TCK datatype, missing 'file' or
/// 'END', offset outside the file, ...). For a .trx (a ZIP archive, or a folder named *.trx), the
/// header is header.json, and every array is checked against it here (names, dtypes, sizes);
/// the message names the member. Its dpv/, groups/ and dpg/ arrays are ignored (noted once per
/// file in the log, at INFO).
TractogramHeader read_tractogram_header(const std::string& path);

/// The float32 matrix nibabel applies to TrackVis voxmm points of this .trk to get RAS mm
/// (get_affine_trackvis_to_rasmm: vox_to_ras · reorientation · half-voxel shift · 1/voxel_sizes,
/// in float64, then cast), row-major. read_streamlines applies it as nibabel does.
std::array<float, 16> trk_voxmm_to_rasmm(const TractogramHeader& header);

/// Receives each streamline: `xyz_ras_mm` holds n_points x 3 float32 values in RAS mm (for a .trk,
/// nibabel's conversion from TrackVis voxmm, computed in float32 as nibabel does; for a .tck the
/// stored values, rounded to float32 if the file is Float64; for a .trx the positions, float16
/// widened and float64 rounded once to float32); `dps` holds the streamline's n_properties values
/// (.trk properties in file order, .trx dps arrays in name order converted to float32; nullptr
/// for .tck). `index` counts from 0. n_points may be 0 for a .trk or .trx (nibabel and TRX keep
/// empty streamlines; a .tck's are dropped, as nibabel).
using StreamlineVisitor =
    std::function<void(int64_t index, const float* xyz_ras_mm, int64_t n_points, const float* dps)>;

/// Buffers reused across files and subjects.
struct TractogramScratch {
  std::vector<unsigned char> chunk;     ///< file bytes being parsed
  std::vector<float> streamline;        ///< the current streamline, converted
  std::vector<float> dps;               ///< the current streamline's properties
  std::vector<float> points;            ///< TRX float32 positions being parsed
  size_t chunk_bytes = size_t{1} << 20; // 1 MiB stays in cache: 3.2-3.5 GB/s vs 2.4-2.9 at 16 MiB
};

/// Parse every streamline in file order and call `visit`. Returns the number of streamlines.
/// Throws Error naming the file for truncation (a streamline cut short, a .tck whose data ends
/// without its Inf end marker), a .trk n_count > 0 that disagrees with the data (n_count 0: read
/// to the end), NaN/Inf coordinates (other than a .tck's NaN separators and Inf end marker), read
/// errors; for a .trx, naming the member too: offsets that decrease or pass NB_VERTICES, a ZIP
/// member whose CRC-32 does not match (checked after its last byte) or whose deflate data is
/// corrupt. A .tck `count` is not checked against the data (nibabel ignores it). Exceptions thrown
/// by `visit` pass through unchanged.
int64_t
read_streamlines(const TractogramHeader& header, const StreamlineVisitor& visit, TractogramScratch& scratch);

} // namespace dwipack::io
