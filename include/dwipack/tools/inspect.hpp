#pragma once
// `dwipack inspect FILE [--all] [--json]`: everything a dwi_ml HDF5 file holds, for people (text) and
// scripts (JSON). Like dwi_ml's dwiml_hdf5_print_architecture, but complete, and tolerant: a file
// written by h5py in any dwi_ml layout is described; what is odd (an unknown group type, a missing
// attribute, a subject listed in a split but absent) goes to "problems" instead of stopping.
#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

namespace dwipack::tools {

/// Describe the file at `path` as one JSON document (the --json output). Keys are fixed and
/// printed sorted:
///   file, size_bytes,
///   attributes: {name: {dtype, shape, value}}            root attributes, full values
///   splits: {training, validation, testing}              subject lists (null: attribute absent)
///   subjects: {id: {splits: [...], attributes, datasets, groups: {name: group}}}
///     group: {type (null if absent), attributes, datasets: {relative path: {dtype, shape}},
///             subgroups: [relative paths],
///             volume: {shape: [X,Y,Z], features}                            (type volume only)
///             streamlines: {count, points, dps_keys, space, origin}         (type streamlines only)}
///   other: {path: kind}                                  root members that are not groups
///   problems: [text]                                     what a dwi_ml reader would trip on
/// A dtype is numpy's name ("float32", "int16", "bool", "str" for variable-length strings); a shape
/// is a list (empty for a scalar, null for h5py's Empty); an attribute value is nested lists.
/// Throws Error if the file does not exist or is not an HDF5 file.
nlohmann::json inspect_file(const std::string& path);

/// How much of the file the text shows.
enum class Detail {
  summary, ///< the root, the first subject in full, then one line per subject (the default)
  all,     ///< every subject in full (--all)
};

/// The text rendering of inspect_file's document: long attribute values shortened, shapes as
/// numpy prints them ("(200, 3)"). With Detail::summary a file of 1000 subjects takes about 1000
/// lines: one per subject (its groups, their shapes or streamline counts, its bytes of data).
void print_inspection(const nlohmann::json& doc, std::ostream& out, Detail detail = Detail::summary);

} // namespace dwipack::tools
