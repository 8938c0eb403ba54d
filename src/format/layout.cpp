#include "dwipack/format/layout.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/read.hpp"

#include <algorithm>
#include <cstring>

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

/// Collective. A group of a subject: its attributes, sub-groups and datasets, each closed once made.
void create_group_objects(hid_t subject_group,
                          const std::string& subject,
                          const Format& format,
                          const GroupPlan& g,
                          std::vector<uint64_t>& offsets) {
  const GroupRules& rules = format.group(g.type);
  const std::string where = group_path(subject, g.name);
  h5::Handle group = h5::create_group(subject_group, g.name, where);
  for (const auto& rule : rules.attributes)
    if (const auto value = rule.value(g)) write_attribute(group.id(), rule.name, *value);
  for (const auto& name : rules.subgroups)
    h5::create_group(group.id(), name, where + "/" + name).close("group '" + where + "/" + name + "'");
  for (const auto& rule : rules.datasets)
    for (const auto& instance : rule.instances(g)) {
      const std::string path = where + "/" + instance.name;
      h5::Handle file_type;
      hid_t type_id = H5I_INVALID_HID;
      if (instance.stored == Type::bool_enum) {
        file_type = bool_enum_type(H5T_STD_I8LE);
        type_id = file_type.id();
      } else {
        type_id = hdf5_types(instance.stored).first;
      }
      h5::Handle d = h5::create_dataset(group.id(), instance.name, type_id, instance.dims, path);
      offsets.push_back(h5::dataset_offset(d.id()).value_or(Dataset::no_offset));
      d.close("dataset '" + path + "'");
    }
  group.close("group '" + where + "'");
}

/// Bytes of one element of a storage type.
size_t element_bytes(Type type) {
  switch (type) {
  case Type::bool_enum:
    return 1;
  case Type::i16:
  case Type::i16be:
  case Type::u16:
    return 2;
  case Type::f32:
  case Type::f32be:
    return 4;
  default:
    return 8;
  }
}

/// The datasets of one group as the tables make them, with their file offsets from `offsets`
/// (advanced past them).
GroupDatasets group_datasets(const std::string& subject,
                             const Format& format,
                             const GroupPlan& g,
                             const uint64_t*& offsets) {
  GroupDatasets out;
  for (const auto& rule : format.group(g.type).datasets)
    for (const auto& instance : rule.instances(g)) {
      Dataset d;
      d.path = group_path(subject, g.name) + "/" + instance.name;
      d.role = rule.role;
      d.type = instance.stored;
      d.held = instance.held;
      set_mem_type(d, instance.held);
      d.dims = instance.dims;
      d.file_offset = *offsets++;
      out.items.push_back(std::move(d));
    }
  return out;
}

/// Bytes of an attribute's object header message: the value (16 bytes per variable-length
/// string: length and global heap id), the name, the datatype and dataspace messages (at most
/// ~80 bytes for the types written here) and the message's own header.
uint64_t attribute_message_bytes(const char* name, const AttrValue& v) {
  uint64_t elements = 1;
  for (const uint64_t d : v.dims)
    elements *= d;
  uint64_t value_bytes = 0;
  switch (v.type) {
  case Type::text:
    value_bytes = 16;
    break;
  case Type::text_list:
    value_bytes = 16 * std::max<uint64_t>(1, v.texts.size());
    break;
  case Type::i16:
  case Type::i16be:
  case Type::u16:
    value_bytes = 2 * elements;
    break;
  case Type::f32:
  case Type::f32be:
    value_bytes = 4 * elements;
    break;
  case Type::bool_enum:
    value_bytes = elements;
    break;
  default:
    value_bytes = 8 * elements;
  }
  return value_bytes + std::strlen(name) + 1 + 8 * v.dims.size() + 128;
}

/// What an object header message may hold (HDF5's limit for compact attribute storage).
constexpr uint64_t max_compact_message = 65535;

