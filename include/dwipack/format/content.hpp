#pragma once
// What the output file will hold, subject by subject and group by group: the exact shapes and
// the values of every attribute, and the input files each group is made from. The planning phase
// (pipeline/plan) fills it from headers alone; the format table (format/table) turns it into
// groups, attributes and datasets; the workers read their inputs from it. Plain data: it
// travels between ranks as JSON (doubles round-trip exactly).
#include "dwipack/config.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/process/affine.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dwipack {
NLOHMANN_JSON_SERIALIZE_ENUM(GroupType,
                             {{GroupType::volume, "volume"}, {GroupType::streamlines, "streamlines"}})
NLOHMANN_JSON_SERIALIZE_ENUM(Standardization,
                             {{Standardization::all, "all"},
                              {Standardization::independent, "independent"},
                              {Standardization::per_file, "per_file"},
                              {Standardization::none, "none"}})
} // namespace dwipack

namespace dwipack::io {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DpsKey, name, columns)
} // namespace dwipack::io

namespace dwipack::format {

/// The two layouts dwipack writes, chosen once per job by the command line: dwi_ml's current one
/// (`dwiml_create_hdf5_dataset`, `dwipack create`) and the 2021 one of the seed-era
/// `create_hdf5_dataset` (docs/format.md §7).
enum class Kind { dwi_ml, dwi_ml_2021 };
NLOHMANN_JSON_SERIALIZE_ENUM(Kind, {{Kind::dwi_ml, "dwi_ml"}, {Kind::dwi_ml_2021, "dwi_ml_2021"}})

/// The numerics of a volume group that differ between the layouts' reference code.
struct VolumeRules {
  bool mask_nonzero = false;    ///< mask voxels are those != 0 (2021) instead of > 0
  bool zero_std_to_one = false; ///< a zero std becomes 1 (2021) instead of being clamped to 1e-6
};

/// The command line's streamline options (mutually exclusive resampling / compression).
struct StreamlineOptions {
  std::optional<double> step_size_mm; ///< --step_size (0 is written but means "no resampling")
  std::optional<int64_t> nb_points;   ///< --nb_points
  std::optional<double> compress_mm;  ///< --compress [tolerance]
  bool remove_invalid = false;        ///< --remove_invalid
};

struct VolumeGroupPlan {
  std::vector<std::string> files;       ///< resolved paths, concatenation order
  std::vector<int64_t> frames_per_file; ///< features contributed by each file
  std::array<int64_t, 3> shape{};       ///< X, Y, Z
  int64_t nb_features = 0;              ///< F = sum of frames_per_file
  Affine vox2ras = identity_affine();   ///< first file's affine (attr `affine`)
  std::array<double, 3> voxel_sizes{};  ///< first file's zooms, at its header's precision (attr `voxres`)
  bool nifti2 = false;                  ///< the first file is NIfTI-2: nibabel's zooms are float64
  Standardization standardization = Standardization::none;
  std::vector<std::string> std_mask_files;
  VolumeRules rules;

