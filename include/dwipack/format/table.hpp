#pragma once
// The dwi_ml file as data: for each kind of object (the root, a volume group, a streamline group)
// one table of its attributes and datasets, with their storage types and where their values and
// shapes come from. Layout creation, reopening for --resume, verification and `inspect` all walk
// these tables (format/layout.hpp, tools/inspect); nothing else spells the format out.
// The 2021 layout is a second set of tables, chosen once per job (Kind). docs/format.md
// describes the same layout in words.
#include "dwipack/format/content.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::format {

/// How a value is stored: the HDF5 type h5py gives the numpy dtype dwi_ml writes.
enum class Type {
  f32,       ///< IEEE float32, little-endian
  f32be,     ///< IEEE float32, big-endian (a big-endian .trk header's values, kept as numpy keeps them)
  f64,       ///< IEEE float64, little-endian
  i16,       ///< int16, little-endian
  i16be,     ///< int16, big-endian
  i64,       ///< int64, little-endian
  u16,       ///< uint16, little-endian
  bool_enum, ///< numpy bool: ENUM(int8) {FALSE = 0, TRUE = 1}
  text,      ///< variable-length UTF-8 string (scalar attribute)
  text_list, ///< 1-D variable-length UTF-8 strings; an empty list is float64 (0,), as h5py writes []
};

/// numpy's name of a storage type ("float32", "bool", "str", ...), for messages and `inspect`.
const char* type_name(Type type);

using Dims = std::vector<uint64_t>;

/// One attribute value with its storage type. Numbers are held as doubles (exact for every
/// float32 and for the integers written here).
struct AttrValue {
  Type type = Type::text;
  Dims dims; ///< empty: a scalar
  std::vector<double> numbers;
  std::vector<std::string> texts;

  static AttrValue text(std::string value);
  static AttrValue text_list(std::vector<std::string> values);
  static AttrValue number(Type type, double value);
  static AttrValue numbers_of(Type type, Dims dims, std::vector<double> values);
};

/// dwi_ml's text for step_size / nb_points / compress when the option was not given.
inline constexpr const char* not_defined_by_user = "Not defined by user";

/// What dwipack adds to the root attributes (names start with "dwipack_"; dwi_ml ignores them).
struct Provenance {
  std::string version;
  std::string git_commit;
  std::string command_line;
  int64_t ranks = 1;
  /// One JSON text per written subject: {"subject": id, "files": [[path, bytes, mtime], ...]}.
  std::vector<std::string> inputs;
  /// One JSON text per subject left out by --on_error skip: {"subject": id, "reason": text}.
  std::vector<std::string> skipped;
  /// Each rank's host name, in rank order (which nodes the job ran on).
  std::vector<std::string> rank_hosts;
  /// One JSON text per written subject: what its content depends on (--resume compares it with
  /// the inputs): {"subject", "digest", "options", "groups": {name: digest}, "inputs": [[path,
  /// bytes, mtime_ns(, checksum)], ...]}.
  std::vector<std::string> subject_digests;
};

/// The root attributes' sources: the plan, and the subjects actually written.
struct RootContent {
  const Plan& plan;
  std::vector<std::string> chosen, training, validation, testing; ///< written subjects only
  Provenance provenance;
};

/// An attribute of an object whose content is `Source`: its name and its value (nullopt: the
/// attribute is not written for this content).
template <class Source> struct AttributeRule {
  const char* name;
  std::function<std::optional<AttrValue>(const Source&)> value;
  bool required = true; ///< every object of its kind has it (false: depends on the content)
};

/// What a dataset holds, for the code that writes it.
enum class Role {
  data,
  offsets,
  lengths,
  euclidean_lengths,
  dps,
  connectivity_matrix,
  connectivity_label_volume
};

/// One dataset a rule makes in a group.
struct DatasetInstance {
  std::string name; ///< path relative to the group
  Dims dims;
  Type stored; ///< its type in the file
  Type held;   ///< the type its writer supplies (HDF5 converts, exactly, when they differ)
};

/// One dataset of a group (or a family: one per data_per_streamline key).
struct DatasetRule {
  Role role;
  /// The datasets this rule makes in a group (none when the group has no connectivity, no dps
  /// keys, ...).
  std::function<std::vector<DatasetInstance>(const GroupPlan&)> instances;
  bool required = true; ///< every group of its kind has exactly one (false: dps keys, connectivity)
};

/// A group of one kind: attributes in writing order, sub-groups always created, datasets.
struct GroupRules {
  GroupType type;
  std::vector<AttributeRule<GroupPlan>> attributes;
  std::vector<std::string> subgroups;
  std::vector<DatasetRule> datasets;
};

/// One layout: its tables, and the numerics its reference code used.
struct Format {
  Kind kind;
  std::vector<AttributeRule<RootContent>> root;
  GroupRules volume;
  GroupRules streamlines;
  VolumeRules volume_rules;  ///< copied into every volume group's plan
  bool points_center_origin; ///< streamline points: voxel center (2021) or corner origin
  bool points_space_option;  ///< streamline points in --space (2021) rather than always "vox"
  bool has_testing_list;     ///< the 2021 layout has no testing set
  bool has_dps_and_connectivity;

  const GroupRules& group(GroupType type) const { return type == GroupType::volume ? volume : streamlines; }
};

/// The tables of a layout (built once, immutable).
const Format& format_of(Kind kind);

/// The attributes and datasets every group of `type` has (checks of files written by anyone).
std::vector<std::string> required_attributes(const Format& format, GroupType type);
std::vector<std::string> required_datasets(const Format& format, GroupType type);

/// The group kind whose `type` attribute reads `type_attribute` ("volume", "streamlines"), or nullopt.
std::optional<GroupType> group_type_named(const std::string& type_attribute);

} // namespace dwipack::format
