#include "dwipack/h5/read.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>

namespace dwipack::h5 {
namespace {

std::string attr_where(const std::string& where, const std::string& name) {
  return quoted(where) + ": attribute " + quoted(name);
}

/// An HDF5-allocated C string (member names), freed with the library's allocator.
std::string take_h5_string(char* s) {
  std::string out = s ? s : "";
  if (s) H5free_memory(s);
  return out;
}

/// h5py's bool: an enum of exactly FALSE and TRUE.
bool is_bool_enum(hid_t type) {
  if (H5Tget_class(type) != H5T_ENUM || H5Tget_nmembers(type) != 2) return false;
  return take_h5_string(H5Tget_member_name(type, 0)) == "FALSE" &&
         take_h5_string(H5Tget_member_name(type, 1)) == "TRUE";
}

/// h5py's complex numbers: a compound of two floats named r and i.
bool is_complex(hid_t type) {
  if (H5Tget_class(type) != H5T_COMPOUND || H5Tget_nmembers(type) != 2) return false;
  if (take_h5_string(H5Tget_member_name(type, 0)) != "r" ||
      take_h5_string(H5Tget_member_name(type, 1)) != "i")
    return false;
  return H5Tget_member_class(type, 0) == H5T_FLOAT && H5Tget_member_class(type, 1) == H5T_FLOAT;
}

std::string number_name(hid_t type, char kind, const char* word) {
  const size_t size = H5Tget_size(type);
  if (size > 1 && H5Tget_order(type) == H5T_ORDER_BE) return std::string(">") + kind + std::to_string(size);
  return word + std::to_string(8 * size);
}

/// Runs H5Aread or H5Dread on a whole object with the given memory type.
using ReadFn = std::function<herr_t(hid_t mem_type, void* buffer)>;

/// Read `n` elements of `file_type` through `read`, as a flat list of JSON values (null elements
/// for types without a JSON form).
std::vector<nlohmann::json>
read_flat(hid_t file_type, size_t n, const ReadFn& read, const std::string& where) {
  std::vector<nlohmann::json> out;
  out.reserve(n);
  const H5T_class_t cls = H5Tget_class(file_type);
  if (n == 0) return out;
  if (cls == H5T_INTEGER) {
    if (H5Tget_sign(file_type) == H5T_SGN_NONE) {
      std::vector<uint64_t> v(n);
      check(read(H5T_NATIVE_UINT64, v.data()), "reading " + where);
      out.assign(v.begin(), v.end());
    } else {
      std::vector<int64_t> v(n);
      check(read(H5T_NATIVE_INT64, v.data()), "reading " + where);
      out.assign(v.begin(), v.end());
    }
  } else if (cls == H5T_FLOAT) {
    std::vector<double> v(n);
    check(read(H5T_NATIVE_DOUBLE, v.data()), "reading " + where);
    out.assign(v.begin(), v.end());
  } else if (cls == H5T_STRING && H5Tis_variable_str(file_type) > 0) {
    Handle mem(check_id(H5Tcopy(H5T_C_S1), "creating a string type"));
    check(H5Tset_size(mem.id(), H5T_VARIABLE), "making a variable-length string type");
    check(H5Tset_cset(mem.id(), H5Tget_cset(file_type)), "setting a string character set");
    std::vector<char*> v(n, nullptr);
    const herr_t status = read(mem.id(), v.data());
    for (char* s : v) {
      out.emplace_back(s ? std::string(s) : std::string());
      if (s) H5free_memory(s);
    }
    check(status, "reading " + where);
  } else if (cls == H5T_STRING) {
    const size_t size = H5Tget_size(file_type);
    const H5T_str_t pad = H5Tget_strpad(file_type);
    Handle mem(check_id(H5Tcopy(file_type), "copying a string type"));
    std::vector<char> bytes(n * size);
    check(read(mem.id(), bytes.data()), "reading " + where);
    for (size_t i = 0; i < n; ++i) {
      std::string s(bytes.data() + i * size, size);
      if (pad == H5T_STR_SPACEPAD) {
        s.erase(s.find_last_not_of(' ') + 1);
      } else {
        s.resize(std::strlen(s.c_str())); // up to the first NUL (null-terminated or padded)
      }
      out.emplace_back(std::move(s));
    }
  } else if (cls == H5T_ENUM) {
    // HDF5 converts enums only to enums: read the native form and decode its integer base.
    Handle native(check_id(H5Tget_native_type(file_type, H5T_DIR_DEFAULT), "getting a native enum type"));
    Handle base(check_id(H5Tget_super(native.id()), "getting an enum's base type"));
    const size_t size = H5Tget_size(native.id());
    const bool is_signed = H5Tget_sign(base.id()) != H5T_SGN_NONE;
    std::vector<unsigned char> bytes(n * size);
    check(read(native.id(), bytes.data()), "reading " + where);
    const bool as_bool = is_bool_enum(file_type);
    for (size_t i = 0; i < n; ++i) {
      const unsigned char* p = bytes.data() + i * size;
      int64_t v = 0;
      if (size == 1) v = is_signed ? int64_t{static_cast<int8_t>(*p)} : int64_t{*p};
      if (size == 2) {
        int16_t s16;
        uint16_t u16;
        std::memcpy(&s16, p, 2);
        std::memcpy(&u16, p, 2);
        v = is_signed ? s16 : u16;
      }
      if (size == 4) {
        int32_t s32;
        uint32_t u32;
        std::memcpy(&s32, p, 4);
        std::memcpy(&u32, p, 4);
        v = is_signed ? s32 : u32;
      }
      if (size == 8) std::memcpy(&v, p, 8);
      if (as_bool)
        out.emplace_back(v != 0);
      else
        out.emplace_back(v);
    }
  } else {
    out.assign(n, nullptr); // compound, vlen, reference, ...: described by their dtype only
  }
  return out;
}

/// Nest a flat C-order list into arrays of `shape` (a scalar for an empty shape).
nlohmann::json
nest(const std::vector<nlohmann::json>& flat, const std::vector<uint64_t>& shape, size_t dim, size_t& at) {
  if (dim == shape.size()) return at < flat.size() ? flat[at++] : nlohmann::json();
  nlohmann::json arr = nlohmann::json::array();
  for (uint64_t i = 0; i < shape[dim]; ++i)
    arr.push_back(nest(flat, shape, dim + 1, at));
  return arr;
}

std::vector<uint64_t> dims_of(hid_t space, bool& null_space, const std::string& where) {
  null_space = false;
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_NULL) {
    null_space = true;
    return {};
  }
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) throw Error("reading the shape of " + where + ": " + error_stack_text());
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
  return std::vector<uint64_t>(d.begin(), d.end());
}

