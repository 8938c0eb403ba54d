#include "dwipack/h5/schema.hpp"

#include "dwipack/error.hpp"

#include <algorithm>

namespace dwipack::h5 {

std::string group_path(const std::string& subject, const std::string& group) {
  return "/" + subject + "/" + group;
}

namespace {

Dataset make_dataset(hid_t parent,
                     const std::string& name,
                     hid_t file_type,
                     hid_t mem_type,
                     const std::vector<uint64_t>& dims,
                     const std::string& path) {
  Dataset d;
  d.handle = create_dataset(parent, name, file_type, dims, path);
  d.path = path;
  d.mem_type = mem_type;
  return d;
}

std::vector<uint64_t> dims_of(const std::array<int64_t, 3>& a) {
  return {static_cast<uint64_t>(a[0]), static_cast<uint64_t>(a[1]), static_cast<uint64_t>(a[2])};
}

/// Root attributes: dwi_ml HEAD's (spec §3.1), or the 2021 layout's (spec §4: `version` 2, no
/// testing list, no compress / nb_points, and the file-level `space`).
void write_root_attributes(hid_t root,
                           const pipeline::Plan& plan,
                           const pipeline::StreamlineOptions& options,
                           const std::vector<bool>& dropped) {
  std::vector<std::string> chosen, dropped_ids;
  for (size_t s = 0; s < plan.subjects.size(); ++s)
    (dropped[s] ? dropped_ids : chosen).push_back(plan.subjects[s].id);
  const auto kept = [&](const std::vector<std::string>& list) {
    std::vector<std::string> out;
    for (const auto& id : list)
      if (std::find(dropped_ids.begin(), dropped_ids.end(), id) == dropped_ids.end()) out.push_back(id);
    return out;
  };
  if (plan.layout_2021) write_attr_i64(root, "version", 2);
  write_attr_string(root, "data_and_time", plan.data_and_time); // sic: dwi_ml's spelling
  write_attr_strings(root, "chosen_subjs", chosen);
  write_attr_string(root, "groups_config", plan.groups_config);
  write_attr_strings(root, "training_subjs", kept(plan.training));
  write_attr_strings(root, "validation_subjs", kept(plan.validation));
  if (!plan.layout_2021) write_attr_strings(root, "testing_subjs", kept(plan.testing));
  // float64 / int64 scalars when given (even 0, as dwi_ml writes them), else dwi_ml's text.
  if (options.step_size_mm)
    write_attr_f64(root, "step_size", *options.step_size_mm);
  else
    write_attr_string(root, "step_size", not_defined_by_user);
  if (plan.layout_2021) {
    write_attr_string(root, "space", plan.space_2021);
    return;
  }
  if (options.nb_points)
    write_attr_i64(root, "nb_points", *options.nb_points);
  else
    write_attr_string(root, "nb_points", not_defined_by_user);
  if (options.compress_mm)
    write_attr_f64(root, "compress", *options.compress_mm);
  else
    write_attr_string(root, "compress", not_defined_by_user);
}

GroupDatasets create_volume_group(hid_t subject_group,
                                  const std::string& subject,
                                  const pipeline::GroupPlan& g,
                                  bool layout_2021) {
  const std::string where = group_path(subject, g.name);
  const auto& v = g.volume;
  Handle group = create_group(subject_group, g.name, where);
  write_attr_string(group.id(), "type", "volume");
  write_attr_f64(group.id(), "affine", std::vector<double>(v.vox2ras.begin(), v.vox2ras.end()), {4, 4});
  if (!layout_2021) // added to dwi_ml in 2021-11
    write_attr_f32(group.id(), "voxres", std::vector<float>(v.voxel_sizes.begin(), v.voxel_sizes.end()), {3});
  write_attr_i64(group.id(), "nb_features", v.nb_features);
  std::vector<uint64_t> dims = dims_of(v.shape);
  dims.push_back(static_cast<uint64_t>(v.nb_features));
  GroupDatasets d;
  d.data = make_dataset(group.id(), "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, where + "/data");
  group.close("group '" + where + "'");
  return d;
}

/// numpy bool as h5py stores it: ENUM(int8) {FALSE = 0, TRUE = 1}.
Handle bool_enum_type(hid_t base) {
  Handle t(check_id(H5Tenum_create(base), "creating the bool enum type"));
  const int8_t false_value = 0, true_value = 1;
  check(H5Tenum_insert(t.id(), "FALSE", &false_value), "creating the bool enum type");
  check(H5Tenum_insert(t.id(), "TRUE", &true_value), "creating the bool enum type");
  return t;
}

GroupDatasets create_streamline_group(hid_t subject_group,
                                      const std::string& subject,
                                      const pipeline::GroupPlan& g,
                                      bool layout_2021) {
  const std::string where = group_path(subject, g.name);
  const auto& s = g.streamlines;
  Handle group = create_group(subject_group, g.name, where);
  const hid_t id = group.id();
  write_attr_string(id, "type", "streamlines");
  // The space attributes dipy rebuilds a StatefulTractogram from (spec §3.4).
  if (layout_2021) { // dipy's Space enum as str(); no origin attribute: the 2021 reader assumes center
    const std::string& sp = s.storage_space;
    write_attr_string(id, "space",
                      sp == "rasmm"   ? "Space.RASMM"
                      : sp == "voxmm" ? "Space.VOXMM"
                                      : "Space.VOX");
  } else {
    write_attr_string(id, "space", "Space.VOX");
    write_attr_string(id, "origin", "Origin.TRACKVIS");
  }
  std::vector<float> affine(16);
  for (size_t i = 0; i < 16; ++i)
    affine[i] = static_cast<float>(s.vox2ras[i]);
  write_attr_f32(id, "affine", affine, {4, 4});
  write_attr_i16(id, "dimensions",
                 {static_cast<int16_t>(s.dimensions[0]), static_cast<int16_t>(s.dimensions[1]),
                  static_cast<int16_t>(s.dimensions[2])},
                 {3});
  write_attr_f32(id, "voxel_sizes", std::vector<float>(s.voxel_sizes.begin(), s.voxel_sizes.end()), {3});
  write_attr_string(id, "voxel_order", s.voxel_order);

  GroupDatasets d;
  const auto n_points = static_cast<uint64_t>(s.n_points);
  const auto n_streamlines = static_cast<uint64_t>(s.n_streamlines);
  d.data = make_dataset(id, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n_points, 3}, where + "/data");
  d.offsets =
      make_dataset(id, "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, {n_streamlines}, where + "/offsets");
  d.lengths =
      make_dataset(id, "lengths", H5T_STD_I64LE, H5T_NATIVE_INT64, {n_streamlines}, where + "/lengths");
  d.euclidean_lengths = make_dataset(id, "euclidean_lengths", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                     {n_streamlines}, where + "/euclidean_lengths");
  if (layout_2021) { // no data per streamline, no connectivity in 2021
    group.close("group '" + where + "'");
    return d;
  }
  // Always present, possibly empty (dwi_ml's reader looks it up).
  Handle dps_group = create_group(id, "data_per_streamline", where + "/data_per_streamline");
  for (const auto& key : s.dps)
    d.dps.push_back(make_dataset(dps_group.id(), key.name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                 {n_streamlines, static_cast<uint64_t>(key.columns)},
                                 where + "/data_per_streamline/" + key.name));
  dps_group.close("group '" + where + "/data_per_streamline'");

  if (!s.connectivity_matrix.empty()) {
    const bool from_labels = !s.connectivity_labels.empty();
    write_attr_string(id, "connectivity_matrix_type", from_labels ? "from_labels" : "from_blocs");
    Handle file_type = bool_enum_type(H5T_STD_I8LE);
    Handle mem_type = bool_enum_type(H5T_NATIVE_INT8);
    d.connectivity_matrix = make_dataset(id, "connectivity_matrix", file_type.id(), mem_type.id(),
                                         s.connectivity_shape, where + "/connectivity_matrix");
    d.connectivity_matrix.owned_mem_type = std::move(mem_type);
    if (from_labels)
      d.connectivity_label_volume =
          make_dataset(id, "connectivity_label_volume", H5T_STD_U16LE, H5T_NATIVE_UINT16,
                       dims_of(s.labels_shape), where + "/connectivity_label_volume");
    else
      write_attr_i64(id, "connectivity_nb_blocs", s.connectivity_nb_blocs, {3});
  }
  group.close("group '" + where + "'");
  return d;
}

} // namespace

Layout create_layout(const File& file, const pipeline::Plan& plan) {
  Layout layout;
  layout.groups.resize(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const auto& subject = plan.subjects[s];
    Handle sg = create_group(file.id(), subject.id, "/" + subject.id);
    for (const auto& g : subject.groups)
      layout.groups[s].push_back(g.type == GroupType::volume
                                     ? create_volume_group(sg.id(), subject.id, g, plan.layout_2021)
                                     : create_streamline_group(sg.id(), subject.id, g, plan.layout_2021));
    sg.close("group '/" + subject.id + "'");
  }
  return layout;
}

std::vector<const Dataset*> GroupDatasets::all() const {
  std::vector<const Dataset*> out;
  for (Dataset* d : const_cast<GroupDatasets*>(this)->all())
    out.push_back(d);
  return out;
}

std::vector<Dataset*> GroupDatasets::all() {
  std::vector<Dataset*> out;
  for (Dataset* d : {&data, &offsets, &lengths, &euclidean_lengths})
    if (d->handle.valid()) out.push_back(d);
  for (auto& d : dps)
    out.push_back(&d);
  for (Dataset* d : {&connectivity_matrix, &connectivity_label_volume})
    if (d->handle.valid()) out.push_back(d);
  return out;
}

namespace {

/// The datasets a group of `plan` has, with their shapes, as create_*_group makes them.
struct ExpectedDataset {
  std::string name; ///< relative to the group
  std::vector<uint64_t> dims;
  hid_t mem_type;
  bool bool_enum = false;
};

std::vector<ExpectedDataset> expected_datasets(const pipeline::GroupPlan& g, bool layout_2021) {
  std::vector<ExpectedDataset> out;
  if (g.type == GroupType::volume) {
    std::vector<uint64_t> dims = dims_of(g.volume.shape);
    dims.push_back(static_cast<uint64_t>(g.volume.nb_features));
    out.push_back({"data", dims, H5T_NATIVE_FLOAT});
    return out;
  }
  const auto& s = g.streamlines;
  const auto n = static_cast<uint64_t>(s.n_streamlines);
  out.push_back({"data", {static_cast<uint64_t>(s.n_points), 3}, H5T_NATIVE_FLOAT});
  out.push_back({"offsets", {n}, H5T_NATIVE_INT64});
  out.push_back({"lengths", {n}, H5T_NATIVE_INT64});
  out.push_back({"euclidean_lengths", {n}, H5T_NATIVE_FLOAT});
  if (layout_2021) return out;
  for (const auto& key : s.dps)
    out.push_back(
        {"data_per_streamline/" + key.name, {n, static_cast<uint64_t>(key.columns)}, H5T_NATIVE_FLOAT});
  if (!s.connectivity_matrix.empty()) {
    out.push_back({"connectivity_matrix", s.connectivity_shape, H5T_NATIVE_INT8, true});
    if (!s.connectivity_labels.empty())
      out.push_back({"connectivity_label_volume", dims_of(s.labels_shape), H5T_NATIVE_UINT16});
  }
  return out;
}

} // namespace

Layout open_layout(const File& file, const pipeline::Plan& plan) {
  Layout layout;
  layout.groups.resize(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const auto& subject = plan.subjects[s];
    for (const auto& g : subject.groups) {
      GroupDatasets d;
      for (const auto& e : expected_datasets(g, plan.layout_2021)) {
        Dataset ds;
        ds.path = group_path(subject.id, g.name) + "/" + e.name;
        ds.handle = open_dataset(file.id(), ds.path);
        if (dataset_dims(ds.handle.id(), ds.path) != e.dims)
          throw Error("dataset '" + ds.path + "' in '" + file.path() + "' does not have the planned shape");
        ds.mem_type = e.mem_type;
        if (e.bool_enum) {
          ds.owned_mem_type = bool_enum_type(H5T_NATIVE_INT8);
          ds.mem_type = ds.owned_mem_type.id();
        }
        if (e.name == "data")
          d.data = std::move(ds);
        else if (e.name == "offsets")
          d.offsets = std::move(ds);
        else if (e.name == "lengths")
          d.lengths = std::move(ds);
        else if (e.name == "euclidean_lengths")
          d.euclidean_lengths = std::move(ds);
        else if (e.name == "connectivity_matrix")
          d.connectivity_matrix = std::move(ds);
        else if (e.name == "connectivity_label_volume")
          d.connectivity_label_volume = std::move(ds);
        else
          d.dps.push_back(std::move(ds));
      }
      layout.groups[s].push_back(std::move(d));
    }
  }
  return layout;
}

void finalize_root(const File& file,
                   const pipeline::Plan& plan,
                   const pipeline::StreamlineOptions& options,
                   const std::vector<bool>& dropped,
                   const Provenance& provenance) {
  for (size_t s = 0; s < plan.subjects.size(); ++s)
    if (dropped[s]) delete_link(file.id(), plan.subjects[s].id);
  const hid_t root = file.id();
  write_root_attributes(root, plan, options, dropped);
  write_attr_string(root, "dwipack_version", provenance.version);
  write_attr_string(root, "dwipack_git_commit", provenance.git_commit);
  write_attr_string(root, "dwipack_command_line", provenance.command_line);
  write_attr_i64(root, "dwipack_ranks", provenance.ranks);
  write_attr_strings(root, "dwipack_inputs", provenance.inputs);
  write_attr_strings(root, "dwipack_skipped_subjects", provenance.skipped);
}

nlohmann::json subject_checksums(const Layout& layout, size_t subject) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& g : layout.groups[subject])
    for (const Dataset* d : g.all())
      out[d->path] = {d->written.value, d->written.bytes};
  return out;
}

