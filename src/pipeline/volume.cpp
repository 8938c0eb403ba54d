#include "dwipack/pipeline/volume.hpp"

#include "dwipack/error.hpp"
#include "dwipack/process/standardize.hpp"
#include "dwipack/util/interrupt.hpp"

#include <algorithm>

namespace dwipack::pipeline {

namespace {

/// Files of at most this many frames are standardized per_file in a contiguous buffer.
constexpr int64_t small_file_frames = 4;

/// Union of (mask > 0) over the mask files, as dwi_ml's std_mask (one byte per voxel, C order).
const uint8_t* load_mask(const VolumeGroupPlan& plan, VolumeBuffers& buffers) {
  if (plan.std_mask_files.empty()) return nullptr;
  const auto n = static_cast<size_t>(plan.n_voxels());
  auto& mask = buffers.mask();
  auto& values = buffers.mask_values();
  mask.assign(n, 0);
  values.resize(n);
  for (const auto& path : plan.std_mask_files) {
    // The reader's errors name the file already.
    io::NiftiHeader h = io::read_nifti_header(path);
    io::read_nifti_into(h, values.data(), 1, 0, buffers.scratch());
    // dwi_ml: mask > 0; the 2021 code: any non-zero value (astype(bool))
    if (plan.rules.mask_nonzero)
      for (size_t v = 0; v < n; ++v)
        mask[v] |= values[v] != 0.0f ? 1 : 0;
    else
      for (size_t v = 0; v < n; ++v)
        mask[v] |= values[v] > 0.0f ? 1 : 0;
  }
  return mask.data();
}

} // namespace

const float* load_volume_group(const VolumeGroupPlan& plan,
                               VolumeBuffers& buffers,
                               const std::function<void(const float*)>& before_standardization) {
  const int64_t n_voxels = plan.n_voxels();
  const int64_t f_total = plan.nb_features;
  float* data = buffers.data(static_cast<size_t>(n_voxels * f_total));
  const uint8_t* mask = nullptr;
  if (plan.standardization != Standardization::none) mask = load_mask(plan, buffers);

  const int threads = buffers.scratch().threads;
  const auto rule = plan.rules.zero_std_to_one ? process::StdRule::zero_to_one : process::StdRule::clamp_1e6;
  int64_t f_offset = 0;
  for (size_t i = 0; i < plan.files.size(); ++i) {
    const std::string& path = plan.files[i];
    io::NiftiHeader h = io::read_nifti_header(path); // its errors name the file
    if (h.nb_frames() != plan.frames_per_file[i] || h.shape3() != plan.shape)
      throw Error("file " + quoted(path) +
                  ": header changed since the inputs were checked (shape or frames)");
    const int64_t nf = h.nb_frames();
    const bool per_file = plan.standardization == Standardization::per_file;
    auto standardize_file = [&](float* array, int64_t features, int64_t f0) {
      with_context("standardization per_file of file " + quoted(path), [&] {
        process::standardize(array, n_voxels, features, f0, nf, false, mask, rule, threads);
      });
    };
    if (per_file && nf <= small_file_frames && nf < f_total) {
      // A file of a few frames among many features (a T1 beside a DWI): read and standardize it
      // contiguously, then scatter it once, instead of three strided passes over the whole array
      // (same operations on the same values in the same order: the same bytes).
      float* part = buffers.part(static_cast<size_t>(n_voxels * nf));
      io::read_nifti_into(h, part, nf, 0, buffers.scratch());
      interrupt::check_interrupted();
      standardize_file(part, nf, 0);
      for (int64_t v = 0; v < n_voxels; ++v)
        for (int64_t f = 0; f < nf; ++f)
          data[v * f_total + f_offset + f] = part[v * nf + f];
    } else {
      io::read_nifti_into(h, data, f_total, f_offset, buffers.scratch());
      interrupt::check_interrupted();
      if (per_file) standardize_file(data, f_total, f_offset);
    }
    f_offset += plan.frames_per_file[i];
  }
  if (before_standardization) before_standardization(data);
  if (plan.standardization == Standardization::all || plan.standardization == Standardization::independent) {
    const bool independent = plan.standardization == Standardization::independent;
    with_context(std::string("standardization ") + to_string(plan.standardization), [&] {
      process::standardize(data, n_voxels, f_total, 0, f_total, independent, mask, rule, threads);
    });
  }
  return data;
}

namespace {

/// Peak of one volume group's buffers besides its float32 array.
void volume_group_extras(const VolumeGroupPlan& v, int64_t& decode_bytes, int64_t& mask_bytes) {
  const int64_t voxels = v.n_voxels();
  const io::ReadScratch scratch; // its automatic block: the same either way a file is decoded
  decode_bytes = 0;
  int64_t small_frames = 0;
  for (const int64_t frames : v.frames_per_file) {
    decode_bytes = std::max(decode_bytes, io::decode_memory_bytes(4 * voxels, frames, scratch));
    if (v.standardization == Standardization::per_file && frames <= small_file_frames &&
        frames < v.nb_features)
      small_frames = std::max(small_frames, frames);
  }
  mask_bytes = 4 * voxels * small_frames + (v.std_mask_files.empty() ? 0 : 5 * voxels);
}

} // namespace

MemoryEstimate estimate_memory(const Plan& plan) {
  MemoryEstimate m;
  int64_t largest_streamlines = 0, streamline_columns = 0;
  for (const auto& subject : plan.subjects)
    for (const auto& g : subject.groups) {
      if (g.type == GroupType::streamlines) {
        int64_t columns = 5; // offsets, lengths (8 bytes each), euclidean_lengths (4): in floats
        for (const auto& key : g.streamlines.dps)
          columns += key.columns;
        if (g.streamlines.n_streamlines * columns > largest_streamlines * streamline_columns) {
          largest_streamlines = g.streamlines.n_streamlines;
          streamline_columns = columns;
        }
        continue;
      }
      int64_t decode = 0, mask = 0;
      volume_group_extras(g.volume, decode, mask);
      if (g.volume.bytes() + decode + mask <= m.volume_bytes + m.decode_bytes + m.mask_bytes) continue;
      m.largest_group = "/" + subject.id + "/" + g.name;
      m.volume_bytes = g.volume.bytes();
      m.decode_bytes = decode;
      m.mask_bytes = mask;
    }
  // Three blocks of 2 Mi points (24 MiB each) once a streamline group ran; its per-streamline arrays.
  const StreamlineBuffers streamlines;
  const bool any_streamlines = largest_streamlines > 0 || streamline_columns > 0;
  m.streamline_bytes = any_streamlines ? 3 * static_cast<int64_t>(streamlines.block_points) * 12 +
                                             4 * largest_streamlines * streamline_columns
                                       : 0;
  // Measured: ~3.5 kB per subject of tiny synthetic ones (paths, affines, shapes), more on rank 0.
  m.plan_bytes = 4000 * static_cast<int64_t>(plan.subjects.size());
  // Measured on 100 tiny subjects: 120 MB, of which 75.5 MB of point blocks (Debian's Open MPI and
  // HDF5 1.10, 2 MB metadata cache, 8 MiB O_DIRECT bounce buffer, 4 MiB gzip input chunk).
  m.process_bytes = 45'000'000;
  return m;
}

} // namespace dwipack::pipeline
