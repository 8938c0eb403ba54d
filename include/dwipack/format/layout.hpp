#pragma once
// The output file's objects for a plan, made by walking the format tables (format/table.hpp):
// creating the layout, reopening it (--resume), the CRC-32 bookkeeping that verifies it, the
// root attributes, and access to each group's datasets by role for the writers.
//
// A parallel file's layout must be closed explicitly (close(), collective): HDF5 closes datasets
// of a parallel file collectively, so the destructor never closes them (it only lets go of the
// ids), and a rank that unwinds after an error cannot start a collective call alone.
#include "dwipack/format/table.hpp"
#include "dwipack/h5/file.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dwipack::format {

/// One open dataset of the layout.
struct Dataset {
  h5::Handle handle;
  std::string path; ///< "/<subject>/<group>/<name>"
  Role role = Role::data;
  Type type = Type::f32;
  hid_t mem_type = H5I_INVALID_HID; ///< the native type its data is written and read back as
  h5::Handle owned_mem_type;        ///< when mem_type is a type of our own (the bool enum)
  Crc32 written;                    ///< CRC-32 of the rows written so far, in row order
};

/// The open datasets of one group of one subject, in table order.
struct GroupDatasets {
  std::vector<Dataset> items;
  /// The k-th dataset with `role` (k > 0 for the data_per_streamline keys); throws Error if absent.
  Dataset& at(Role role, size_t k = 0);
  /// Nullptr if the group has no such dataset.
  Dataset* find(Role role, size_t k = 0);
};

class Layout {
public:
  Layout() = default;
  Layout(Layout&&) = default;
  Layout& operator=(Layout&&) = default;
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
  /// Never a collective call: a parallel layout not closed lets go of its ids (see above).
  ~Layout();

  /// Collective over the file's communicator (for a parallel file). Close every dataset.
  void close();

  GroupDatasets& group(size_t subject, size_t group) { return groups_[subject][group]; }
  const GroupDatasets& group(size_t subject, size_t group) const { return groups_[subject][group]; }
  size_t group_count(size_t subject) const { return groups_[subject].size(); }

  h5::DirectWriter* direct = nullptr; ///< O_DIRECT writes of the rows (the File owns it); nullptr: MPI-IO

private:
  friend Layout create_layout(const h5::File&, const Plan&);
  friend Layout open_layout(const h5::File&, const Plan&);
  std::vector<std::vector<GroupDatasets>> groups_;
  bool parallel_ = false;
};

/// Collective. Create every subject group, config group, group attribute and (empty) dataset of
/// `plan`, in plan order, as the format tables say. The root attributes come last (write_root).
Layout create_layout(const h5::File& file, const Plan& plan);

/// Collective for a parallel file. Open the datasets of a layout created earlier for the same
/// plan (--resume); throws Error if a dataset is missing or its shape differs from the plan.
Layout open_layout(const h5::File& file, const Plan& plan);

/// Collective. Remove the groups of the subjects with dropped[s] (their data failed under
/// --on_error skip), then write the root attributes (the root table), naming only the subjects
/// kept, and the provenance.
void write_root(const h5::File& file,
                const Plan& plan,
                const std::vector<bool>& dropped,
                const Provenance& provenance);

/// CRC-32 and size of one dataset as written: what the --resume journal records.
struct Checksum {
  uint32_t crc = 0;
  uint64_t bytes = 0;
};
using Checksums = std::map<std::string, Checksum>; ///< by HDF5 path

/// The CRC-32 and size of every dataset of a subject, as written by this rank.
Checksums subject_checksums(const Layout& layout, const Plan& plan, size_t subject);

/// Independent. Read back every dataset of a subject and compare with `recorded`. Returns an
/// empty string if they all match, else the first difference.
std::string verify_subject(const Layout& layout, const Plan& plan, size_t subject, const Checksums& recorded);

/// Independent. Copy every dataset of a subject from `source`, an earlier complete file holding
/// the same subject with the same layout (--resume bringing it up to date), through the writers'
/// memory types in blocks of about 64 MiB, so that the CRC-32s are the ones a conversion would
/// record. Throws Error if a dataset is missing or shaped otherwise.
void copy_subject(Layout& layout, const Plan& plan, size_t subject, const h5::File& source);

/// The HDF5 path of a subject's group, for messages: "/<subject>/<group>".
std::string group_path(const std::string& subject, const std::string& group);

// --- independent writes of one subject's data, by the rank that owns it ---

/// A volume group's (X, Y, Z, F) float32 C-order data.
void write_volume(Layout& layout, const Plan& plan, size_t subject, size_t group, const float* data_xyzf);

/// A volume group's write resolved up front (the HDF5 calls happen in volume_direct_write, on
/// the calling thread), so that another thread can do it with plain pwrite()s while this one
/// keeps using HDF5: the subject's volume and streamline groups then run side by side.
struct VolumeDirectWrite {
  h5::DirectWriter* direct = nullptr;
  uint64_t file_offset = 0;
  uint64_t bytes = 0;
  Crc32* written = nullptr; ///< the dataset's CRC: only the writing thread may touch it
  std::string where;
  /// Write the group's (X, Y, Z, F) float32 data. Calls no HDF5 or MPI function.
  void write(const float* data_xyzf) const;
};
/// Nullopt when the group must go through write_volume (no direct I/O, or no fixed file range).
std::optional<VolumeDirectWrite>
volume_direct_write(Layout& layout, const Plan& plan, size_t subject, size_t group);

/// A streamline group's connectivity data: the matrix as 0/1 bytes (C order) and, in labels mode,
/// the uint16 label volume (C order (X, Y, Z)).
void write_connectivity(Layout& layout,
                        const Plan& plan,
                        size_t subject,
                        size_t group,
                        const std::vector<int8_t>& matrix,
                        const std::vector<uint16_t>& labels_xyz);

void to_json(nlohmann::json& j, const Checksum& c);
void from_json(const nlohmann::json& j, Checksum& c);

} // namespace dwipack::format