std::string verify_subject(const Layout& layout, size_t subject, const nlohmann::json& recorded) {
  for (const auto& g : layout.groups[subject])
    for (const Dataset* d : g.all()) {
      const Crc32 now = read_crc(d->handle.id(), d->mem_type, d->path);
      if (!recorded.contains(d->path)) return "'" + d->path + "' is not in the journal";
      const auto& r = recorded[d->path];
      if (r.size() != 2 || r[0].get<uint32_t>() != now.value || r[1].get<uint64_t>() != now.bytes)
        return "'" + d->path + "' differs from what was written (CRC-32)";
    }
  return {};
}

void write_volume(
    Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf) {
  const auto& g = plan.subjects[subject].groups[group];
  Dataset& d = layout.groups[subject][group].data;
  write_rows(d.handle.id(), H5T_NATIVE_FLOAT, data_xyzf, 0, static_cast<uint64_t>(g.volume.shape[0]), d.path,
             &d.written, layout.direct);
}

std::optional<VolumeDirectWrite>
volume_direct_write(Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group) {
  if (!layout.direct) return std::nullopt;
  const auto& g = plan.subjects[subject].groups[group];
  Dataset& d = layout.groups[subject][group].data;
  const auto range =
      direct_range(d.handle.id(), H5T_NATIVE_FLOAT, 0, static_cast<uint64_t>(g.volume.shape[0]), d.path);
  if (!range) return std::nullopt;
  return VolumeDirectWrite{layout.direct, range->first, range->second, &d.written, d.path};
}

