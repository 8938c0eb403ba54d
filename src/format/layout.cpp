#include "dwipack/format/layout.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/read.hpp"

#include <algorithm>

namespace dwipack::format {

std::string group_path(const std::string& subject, const std::string& group) {
  return "/" + subject + "/" + group;
}

void to_json(nlohmann::json& j, const Checksum& c) {
  j = nlohmann::json::array({c.crc, c.bytes});
}

void from_json(const nlohmann::json& j, Checksum& c) {
  if (!j.is_array() || j.size() != 2) throw Error("a checksum must be [crc, bytes]");
  c.crc = j[0].get<uint32_t>();
  c.bytes = j[1].get<uint64_t>();
}

// ---- storage types ----

namespace {

/// numpy bool as h5py stores it: ENUM(int8) {FALSE = 0, TRUE = 1}.
h5::Handle bool_enum_type(hid_t base) {
  h5::Handle t(h5::check_id(H5Tenum_create(base), "creating the bool enum type"));
  const int8_t false_value = 0, true_value = 1;
  h5::check(H5Tenum_insert(t.id(), "FALSE", &false_value), "creating the bool enum type");
  h5::check(H5Tenum_insert(t.id(), "TRUE", &true_value), "creating the bool enum type");
  return t;
}

/// The HDF5 file and native memory types of a numeric storage type.
std::pair<hid_t, hid_t> hdf5_types(Type type) {
  switch (type) {
  case Type::f32:
    return {H5T_IEEE_F32LE, H5T_NATIVE_FLOAT};
  case Type::f32be:
    return {H5T_IEEE_F32BE, H5T_NATIVE_FLOAT};
  case Type::f64:
    return {H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE};
  case Type::i16:
    return {H5T_STD_I16LE, H5T_NATIVE_INT16};
  case Type::i16be:
    return {H5T_STD_I16BE, H5T_NATIVE_INT16};
  case Type::i64:
    return {H5T_STD_I64LE, H5T_NATIVE_INT64};
  case Type::u16:
    return {H5T_STD_U16LE, H5T_NATIVE_UINT16};
  default:
    throw Error(std::string("no numeric HDF5 type for ") + type_name(type));
  }
}

/// Fill the memory type of `d` from the type its writer holds (native, or our bool enum).
void set_mem_type(Dataset& d, Type held) {
  if (held == Type::bool_enum) {
    d.owned_mem_type = bool_enum_type(H5T_NATIVE_INT8);
    d.mem_type = d.owned_mem_type.id();
  } else {
    d.mem_type = hdf5_types(held).second;
  }
}

template <class T> std::vector<T> cast_all(const std::vector<double>& v) {
  std::vector<T> out;
  out.reserve(v.size());
  for (double x : v)
    out.push_back(static_cast<T>(x));
  return out;
}

/// Collective. Write one attribute value with its storage type.
void write_attribute(hid_t obj, const std::string& name, const AttrValue& v) {
  if (v.type == Type::text) return h5::write_attr_string(obj, name, v.texts.at(0));
  if (v.type == Type::text_list) return h5::write_attr_strings(obj, name, v.texts);
  const auto [file_type, mem_type] = hdf5_types(v.type);
  const auto write = [&](const auto& values) {
    h5::write_attr_numbers(obj, name, file_type, mem_type, v.dims, values.data());
  };
  switch (v.type) {
  case Type::f32:
  case Type::f32be:
    return write(cast_all<float>(v.numbers));
  case Type::f64:
    return write(v.numbers);
  case Type::i16:
  case Type::i16be:
    return write(cast_all<int16_t>(v.numbers));
  case Type::i64:
    return write(cast_all<int64_t>(v.numbers));
  case Type::u16:
    return write(cast_all<uint16_t>(v.numbers));
  default:
    throw Error("attribute '" + name + "': no attribute of type " + type_name(v.type) + " in the format");
  }
}

GroupDatasets create_group_objects(hid_t subject_group,
                                   const std::string& subject,
                                   const Format& format,
                                   const GroupPlan& g) {
  const GroupRules& rules = format.group(g.type);
  const std::string where = group_path(subject, g.name);
  h5::Handle group = h5::create_group(subject_group, g.name, where);
  for (const auto& rule : rules.attributes)
    if (const auto value = rule.value(g)) write_attribute(group.id(), rule.name, *value);
  for (const auto& name : rules.subgroups)
    h5::create_group(group.id(), name, where + "/" + name).close("group '" + where + "/" + name + "'");
  GroupDatasets out;
  for (const auto& rule : rules.datasets)
    for (const auto& instance : rule.instances(g)) {
      Dataset d;
      d.path = where + "/" + instance.name;
      d.role = rule.role;
      d.type = instance.stored;
      set_mem_type(d, instance.held);
      h5::Handle file_type;
      hid_t type_id = H5I_INVALID_HID;
      if (instance.stored == Type::bool_enum) {
        file_type = bool_enum_type(H5T_STD_I8LE);
        type_id = file_type.id();
      } else {
        type_id = hdf5_types(instance.stored).first;
      }
      d.handle = h5::create_dataset(group.id(), instance.name, type_id, instance.dims, d.path);
      out.items.push_back(std::move(d));
    }
  group.close("group '" + where + "'");
  return out;
}

} // namespace

// ---- the layout ----

Dataset* GroupDatasets::find(Role role, size_t k) {
  for (auto& d : items)
    if (d.role == role && k-- == 0) return &d;
  return nullptr;
}

Dataset& GroupDatasets::at(Role role, size_t k) {
  if (Dataset* d = find(role, k)) return *d;
  throw Error("the layout has no dataset of this role");
}

Layout::~Layout() {
  if (!parallel_) return;
  // A parallel file's datasets close collectively: never here (see the header).
  for (auto& subject : groups_)
    for (auto& g : subject)
      for (auto& d : g.items)
        d.handle.release();
}

void Layout::close() {
  for (auto& subject : groups_)
    for (auto& g : subject)
      for (auto& d : g.items)
        d.handle.close("dataset '" + d.path + "'");
  groups_.clear();
}

Layout create_layout(const h5::File& file, const Plan& plan) {
  const Format& format = format_of(plan.kind);
  Layout layout;
  layout.parallel_ = file.parallel();
  layout.groups_.resize(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const auto& subject = plan.subjects[s];
    h5::Handle sg = h5::create_group(file.id(), subject.id, "/" + subject.id);
    for (const auto& g : subject.groups)
      layout.groups_[s].push_back(create_group_objects(sg.id(), subject.id, format, g));
    sg.close("group '/" + subject.id + "'");
  }
  return layout;
}

Layout open_layout(const h5::File& file, const Plan& plan) {
  const Format& format = format_of(plan.kind);
  Layout layout;
  layout.parallel_ = file.parallel();
  layout.groups_.resize(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const auto& subject = plan.subjects[s];
    for (const auto& g : subject.groups) {
      GroupDatasets datasets;
      for (const auto& rule : format.group(g.type).datasets)
        for (const auto& instance : rule.instances(g)) {
          Dataset d;
          d.path = group_path(subject.id, g.name) + "/" + instance.name;
          d.role = rule.role;
          d.type = instance.stored;
          set_mem_type(d, instance.held);
          d.handle = h5::open_dataset(file.id(), d.path);
          if (h5::dataset_dims(d.handle.id(), d.path) != instance.dims)
            throw Error("dataset '" + d.path + "' in '" + file.path() + "' does not have the planned shape");
          datasets.items.push_back(std::move(d));
        }
      layout.groups_[s].push_back(std::move(datasets));
    }
  }
  return layout;
}

void write_root(const h5::File& file,
                const Plan& plan,
                const std::vector<bool>& dropped,
                const Provenance& provenance) {
  std::vector<std::string> dropped_ids;
  RootContent root{plan, {}, {}, {}, {}, provenance};
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    if (dropped[s]) {
      h5::delete_link(file.id(), plan.subjects[s].id);
      dropped_ids.push_back(plan.subjects[s].id);
    } else {
      root.chosen.push_back(plan.subjects[s].id);
    }
  }
  const auto kept = [&](const std::vector<std::string>& list) {
    std::vector<std::string> out;
    for (const auto& id : list)
      if (std::find(dropped_ids.begin(), dropped_ids.end(), id) == dropped_ids.end()) out.push_back(id);
    return out;
  };
  root.training = kept(plan.training);
  root.validation = kept(plan.validation);
  root.testing = kept(plan.testing);
  for (const auto& rule : format_of(plan.kind).root)
    if (const auto value = rule.value(root)) write_attribute(file.id(), rule.name, *value);
}