size_t element_count(const std::vector<uint64_t>& shape) {
  size_t n = 1;
  for (uint64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

herr_t collect_name(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

herr_t collect_attr_name(hid_t /*obj*/, const char* name, const H5A_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

} // namespace

File open_file_read(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw Error("file " + quoted(path) + ": does not exist");
  if (!std::filesystem::is_regular_file(status))
    throw Error("file " + quoted(path) + ": is not a regular file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  if (is_hdf5 <= 0) throw Error("file " + quoted(path) + ": is not an HDF5 file");
  return File::open_read(path);
}

std::string child_path(const std::string& parent, const std::string& name) {
  return parent == "/" || parent.empty() ? "/" + name : parent + "/" + name;
}

std::vector<Child> list_children(hid_t group, const std::string& where) {
  std::vector<std::string> names;
  hsize_t index = 0;
  check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_name, &names),
        "listing the members of " + quoted(where));
  std::vector<Child> children;
  for (auto& name : names) {
    Child c{name, ObjectKind::other};
    // Opening tells groups from datasets whatever the link kind; a dangling link stays "other".
    if (H5Oexists_by_name(group, name.c_str(), H5P_DEFAULT) > 0) {
      Handle obj(H5Oopen(group, name.c_str(), H5P_DEFAULT));
      if (obj.valid()) {
        const H5I_type_t t = H5Iget_type(obj.id());
        if (t == H5I_GROUP) c.kind = ObjectKind::group;
        if (t == H5I_DATASET) c.kind = ObjectKind::dataset;
      }
    }
    H5Eclear2(H5E_DEFAULT);
    children.push_back(std::move(c));
  }
  return children;
}

bool has_child(hid_t group, const std::string& name) {
  const htri_t exists = H5Lexists(group, name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

Handle open_group(hid_t parent, const std::string& name, const std::string& where) {
  return Handle(check_id(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "opening group " + quoted(where)));
}

Handle open_dataset(hid_t parent, const std::string& name, const std::string& where) {
  return Handle(check_id(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset " + quoted(where)));
}

std::string type_name(hid_t type) {
  switch (H5Tget_class(type)) {
  case H5T_INTEGER:
    return H5Tget_sign(type) == H5T_SGN_NONE ? number_name(type, 'u', "uint") : number_name(type, 'i', "int");
  case H5T_FLOAT:
    return number_name(type, 'f', "float");
  case H5T_STRING:
    return H5Tis_variable_str(type) > 0 ? "str" : "|S" + std::to_string(H5Tget_size(type));
  case H5T_ENUM: {
    if (is_bool_enum(type)) return "bool";
    Handle base(H5Tget_super(type));
    return "enum(" + (base.valid() ? type_name(base.id()) : std::string("?")) + ")";
  }
  case H5T_COMPOUND:
    return is_complex(type) ? "complex" + std::to_string(8 * H5Tget_size(type)) : "compound";
  case H5T_VLEN:
    return "vlen";
  case H5T_ARRAY:
    return "array";
  case H5T_REFERENCE:
    return "reference";
  case H5T_OPAQUE:
    return "opaque";
  case H5T_BITFIELD:
    return "bitfield";
  case H5T_TIME:
    return "time";
  default:
    return "unknown";
  }
}

std::vector<std::string> attribute_names(hid_t obj, const std::string& where) {
  std::vector<std::string> names;
  hsize_t index = 0;
  check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &index, collect_attr_name, &names),
        "listing the attributes of " + quoted(where));
  return names;
}

bool has_attribute(hid_t obj, const std::string& name) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

Value read_attribute(hid_t obj, const std::string& name, const std::string& where) {
  const std::string what = attr_where(where, name);
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening " + what));
  Handle type(check_id(H5Aget_type(attr.id()), "getting the type of " + what));
  Handle space(check_id(H5Aget_space(attr.id()), "getting the shape of " + what));
  Value v;
  v.dtype = type_name(type.id());
  v.shape = dims_of(space.id(), v.null_space, what);
  if (v.null_space) return v;
  const ReadFn read = [&](hid_t mem, void* buf) { return H5Aread(attr.id(), mem, buf); };
  const auto flat = read_flat(type.id(), element_count(v.shape), read, what);
  size_t at = 0;
  v.value = nest(flat, v.shape, 0, at);
  return v;
}

std::vector<double> read_attr_numbers(hid_t obj, const std::string& name, const std::string& where) {
  const std::string what = attr_where(where, name);
  if (!has_attribute(obj, name)) throw Error(what + " is missing");
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening " + what));
  Handle type(check_id(H5Aget_type(attr.id()), "getting the type of " + what));
  const H5T_class_t cls = H5Tget_class(type.id());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw Error(what + " is " + type_name(type.id()) + ", expected numbers");
  Handle space(check_id(H5Aget_space(attr.id()), "getting the shape of " + what));
  bool null_space = false;
  const auto shape = dims_of(space.id(), null_space, what);
  std::vector<double> values(null_space ? 0 : element_count(shape));
  if (!values.empty()) check(H5Aread(attr.id(), H5T_NATIVE_DOUBLE, values.data()), "reading " + what);
  return values;
}

std::string read_attr_text(hid_t obj, const std::string& name, const std::string& where) {
  const std::string what = attr_where(where, name);
  if (!has_attribute(obj, name)) throw Error(what + " is missing");
  Value v = read_attribute(obj, name, where);
  nlohmann::json x = v.value;
  while (x.is_array() && x.size() == 1)
    x = nlohmann::json(x[0]);
  if (!x.is_string()) throw Error(what + " is " + v.dtype + ", expected a string");
  return x.get<std::string>();
}

DatasetInfo dataset_info(hid_t dataset, const std::string& where) {
  Handle type(check_id(H5Dget_type(dataset), "getting the type of " + quoted(where)));
  Handle space(check_id(H5Dget_space(dataset), "getting the shape of " + quoted(where)));
  DatasetInfo info;
  info.dtype = type_name(type.id());
  bool null_space = false;
  info.shape = dims_of(space.id(), null_space, quoted(where));
  return info;
}

void read_rows(
    hid_t dataset, hid_t mem_type, void* out, uint64_t row0, uint64_t nrows, const std::string& where) {
  if (nrows == 0) return;
  Handle file_space(check_id(H5Dget_space(dataset), "getting the shape of " + quoted(where)));
  bool null_space = false;
  const auto dims = dims_of(file_space.id(), null_space, quoted(where));
  if (dims.empty()) throw Error(quoted(where) + ": a scalar dataset has no rows");
  if (row0 > dims[0] || nrows > dims[0] - row0)
    throw Error(quoted(where) + ": rows " + std::to_string(row0) + " to " + std::to_string(row0 + nrows) +
                " are outside its " + std::to_string(dims[0]) + " rows");
  std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
  start[0] = row0;
  count[0] = nrows;
  check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        "selecting rows of " + quoted(where));
  Handle mem_space(check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                            "creating a dataspace"));
  check(H5Dread(dataset, mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, out),
        "reading " + quoted(where));
}

std::vector<int64_t> read_all_i64(hid_t dataset, const std::string& where) {
  const DatasetInfo info = dataset_info(dataset, where);
  Handle type(check_id(H5Dget_type(dataset), "getting the type of " + quoted(where)));
  if (H5Tget_class(type.id()) != H5T_INTEGER)
    throw Error(quoted(where) + " is " + info.dtype + ", expected integers");
  if (info.shape.empty()) throw Error(quoted(where) + " is a scalar, expected an array");
  std::vector<int64_t> values(element_count(info.shape));
  read_rows(dataset, H5T_NATIVE_INT64, values.data(), 0, info.shape[0], where);
  return values;
}

} // namespace dwipack::h5
