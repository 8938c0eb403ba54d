#pragma once
// The work plan: for every subject and group, the input files and the exact shapes, types and
// attributes of what will be written. Built from headers only (no voxel data is read), so every
// subject is validated before the first write, and all ranks can create the whole file layout
// collectively from the same plan.
#include "dwipack/config.hpp"
#include "dwipack/format/content.hpp"
#include "dwipack/io/tractogram.hpp"
#include "dwipack/pipeline/streamlines.hpp"
#include "dwipack/process/affine.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dwipack::pipeline {

// The plan's types are the format's input (format/content.hpp); planning fills them.
using format::GroupPlan;
using format::InputFile;
using format::Plan;
using format::StreamlineGroupPlan;
using format::SubjectPlan;
using format::TractogramFilePlan;
using format::VolumeGroupPlan;

/// The seed-era `create_hdf5_dataset` rules (docs/format.md §7.1, §7.3).
struct SeedOptions {
  bool enabled = false;
  std::string std_mask;             ///< --std_mask for every volume group, '*' = the subject id
  std::vector<std::string> bundles; ///< --bundles names (prefixes in bundles/); empty: all files
  bool enforce_bundles_presence = true;
  std::string space = "vox"; ///< --space: vox, voxmm or rasmm (center origin)
};

struct PlanOptions {
  format::Kind kind = format::Kind::dwi_ml; ///< the layout: its numerics rules reach the groups
  bool enforce_files_presence = true;
  bool allow_outside_subject = false; ///< config paths may be absolute or contain '..'
  StreamlineOptions streamlines;      ///< needed to count points after processing
  SeedOptions seed;
};

/// Read the headers of one subject's inputs and check them against each other (dwi_ml's
/// intra-group and inter-group rules, std_mask shapes). Throws Error naming the group and file.
SubjectPlan plan_subject(const std::string& subject_dir,
                         const std::string& subject_id,
                         const Config& config,
                         const PlanOptions& options);

/// Subjects in the order their data should be processed: largest output first (the long ones
/// start early, so the tail of the job is short), ties by position.
std::vector<size_t> largest_first(const std::vector<SubjectPlan>& subjects);

} // namespace dwipack::pipeline
