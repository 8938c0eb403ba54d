#include "dwipack/h5/copy.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/read.hpp"

#include <algorithm>
#include <utility>

namespace dwipack::h5 {
namespace {

Handle serial_access() {
  Handle fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "creating a file access property list"));
  check(H5Pset_file_locking(fapl.id(), true, true), "setting file locking");
  return fapl;
}

/// The links under `loc`, in name order, with their name encodings.
std::vector<std::pair<std::string, H5T_cset_t>> link_names(hid_t loc, const std::string& where) {
  std::vector<std::pair<std::string, H5T_cset_t>> names;
  hsize_t idx = 0;
  const auto add = [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    static_cast<std::vector<std::pair<std::string, H5T_cset_t>>*>(data)->emplace_back(name, info->cset);
    return 0;
  };
  check(H5Literate(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, add, &names),
        "listing the members of '" + where + "'");
  return names;
}

void copy_dataset(hid_t src,
                  hid_t dst_parent,
                  const std::string& name,
                  hid_t lcpl,
                  const std::string& path,
                  const DatasetPolicy& policy) {
  Handle type(check_id(H5Dget_type(src), "reading the type of '" + path + "'"));
  Handle space(check_id(H5Dget_space(src), "reading the dataspace of '" + path + "'"));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) throw Error("reading the shape of '" + path + "': " + error_stack_text());
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  DatasetShape shape;
  shape.path = path;
  shape.name = name;
  shape.dims.assign(dims.begin(), dims.end());
  shape.element_bytes = H5Tget_size(type.id());
  shape.variable_length = H5Tis_variable_str(type.id()) > 0 || H5Tdetect_class(type.id(), H5T_VLEN) > 0;
  const DatasetCreation how = policy(shape);

  Handle dst(check_id(
      H5Dcreate2(dst_parent, name.c_str(), type.id(), space.id(), lcpl, how.properties.id(), H5P_DEFAULT),
      "creating dataset '" + path + "'"));
  copy_attributes(src, dst.id(), path);
  if (how.copy_values) {
    if (shape.variable_length) throw Error("'" + path + "': variable-length values cannot be copied");
    const hssize_t n = H5Sget_simple_extent_npoints(space.id());
    if (n < 0) throw Error("reading the size of '" + path + "': " + error_stack_text());
    if (n > 0) {
      std::vector<unsigned char> value(static_cast<size_t>(n) * shape.element_bytes);
      check(H5Dread(src, type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()), "reading '" + path + "'");
      check(H5Dwrite(dst.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()),
            "writing '" + path + "'");
    }
  }
  dst.close("dataset '" + path + "'");
}

} // namespace

Handle open_serial(const std::string& path) {
  return Handle(check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, serial_access().id()),
                         "opening HDF5 file '" + path + "'"));
}

Handle create_serial(const std::string& path) {
  return Handle(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, serial_access().id()),
                         "creating HDF5 file '" + path + "'"));
}

void copy_attributes(hid_t src, hid_t dst, const std::string& where) {
  for (const auto& name : attribute_names(src, where)) {
    const std::string what = "attribute '" + name + "' of '" + where + "'";
    Handle a(check_id(H5Aopen(src, name.c_str(), H5P_DEFAULT), "opening " + what));
    Handle type(check_id(H5Aget_type(a.id()), "reading the type of " + what));
    Handle space(check_id(H5Aget_space(a.id()), "reading the dataspace of " + what));
    Handle src_acpl(check_id(H5Aget_create_plist(a.id()), "reading the properties of " + what));
    H5T_cset_t cset = H5T_CSET_ASCII;
    check(H5Pget_char_encoding(src_acpl.id(), &cset), "reading the name encoding of " + what);
    Handle acpl(check_id(H5Pcreate(H5P_ATTRIBUTE_CREATE), "creating an attribute property list"));
    check(H5Pset_char_encoding(acpl.id(), cset), "setting the name encoding of " + what);

    const hssize_t n = H5Sget_simple_extent_npoints(space.id());
    const size_t size = H5Tget_size(type.id());
    if (n < 0 || size == 0) throw Error("reading the size of " + what + ": " + error_stack_text());
    // HDF5 refuses a null buffer even for zero elements.
    std::vector<unsigned char> value(std::max<size_t>(1, static_cast<size_t>(n) * size));
    check(H5Aread(a.id(), type.id(), value.data()), "reading " + what);
    const bool has_vlen = H5Tis_variable_str(type.id()) > 0 || H5Tdetect_class(type.id(), H5T_VLEN) > 0;
    Handle b(check_id(H5Acreate2(dst, name.c_str(), type.id(), space.id(), acpl.id(), H5P_DEFAULT),
                      "creating " + what));
    const herr_t written = H5Awrite(b.id(), type.id(), value.data());
    if (has_vlen) H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, value.data());
    check(written, "writing " + what);
    b.close(what);
  }
}

