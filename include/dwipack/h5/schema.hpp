#pragma once
// The one place that knows the output layout (dwi_ml HEAD, spec §3): root attributes, one group
// per subject, one child group per config group, and their datasets and attributes.
#include "dwipack/h5/file.hpp"
#include "dwipack/pipeline/plan.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace dwipack::h5 {

/// Written for step_size / nb_points / compress when the option was not given (dwi_ml's text).
inline constexpr const char* not_defined_by_user = "Not defined by user";

/// One dataset of the layout (absent when !handle.valid()).
struct Dataset {
  Handle handle;
  std::string path;                 ///< "/<subject>/<group>/<name>"
  hid_t mem_type = H5I_INVALID_HID; ///< the native type its data is written and read back as
  Handle owned_mem_type;            ///< when mem_type is a type of our own (the bool enum)
  Crc32 written;                    ///< CRC-32 of the rows written so far, in row order
};

/// Open datasets of one config group of one subject.
struct GroupDatasets {
  Dataset data; ///< volume (X,Y,Z,F) or streamline points (P,3)
  Dataset offsets, lengths, euclidean_lengths;
  std::vector<Dataset> dps; ///< data_per_streamline/<key>, in plan order
  Dataset connectivity_matrix;
  Dataset connectivity_label_volume;

  /// Every present dataset, in a fixed order.
  std::vector<Dataset*> all();
  std::vector<const Dataset*> all() const;
};

/// Open datasets of the layout: groups[subject][group].
struct Layout {
  std::vector<std::vector<GroupDatasets>> groups;
  DirectWriter* direct = nullptr; ///< O_DIRECT writes of the rows (File owns it); nullptr: MPI-IO
};

/// Collective over the file's communicator. Create every subject group, config group, group
/// attribute and (empty) dataset of `plan`, in plan order. The root attributes come last, from
/// finalize_root, once it is known which subjects were written.
Layout create_layout(const File& file, const pipeline::Plan& plan);

/// Collective. Open the datasets of a layout created earlier for the same plan (--resume);
/// throws Error if a dataset is missing or its shape differs from the plan.
Layout open_layout(const File& file, const pipeline::Plan& plan);

/// What dwipack adds to the root attributes (names start with "dwipack_"; dwi_ml ignores them).
struct Provenance {
  std::string version;
  std::string git_commit;
  std::string command_line;
  int64_t ranks = 1;
  /// One JSON text per written subject: {"subject": id, "files": [[path, bytes, mtime], ...]}.
  std::vector<std::string> inputs;
  /// One JSON text per subject left out by --on_error skip: {"subject": id, "reason": text}.
  std::vector<std::string> skipped;
};

/// Collective. Remove the groups of the subjects with dropped[s] (their data failed under
/// --on_error skip), then write the root attributes: dwi_ml's (spec §3.1, or §4 for the 2021
/// layout), naming only the subjects kept, and the provenance.
void finalize_root(const File& file,
                   const pipeline::Plan& plan,
                   const pipeline::StreamlineOptions& options,
                   const std::vector<bool>& dropped,
                   const Provenance& provenance);

/// The CRC-32 and size of every dataset of a subject, as written by this rank:
/// {"<hdf5 path>": [crc, bytes], ...} (the --resume journal records it).
nlohmann::json subject_checksums(const Layout& layout, size_t subject);

/// Independent. Read back every dataset of a subject and compare with `recorded` (from
/// subject_checksums). Returns an empty string if they all match, else the first difference.
std::string verify_subject(const Layout& layout, size_t subject, const nlohmann::json& recorded);

/// The HDF5 path of a subject's group, for messages: "/<subject>/<group>".
std::string group_path(const std::string& subject, const std::string& group);

// --- independent writes of one subject's data, by the rank that owns it ---

/// A volume group's (X, Y, Z, F) float32 C-order data.
void write_volume(
    Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group, const float* data_xyzf);

/// A volume group's write resolved up front (the HDF5 calls happen in volume_direct_write, on
/// the calling thread), so that another thread can do it with plain pwrite()s while this one
/// keeps using HDF5: the subject's volume and streamline groups then run side by side.
struct VolumeDirectWrite {
  DirectWriter* direct = nullptr;
  uint64_t file_offset = 0;
  uint64_t bytes = 0;
  Crc32* written = nullptr; ///< the dataset's CRC: only the writing thread may touch it
  std::string where;
  /// Write the group's (X, Y, Z, F) float32 data. Calls no HDF5 or MPI function.
  void write(const float* data_xyzf) const;
};
/// Nullopt when the group must go through write_volume (no direct I/O, or no fixed file range).
std::optional<VolumeDirectWrite>
volume_direct_write(Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group);

/// Receives a streamline group's processed data and writes it (see pipeline::StreamlineSink).
class StreamlineWriter : public pipeline::StreamlineSink {
public:
  StreamlineWriter(Layout& layout, const pipeline::Plan& plan, size_t subject, size_t group);
  void points(int64_t row0, const float* xyz_vox, int64_t n_rows) override;
  size_t points_page_phase() const override;
  void points_crc(const Crc32& crc) override;
  void streamline_arrays(const std::vector<int64_t>& offsets,
                         const std::vector<int64_t>& lengths,
                         const std::vector<float>& euclidean_lengths,
                         const std::vector<std::vector<float>>& dps) override;

private:
  GroupDatasets& datasets_;
  DirectWriter* direct_ = nullptr;
  std::string where_;
  int64_t expected_streamlines_;
  int64_t expected_points_;
  int64_t written_points_ = 0;
};

/// A streamline group's connectivity data: the matrix as 0/1 bytes (C order) and, in labels mode,
/// the uint16 label volume (C order (X, Y, Z)).
void write_connectivity(Layout& layout,
                        const pipeline::Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz);

/// Collective. Close every dataset handle.
void close_layout(Layout& layout);

} // namespace dwipack::h5
