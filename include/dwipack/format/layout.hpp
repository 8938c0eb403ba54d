#pragma once
// The output file's objects for a plan, made by walking the format tables (format/table.hpp):
// creating the layout, reopening it (--resume), the CRC-32 bookkeeping that verifies it, the
// root attributes, and access to each group's datasets by role for the writers.
//
// Handles: the layout is created collectively (every rank creates every object, as parallel HDF5
// requires) but no rank keeps the datasets open afterwards: each is closed as soon as it is made,
// and the layout remembers only where each dataset's bytes start in the file (8 bytes per
// dataset). The rank that writes (or, for --resume, verifies) a subject works on that subject's
// datasets only, for the time of its task (open_subject): with direct writes, the rows go to
// those file ranges without any HDF5 call; otherwise the datasets are opened then (opening an
// unmodified object and closing it while the file stays open are independent operations in
// parallel HDF5). Memory per rank thus does not grow with the number of subjects: an open dataset
// costs HDF5 about 10 kB, and its objects' metadata stays in HDF5's cache.
#include "dwipack/format/table.hpp"
#include "dwipack/h5/file.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::format {

/// One dataset of the subject in hand (Layout::open_subject).
struct Dataset {
  std::string path; ///< "/<subject>/<group>/<name>"
  Role role = Role::data;
  Type type = Type::f32;
  Type held = Type::f32;            ///< the type its writer supplies (HDF5 converts when it differs)
  hid_t mem_type = H5I_INVALID_HID; ///< the native type its data is written and read back as
  h5::Handle owned_mem_type;        ///< when mem_type is a type of our own (the bool enum)
  Dims dims;                        ///< its shape
  /// Where its bytes start in the file (contiguous storage, allocated when the layout was made);
  /// no_offset for an empty dataset.
  uint64_t file_offset = no_offset;
  h5::Handle handle; ///< open only when HDF5 moves its rows (write_rows without direct writes)
  Crc32 written;     ///< CRC-32 of the rows written so far, in row order
  static constexpr uint64_t no_offset = ~uint64_t{0};
};

/// The open datasets of one group of one subject, in table order.
struct GroupDatasets {
  std::vector<Dataset> items;
  /// The k-th dataset with `role` (k > 0 for the data_per_streamline keys); throws Error if absent.
  Dataset& at(Role role, size_t k = 0);
  /// Nullptr if the group has no such dataset.
  Dataset* find(Role role, size_t k = 0);
};

/// Where a layout's datasets are in its file: what a rank that did not create the layout needs
/// to write into it (attach_layout). Sent between ranks by pipeline::broadcast_message.
struct LayoutPlaces {
  std::vector<uint64_t> offsets; ///< every dataset's file offset, subject by subject, in table order
  std::vector<size_t> first;     ///< per subject (and one past the last): its first dataset's index
};

class Layout;

/// The subject open in a Layout, for the time of one task: its destructor closes the datasets
/// (quietly: on an error path); close() does it and reports a failure.
class OpenSubject {
public:
  explicit OpenSubject(Layout& layout) : layout_(&layout) {}
  OpenSubject(OpenSubject&& other) noexcept : layout_(std::exchange(other.layout_, nullptr)) {}
  OpenSubject& operator=(OpenSubject&&) = delete;
  OpenSubject(const OpenSubject&) = delete;
  OpenSubject& operator=(const OpenSubject&) = delete;
  ~OpenSubject();
  /// Independent. Close the subject's datasets; throws Error if HDF5 fails.
  void close();

private:
  Layout* layout_;
};

class Layout {
public:
  Layout() = default;
  Layout(Layout&&) = default;
  Layout& operator=(Layout&&) = default;
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
  /// Never a collective call: a parallel layout lets go of the ids of a subject still open.
  ~Layout();

  /// Independent. Open the datasets of `subject` (closing those of the subject open before, if
  /// any) for writing or reading back; group() gives them by group until the returned scope ends.
  [[nodiscard]] OpenSubject open_subject(const Plan& plan, size_t subject);
  /// Independent. Close the open subject's datasets, if any; throws Error if HDF5 fails.
  void close_subject();
  /// Close whatever is still open (a subject). Kept as the end of the layout's life: every rank
  /// calls it before the file's collective close.
  void close() { close_subject(); }

  /// The datasets of a group of the open subject; throws Error if `subject` is not open.
  GroupDatasets& group(size_t subject, size_t group);
  const GroupDatasets& group(size_t subject, size_t group) const;
  size_t group_count(size_t subject) const;
  /// Independent. The HDF5 dataset of `d` (a dataset of the open subject), opened on first use.
  hid_t handle(Dataset& d) const;