void copy_group(hid_t src, hid_t dst, const std::string& where, const DatasetPolicy& policy) {
  copy_attributes(src, dst, where);
  for (const auto& [name, cset] : link_names(src, where)) {
    const std::string path = child_path(where, name);
    Handle object(check_id(H5Oopen(src, name.c_str(), H5P_DEFAULT), "opening '" + path + "'"));
    Handle lcpl(check_id(H5Pcreate(H5P_LINK_CREATE), "creating a link property list"));
    check(H5Pset_char_encoding(lcpl.id(), cset), "setting a link name encoding");
    const H5I_type_t type = H5Iget_type(object.id());
    if (type == H5I_GROUP) {
      Handle gcpl(check_id(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list"));
      check(H5Pset_obj_track_times(gcpl.id(), false), "disabling group timestamps");
      Handle group(check_id(H5Gcreate2(dst, name.c_str(), lcpl.id(), gcpl.id(), H5P_DEFAULT),
                            "creating group '" + path + "'"));
      copy_group(object.id(), group.id(), path, policy);
      group.close("group '" + path + "'");
    } else if (type == H5I_DATASET) {
      copy_dataset(object.id(), dst, name, lcpl.id(), path, policy);
    } else {
      throw Error("'" + path + "' is neither a group nor a dataset; it cannot be copied");
    }
  }
}

Handle untimed_dataset_properties() {
  Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset property list"));
  check(H5Pset_obj_track_times(dcpl.id(), false), "disabling dataset timestamps");
  return dcpl;
}

Handle deflate_dataset_properties(const std::vector<uint64_t>& chunk, int level, const std::string& path) {
  Handle dcpl = untimed_dataset_properties();
  const std::vector<hsize_t> dims(chunk.begin(), chunk.end());
  check(H5Pset_chunk(dcpl.id(), static_cast<int>(dims.size()), dims.data()),
        "setting the chunks of '" + path + "'");
  check(H5Pset_shuffle(dcpl.id()), "adding the shuffle filter to '" + path + "'");
  check(H5Pset_deflate(dcpl.id(), static_cast<unsigned>(level)), "adding deflate to '" + path + "'");
  check(H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_ALLOC), "setting the fill time"); // as h5py
  return dcpl;
}

Handle open_dataset_at(hid_t file, const std::string& path) {
  return Handle(check_id(H5Dopen2(file, path.c_str(), H5P_DEFAULT), "opening dataset '" + path + "'"));
}

std::optional<uint64_t> contiguous_offset(hid_t file, const std::string& path) {
  const Handle dataset = open_dataset_at(file, path);
  const haddr_t address = H5Dget_offset(dataset.id());
  H5Eclear2(H5E_DEFAULT); // HADDR_UNDEF (chunked, or never written) is an answer, not an error
  if (address == HADDR_UNDEF) return std::nullopt;
  return static_cast<uint64_t>(address);
}

void read_rows(hid_t dataset,
               const std::vector<uint64_t>& dims,
               uint64_t row0,
               uint64_t row1,
               void* out,
               const std::string& path) {
  std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
  start[0] = row0;
  count[0] = row1 - row0;
  Handle file_space(check_id(H5Dget_space(dataset), "reading the dataspace of '" + path + "'"));
  check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
        "selecting rows of '" + path + "'");
  Handle mem_space(check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                            "creating a dataspace"));
  Handle type(check_id(H5Dget_type(dataset), "reading the type of '" + path + "'"));
  check(H5Dread(dataset, type.id(), mem_space.id(), file_space.id(), H5P_DEFAULT, out),
        "reading '" + path + "'");
}

void write_chunk(hid_t dataset,
                 const std::vector<uint64_t>& offset,
                 const void* bytes,
                 size_t n_bytes,
                 const std::string& path) {
  const std::vector<hsize_t> at(offset.begin(), offset.end());
  check(H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, at.data(), n_bytes, bytes),
        "writing a compressed chunk of '" + path + "'");
}

} // namespace dwipack::h5
