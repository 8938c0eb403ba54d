#include "dwipack/h5/schema.hpp"

#include "dwipack/error.hpp"

namespace dwipack::h5 {

std::string group_path(const std::string& subject, const std::string& group) {
  return "/" + subject + "/" + group;
}

namespace {

void write_root_attributes(hid_t root, const pipeline::Plan& plan) {
  std::vector<std::string> chosen;
  chosen.reserve(plan.subjects.size());
  for (const auto& s : plan.subjects)
    chosen.push_back(s.id);
  write_attr_string(root, "data_and_time", plan.data_and_time); // sic: dwi_ml's spelling
  write_attr_strings(root, "chosen_subjs", chosen);
  write_attr_string(root, "groups_config", plan.groups_config);
  write_attr_strings(root, "training_subjs", plan.training);
  write_attr_strings(root, "validation_subjs", plan.validation);
  write_attr_strings(root, "testing_subjs", plan.testing);
  // Streamline options (issue: streamline groups) are not available yet.
  write_attr_string(root, "step_size", not_defined_by_user);
  write_attr_string(root, "nb_points", not_defined_by_user);
  write_attr_string(root, "compress", not_defined_by_user);
}

Handle create_volume_group(hid_t subject_group, const std::string& subject, const pipeline::GroupPlan& g) {
  const std::string where = group_path(subject, g.name);
  const auto& v = g.volume;
  Handle group = create_group(subject_group, g.name, where);
  write_attr_string(group.id(), "type", "volume");
  write_attr_f64(group.id(), "affine", std::vector<double>(v.vox2ras.begin(), v.vox2ras.end()), {4, 4});
  write_attr_f32(group.id(), "voxres", std::vector<float>(v.voxel_sizes.begin(), v.voxel_sizes.end()), {3});
  write_attr_i64(group.id(), "nb_features", v.nb_features);
  const std::vector<uint64_t> dims = {static_cast<uint64_t>(v.shape[0]), static_cast<uint64_t>(v.shape[1]),
                                      static_cast<uint64_t>(v.shape[2]),
                                      static_cast<uint64_t>(v.nb_features)};
  Handle data = create_dataset(group.id(), "data", H5T_IEEE_F32LE, dims, where + "/data");
  group.close("group '" + where + "'");
  return data;
}

} // namespace

Layout create_layout(const File& file, const pipeline::Plan& plan) {
  Layout layout;
  write_root_attributes(file.id(), plan);
  layout.datasets.resize(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const auto& subject = plan.subjects[s];
    Handle sg = create_group(file.id(), subject.id, "/" + subject.id);
    for (const auto& g : subject.groups) {
      if (g.type != GroupType::volume)
        throw Error(group_path(subject.id, g.name) + ": only volume groups can be written");
      layout.datasets[s].push_back(create_volume_group(sg.id(), subject.id, g));
    }
    sg.close("group '/" + subject.id + "'");
  }
  return layout;
}

void write_volume(
    const Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf) {
  const auto& g = plan.subjects[subject].groups[group];
  write_rows(layout.datasets[subject][group].id(), H5T_NATIVE_FLOAT, data_xyzf, 0,
             static_cast<uint64_t>(g.volume.shape[0]),
             group_path(plan.subjects[subject].id, g.name) + "/data");
}

void close_layout(Layout& layout) {
  for (auto& subject : layout.datasets)
    for (auto& d : subject)
      d.close("a dataset");
  layout.datasets.clear();
}

} // namespace dwipack::h5