  h5::DirectWriter* direct = nullptr; ///< O_DIRECT writes of the rows (the File owns it); nullptr: MPI-IO

  /// Where its datasets are (to attach the same layout on other ranks).
  LayoutPlaces places() const { return {offsets_, first_}; }

private:
  friend Layout attach_layout(const h5::File&, LayoutPlaces);
  friend Layout open_layout(const h5::File&, const Plan&);
  hid_t file_ = H5I_INVALID_HID; ///< the File's id (the File outlives the layout)
  bool parallel_ = false;
  std::vector<uint64_t> offsets_; ///< every dataset's file offset, subject by subject, in table order
  std::vector<size_t> first_;     ///< per subject: the index of its first dataset in offsets_
  static constexpr size_t none = static_cast<size_t>(-1);
  size_t open_ = none;                     ///< the subject whose datasets are open
  std::vector<GroupDatasets> open_groups_; ///< its groups' datasets
};

/// Independent. Rows [row0, row0 + n_rows) along the first axis of `d`, a dataset of the open
/// subject, from a C-order buffer of its held type; their CRC-32 is added to d.written unless
/// `crc` is false (the caller takes it, rows in order). With direct writes, the bytes go to the
/// dataset's file range with no HDF5 call (when the held and stored types have the same size);
/// otherwise through HDF5.
void write_rows(
    Layout& layout, Dataset& d, const void* data, uint64_t row0, uint64_t n_rows, bool crc = true);

/// The byte position of `d`'s first byte within a 4 KiB page of the file (0 when it has none).
/// Data at the same position within a page of memory reaches the disk without a copy.
size_t page_phase(const Dataset& d);

/// The largest attribute `plan` leads to, in bytes of its object header message (an upper bound):
/// each group attribute as the tables make it; each root list at its longest, one entry per
/// subject (written or skipped) or per rank. A variable-length string costs 16 bytes there (its
/// text lives in the global heap). Pure: planning computes it before any data is read.
uint64_t largest_attribute_message(const Plan& plan, size_t ranks);

/// Whether the file must be created with HDF5 1.8 format bounds, which allow dense attribute
/// storage: true when an attribute may not fit in an object header message (64 KiB). Files
/// that do not need it keep h5py's default bounds (superblock 0), as dwi_ml writes them.
bool needs_dense_attributes(const Plan& plan, size_t ranks);

/// Collective. Create every subject group, config group, group attribute and (empty) dataset of
/// `plan`, in plan order, as the format tables say, closing each dataset once made. The root
/// attributes come last (write_root). Throws Error if the file's format cannot hold the plan's
/// attributes (created without dense attribute storage when the plan needs it).
Layout create_layout(const h5::File& file, const Plan& plan);

/// create_layout one subject at a time, for a plan still being made (rank 0 builds the layout as
/// the subjects' plans arrive, in plan order). The file must outlive the builder.
class LayoutBuilder {
public:
  LayoutBuilder(const h5::File& file, Kind kind);
  /// Collective for a parallel file. Create the subject's groups, attributes and datasets.
  void add(const SubjectPlan& subject);
  /// The places of what was added, once `plan` is complete: throws Error if its subjects are not
  /// those added, in order, or if the file's format cannot hold its attributes (as create_layout).
  LayoutPlaces finish(const Plan& plan);
  size_t subjects() const { return ids_.size(); }

private:
  const h5::File& file_;
  Kind kind_;
  LayoutPlaces places_;
  std::vector<std::string> ids_; ///< the subjects added, in order (checked by finish)
};

/// The layout of `file` whose datasets are at `places`, as create_layout on another rank found
/// them (the same file, reopened). Makes no HDF5 call.
Layout attach_layout(const h5::File& file, LayoutPlaces places);

/// Collective for a parallel file. Check a layout created earlier for the same plan (--resume):
/// throws Error if a dataset is missing or its shape differs from the plan, or if the file's
/// format cannot hold the plan's root attributes (file_needs_dense_attributes). Each dataset is
/// opened and closed again; open_subject opens them for a task.
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

/// The CRC-32 and size of every dataset of a subject, as written by this rank (the open subject).
Checksums subject_checksums(const Layout& layout, const Plan& plan, size_t subject);

/// Independent. Read back every dataset of a subject (the open subject) and compare with
/// `recorded`. Returns an empty string if they all match, else the first difference.
std::string verify_subject(Layout& layout, const Plan& plan, size_t subject, const Checksums& recorded);

/// Independent. Copy every dataset of a subject (the open subject) from `source`, an earlier
/// complete file holding the same subject with the same layout (--resume bringing it up to
/// date), through the writers' memory types in blocks of about 64 MiB, so that the CRC-32s are
/// the ones a conversion would record. Throws Error if a dataset is missing or shaped otherwise.
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
