#include "dwipack/pipeline/plan.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/nifti.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <numeric>
#include <sys/stat.h>

namespace dwipack::pipeline {

int64_t SubjectPlan::output_bytes() const {
  int64_t total = 0;
  for (const auto& g : groups)
    if (g.type == GroupType::volume) total += g.volume.bytes();
  return total;
}

// ---- planning one subject ----

namespace {

int64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

/// Resolve a list of entries; missing ones are an error when presence is enforced, a warning
/// (and dropped) otherwise.
std::vector<std::string> resolve(const std::string& subject_dir,
                                 const std::vector<std::string>& entries,
                                 const PlanOptions& options,
                                 const std::string& what) {
  io::ResolvedFiles r = io::resolve_entries(subject_dir, entries);
  if (!r.missing.empty()) {
    std::string list;
    for (const auto& m : r.missing)
      list += (list.empty() ? "" : ", ") + quoted(m);
    if (options.enforce_files_presence)
      throw Error(what + ": missing in " + quoted(subject_dir) + ": " + list +
                  " (use --skip_enforce_files_presence to drop missing files)");
    log::warning(what + ": skipping missing " + list + " in " + quoted(subject_dir));
  }
  return r.files;
}

std::string short_vec(const std::array<float, 3>& v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ")";
}
std::string short_shape(const std::array<int64_t, 3>& s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ")";
}

VolumeGroupPlan plan_volume_group(const std::string& subject_dir,
                                  const GroupConfig& gc,
                                  const PlanOptions& options,
                                  int64_t& input_bytes,
                                  io::NiftiHeader& first_header) {
  VolumeGroupPlan v;
  v.standardization = gc.standardization;
  v.files = resolve(subject_dir, gc.files, options, "files");
  if (v.files.empty()) throw Error("no input file left for this group (all were missing)");

  for (size_t i = 0; i < v.files.size(); ++i) {
    const std::string& path = v.files[i];
    io::NiftiHeader h = io::read_nifti_header(path);
    input_bytes += file_size(path);
    if (i == 0) {
      first_header = h;
      v.shape = h.shape3();
      v.vox2ras = h.vox2ras;
      v.voxel_sizes = h.voxel_sizes;
    } else {
      // dwi_ml: np.allclose(affine, group_affine, rtol=1e-5, atol=1e-5) and np.allclose(res, group_res)
      if (!allclose(h.vox2ras, v.vox2ras, 1e-5, 1e-5))
        throw Error("file " + quoted(path) + ": affine " + to_string(h.vox2ras) + " differs from " +
                    to_string(v.vox2ras) + " of the group's first file " + quoted(v.files[0]) +
                    " (tolerance rtol=atol=1e-5)");
      const double a[3] = {h.voxel_sizes[0], h.voxel_sizes[1], h.voxel_sizes[2]};
      const double b[3] = {v.voxel_sizes[0], v.voxel_sizes[1], v.voxel_sizes[2]};
      if (!allclose(a, b, 3, 1e-5, 1e-8))
        throw Error("file " + quoted(path) + ": voxel sizes " + short_vec(h.voxel_sizes) + " differ from " +
                    short_vec(v.voxel_sizes) + " of the group's first file " + quoted(v.files[0]));
      if (h.shape3() != v.shape)
        throw Error("file " + quoted(path) + ": shape " + short_shape(h.shape3()) + " differs from " +
                    short_shape(v.shape) + " of the group's first file " + quoted(v.files[0]) +
                    " (files are joined along the last axis)");
    }
    v.frames_per_file.push_back(h.nb_frames());
    v.nb_features += h.nb_frames();
  }

  if (gc.standardization != Standardization::none && !gc.std_mask.empty()) {
    v.std_mask_files = resolve(subject_dir, gc.std_mask, options, "std_mask");
    for (const auto& path : v.std_mask_files) {
      io::NiftiHeader m = io::read_nifti_header(path);
      input_bytes += file_size(path);
      if (m.shape3() != v.shape || m.nb_frames() != 1)
        throw Error("std_mask " + quoted(path) + ": shape " + short_shape(m.shape3()) +
                    (m.nb_frames() != 1 ? " with " + std::to_string(m.nb_frames()) + " frames" : "") +
                    " does not match the data's spatial shape " + short_shape(v.shape));
    }
  }
  return v;
}

/// dipy's is_header_compatible between two NIfTI headers (spec §6.3).
void check_compatible(const io::NiftiHeader& ref, const std::string& ref_group, const io::NiftiHeader& h) {
  const std::string against = " of group " + quoted(ref_group) + " (file " + quoted(ref.path) + ")";
  if (!allclose(h.vox2ras, ref.vox2ras, 1e-3, 1e-3))
    throw Error("file " + quoted(h.path) + ": affine " + to_string(h.vox2ras) + " is not compatible with " +
                to_string(ref.vox2ras) + against + " (tolerance 1e-3)");
  if (h.shape3() != ref.shape3())
    throw Error("file " + quoted(h.path) + ": dimensions " + short_shape(h.shape3()) + " differ from " +
                short_shape(ref.shape3()) + against);
  const double a[3] = {h.voxel_sizes[0], h.voxel_sizes[1], h.voxel_sizes[2]};
  const double b[3] = {ref.voxel_sizes[0], ref.voxel_sizes[1], ref.voxel_sizes[2]};
  if (!allclose(a, b, 3, 1e-3, 1e-3))
    throw Error("file " + quoted(h.path) + ": voxel sizes " + short_vec(h.voxel_sizes) + " differ from " +
                short_vec(ref.voxel_sizes) + against + " (tolerance 1e-3)");
  const std::string oa = axcodes(h.vox2ras), ob = axcodes(ref.vox2ras);
  if (oa != ob)
    throw Error("file " + quoted(h.path) + ": voxel order " + oa + " differs from " + ob + against);
}

} // namespace

SubjectPlan plan_subject(const std::string& subject_dir,
                         const std::string& subject_id,
                         const Config& config,
                         const PlanOptions& options) {
  SubjectPlan plan;
  plan.id = subject_id;
  if (!io::is_directory(subject_dir))
    throw Error("subject " + quoted(subject_id) + ": folder " + quoted(subject_dir) + " does not exist");

  io::NiftiHeader reference; // first volume group's first file
  std::string reference_group;
  // dwi_ml writes volume groups first, then streamline groups (each in config order).
  for (GroupType pass : {GroupType::volume, GroupType::streamlines}) {
    for (const auto& gc : config.groups) {
      if (gc.type != pass) continue;
      with_context("subject " + quoted(subject_id) + ": group " + quoted(gc.name), [&] {
        GroupPlan g;
        g.name = gc.name;
        g.type = gc.type;
        if (gc.type == GroupType::streamlines)
          throw Error("streamline groups are not supported by this version of dwipack yet");
        io::NiftiHeader first;
        g.volume = plan_volume_group(subject_dir, gc, options, plan.input_bytes, first);
        if (reference_group.empty()) {
          reference = first;
          reference_group = gc.name;
        } else {
          check_compatible(reference, reference_group, first);
        }
        plan.groups.push_back(std::move(g));
      });
    }
  }
  return plan;
}

std::vector<size_t> largest_first(const std::vector<SubjectPlan>& subjects) {
  std::vector<size_t> order(subjects.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return subjects[a].output_bytes() > subjects[b].output_bytes();
  });
  return order;
}

} // namespace dwipack::pipeline