void copy_subject(Layout& layout, const Plan& plan, size_t subject, const h5::File& source) {
  std::vector<unsigned char> buffer;
  for (size_t g = 0; g < plan.subjects.at(subject).groups.size(); ++g)
    for (Dataset& d : layout.group(subject, g).items) {
      const h5::Handle from = h5::open_dataset(source.id(), d.path);
      const Dims dims = h5::dataset_dims(d.handle.id(), d.path);
      if (h5::dataset_dims(from.id(), d.path) != dims)
        throw Error("dataset '" + d.path + "' in '" + source.path() + "' does not have the planned shape");
      if (dims.empty() || dims[0] == 0) continue;
      uint64_t row_bytes = H5Tget_size(d.mem_type);
      for (size_t k = 1; k < dims.size(); ++k)
        row_bytes *= dims[k];
      const uint64_t rows_per_block =
          std::max<uint64_t>(1, (uint64_t{64} << 20) / std::max<uint64_t>(1, row_bytes));
      for (uint64_t row0 = 0; row0 < dims[0]; row0 += rows_per_block) {
        const uint64_t n = std::min(rows_per_block, dims[0] - row0);
        buffer.resize(n * row_bytes);
        h5::read_rows(from.id(), d.mem_type, buffer.data(), row0, n, d.path);
        h5::write_rows(d.handle.id(), d.mem_type, buffer.data(), row0, n, d.path, &d.written, layout.direct);
      }
    }
}

