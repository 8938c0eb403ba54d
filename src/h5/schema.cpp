#include "dwipack/h5/schema.hpp"

#include "dwipack/error.hpp"

namespace dwipack::h5 {

std::string group_path(const std::string& subject, const std::string& group) {
  return "/" + subject + "/" + group;
}

namespace {

std::vector<uint64_t> dims_of(const std::array<int64_t, 3>& a) {
  return {static_cast<uint64_t>(a[0]), static_cast<uint64_t>(a[1]), static_cast<uint64_t>(a[2])};
}

/// Root attributes: dwi_ml HEAD's (spec §3.1), or the 2021 layout's (spec §4: `version` 2, no
/// testing list, no compress / nb_points, and the file-level `space`).
void write_root_attributes(hid_t root,
                           const pipeline::Plan& plan,
                           const pipeline::StreamlineOptions& options) {
  std::vector<std::string> chosen;
  chosen.reserve(plan.subjects.size());
  for (const auto& s : plan.subjects)
    chosen.push_back(s.id);
  if (plan.layout_2021) write_attr_i64(root, "version", 2);
  write_attr_string(root, "data_and_time", plan.data_and_time); // sic: dwi_ml's spelling
  write_attr_strings(root, "chosen_subjs", chosen);
  write_attr_string(root, "groups_config", plan.groups_config);
  write_attr_strings(root, "training_subjs", plan.training);
  write_attr_strings(root, "validation_subjs", plan.validation);
  if (!plan.layout_2021) write_attr_strings(root, "testing_subjs", plan.testing);
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
  d.data = create_dataset(group.id(), "data", H5T_IEEE_F32LE, dims, where + "/data");
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
  d.data = create_dataset(id, "data", H5T_IEEE_F32LE, {n_points, 3}, where + "/data");
  d.offsets = create_dataset(id, "offsets", H5T_STD_I64LE, {n_streamlines}, where + "/offsets");
  d.lengths = create_dataset(id, "lengths", H5T_STD_I64LE, {n_streamlines}, where + "/lengths");
  d.euclidean_lengths =
      create_dataset(id, "euclidean_lengths", H5T_IEEE_F32LE, {n_streamlines}, where + "/euclidean_lengths");
  if (layout_2021) { // no data per streamline, no connectivity in 2021
    group.close("group '" + where + "'");
    return d;
  }
  // Always present, possibly empty (dwi_ml's reader looks it up).
  Handle dps_group = create_group(id, "data_per_streamline", where + "/data_per_streamline");
  for (const auto& key : s.dps)
    d.dps.push_back(create_dataset(dps_group.id(), key.name, H5T_IEEE_F32LE,
                                   {n_streamlines, static_cast<uint64_t>(key.columns)},
                                   where + "/data_per_streamline/" + key.name));
  dps_group.close("group '" + where + "/data_per_streamline'");

  if (!s.connectivity_matrix.empty()) {
    const bool from_labels = !s.connectivity_labels.empty();
    write_attr_string(id, "connectivity_matrix_type", from_labels ? "from_labels" : "from_blocs");
    Handle file_type = bool_enum_type(H5T_STD_I8LE);
    d.connectivity_matrix = create_dataset(id, "connectivity_matrix", file_type.id(), s.connectivity_shape,
                                           where + "/connectivity_matrix");
    if (from_labels)
      d.connectivity_label_volume =
          create_dataset(id, "connectivity_label_volume", H5T_STD_U16LE, dims_of(s.labels_shape),
                         where + "/connectivity_label_volume");
    else
      write_attr_i64(id, "connectivity_nb_blocs", s.connectivity_nb_blocs, {3});
  }
  group.close("group '" + where + "'");
  return d;
}

} // namespace

Layout
create_layout(const File& file, const pipeline::Plan& plan, const pipeline::StreamlineOptions& options) {
  Layout layout;
  write_root_attributes(file.id(), plan, options);
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

void write_volume(
    const Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf) {
  const auto& g = plan.subjects[subject].groups[group];
  write_rows(layout.groups[subject][group].data.id(), H5T_NATIVE_FLOAT, data_xyzf, 0,
             static_cast<uint64_t>(g.volume.shape[0]),
             group_path(plan.subjects[subject].id, g.name) + "/data");
}

StreamlineWriter::StreamlineWriter(const Layout& layout,
                                   const pipeline::Plan& plan,
                                   size_t subject,
                                   size_t group)
    : datasets_(layout.groups[subject][group]),
      where_(group_path(plan.subjects[subject].id, plan.subjects[subject].groups[group].name)),
      expected_streamlines_(plan.subjects[subject].groups[group].streamlines.n_streamlines),
      expected_points_(plan.subjects[subject].groups[group].streamlines.n_points) {}

void StreamlineWriter::points(int64_t row0, const float* xyz_vox, int64_t n_rows) {
  if (row0 + n_rows > expected_points_)
    throw Error(where_ + ": more points than the " + std::to_string(expected_points_) +
                " counted from the tractogram headers (is a .trk's n_count or size inconsistent?)");
  written_points_ = row0 + n_rows;
  write_rows(datasets_.data.id(), H5T_NATIVE_FLOAT, xyz_vox, static_cast<uint64_t>(row0),
             static_cast<uint64_t>(n_rows), where_ + "/data");
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
  write_rows(datasets_.offsets.id(), H5T_NATIVE_INT64, offsets.data(), 0, rows, where_ + "/offsets");
  write_rows(datasets_.lengths.id(), H5T_NATIVE_INT64, lengths.data(), 0, rows, where_ + "/lengths");
  write_rows(datasets_.euclidean_lengths.id(), H5T_NATIVE_FLOAT, euclidean_lengths.data(), 0, rows,
             where_ + "/euclidean_lengths");
  for (size_t k = 0; k < dps.size(); ++k)
    write_rows(datasets_.dps[k].id(), H5T_NATIVE_FLOAT, dps[k].data(), 0, rows,
               where_ + "/data_per_streamline");
}

void write_connectivity(const Layout& layout,
                        const pipeline::Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz) {
  const auto& d = layout.groups[subject][group];
  const auto& s = plan.subjects[subject].groups[group].streamlines;
  const std::string where = group_path(plan.subjects[subject].id, plan.subjects[subject].groups[group].name);
  Handle mem_type = bool_enum_type(H5T_NATIVE_INT8);
  if (!s.connectivity_shape.empty() && !matrix.empty())
    write_rows(d.connectivity_matrix.id(), mem_type.id(), matrix.data(), 0, s.connectivity_shape[0],
               where + "/connectivity_matrix");
  if (!s.connectivity_labels.empty())
    write_rows(d.connectivity_label_volume.id(), H5T_NATIVE_UINT16, labels_xyz.data(), 0,
               static_cast<uint64_t>(s.labels_shape[0]), where + "/connectivity_label_volume");
}

void close_layout(Layout& layout) {
  for (auto& subject : layout.groups)
    for (auto& g : subject) {
      for (Handle* h : {&g.data, &g.offsets, &g.lengths, &g.euclidean_lengths, &g.connectivity_matrix,
                        &g.connectivity_label_volume})
        h->close("a dataset");
      for (auto& h : g.dps)
        h.close("a dataset");
    }
  layout.groups.clear();
}

} // namespace dwipack::h5
