#include "dwipack/pipeline/plan.hpp"

#include "dwipack/error.hpp"
#include "dwipack/format/table.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/input_checks.hpp"
#include "dwipack/io/nifti.hpp"
#include "dwipack/io/npy.hpp"
#include "dwipack/io/trk_scan.hpp"
#include "dwipack/io/trx.hpp"
#include "dwipack/process/convert.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <dirent.h>
#include <numeric>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <tuple>

namespace dwipack::pipeline {

// ---- planning one subject ----

namespace {

/// Record an input file's size and modification time (provenance, progress, and --resume's
/// test that a kept subject's inputs did not change).
void note_input(std::vector<InputFile>& inputs, const std::string& path) {
  struct stat st {};
  InputFile f;
  f.path = path;
  if (::stat(path.c_str(), &st) == 0) {
    f.bytes = static_cast<int64_t>(st.st_size);
    f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  inputs.push_back(std::move(f));
}

/// As above, for a file whose header was just read, refusing it if it is cut short: now, before
/// the output exists (and by --dry-run), from its size and a few bytes at its end.
void note_input(std::vector<InputFile>& inputs, const io::NiftiHeader& h) {
  io::check_complete(h);
  note_input(inputs, h.path);
}
void note_input(std::vector<InputFile>& inputs, const io::TractogramHeader& h) {
  io::check_complete(h);
  note_input(inputs, h.path);
}

/// Resolve a list of entries; missing ones are an error when presence is enforced, a warning
/// (and dropped) otherwise.
/// Config paths stay inside the subject folder unless allowed: an absolute path or a '..'
/// component could read (and, with --save_intermediate, name files after) anything on the machine.
void check_inside_subject(const std::string& entry, const PlanOptions& options, const std::string& what) {
  if (options.allow_outside_subject) return;
  bool escapes = !entry.empty() && entry[0] == '/';
  for (size_t start = 0; !escapes && start <= entry.size();) {
    const size_t end = std::min(entry.find('/', start), entry.size());
    escapes = entry.compare(start, end - start, "..") == 0;
    start = end + 1;
  }
  if (escapes)
    throw Error(what + " " + quoted(entry) +
                ": points outside the subject folder (an absolute path or '..'); " +
                "use --allow_outside_subject if that is intended");
}

std::vector<std::string> resolve(const std::string& subject_dir,
                                 const std::vector<std::string>& entries,
                                 const PlanOptions& options,
                                 const std::string& what) {
  for (const auto& entry : entries)
    check_inside_subject(entry, options, what);
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

template <class T> std::string short_vec(const std::array<T, 3>& v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ")";
}
std::string short_shape(const std::array<int64_t, 3>& s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ")";
}

VolumeGroupPlan plan_volume_group(const std::string& subject_dir,
                                  const GroupConfig& gc,
                                  const PlanOptions& options,
                                  std::vector<InputFile>& inputs,
                                  io::NiftiHeader& first_header) {
  VolumeGroupPlan v;
  v.standardization = gc.standardization;
  v.files = resolve(subject_dir, gc.files, options, "files");
  if (v.files.empty()) throw Error("no input file left for this group (all were missing)");

  for (size_t i = 0; i < v.files.size(); ++i) {
    const std::string& path = v.files[i];
    io::NiftiHeader h = io::read_nifti_header(path);
    note_input(inputs, h);
    if (i == 0) {
      first_header = h;
      v.shape = h.shape3();
      v.vox2ras = h.vox2ras;
      v.voxel_sizes = h.zooms;
      v.nifti2 = h.version == 2;
    } else {
      // dwi_ml: np.allclose(affine, group_affine, rtol=1e-5, atol=1e-5) and np.allclose(res, group_res)
      if (!allclose(h.vox2ras, v.vox2ras, 1e-5, 1e-5))
        throw Error("file " + quoted(path) + ": affine " + to_string(h.vox2ras) + " differs from " +
                    to_string(v.vox2ras) + " of the group's first file " + quoted(v.files[0]) +
                    " (tolerance rtol=atol=1e-5)");
      if (!allclose(h.zooms.data(), v.voxel_sizes.data(), 3, 1e-5, 1e-8))
        throw Error("file " + quoted(path) + ": voxel sizes " + short_vec(h.zooms) + " differ from " +
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
      note_input(inputs, m);
      if (m.shape3() != v.shape || m.nb_frames() != 1)
        throw Error("std_mask " + quoted(path) + ": shape " + short_shape(m.shape3()) +
                    (m.nb_frames() != 1 ? " with " + std::to_string(m.nb_frames()) + " frames" : "") +
                    " does not match the data's spatial shape " + short_shape(v.shape));
    }
  }
  return v;
}

/// What dipy's get_reference_info gives for a NIfTI or a .trk: the space a tractogram lives in.
struct SpaceAttributes {
  std::string source; ///< "file '...'" for messages
  Affine vox2ras = identity_affine();
  std::array<int64_t, 3> dimensions{};
  std::array<double, 3> voxel_sizes{}; ///< at the header's precision (float32, or NIfTI-2's float64)
  std::string voxel_order;
};

SpaceAttributes space_of(const io::NiftiHeader& h) {
  return {"file " + quoted(h.path), h.vox2ras, h.shape3(), h.zooms, axcodes(h.vox2ras)};
}

SpaceAttributes space_of(const io::TractogramHeader& h) {
  const std::array<double, 3> sizes{h.voxel_sizes[0], h.voxel_sizes[1], h.voxel_sizes[2]};
  return {"file " + quoted(h.path), h.vox_to_ras, h.dimensions, sizes, h.voxel_order};
}

/// dipy's is_header_compatible (docs/format.md §4.3): affine within 1e-3, same dimensions, voxel sizes
/// within 1e-3, same voxel order. `ref_what` says what the reference is, for the message.
void check_compatible(const SpaceAttributes& ref, const std::string& ref_what, const SpaceAttributes& h) {
  const std::string against = " of " + ref_what + " (" + ref.source + ")";
  if (!allclose(h.vox2ras, ref.vox2ras, 1e-3, 1e-3))
    throw Error(h.source + ": affine " + to_string(h.vox2ras) + " is not compatible with " +
                to_string(ref.vox2ras) + against + " (tolerance 1e-3)");
  if (h.dimensions != ref.dimensions)
    throw Error(h.source + ": dimensions " + short_shape(h.dimensions) + " differ from " +
                short_shape(ref.dimensions) + against);
  if (!allclose(h.voxel_sizes.data(), ref.voxel_sizes.data(), 3, 1e-3, 1e-3))
    throw Error(h.source + ": voxel sizes " + short_vec(h.voxel_sizes) + " differ from " +
                short_vec(ref.voxel_sizes) + against + " (tolerance 1e-3)");
  if (h.voxel_order != ref.voxel_order)
    throw Error(h.source + ": voxel order " + h.voxel_order + " differs from " + ref.voxel_order + against);
}

/// Streamline and point counts of a group without processing it: a .trk's structure from its
/// point counts alone (io/trk_scan), a .trx's from its offsets array (io/trx). Nullopt when a file
/// is a .tck or its counts do not add up (the full pass then finds the exact problem).
std::optional<StreamlineCounts> counts_from_headers(const StreamlineGroupPlan& p) {
  StreamlineCounts total;
  for (const auto& f : p.files) {
    const io::TractogramHeader h = io::read_tractogram_header(f.path);
    if (h.format == io::TractogramFormat::tck) return std::nullopt;
    const auto layout =
        h.format == io::TractogramFormat::trx ? io::scan_trx_layout(h) : io::scan_trk_layout(h);
    if (!layout) return std::nullopt;
    if (layout->n_streamlines == 0) log::warning("file " + quoted(f.path) + " holds no streamline");
    total.n_streamlines += layout->n_streamlines;
    total.n_points += layout->n_points;
    total.has_short_streamline =
        total.has_short_streamline || (layout->n_streamlines > 0 && layout->min_points < 2);
  }
  return total;
}

/// The space a tractogram is loaded in: its own header (.trk, .trx), checked against the
/// reference volume, or the reference volume's for a .tck (dipy needs one).
SpaceAttributes tractogram_space(const io::TractogramHeader& h, const io::NiftiHeader* reference) {
  if (h.format != io::TractogramFormat::tck) {
    SpaceAttributes space = space_of(h);
    if (reference) check_compatible(space_of(*reference), "the reference volume", space);
    return space;
  }
  if (!reference)
    throw Error("file " + quoted(h.path) +
                ": a .tck needs a reference volume, and the config has no volume group");
  SpaceAttributes space = space_of(*reference);
  space.source = "file " + quoted(h.path) + " (space of its reference " + quoted(reference->path) + ")";
  return space;
}

/// The config's dps keys as the file has them (dwi_ml keeps only those); each must exist.
std::vector<io::DpsKey> requested_dps(const io::TractogramHeader& h, const GroupConfig& gc) {
  std::vector<io::DpsKey> dps;
  for (const auto& key : gc.dps_keys) {
    auto it = std::find_if(h.dps_keys.begin(), h.dps_keys.end(),
                           [&](const io::DpsKey& k) { return k.name == key; });
    if (it == h.dps_keys.end()) {
      std::string have;
      for (const auto& k : h.dps_keys)
        have += (have.empty() ? "" : ", ") + quoted(k.name);
      throw Error("file " + quoted(h.path) + ": data_per_streamline key " + quoted(key) +
                  " not found (the file has " + (have.empty() ? std::string("none") : have) + ")");
    }
    dps.push_back(*it);
  }
  return dps;
}

/// dwi_ml concatenates a group's tractograms with scilpy's concatenate_sft, which refuses files
/// whose space attributes or data_per_point / data_per_streamline key sets differ.
void check_concatenable(const io::TractogramHeader& first,
                        const SpaceAttributes& first_space,
                        const io::TractogramHeader& h,
                        const SpaceAttributes& space) {
  check_compatible(first_space, "the group's first tractogram", space);
  const auto names = [](const std::vector<io::DpsKey>& keys) {
    std::set<std::string> out;
    for (const auto& k : keys)
      out.insert(k.name);
    return out;
  };
  const auto listed = [](const std::set<std::string>& keys) {
    std::string out;
    for (const auto& k : keys)
      out += (out.empty() ? "" : ", ") + quoted(k);
    return out.empty() ? std::string("none") : out;
  };
  std::string why;
  for (const auto& [kind, a, b] :
       {std::make_tuple("data_per_point", names(first.dpp_keys), names(h.dpp_keys)),
        std::make_tuple("data_per_streamline", names(first.dps_keys), names(h.dps_keys))})
    if (a != b)
      why += std::string(why.empty() ? "" : "; ") + kind + " keys " + listed(b) + " here, " + listed(a) +
             " in " + quoted(first.path);
  if (!why.empty())
    throw Error("file " + quoted(h.path) + " cannot be concatenated with " + quoted(first.path) +
                " (dwi_ml refuses it: incompatible tractograms): " + why);
}

/// The group's connectivity inputs (a .npy matrix, and a label volume in labels mode).
void plan_connectivity(const std::string& subject_dir,
                       const GroupConfig& gc,
                       const PlanOptions& options,
                       std::vector<InputFile>& inputs,
                       StreamlineGroupPlan& p) {
  check_inside_subject(gc.connectivity_matrix, options, "connectivity_matrix");
  p.connectivity_matrix = io::join_path(subject_dir, gc.connectivity_matrix);
  if (io::extension_of(p.connectivity_matrix) != ".npy")
    throw Error("connectivity_matrix " + quoted(p.connectivity_matrix) + ": must be a .npy file");
  p.connectivity_shape = io::read_npy_positive(p.connectivity_matrix).shape;
  note_input(inputs, p.connectivity_matrix);
  p.connectivity_nb_blocs = gc.connectivity_nb_blocs;
  if (gc.connectivity_labels.empty()) return;
  check_inside_subject(gc.connectivity_labels, options, "connectivity_labels");
  p.connectivity_labels = io::join_path(subject_dir, gc.connectivity_labels);
  const io::NiftiHeader labels = io::read_nifti_header(p.connectivity_labels);
  note_input(inputs, labels);
  if (!process::is_integer_datatype(labels.datatype))
    throw Error("connectivity_labels " + quoted(p.connectivity_labels) + ": a label volume must have an " +
                "integer datatype, not " + process::datatype_name(labels.datatype));
  if (labels.nb_frames() != 1)
    throw Error("connectivity_labels " + quoted(p.connectivity_labels) + ": a label volume must be 3-D");
  p.labels_shape = labels.shape3();
}

StreamlineGroupPlan plan_streamline_group(const std::string& subject_dir,
                                          const GroupConfig& gc,
                                          const PlanOptions& options,
                                          std::vector<InputFile>& inputs,
                                          const io::NiftiHeader* reference,
                                          StreamlineBuffers& buffers) {
  StreamlineGroupPlan p;
  const format::Format& layout = format::format_of(options.kind);
  if (layout.points_space_option) p.storage_space = options.seed.space;
  p.center_origin = layout.points_center_origin;
  const std::vector<std::string> files = resolve(subject_dir, gc.files, options, "files");
  if (files.empty()) throw Error("no input file left for this group (all were missing)");
  io::TractogramHeader first;
  SpaceAttributes first_space;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i];
    const std::string ext = io::extension_of(path);
    if (ext != ".trk" && ext != ".tck" && ext != ".trx")
      throw Error("file " + quoted(path) + ": streamline files must be .trk, .tck or .trx");
    const io::TractogramHeader h = io::read_tractogram_header(path);
    note_input(inputs, h);
    const SpaceAttributes space = tractogram_space(h, reference);
    const std::vector<io::DpsKey> dps = requested_dps(h, gc);
    if (i == 0) {
      first = h;
      first_space = space;
      p.vox2ras = space.vox2ras;
      p.dimensions = space.dimensions;
      p.voxel_sizes = space.voxel_sizes;
      p.voxel_order = space.voxel_order;
      p.reference_nifti2 = h.format == io::TractogramFormat::tck && reference && reference->version == 2;
      p.header_big_endian = h.format == io::TractogramFormat::trk && h.byte_swapped;
      p.dps = dps;
    } else {
      for (size_t k = 0; k < dps.size(); ++k)
        if (dps[k].columns != p.dps[k].columns)
          throw Error("file " + quoted(path) + ": data_per_streamline " + quoted(dps[k].name) + " has " +
                      std::to_string(dps[k].columns) + " column(s), " + std::to_string(p.dps[k].columns) +
                      " in " + quoted(files[0]));
      check_concatenable(first, first_space, h, space);
    }
    p.files.push_back({path, space.vox2ras, space.dimensions});
  }
  if (!gc.connectivity_matrix.empty()) plan_connectivity(subject_dir, gc, options, inputs, p);

  // Sizes are known only after processing. Without resampling, compression or removal, the
  // .trk counts give them; otherwise run the processing now, keeping only the counts.
  const auto& so = options.streamlines;
  const bool processing = (so.step_size_mm && *so.step_size_mm != 0) ||
                          (so.nb_points && *so.nb_points != 0) || (so.compress_mm && *so.compress_mm != 0) ||
                          so.remove_invalid;
  std::optional<StreamlineCounts> counts = processing ? std::nullopt : counts_from_headers(p);
  if (!counts) counts = process_streamline_group(p, so, buffers, nullptr);
  p.n_streamlines = counts->n_streamlines;
  p.n_points = counts->n_points;
  p.has_short_streamline = counts->has_short_streamline;
  return p;
}

/// '*' replaced by the subject id: the 2021 meaning of a wildcard.
std::string with_subject(std::string entry, const std::string& id) {
  for (size_t at = entry.find('*'); at != std::string::npos; at = entry.find('*', at + id.size()))
    entry.replace(at, 1, id);
  return entry;
}

/// The files of the subject's bundles/ folder that make its 'streamlines' group (2021): one
/// file per --bundles name (the one whose name starts with it), or every .trk/.tck file.
std::vector<std::string> seed_bundle_files(const std::string& subject_dir, const SeedOptions& seed) {
  const std::string folder = subject_dir + "/bundles";
  std::vector<std::string> names;
  if (DIR* d = opendir(folder.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name[0] != '.' && io::is_regular_file(folder + "/" + name)) names.push_back(name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  if (seed.bundles.empty()) {
    for (const auto& n : names)
      if (io::extension_of(n) == ".trk" || io::extension_of(n) == ".tck") files.push_back("bundles/" + n);
    if (files.empty() && seed.enforce_bundles_presence)
      throw Error("no .trk or .tck file in " + quoted(folder) + " (--enforce_bundles_presence)");
    return files;
  }
  for (const auto& bundle : seed.bundles) {
    std::vector<std::string> match;
    for (const auto& n : names)
      if (n.compare(0, bundle.size(), bundle) == 0) match.push_back(n);
    if (match.size() > 1)
      throw Error("bundle " + quoted(bundle) + ": several files of " + quoted(folder) + " start with it");
    if (match.empty()) {
      if (seed.enforce_bundles_presence)
        throw Error("bundle " + quoted(bundle) + ": no file of " + quoted(folder) +
                    " starts with it (use --enforce_bundles_presence False to skip missing bundles)");
      log::warning("bundle " + quoted(bundle) + ": no file in " + quoted(folder) + ", skipped");
      continue;
    }
    files.push_back("bundles/" + match[0]);
  }
  return files;
}

/// The config as the 2021 script applied it to one subject: wildcards are the subject id, the
/// --std_mask applies to every volume group, and the streamlines come from bundles/.
Config seed_subject_config(const Config& config,
                           const std::string& subject_dir,
                           const std::string& id,
                           const SeedOptions& seed) {
  Config c = config;
  for (auto& g : c.groups) {
    for (auto& f : g.files)
      f = with_subject(f, id);
    g.std_mask.clear();
    if (!seed.std_mask.empty()) g.std_mask.push_back(with_subject(seed.std_mask, id));
  }
  GroupConfig streamlines;
  streamlines.name = "streamlines";
  streamlines.type = GroupType::streamlines;
  streamlines.files = seed_bundle_files(subject_dir, seed);
  if (!streamlines.files.empty()) c.groups.push_back(streamlines);
  return c;
}

} // namespace

SubjectPlan plan_subject(const std::string& subject_dir,
                         const std::string& subject_id,
                         const Config& modern_config,
                         const PlanOptions& options) {
  const Config config = options.seed.enabled
                            ? seed_subject_config(modern_config, subject_dir, subject_id, options.seed)
                            : modern_config;
  SubjectPlan plan;
  plan.id = subject_id;
  if (!io::is_directory(subject_dir)) throw Error("folder " + quoted(subject_dir) + " does not exist");

  io::NiftiHeader reference; // first volume group's first file
  std::string reference_group;
  io::NiftiHeader last_volume_first_file;
  StreamlineBuffers streamline_buffers;
  // dwi_ml writes volume groups first, then streamline groups (each in config order).
  for (GroupType pass : {GroupType::volume, GroupType::streamlines}) {
    for (const auto& gc : config.groups) {
      if (gc.type != pass) continue;
      with_context("group " + quoted(gc.name), [&] {
        GroupPlan g;
        g.name = gc.name;
        g.type = gc.type;
        if (gc.type == GroupType::streamlines) {
          const io::NiftiHeader* ref = reference_group.empty() ? nullptr
                                       : options.seed.enabled  ? &last_volume_first_file
                                                               : &reference;
          g.streamlines =
              plan_streamline_group(subject_dir, gc, options, plan.inputs, ref, streamline_buffers);
          plan.groups.push_back(std::move(g));
          return;
        }
        io::NiftiHeader first;
        g.volume = plan_volume_group(subject_dir, gc, options, plan.inputs, first);
        g.volume.rules = format::format_of(options.kind).volume_rules;
        if (options.seed.enabled) last_volume_first_file = first; // the 2021 reference for a .tck
        if (reference_group.empty()) {
          reference = first;
          reference_group = gc.name;
        } else {
          check_compatible(space_of(reference), "group " + quoted(reference_group), space_of(first));
        }
        plan.groups.push_back(std::move(g));
      });
    }
  }
  // Provenance names files relative to the subject folder: the same wherever the data lives.
  for (auto& f : plan.inputs) {
    plan.input_bytes += f.bytes;
    if (f.path.compare(0, subject_dir.size() + 1, subject_dir + "/") == 0)
      f.path.erase(0, subject_dir.size() + 1);
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