Checksums subject_checksums(const Layout& layout, const Plan& plan, size_t subject) {
  Checksums out;
  for (size_t g = 0; g < plan.subjects[subject].groups.size(); ++g)
    for (const Dataset& d : layout.group(subject, g).items)
      out[d.path] = {d.written.value, d.written.bytes};
  return out;
}

std::string
verify_subject(const Layout& layout, const Plan& plan, size_t subject, const Checksums& recorded) {
  for (size_t g = 0; g < plan.subjects[subject].groups.size(); ++g)
    for (const Dataset& d : layout.group(subject, g).items) {
      const Crc32 now = h5::read_crc(d.handle.id(), d.mem_type, d.path);
      const auto r = recorded.find(d.path);
      if (r == recorded.end()) return "'" + d.path + "' is not in the journal";
      if (r->second.crc != now.value || r->second.bytes != now.bytes)
        return "'" + d.path + "' differs from what was written (CRC-32)";
    }
  return {};
}

// ---- writes ----

void write_volume(Layout& layout, const Plan& plan, size_t subject, size_t group, const float* data_xyzf) {
  const auto& g = plan.subjects[subject].groups[group];
  Dataset& d = layout.group(subject, group).at(Role::data);
  h5::write_rows(d.handle.id(), H5T_NATIVE_FLOAT, data_xyzf, 0, static_cast<uint64_t>(g.volume.shape[0]),
                 d.path, &d.written, layout.direct);
}

std::optional<VolumeDirectWrite>
volume_direct_write(Layout& layout, const Plan& plan, size_t subject, size_t group) {
  if (!layout.direct) return std::nullopt;
  const auto& g = plan.subjects[subject].groups[group];
  Dataset& d = layout.group(subject, group).at(Role::data);
  const auto range =
      h5::direct_range(d.handle.id(), H5T_NATIVE_FLOAT, 0, static_cast<uint64_t>(g.volume.shape[0]), d.path);
  if (!range) return std::nullopt;
  return VolumeDirectWrite{layout.direct, range->first, range->second, &d.written, d.path};
}

void VolumeDirectWrite::write(const float* data_xyzf) const {
  direct->write(data_xyzf, bytes, file_offset, where);
  written->update(data_xyzf, bytes);
}

void write_connectivity(Layout& layout,
                        const Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz) {
  GroupDatasets& datasets = layout.group(subject, group);
  const auto& s = plan.subjects[subject].groups[group].streamlines;
  if (Dataset* m = datasets.find(Role::connectivity_matrix);
      m && !s.connectivity_shape.empty() && !matrix.empty())
    h5::write_rows(m->handle.id(), m->mem_type, matrix.data(), 0, s.connectivity_shape[0], m->path,
                   &m->written, layout.direct);
  if (Dataset* l = datasets.find(Role::connectivity_label_volume))
    h5::write_rows(l->handle.id(), l->mem_type, labels_xyz.data(), 0,
                   static_cast<uint64_t>(s.labels_shape[0]), l->path, &l->written, layout.direct);
}

} // namespace dwipack::format
