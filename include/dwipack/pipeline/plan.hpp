#pragma once
// The work plan: for every subject and group, the input files and the exact shapes, types and
// attributes of what will be written. Built from headers only (no voxel data is read), so every
// subject is validated before the first write, and all ranks can create the whole file layout
// collectively from the same plan.
#include "dwipack/config.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/pipeline/streamlines.hpp"
#include "dwipack/process/affine.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
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

namespace dwipack::pipeline {

struct VolumeGroupPlan {
  std::vector<std::string> files;       ///< resolved paths, concatenation order
  std::vector<int64_t> frames_per_file; ///< features contributed by each file
  std::array<int64_t, 3> shape{};       ///< X, Y, Z
  int64_t nb_features = 0;              ///< F = sum of frames_per_file
  Affine vox2ras = identity_affine();   ///< first file's affine (attr `affine`)
  std::array<float, 3> voxel_sizes{};   ///< first file's pixdim[1..3] (attr `voxres`)
  Standardization standardization = Standardization::none;
  std::vector<std::string> std_mask_files;
  /// The 2021 rules: mask voxels are those != 0 (not > 0), and a zero std becomes 1.
  bool rules_2021 = false;

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
  std::array<float, 3> voxel_sizes{};
  std::string voxel_order;
  /// Requested data per streamline (config dps_keys), with their number of columns.
  std::vector<io::DpsKey> dps;
  /// How points are stored: dwi_ml HEAD always uses "vox" with the corner origin; the 2021 layout
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
  std::vector<SubjectPlan> subjects; ///< in chosen_subjs order
  std::vector<std::string> training, validation, testing;
  std::string groups_config; ///< python repr of the config
  /// The 2021 layout (seed-era `create_hdf5_dataset`, spec §4) instead of dwi_ml HEAD's, with the
  /// file-level `space` attribute ("vox", "voxmm" or "rasmm").
  bool layout_2021 = false;
  std::string space_2021;
  std::string data_and_time; ///< '%d %B %Y %X' in the C locale
  /// --on_error skip: subjects left out because their inputs failed the checks, with the reason.
  std::vector<std::pair<std::string, std::string>> skipped;
};

// The plan travels between ranks as JSON text (doubles round-trip exactly: 17 digits).
// clang-format off
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VolumeGroupPlan, files, frames_per_file, shape, nb_features, vox2ras,
                                   voxel_sizes, standardization, std_mask_files, rules_2021)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TractogramFilePlan, path, vox2ras, dimensions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StreamlineGroupPlan, files, vox2ras, dimensions, voxel_sizes, voxel_order, dps,
                                   storage_space, center_origin, n_streamlines, n_points, connectivity_matrix,
                                   connectivity_shape, connectivity_nb_blocs, connectivity_labels, labels_shape)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GroupPlan, name, type, volume, streamlines)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InputFile, path, bytes, mtime_ns)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SubjectPlan, id, groups, inputs, input_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Plan, subjects, training, validation, testing, groups_config, data_and_time,
                                   layout_2021, space_2021, skipped)
// clang-format on

/// The seed-era `create_hdf5_dataset` rules (spec §4, §6.2, §8.2).
struct SeedOptions {
  bool enabled = false;
  std::string std_mask;             ///< --std_mask for every volume group, '*' = the subject id
  std::vector<std::string> bundles; ///< --bundles names (prefixes in bundles/); empty: all files
  bool enforce_bundles_presence = true;
  std::string space = "vox"; ///< --space: vox, voxmm or rasmm (center origin)
};

struct PlanOptions {
  bool enforce_files_presence = true;
  bool allow_outside_subject = false; ///< config paths may be absolute or contain '..'
  StreamlineOptions streamlines;      ///< needed to count points after processing
  SeedOptions seed;
};

/// Read the headers of one subject's inputs and check them against each other (dwi_ml's
/// intra-group and inter-group rules, std_mask shapes). Throws Error naming the group and file.
SubjectPlan plan_subject(const std::string& subject_dir,
                         const std::string& subject_id,
                         const Config& config,
                         const PlanOptions& options);

/// Subjects in the order their data should be processed: largest output first (the long ones
/// start early, so the tail of the job is short), ties by position.
std::vector<size_t> largest_first(const std::vector<SubjectPlan>& subjects);

} // namespace dwipack::pipeline
