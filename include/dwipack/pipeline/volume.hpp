#pragma once
// Loading one volume group of one subject: read its files into one (X, Y, Z, F) float32 array,
// joined along the last axis, then standardize it as configured.
#include "dwipack/io/nifti.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/util/grow_buffer.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dwipack::pipeline {

/// Buffers a worker keeps across groups and subjects: they only grow, so a long job does not pay
/// the first-touch cost of fresh memory for every subject (slow on these VMs).
class VolumeBuffers {
public:
  /// A float array of at least n elements; its content is unspecified.
  float* data(size_t n) { return data_.get(n); }
  std::vector<uint8_t>& mask() { return mask_; }
  std::vector<float>& mask_values() { return mask_values_; }
  /// Decoding and standardization use scratch().threads threads (1 by default: serial).
  io::ReadScratch& scratch() { return scratch_; }
  /// A float array of at least n elements for one small file (content unspecified).
  float* part(size_t n) { return part_.get(n); }
  size_t capacity_bytes() const { return data_.size() * sizeof(float); }

private:
  GrowBuffer<float> data_;
  std::vector<uint8_t> mask_;
  std::vector<float> mask_values_;
  io::ReadScratch scratch_;
  GrowBuffer<float> part_;
};

/// What one rank holds at its peak, from the plan alone (`dwipack create --dry_run`). A worker
/// holds one volume group at a time: its float32 array, the raw frames of one file being decoded
/// (io::decode_memory_bytes; float32 assumed, the largest usual input type), the mask buffers;
/// beside it a streamline group's point blocks and per-streamline arrays; every rank holds the
/// plan. Calibrated against measured peaks (docs/design.md, "Memory per rank").
struct MemoryEstimate {
  std::string largest_group;    ///< "/<subject>/<group>" of the largest volume group ("" if none)
  int64_t volume_bytes = 0;     ///< its float32 array
  int64_t decode_bytes = 0;     ///< raw frames of its largest file, decoded a block at a time
  int64_t mask_bytes = 0;       ///< std_mask (a byte and a float per voxel) and small per_file files
  int64_t streamline_bytes = 0; ///< point blocks and the largest group's per-streamline arrays
  int64_t plan_bytes = 0;       ///< the plan, on every rank (and, on rank 0, the reports of it)
  int64_t process_bytes = 0;    ///< MPI, HDF5 (its metadata cache included), the O_DIRECT buffer
  int64_t total() const {
    return volume_bytes + decode_bytes + mask_bytes + streamline_bytes + plan_bytes + process_bytes;
  }
};
MemoryEstimate estimate_memory(const Plan& plan);

/// Read, join and standardize one group. Returns the (X, Y, Z, F) array, which lives in
/// `buffers` until the next call. Throws Error naming the file or the standardization problem.
/// `before_standardization`, if set, sees the joined (X, Y, Z, F) data before the group-level
/// standardization (the 2021 intermediate files).
const float* load_volume_group(const VolumeGroupPlan& plan,
                               VolumeBuffers& buffers,
                               const std::function<void(const float*)>& before_standardization = {});

} // namespace dwipack::pipeline