void VolumeDirectWrite::write(const float* data_xyzf) const {
  direct->write(data_xyzf, bytes, file_offset, where);
  written->update(data_xyzf, bytes);
}

StreamlineWriter::StreamlineWriter(Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group)
    : datasets_(layout.groups[subject][group]), direct_(layout.direct),
      where_(group_path(plan.subjects[subject].id, plan.subjects[subject].groups[group].name)),
      expected_streamlines_(plan.subjects[subject].groups[group].streamlines.n_streamlines),
      expected_points_(plan.subjects[subject].groups[group].streamlines.n_points) {}

void StreamlineWriter::points(int64_t row0, const float* xyz_vox, int64_t n_rows) {
  if (row0 + n_rows > expected_points_)
    throw Error(where_ + ": more points than the " + std::to_string(expected_points_) +
                " counted from the tractogram headers (is a .trk's n_count or size inconsistent?)");
  if (row0 != written_points_) throw Error(where_ + ": points must be written in order");
  written_points_ = row0 + n_rows;
  Dataset& d = datasets_.data;
  // No CRC here: the producer takes it while the rows are in cache (points_crc).
  write_rows(d.handle.id(), H5T_NATIVE_FLOAT, xyz_vox, static_cast<uint64_t>(row0),
             static_cast<uint64_t>(n_rows), d.path, nullptr, direct_);
}

