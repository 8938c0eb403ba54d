#pragma once
// Files, groups, datasets and attributes with the h5py-equivalent properties dwi_ml's readers
// expect (docs/format.md §2): superblock v0 (unless dense attribute storage is asked for), no
// link/attribute creation-order tracking, no object timestamps, contiguous datasets without fill,
// variable-length UTF-8 string attributes, link and attribute names in ASCII charset when they are ASCII (as
// h5py does).
//
// In a parallel file every function marked "Collective" must be called by all ranks of the
// file's communicator, in the same order and with identical arguments.
#include "dwipack/h5/direct_writer.hpp"
#include "dwipack/h5/handle.hpp"
#include "dwipack/util/crc32.hpp"

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::h5 {

/// An open HDF5 file. A parallel file must be closed explicitly with close(), by every rank:
/// H5Fclose is collective, so the destructor of a parallel file never closes it (it lets go of
/// the id, and logs nothing: on that path the job is being aborted). A rank that unwinds after an
/// error therefore cannot hang in a collective close the other ranks never reach.
class File {
public:
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  /// Collective over comm. Create (truncate) `path` for parallel writing through MPI-IO. With
  /// `dense_attributes`, the file's format bounds are HDF5 1.8's (superblock 2, version-2 object
  /// headers), which store an attribute of any size; otherwise h5py's defaults, where an
  /// attribute must fit in 64 KiB (docs/format.md §2.4).
  static File create_parallel(const std::string& path, MPI_Comm comm, bool dense_attributes = false);
  /// Create (truncate) `path` in this process alone (the POSIX driver), with the same format
  /// bounds and metadata cache as create_parallel: one rank builds a layout that all then open
  /// with open_parallel (nobody else may have the file open meanwhile).
  static File create_serial(const std::string& path, bool dense_attributes = false);
  /// Collective over comm. Open an existing file for parallel writing (--resume).
  static File open_parallel(const std::string& path, MPI_Comm comm);
  /// Open an existing file read-only (serial).
  static File open_read(const std::string& path);

  hid_t id() const { return handle_.id(); }
  /// Opened with the MPI-IO driver: closing it (file, groups, datasets) is collective.
  bool parallel() const { return parallel_; }
  const std::string& path() const { return path_; }
  /// The ranks of the file's communicator (1 for a serial file).
  int ranks() const { return ranks_; }
  /// Whether the file can store attributes densely (superblock version 2 or later).
  bool dense_attributes() const;
  /// Independent. Write the rows of contiguous datasets with O_DIRECT from now on (the default, see
  /// DirectWriter); false (and nothing changes) if the file system refuses it.
  bool enable_direct_writes();
  /// The direct writer, or nullptr (ordinary MPI-IO writes).
  DirectWriter* direct_writer() const { return direct_.get(); }
  /// Collective. Write every cached metadata block to the file (the layout is then on disk
  /// before any data: an interrupted file can be reopened by --resume).
  void flush() const;
  /// Collective for a parallel file. Close and throw if HDF5 fails (unflushed data).
  void close();
  /// Collective, parallel file with no object open. Close the file and open it again, so that
  /// every rank's metadata cache starts empty. HDF5 1.10 reads metadata collectively (rank 0 reads,
  /// all receive) inside collective operations, which requires the caches of all ranks to miss
  /// and hit alike; ranks that opened different objects independently (each worker its own
  /// subjects) no longer do, and the next collective attribute write would hang.
  void reopen();

private:
  File(Handle h, std::string path, MPI_Comm comm = MPI_COMM_NULL);
  Handle handle_;
  std::string path_;
  bool parallel_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL; ///< a parallel file's communicator (not owned)
  int ranks_ = 1;
  std::unique_ptr<DirectWriter> direct_;
};

/// Collective. Create a group `name` under `parent` (an open file or group id).
Handle create_group(hid_t parent, const std::string& name, const std::string& where);

/// Collective. Create a contiguous dataset of `file_type` and shape `dims` (no fill written).
Handle create_dataset(hid_t parent,
                      const std::string& name,
                      hid_t file_type,
                      const std::vector<uint64_t>& dims,
                      const std::string& where);

/// Where rows [row0, row0 + nrows) of `dataset` lie in the file when they can be written there
/// directly (contiguous, allocated storage; memory and file types of the same size): {file
/// offset, bytes}. Nullopt otherwise. Throws Error if the rows are out of range.
std::optional<std::pair<uint64_t, uint64_t>>
direct_range(hid_t dataset, hid_t mem_type, uint64_t row0, uint64_t nrows, const std::string& where);

/// Where a contiguous dataset's bytes start in the file, once its space is allocated (parallel
/// HDF5 allocates it at creation); nullopt before (or for an empty dataset).
std::optional<uint64_t> dataset_offset(hid_t dataset);

/// The byte position of a contiguous dataset's start within a 4 KiB page of the file (0 when it
/// has no fixed place yet). Data at the same position within a page of memory reaches the disk
/// through the DirectWriter without a copy.
size_t page_phase(hid_t dataset);

/// Independent. Write rows [row0, row0 + nrows) along the first axis of a dataset from a
/// C-order buffer of `mem_type` values. Large writes are split into pieces below 1 GiB (MPI-IO
/// counts are 32-bit ints). When `crc` is given, the written bytes are added to it (callers
/// write rows in order). With a `direct` writer, the bytes go straight to the dataset's place in
/// the file (contiguous, allocated datasets whose memory and file types have the same size).
void write_rows(hid_t dataset,
                hid_t mem_type,
                const void* data,
                uint64_t row0,
                uint64_t nrows,
                const std::string& where,
                Crc32* crc = nullptr,
                DirectWriter* direct = nullptr);

/// Independent. The CRC-32 of a whole dataset read back as `mem_type` (in pieces of 64 MiB).
Crc32 read_crc(hid_t dataset, hid_t mem_type, const std::string& where);

/// Open an existing dataset (any rank may, independently).
Handle open_dataset(hid_t parent, const std::string& path);

/// A dataset's shape.
std::vector<uint64_t> dataset_dims(hid_t dataset, const std::string& where);

/// Collective. Remove the link `name` under `parent` (the object's space is not reclaimed).
void delete_link(hid_t parent, const std::string& name);

// --- attributes (Collective: identical values on every rank). An attribute that exists is
// replaced (a --resume'd file may hold some from the interrupted run). ---
void write_attr_string(hid_t obj, const std::string& name, const std::string& value);
/// Any numeric attribute: `data` holds the values as `mem_type` (C order), stored as `file_type`
/// (e.g. H5T_IEEE_F32BE for a big-endian float32 attribute). Empty `dims`: a scalar.
void write_attr_numbers(hid_t obj,
                        const std::string& name,
                        hid_t file_type,
                        hid_t mem_type,
                        const std::vector<uint64_t>& dims,
                        const void* data);
/// A list of strings: a 1-D vlen UTF-8 array; an empty list is written as float64 of shape (0,),
/// exactly what h5py writes for [] (dwi_ml's readers accept both).
void write_attr_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void write_attr_f64(hid_t obj,
                    const std::string& name,
                    const std::vector<double>& values,
                    const std::vector<uint64_t>& dims);
void write_attr_f32(hid_t obj,
                    const std::string& name,
                    const std::vector<float>& values,
                    const std::vector<uint64_t>& dims);
void write_attr_i64(hid_t obj,
                    const std::string& name,
                    const std::vector<int64_t>& values,
                    const std::vector<uint64_t>& dims);
void write_attr_i16(hid_t obj,
                    const std::string& name,
                    const std::vector<int16_t>& values,
                    const std::vector<uint64_t>& dims);
/// Scalars (SCALAR dataspace).
void write_attr_f64(hid_t obj, const std::string& name, double value);
void write_attr_i64(hid_t obj, const std::string& name, int64_t value);

} // namespace dwipack::h5
