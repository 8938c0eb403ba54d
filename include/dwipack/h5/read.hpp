#pragma once
// Reading any HDF5 file, whoever wrote it (dwipack, h5py, dwi_ml of any year): children in name
// order, attributes of any type and shape as JSON, dataset shapes and types, rows converted to a
// native numeric type. Shared by `inspect` and `extract`; tolerant by design, so that a file with
// unexpected content can still be described. Serial only (no MPI-IO).
#include "dwipack/h5/file.hpp"
#include "dwipack/h5/handle.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dwipack::h5 {

/// Open an existing HDF5 file read-only; throws Error("file 'PATH': does not exist" / "is not an
/// HDF5 file") before HDF5 gets to print its own error stack.
File open_file_read(const std::string& path);

enum class ObjectKind { group, dataset, other };

struct Child {
  std::string name;
  ObjectKind kind = ObjectKind::other; ///< other: a named datatype, a dangling or external link, ...
};

/// The children of a group in name order (h5py's order for files without creation-order tracking).
/// `where` is the group's HDF5 path, for messages.
std::vector<Child> list_children(hid_t group, const std::string& where);

/// True if `group` has a link called `name` (one level, no '/').
bool has_child(hid_t group, const std::string& name);
Handle open_group(hid_t parent, const std::string& name, const std::string& where);
Handle open_dataset(hid_t parent, const std::string& name, const std::string& where);

/// "/a/b" from "/a" and "b" (the root is "/").
std::string child_path(const std::string& parent, const std::string& name);

/// numpy's name of a type as h5py maps it: "float32", "int16", "uint8", "bool" (h5py's FALSE/TRUE
/// enum), "str" (variable-length string), "|S8" (fixed-length bytes), "complex64"; a big-endian
/// number gets numpy's explicit form (">f4"). Other classes: "enum(int8)", "compound", "vlen",
/// "array", "reference", "opaque", "bitfield".
std::string type_name(hid_t type);

/// Attribute names of an object, in name order.
std::vector<std::string> attribute_names(hid_t obj, const std::string& where);
bool has_attribute(hid_t obj, const std::string& name);

struct Value {
  std::string dtype;
  /// Dimensions; empty for a scalar. `null_space` marks h5py's Empty (no shape, no value).
  std::vector<uint64_t> shape;
  bool null_space = false;
  /// Nested arrays in C order (a scalar is a bare value). Numbers, strings (fixed-length ones with
  /// their padding removed), booleans; null for types that have no JSON form (compound, ...).
  nlohmann::json value;
};

/// Read attribute `name` of `obj`, whatever its type and shape. Throws Error naming `where` and the
/// attribute only if HDF5 cannot read it.
Value read_attribute(hid_t obj, const std::string& name, const std::string& where);

/// A numeric attribute (integer, float or bool, any shape) as doubles in C order. Throws Error if
/// it is missing or not numeric.
std::vector<double> read_attr_numbers(hid_t obj, const std::string& name, const std::string& where);
/// A scalar (or one-element) string attribute. Throws Error if missing or not a string.
std::string read_attr_text(hid_t obj, const std::string& name, const std::string& where);

struct DatasetInfo {
  std::string dtype;
  std::vector<uint64_t> shape; ///< empty for a scalar dataset
};
DatasetInfo dataset_info(hid_t dataset, const std::string& where);

/// Read rows [row0, row0 + nrows) along the first axis of `dataset` into `out` (C order), converted
/// by HDF5 to the native numeric `mem_type` (e.g. H5T_NATIVE_DOUBLE). A 1-D dataset has rows of
/// one value. Throws Error naming `where` (rows outside the dataset, a type HDF5 cannot convert).
void read_rows(
    hid_t dataset, hid_t mem_type, void* out, uint64_t row0, uint64_t nrows, const std::string& where);

/// The whole dataset as int64 (any integer type), C order.
std::vector<int64_t> read_all_i64(hid_t dataset, const std::string& where);

} // namespace dwipack::h5
