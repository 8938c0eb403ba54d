#pragma once
// The JSON groups config (dwi_ml's format, docs/format.md §4, §5) and the subject lists, parsed into typed
// structs once and validated; every error names the file and the JSON location.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dwipack {

enum class GroupType { volume, streamlines };
enum class Standardization { all, independent, per_file, none };

const char* to_string(GroupType t);
const char* to_string(Standardization s);

struct GroupConfig {
  std::string name;
  GroupType type = GroupType::volume;
  /// Entries as written, relative to the subject folder; '*' makes an entry a glob pattern.
  std::vector<std::string> files;
  // --- volume groups ---
  Standardization standardization = Standardization::none;
  std::vector<std::string> std_mask; ///< string or list in the JSON; union of (mask > 0)
  // --- streamline groups ---
  std::vector<std::string> dps_keys;
  std::string connectivity_matrix;            ///< empty: none
  std::vector<int64_t> connectivity_nb_blocs; ///< empty or 3 values
  std::string connectivity_labels;            ///< empty: none
};

struct Config {
  std::vector<GroupConfig> groups; ///< JSON order
  /// Python str() of the parsed JSON dict, written as the `groups_config` attribute.
  std::string python_repr;
  /// The parsed JSON, re-serialised with its key order: what rank 0 broadcasts.
  std::string canonical_json;
};

/// Parse and validate config text. `source` names the file in messages.
Config parse_config(const std::string& text, const std::string& source);
/// Read the file and parse it. Throws Error naming the file.
Config load_config(const std::string& path);

/// Python's repr() of the value as Python's json.load would give it (dict, list, str, int, float,
/// True/False/None), e.g. {'dwi': {'type': 'volume', 'files': ['a.nii.gz']}}.
std::string python_repr(const nlohmann::ordered_json& value);

/// The optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost 1 ("standardisation" -> "standardization": 1, "tpye" -> "type": 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

/// The candidate `word` was probably meant to be: the closest one (ignoring case; the first of
/// equals) if its distance is at most max(1, its length / 4); empty if none is that close or
/// `word` is itself a candidate.
std::string likely_meant(const std::string& word, const std::vector<std::string>& candidates);

/// Whitespace-separated subject ids from a list file, in file order. Throws Error naming the file
/// on a read error, a duplicated id, or an id that is not a plain folder name (naming the line).
std::vector<std::string> read_subject_list(const std::string& path);

/// Why `id` cannot be a subject id (a folder name of the dwi_ml_ready folder and an HDF5 group
/// name): empty, '.', '..', a '/', a control character or invalid UTF-8. Empty if it can.
std::string why_not_subject_id(const std::string& id);

/// `text` for a message: control characters and bytes that are not UTF-8 as \xNN.
std::string printable(const std::string& text);

/// Union of the lists in a defined order: training, then validation, then testing, each id at
/// its first occurrence.
std::vector<std::string> union_of_lists(const std::vector<std::string>& training,
                                        const std::vector<std::string>& validation,
                                        const std::vector<std::string>& testing);

} // namespace dwipack