/// Throws Error if `plan` needs dense attribute storage that `file` does not have.
void check_attribute_room(const h5::File& file, const Plan& plan) {
  const auto ranks = static_cast<size_t>(file.ranks());
  if (!needs_dense_attributes(plan, ranks) || file.dense_attributes()) return;
  throw Error("'" + file.path() +
              "' was created without dense attribute storage, but an attribute of this plan (" +
              std::to_string(plan.subjects.size()) + " subjects, " + std::to_string(ranks) +
              " ranks) needs " + std::to_string(largest_attribute_message(plan, ranks)) +
              " bytes, more than an object header holds (64 KiB)");
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

OpenSubject::~OpenSubject() {
  if (!layout_) return;
  try {
    layout_->close_subject();
  } catch (const Error&) { // an error path already: the task reports the first error
  }
}

void OpenSubject::close() {
  if (layout_) std::exchange(layout_, nullptr)->close_subject();
}

Layout::~Layout() {
  if (!parallel_) return;
  // Datasets still open here belong to a task that failed: let go of the ids, never call HDF5 on
  // an error path of a parallel file.
  for (auto& g : open_groups_)
    for (auto& d : g.items)
      d.handle.release();
}

OpenSubject Layout::open_subject(const Plan& plan, size_t subject) {
  close_subject();
  const Format& format = format_of(plan.kind);
  const SubjectPlan& s = plan.subjects.at(subject);
  const uint64_t* offsets = offsets_.data() + first_.at(subject);
  for (const auto& g : s.groups)
    open_groups_.push_back(group_datasets(s.id, format, g, offsets));
  if (offsets != offsets_.data() + first_.at(subject + 1))
    throw Error("the layout of subject " + quoted(s.id) + " is not the plan's");
  open_ = subject;
  return OpenSubject(*this);
}

hid_t Layout::handle(Dataset& d) const {
  if (!d.handle.valid()) d.handle = h5::open_dataset(file_, d.path);
  return d.handle.id();
}

void Layout::close_subject() {
  std::vector<GroupDatasets> groups = std::move(open_groups_);
  open_groups_.clear();
  open_ = none;
  for (auto& g : groups)
    for (auto& d : g.items)
      if (d.handle.valid()) d.handle.close("dataset '" + d.path + "'");
}

GroupDatasets& Layout::group(size_t subject, size_t group) {
  if (subject != open_) throw Error("the layout's subject " + std::to_string(subject) + " is not open");
  return open_groups_.at(group);
}

const GroupDatasets& Layout::group(size_t subject, size_t group) const {
  if (subject != open_) throw Error("the layout's subject " + std::to_string(subject) + " is not open");
  return open_groups_.at(group);
}

size_t Layout::group_count(size_t subject) const {
  if (subject != open_) throw Error("the layout's subject " + std::to_string(subject) + " is not open");
  return open_groups_.size();
}

uint64_t largest_attribute_message(const Plan& plan, size_t ranks) {
  const Format& format = format_of(plan.kind);
  uint64_t largest = 0;
  for (const auto& subject : plan.subjects)
    for (const auto& g : subject.groups)
      for (const auto& rule : format.group(g.type).attributes)
        if (const auto value = rule.value(g))
          largest = std::max(largest, attribute_message_bytes(rule.name, *value));
  // The root's lists name subjects (written or skipped, one entry each: chosen_subjs, the input
  // provenance, ...) or ranks (their hosts): at their longest, 16 bytes per entry.
  const uint64_t entries = std::max<uint64_t>(plan.subjects.size() + plan.skipped.size(), ranks);
  for (const auto& rule : format.root)
    largest = std::max(
        largest, attribute_message_bytes(rule.name, AttrValue::text_list(std::vector<std::string>(entries))));
  return largest;
}

bool needs_dense_attributes(const Plan& plan, size_t ranks) {
  return largest_attribute_message(plan, ranks) > max_compact_message;
}

LayoutBuilder::LayoutBuilder(const h5::File& file, Kind kind) : file_(file), kind_(kind) {}

void LayoutBuilder::add(const SubjectPlan& subject) {
  const Format& format = format_of(kind_);
  places_.first.push_back(places_.offsets.size());
  ids_.push_back(subject.id);
  h5::Handle sg = h5::create_group(file_.id(), subject.id, "/" + subject.id);
  for (const auto& g : subject.groups)
    create_group_objects(sg.id(), subject.id, format, g, places_.offsets);
  sg.close("group '/" + subject.id + "'");
}

LayoutPlaces LayoutBuilder::finish(const Plan& plan) {
  if (plan.kind != kind_ || plan.subjects.size() != ids_.size())
    throw Error("the layout built has " + std::to_string(ids_.size()) + " subjects, the plan " +
                std::to_string(plan.subjects.size()));
  for (size_t s = 0; s < ids_.size(); ++s)
    if (plan.subjects[s].id != ids_[s])
      throw Error("the layout built has subject " + quoted(ids_[s]) + " where the plan has " +
                  quoted(plan.subjects[s].id));
  check_attribute_room(file_, plan);
  std::vector<std::string>().swap(ids_);
  places_.first.push_back(places_.offsets.size());
  return std::move(places_);
}

Layout create_layout(const h5::File& file, const Plan& plan) {
  check_attribute_room(file, plan); // before any object is made
  LayoutBuilder builder(file, plan.kind);
  for (const auto& subject : plan.subjects)
    builder.add(subject);
  return attach_layout(file, builder.finish(plan));
}

Layout attach_layout(const h5::File& file, LayoutPlaces places) {
  Layout layout;
  layout.file_ = file.id();
  layout.parallel_ = file.parallel();
  layout.offsets_ = std::move(places.offsets);
  layout.first_ = std::move(places.first);
  return layout;
}

Layout open_layout(const h5::File& file, const Plan& plan) {
  check_attribute_room(file, plan);
  const Format& format = format_of(plan.kind);
  Layout layout;
  layout.file_ = file.id();
  layout.parallel_ = file.parallel();
  for (const auto& subject : plan.subjects) {
    layout.first_.push_back(layout.offsets_.size());
    for (const auto& g : subject.groups)
      for (const auto& rule : format.group(g.type).datasets)
        for (const auto& instance : rule.instances(g)) {
          const std::string path = group_path(subject.id, g.name) + "/" + instance.name;
          h5::Handle d = h5::open_dataset(file.id(), path);
          if (h5::dataset_dims(d.id(), path) != instance.dims)
            throw Error("dataset '" + path + "' in '" + file.path() + "' does not have the planned shape");
          layout.offsets_.push_back(h5::dataset_offset(d.id()).value_or(Dataset::no_offset));
          d.close("dataset '" + path + "'");
        }
  }
  layout.first_.push_back(layout.offsets_.size());
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
      const Dims& dims = d.dims;
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
        write_rows(layout, d, buffer.data(), row0, n);
      }
    }
}