  int64_t n_voxels() const { return shape[0] * shape[1] * shape[2]; }
  int64_t bytes() const { return n_voxels() * nb_features * 4; }
};

/// One tractogram of a streamline group, with the space dipy loads it in: its own header for a
/// .trk, the reference NIfTI (first volume group's first file) for a .tck.
struct TractogramFilePlan {
  std::string path;
  Affine vox2ras = identity_affine(); ///< float32 values, widened
  std::array<int64_t, 3> dimensions{};
};

struct StreamlineGroupPlan {
  std::vector<TractogramFilePlan> files; ///< concatenation order
  // Space attributes of the group (the first file's, as dipy keeps them on concatenation).
  Affine vox2ras = identity_affine(); ///< attr `affine`, stored as float32
  std::array<int64_t, 3> dimensions{};
  std::array<double, 3> voxel_sizes{}; ///< at the header's precision (float32, or NIfTI-2's float64)
  std::string voxel_order;
  bool reference_nifti2 = false;  ///< the space comes from a NIfTI-2 header: int64 / float64 attributes
  bool header_big_endian = false; ///< the space comes from a big-endian .trk header
  /// Some streamline has fewer than 2 points (euclidean_lengths are then float64, as in dwi_ml).
  bool has_short_streamline = false;
  /// Requested data per streamline (config dps_keys), with their number of columns.
  std::vector<io::DpsKey> dps;
  /// How points are stored: dwi_ml always uses "vox" with the corner origin; the 2021 layout
  /// uses --space ("vox", "voxmm" or "rasmm") with the center origin.
  std::string storage_space = "vox";
  bool center_origin = false;
  /// Counts after processing (resampling, compression, --remove_invalid): dataset sizes.
  int64_t n_streamlines = 0;
  int64_t n_points = 0;
  // Connectivity (empty path: none).
  std::string connectivity_matrix;
  std::vector<uint64_t> connectivity_shape;
  std::vector<int64_t> connectivity_nb_blocs;
  std::string connectivity_labels;
  std::array<int64_t, 3> labels_shape{};

  int64_t bytes() const { return n_points * 12 + n_streamlines * 20; }
};

struct GroupPlan {
  std::string name;
  GroupType type = GroupType::volume;
  VolumeGroupPlan volume;          ///< when type == volume
  StreamlineGroupPlan streamlines; ///< when type == streamlines
};

/// An input file as it was when planned (provenance, and --resume's check that it is unchanged).
struct InputFile {
  std::string path; ///< relative to the subject folder when inside it
  int64_t bytes = 0;
  int64_t mtime_ns = 0; ///< modification time, ns since the epoch
};

struct SubjectPlan {
  std::string id;
  std::vector<GroupPlan> groups; ///< config order: volume groups, then streamline groups
  std::vector<InputFile> inputs; ///< every file read, in reading order
  int64_t input_bytes = 0;       ///< sum of the inputs' sizes (for progress and scheduling)
  int64_t output_bytes() const;
};

/// The whole job, identical on every rank.
struct Plan {
  Kind kind = Kind::dwi_ml;
  std::vector<SubjectPlan> subjects; ///< in chosen_subjs order
  std::vector<std::string> training, validation, testing;
  std::string groups_config; ///< python repr of the config
  /// The 2021 layout's file-level `space` attribute ("vox", "voxmm" or "rasmm").
  std::string space_2021;
  std::string data_and_time; ///< '%d %B %Y %X' in the C locale
  StreamlineOptions streamline_options;
  /// --on_error skip: subjects left out because their inputs failed the checks, with the reason.
  std::vector<std::pair<std::string, std::string>> skipped;
};

void to_json(nlohmann::json& j, const StreamlineOptions& o);
void from_json(const nlohmann::json& j, StreamlineOptions& o);

// clang-format off
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VolumeRules, mask_nonzero, zero_std_to_one)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VolumeGroupPlan, files, frames_per_file, shape, nb_features, vox2ras,
                                   voxel_sizes, nifti2, standardization, std_mask_files, rules)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TractogramFilePlan, path, vox2ras, dimensions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StreamlineGroupPlan, files, vox2ras, dimensions, voxel_sizes, voxel_order,
                                   reference_nifti2, header_big_endian, has_short_streamline, dps, storage_space, center_origin, n_streamlines, n_points, connectivity_matrix,
                                   connectivity_shape, connectivity_nb_blocs, connectivity_labels, labels_shape)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GroupPlan, name, type, volume, streamlines)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InputFile, path, bytes, mtime_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SubjectPlan, id, groups, inputs, input_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Plan, kind, subjects, training, validation, testing, groups_config, space_2021,
                                   data_and_time, streamline_options, skipped)
// clang-format on

} // namespace dwipack::format
