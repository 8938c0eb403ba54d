#pragma once
// Raw data writes that bypass the page cache (the default; --buffered_io turns them off). A contiguous
// dataset, allocated when the layout was created, is a fixed byte range of the file (H5Dget_offset); its rows
// can be written there with pwrite while HDF5 keeps writing the metadata. Whole 4 KiB pages go through an
// O_DIRECT descriptor (from an aligned bounce buffer); the partial pages at both ends go through an ordinary
// one, so pages shared with HDF5 metadata or another dataset stay in the page cache like every other write of
// the file.
//
// Why: on VMs (and nodes under memory pressure) a buffered write of a new file costs the kernel
// a fresh page per 4 KiB; measured here, O_DIRECT writes ran at 1.5-2 GB/s where buffered writes
// of a new file ran at 0.4-0.7 GB/s (docs/design.md). Where a file system refuses O_DIRECT
// (tmpfs, some FUSE mounts) dwipack falls back to ordinary writes; where it is slow (some NFS
// setups), --buffered_io turns it off.
#include "dwipack/util/aligned_buffer.hpp"
#include "dwipack/util/unique_fd.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace dwipack::h5 {

class DirectWriter {
public:
  /// Open `path` twice (O_DIRECT and buffered). Returns nullptr if O_DIRECT is refused.
  static std::unique_ptr<DirectWriter> open(const std::string& path);
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  /// Write `n_bytes` at `file_offset`. Throws Error naming `where` (and the system's reason).
  /// Thread-safe (the subject's volume and streamline groups write from different threads).
  void write(const void* data, size_t n_bytes, uint64_t file_offset, const std::string& where);
  /// Close both descriptors now; throws Error naming the file if the system reports a failure.
  /// (Destruction closes too, silently.)
  void close();

private:
  DirectWriter(UniqueFd direct, UniqueFd buffered);
  void write_all(
      const UniqueFd& fd, const unsigned char* data, size_t n, uint64_t offset, const std::string& where);
  UniqueFd direct_;
  UniqueFd buffered_;
  std::atomic<bool> direct_ok_{true}; ///< false once the file system refused an O_DIRECT write
  std::mutex bounce_mutex_;           ///< one thread at a time uses the bounce buffer
  AlignedBuffer bounce_;              ///< page-aligned staging buffer
};

} // namespace dwipack::h5