Checksums subject_checksums(const Layout& layout, const Plan& plan, size_t subject) {
  Checksums out;
  for (size_t g = 0; g < plan.subjects.at(subject).groups.size(); ++g)
    for (const Dataset& d : layout.group(subject, g).items)
      out[d.path] = {d.written.value, d.written.bytes};
  return out;
}

std::string verify_subject(Layout& layout, const Plan& plan, size_t subject, const Checksums& recorded) {
  for (size_t g = 0; g < plan.subjects[subject].groups.size(); ++g)
    for (Dataset& d : layout.group(subject, g).items) {
      const Crc32 now = h5::read_crc(layout.handle(d), d.mem_type, d.path);
      const auto r = recorded.find(d.path);
      if (r == recorded.end()) return "'" + d.path + "' is not in the journal";
      if (r->second.crc != now.value || r->second.bytes != now.bytes)
        return "'" + d.path + "' differs from what was written (CRC-32)";
    }
  return {};
}

// ---- writes ----

void write_rows(Layout& layout, Dataset& d, const void* data, uint64_t row0, uint64_t n_rows, bool crc) {
  if (d.dims.empty() || row0 + n_rows > d.dims[0]) throw Error("writing '" + d.path + "': rows out of range");
  if (n_rows == 0) return;
  uint64_t row_bytes = element_bytes(d.held);
  for (size_t i = 1; i < d.dims.size(); ++i)
    row_bytes *= d.dims[i];
  if (layout.direct && d.file_offset != Dataset::no_offset &&
      element_bytes(d.held) == element_bytes(d.type)) {
    // The file's types are little-endian like this machine's (h5/file.cpp): the bytes as held.
    layout.direct->write(data, n_rows * row_bytes, d.file_offset + row0 * row_bytes, d.path);
    if (crc) d.written.update(data, n_rows * row_bytes);
    return;
  }
  h5::write_rows(layout.handle(d), d.mem_type, data, row0, n_rows, d.path, crc ? &d.written : nullptr);
}

size_t page_phase(const Dataset& d) {
  return d.file_offset == Dataset::no_offset ? 0 : static_cast<size_t>(d.file_offset % 4096);
}

void write_volume(Layout& layout, const Plan& plan, size_t subject, size_t group, const float* data_xyzf) {
  const auto& g = plan.subjects[subject].groups[group];
  write_rows(layout, layout.group(subject, group).at(Role::data), data_xyzf, 0,
             static_cast<uint64_t>(g.volume.shape[0]));
}

std::optional<VolumeDirectWrite>
volume_direct_write(Layout& layout, const Plan& plan, size_t subject, size_t group) {
  Dataset& d = layout.group(subject, group).at(Role::data);
  if (!layout.direct || d.file_offset == Dataset::no_offset) return std::nullopt;
  const auto& v = plan.subjects[subject].groups[group].volume;
  const auto bytes = static_cast<uint64_t>(v.bytes());
  return VolumeDirectWrite{layout.direct, d.file_offset, bytes, &d.written, d.path};
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
    write_rows(layout, *m, matrix.data(), 0, s.connectivity_shape[0]);
  if (Dataset* l = datasets.find(Role::connectivity_label_volume))
    write_rows(layout, *l, labels_xyz.data(), 0, static_cast<uint64_t>(s.labels_shape[0]));
}

} // namespace dwipack::format