void StreamlineWriter::points_crc(const Crc32& crc) {
  datasets_.data.written = crc;
}

size_t StreamlineWriter::points_page_phase() const {
  if (!direct_) return 0;
  const haddr_t base = H5Dget_offset(datasets_.data.handle.id());
  return base == HADDR_UNDEF ? 0 : static_cast<size_t>(base % 4096);
}

void StreamlineWriter::streamline_arrays(const std::vector<int64_t>& offsets,
                                         const std::vector<int64_t>& lengths,
                                         const std::vector<float>& euclidean_lengths,
                                         const std::vector<std::vector<float>>& dps) {
  const auto n = static_cast<int64_t>(lengths.size());
  // The datasets were sized from the planning pass; the same inputs must give the same counts.
  if (n != expected_streamlines_)
    throw Error(where_ + ": " + std::to_string(n) + " streamlines now, " +
                std::to_string(expected_streamlines_) +
                " when the inputs were checked (did an input file change during the run?)");
  if (n == 0) return;
  const auto rows = static_cast<uint64_t>(n);
  const auto write = [&](Dataset& d, const void* data) {
    write_rows(d.handle.id(), d.mem_type, data, 0, rows, d.path, &d.written, direct_);
  };
  write(datasets_.offsets, offsets.data());
  write(datasets_.lengths, lengths.data());
  write(datasets_.euclidean_lengths, euclidean_lengths.data());
  for (size_t k = 0; k < dps.size(); ++k)
    write(datasets_.dps[k], dps[k].data());
}

void write_connectivity(Layout& layout,
                        const pipeline::Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz) {
  auto& d = layout.groups[subject][group];
  const auto& s = plan.subjects[subject].groups[group].streamlines;
  if (!s.connectivity_shape.empty() && !matrix.empty())
    write_rows(d.connectivity_matrix.handle.id(), d.connectivity_matrix.mem_type, matrix.data(), 0,
               s.connectivity_shape[0], d.connectivity_matrix.path, &d.connectivity_matrix.written,
               layout.direct);
  if (!s.connectivity_labels.empty())
    write_rows(d.connectivity_label_volume.handle.id(), H5T_NATIVE_UINT16, labels_xyz.data(), 0,
               static_cast<uint64_t>(s.labels_shape[0]), d.connectivity_label_volume.path,
               &d.connectivity_label_volume.written, layout.direct);
}

void close_layout(Layout& layout) {
  for (auto& subject : layout.groups)
    for (auto& g : subject)
      for (Dataset* d : g.all())
        d->handle.close("dataset '" + d->path + "'");
  layout.groups.clear();
}

} // namespace dwipack::h5
