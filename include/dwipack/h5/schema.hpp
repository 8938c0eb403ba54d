#pragma once
// The one place that knows the output layout (dwi_ml HEAD, spec §3): root attributes, one group
// per subject, one child group per config group, and their datasets and attributes.
#include "dwipack/h5/file.hpp"
#include "dwipack/pipeline/plan.hpp"

#include <vector>

namespace dwipack::h5 {

/// Written for step_size / nb_points / compress when the option was not given (dwi_ml's text).
inline constexpr const char* not_defined_by_user = "Not defined by user";

/// Open dataset handles of one config group of one subject.
struct GroupDatasets {
  Handle data; ///< volume (X,Y,Z,F) or streamline points (P,3)
  Handle offsets, lengths, euclidean_lengths;
  std::vector<Handle> dps; ///< data_per_streamline/<key>, in plan order
  Handle connectivity_matrix;
  Handle connectivity_label_volume;
};

/// Open dataset handles of the created layout: groups[subject][group].
struct Layout {
  std::vector<std::vector<GroupDatasets>> groups;
};

/// Collective over the file's communicator. Write the root attributes and create every subject
/// group, config group, attribute and (empty) dataset of `plan`, in plan order.
Layout
create_layout(const File& file, const pipeline::Plan& plan, const pipeline::StreamlineOptions& options);

/// The HDF5 path of a subject's group, for messages: "/<subject>/<group>".
std::string group_path(const std::string& subject, const std::string& group);

// --- independent writes of one subject's data, by the rank that owns it ---

/// A volume group's (X, Y, Z, F) float32 C-order data.
void write_volume(
    const Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf);

/// Receives a streamline group's processed data and writes it (see pipeline::StreamlineSink).
class StreamlineWriter : public pipeline::StreamlineSink {
public:
  StreamlineWriter(const Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group);
  void points(int64_t row0, const float* xyz_vox, int64_t n_rows) override;
  void streamline_arrays(const std::vector<int64_t>& offsets,
                         const std::vector<int64_t>& lengths,
                         const std::vector<float>& euclidean_lengths,
                         const std::vector<std::vector<float>>& dps) override;

private:
  const GroupDatasets& datasets_;
  std::string where_;
  int64_t expected_streamlines_;
  int64_t expected_points_;
  int64_t written_points_ = 0;
};

/// A streamline group's connectivity data: the matrix as 0/1 bytes (C order) and, in labels mode,
/// the uint16 label volume (C order (X, Y, Z)).
void write_connectivity(const Layout& layout,
                        const pipeline::Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz);

/// Collective. Close every dataset handle.
void close_layout(Layout& layout);

} // namespace dwipack::h5
