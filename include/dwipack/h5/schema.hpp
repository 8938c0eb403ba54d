#pragma once
// The one place that knows the output layout (dwi_ml HEAD, spec §3): root attributes, one group
// per subject, one child group per config group, and their datasets and attributes.
#include "dwipack/h5/file.hpp"
#include "dwipack/pipeline/plan.hpp"

#include <vector>

namespace dwipack::h5 {

/// Written for step_size / nb_points / compress when the option was not given (dwi_ml's text).
inline constexpr const char* not_defined_by_user = "Not defined by user";

/// Open dataset handles of the created layout: datasets[subject][group] is the group's `data`.
struct Layout {
  std::vector<std::vector<Handle>> datasets;
};

/// Collective over the file's communicator. Write the root attributes and create every subject
/// group, config group, attribute and (empty) dataset of `plan`, in plan order.
Layout create_layout(const File& file, const pipeline::Plan& plan);

/// Independent. Write a volume group's (X, Y, Z, F) float32 C-order data.
void write_volume(
    const Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf);

/// Collective. Close every dataset handle.
void close_layout(Layout& layout);

/// The HDF5 path of a subject's group, for messages: "/<subject>/<group>".
std::string group_path(const std::string& subject, const std::string& group);

} // namespace dwipack::h5
