#pragma once
// Copying an HDF5 file's structure into a new serial file, and the serial reads and writes that
// fill it chunk by chunk. Generic: the caller chooses how each dataset is stored. Used by the
// compressed copy (pipeline/compress.hpp); knows nothing of MPI or of the dwi_ml layout.
#include "dwipack/h5/handle.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dwipack::h5 {

/// Open an existing file read-only, serial driver (file locks skipped where the file system has
/// none, as parallel file systems often do not). Throws Error("opening HDF5 file 'PATH': ...").
Handle open_serial(const std::string& path);
/// Create (truncate) a file with the serial driver and h5py's defaults (superblock 0, no
/// creation order). Throws Error("creating HDF5 file 'PATH': ...").
Handle create_serial(const std::string& path);

/// A dataset of the source, as copy_group shows it to the caller's policy.
struct DatasetShape {
  std::string path;           ///< HDF5 path ("/a/b/data")
  std::string name;           ///< its link name ("data")
  std::vector<uint64_t> dims; ///< empty for a scalar
  size_t element_bytes = 0;
  bool variable_length = false; ///< variable-length strings or sequences
};

/// How the copy of a dataset is created.
struct DatasetCreation {
  Handle properties;        ///< its dataset creation property list
  bool copy_values = false; ///< copy the values now (else the caller fills it later)
};

/// Decides, per dataset, how its copy is stored. May throw (the copy stops there).
using DatasetPolicy = std::function<DatasetCreation(const DatasetShape&)>;

/// Copy group `src` (HDF5 path `where`) into `dst`, recursively, in name order: every attribute
/// (copy_attributes), every subgroup (no timestamps), every dataset (same type and dataspace,
/// attributes copied, created as `policy` says), each link with its name encoding. Anything that
/// is neither a group nor a dataset is an error.
void copy_group(hid_t src, hid_t dst, const std::string& where, const DatasetPolicy& policy);

/// Copy every attribute of `src` to `dst`: same name and name encoding, type, dataspace and
/// value (variable-length strings included).
void copy_attributes(hid_t src, hid_t dst, const std::string& where);

/// Dataset creation properties without timestamps (h5py's track_times=False), nothing else.
Handle untimed_dataset_properties();
/// As h5py's chunks=..., compression='gzip', compression_opts=level, shuffle=True: chunked,
/// filters shuffle then deflate at `level`, space allocated and filled when written, no
/// timestamps. `path` names the dataset in messages.
Handle deflate_dataset_properties(const std::vector<uint64_t>& chunk, int level, const std::string& path);

/// Open the dataset at `path` of `file`. Throws Error("opening dataset 'PATH': ...").
Handle open_dataset_at(hid_t file, const std::string& path);
/// The file offset of the data of `path` when it is stored contiguously and allocated (its rows
/// are then a byte range of the file), else nothing.
std::optional<uint64_t> contiguous_offset(hid_t file, const std::string& path);
/// Read rows [row0, row1) of `dataset` (shape `dims`; in memory, the type of the file) into
/// `out`. `path` names it in messages.
void read_rows(hid_t dataset,
               const std::vector<uint64_t>& dims,
               uint64_t row0,
               uint64_t row1,
               void* out,
               const std::string& path);
/// Store `n_bytes` bytes, already through the dataset's filters, as the chunk at `offset`
/// (H5Dwrite_chunk; the filters are recorded as applied). Serial files only: in parallel HDF5
/// 1.10 it loses chunks.
void write_chunk(hid_t dataset,
                 const std::vector<uint64_t>& offset,
                 const void* bytes,
                 size_t n_bytes,
                 const std::string& path);

} // namespace dwipack::h5
