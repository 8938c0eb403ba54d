// Phase 4 of `dwipack create`: the write task of one subject, run by whichever rank the farm
// gives it to. Every HDF5 call stays on the calling thread (HDF5 is not thread-safe); helper
// threads only read, compute and pwrite() to byte ranges resolved here (docs/design.md,
// "Threads of a worker").
#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/nifti.hpp"
#include "dwipack/io/nifti_writer.hpp"
#include "dwipack/io/npy.hpp"
#include "dwipack/tools/extract.hpp"
#include "dwipack/util/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <sys/stat.h>
#include <thread>

namespace dwipack::pipeline {
namespace {

using format::Role;

/// Receives a streamline group's processed data and writes it into the group's datasets.
class StreamlineWriter : public StreamlineSink {
public:
  StreamlineWriter(format::Layout& layout, const Plan& plan, size_t subject, size_t group)
      : layout_(layout), datasets_(layout.group(subject, group)),
        where_(format::group_path(plan.subjects[subject].id, plan.subjects[subject].groups[group].name)),
        expected_streamlines_(plan.subjects[subject].groups[group].streamlines.n_streamlines),
        expected_points_(plan.subjects[subject].groups[group].streamlines.n_points) {}

  void points(int64_t row0, const float* xyz_vox, int64_t n_rows) override {
    if (row0 + n_rows > expected_points_)
      throw Error(where_ + ": more points than the " + std::to_string(expected_points_) +
                  " counted from the tractogram headers (is a .trk's n_count or size inconsistent?)");
    if (row0 != written_points_) throw Error(where_ + ": points must be written in order");
    written_points_ = row0 + n_rows;
    format::Dataset& d = datasets_.at(Role::data);
    // No CRC here: the producer takes it while the rows are in cache (points_crc).
    format::write_rows(layout_, d, xyz_vox, static_cast<uint64_t>(row0), static_cast<uint64_t>(n_rows),
                       /*crc=*/false);
  }

  size_t points_page_phase() const override {
    return layout_.direct ? format::page_phase(datasets_.at(Role::data)) : 0;
  }

  void points_crc(const Crc32& crc) override { datasets_.at(Role::data).written = crc; }

  void streamline_arrays(const std::vector<int64_t>& offsets,
                         const std::vector<int64_t>& lengths,
                         const std::vector<float>& euclidean_lengths,
                         const std::vector<std::vector<float>>& dps) override {
    const auto n = static_cast<int64_t>(lengths.size());
    // The datasets were sized from the planning pass; the same inputs must give the same counts.
    if (n != expected_streamlines_)
      throw Error(where_ + ": " + std::to_string(n) + " streamlines now, " +
                  std::to_string(expected_streamlines_) +
                  " when the inputs were checked (did an input file change during the run?)");
    if (n == 0) return;
    const auto write = [&](format::Dataset& d, const void* data) {
      format::write_rows(layout_, d, data, 0, static_cast<uint64_t>(n));
    };
    write(datasets_.at(Role::offsets), offsets.data());
    write(datasets_.at(Role::lengths), lengths.data());
    write(datasets_.at(Role::euclidean_lengths), euclidean_lengths.data());
    for (size_t k = 0; k < dps.size(); ++k)
      write(datasets_.at(Role::dps, k), dps[k].data());
  }

private:
  format::Layout& layout_;
  format::GroupDatasets& datasets_;
  std::string where_;
  int64_t expected_streamlines_;
  int64_t expected_points_;
  int64_t written_points_ = 0;
};

/// Read a streamline group's connectivity inputs and write them (dwi_ml: np.load(matrix) > 0,
/// and scilpy's get_data_as_labels: the integer label volume cast to uint16, wrapping).
void write_connectivity_data(
    format::Layout& layout, const Plan& plan, size_t s, size_t g, VolumeBuffers& buffers) {
  const StreamlineGroupPlan& p = plan.subjects[s].groups[g].streamlines;
  if (p.connectivity_matrix.empty()) return;
  const io::NpyBoolArray matrix = io::read_npy_positive(p.connectivity_matrix);
  if (matrix.shape != p.connectivity_shape)
    throw Error("connectivity_matrix " + quoted(p.connectivity_matrix) +
                ": shape changed since the inputs were checked");
  std::vector<uint16_t> labels;
  if (!p.connectivity_labels.empty()) {
    const io::NiftiHeader h = io::read_nifti_header(p.connectivity_labels);
    const auto n = static_cast<size_t>(h.voxels_per_frame());
    auto& values = buffers.mask_values();
    values.resize(n);
    io::read_nifti_into(h, values.data(), 1, 0, buffers.scratch());
    labels.resize(n);
    // Integer labels are exact in float32 below 2^24; numpy's astype(uint16) wraps modulo 2^16.
    for (size_t v = 0; v < n; ++v)
      labels[v] = static_cast<uint16_t>(static_cast<int64_t>(values[v]));
  }
  format::write_connectivity(layout, plan, s, g, matrix.values, labels);
}

/// One subject's write task.
class SubjectTask {
public:
  SubjectTask(const CreateOptions& options,
              const std::string& final_path,
              const Plan& plan,
              size_t s,
              format::Layout& layout,
              WorkerState& worker)
      : final_path_(final_path), plan_(plan), s_(s), subject_(plan.subjects[s]), layout_(layout),
        worker_(worker),
        seed_intermediate_(plan.kind == format::Kind::dwi_ml_2021 && options.save_intermediate) {}

  SubjectWritten run(const ResumeEntries& resume) {
    const auto t0 = std::chrono::steady_clock::now();
    SubjectWritten result;
    result.plan_digest = resume.digests.at(s_);
    // This subject's datasets are open on this rank for this task only (format/layout.hpp).
    format::OpenSubject open = layout_.open_subject(plan_, s_);
    if (kept_from_resume(resume, result.plan_digest)) {
      result.kept = true;
      result.seconds = seconds_since(t0);
      return result;
    }
    if (!resume.copy_from.empty() && resume.copy.at(s_)) { // unchanged in the file being updated
      if (!worker_.copy_source) worker_.copy_source.emplace(h5::File::open_read(resume.copy_from));
      format::copy_subject(layout_, plan_, s_, *worker_.copy_source);
      result.copied = true;
    } else {
      write_groups(result.stages, result.removed_invalid);
    }
    result.seconds = seconds_since(t0);
    result.datasets = format::subject_checksums(layout_, plan_, s_);
    open.close();
    return result;
  }

private:
  /// --resume: true if the journal records this subject, its inputs and options are unchanged,
  /// and its datasets read back with the recorded CRC-32s.
  bool kept_from_resume(const ResumeEntries& resume, const std::string& plan_digest) const {
    if (!resume.resuming) return false;
    const auto entry = resume.subjects.find(subject_.id);
    if (entry == resume.subjects.end()) return false;
    // A trusted entry came with a complete, cleanly closed file (--resume rewriting its lists).
    const std::string why =
        entry->second.plan_digest != plan_digest ? std::string("its inputs or options changed")
        : entry->second.trusted                  ? std::string()
                                : format::verify_subject(layout_, plan_, s_, entry->second.datasets);
    if (why.empty()) return true;
    log::info("--resume: subject " + quoted(subject_.id) + " is redone: " + why);
    return false;
  }

  void in_group(size_t g, const std::function<void()>& work) const {
    with_context("group " + quoted(subject_.groups[g].name), work);
  }

  /// Load, standardize and hand a volume group to `write` (and, in the seed form with
  /// --save_intermediate, save it before and after standardization as the 2021 script did).
  void volume_group(size_t g, const std::function<void(const float*)>& write) const {
    const GroupPlan& group = subject_.groups[g];
    const VolumeGroupPlan& v = group.volume;
    const std::string seed_dir = parent_dir(final_path_) + "/" + subject_.id + "_intermediate";
    const auto save = [&](const float* xyzf, const char* what) {
      if (::mkdir(seed_dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error("cannot create folder " + quoted(seed_dir) + ": " + std::strerror(errno));
      const std::array<float, 3> sizes{static_cast<float>(v.voxel_sizes[0]),
                                       static_cast<float>(v.voxel_sizes[1]),
                                       static_cast<float>(v.voxel_sizes[2])};
      io::write_nifti_xyzf(seed_dir + "/" + group.name + what, xyzf, v.shape, v.nb_features, v.vox2ras, sizes,
                           1);
    };
    std::function<void(const float*)> before;
    if (seed_intermediate_) before = [&](const float* xyzf) { save(xyzf, "_nonstandardized.nii.gz"); };
    const float* data = load_volume_group(v, worker_.volumes, before);
    if (seed_intermediate_) save(data, "_standardized.nii.gz");
    write(data);
  }

  /// The volume groups to run on a second thread beside the streamline groups: all of them or
  /// none (they share the volume buffers). Only with a spare core, direct I/O (no HDF5 call is
  /// then needed once the file range is known), and when the volumes are a fair share of the
  /// work: a mask beside a tractogram (the volume path costs about 4x the streamline path per
  /// output byte) stays on this thread, or it would keep the streamline reader from starting.
  std::vector<std::pair<size_t, format::VolumeDirectWrite>> background_volume_groups() const {
    std::vector<std::pair<size_t, format::VolumeDirectWrite>> background;
    bool any_streamlines = false;
    int64_t volume_bytes = 0, streamline_bytes = 0;
    for (const auto& group : subject_.groups) {
      any_streamlines = any_streamlines || group.type == GroupType::streamlines;
      if (group.type == GroupType::volume) volume_bytes += group.volume.bytes();
      if (group.type == GroupType::streamlines) streamline_bytes += group.streamlines.bytes();
    }
    if (worker_.cores < 2 || !any_streamlines || seed_intermediate_ || 8 * volume_bytes < streamline_bytes)
      return background;
    for (size_t g = 0; g < subject_.groups.size(); ++g) {
      if (subject_.groups[g].type != GroupType::volume) continue;
      auto target = format::volume_direct_write(layout_, plan_, s_, g);
      if (!target) return {};
      background.emplace_back(g, std::move(*target));
    }
    return background;
  }

  /// Helper threads (the volume thread, the volume decoder's, the streamline reader) only when
  /// the rank has a core to spare: on a busy core they only add switching and copies.
  void set_thread_policy(bool volumes_in_background, std::atomic<bool>& volumes_running) {
    bool any_streamlines = false;
    for (const auto& group : subject_.groups)
      any_streamlines = any_streamlines || group.type == GroupType::streamlines;
    const bool spare_core = worker_.cores >= 2;
    // The decoder's own thread only when no streamline group runs beside it; the streamline
    // reader's only while the volume thread is not running.
    worker_.volumes.scratch().threads = spare_core && !any_streamlines ? 2 : 1;
    volumes_running = volumes_in_background;
    worker_.streamlines.read_ahead = spare_core;
    worker_.streamlines.busy = &volumes_running;
  }

  void write_groups(std::map<std::string, double>& stages, std::map<std::string, int64_t>& removed_invalid) {
    const auto background = background_volume_groups();
    std::atomic<bool> volumes_running{false};
    set_thread_policy(!background.empty(), volumes_running);
    std::map<size_t, double> background_seconds;
    std::exception_ptr background_error;
    std::thread volumes;
    if (!background.empty())
      volumes = std::thread([&] {
        try {
          for (const auto& [g, target] : background) {
            const auto tg = std::chrono::steady_clock::now();
            in_group(g, [&, &t = target] { volume_group(g, [&](const float* data) { t.write(data); }); });
            background_seconds[g] = seconds_since(tg);
          }
        } catch (...) {
          background_error = std::current_exception();
        }
        volumes_running = false;
      });
    struct Joiner { // on every path out of here, errors included
      std::thread& t;
      StreamlineBuffers& b;
      ~Joiner() {
        if (t.joinable()) t.join();
        b.busy = nullptr; // it points to this function's flag
      }
    } joiner{volumes, worker_.streamlines};

    for (size_t g = 0; g < subject_.groups.size(); ++g) {
      const GroupPlan& group = subject_.groups[g];
      if (group.type == GroupType::volume && !background.empty()) continue;
      const auto tg = std::chrono::steady_clock::now();
      in_group(g, [&] {
        if (group.type == GroupType::volume) {
          volume_group(g, [&](const float* data) { format::write_volume(layout_, plan_, s_, g, data); });
          return;
        }
        StreamlineWriter writer(layout_, plan_, s_, g);
        const StreamlineCounts counts = process_streamline_group(group.streamlines, plan_.streamline_options,
                                                                 worker_.streamlines, &writer);
        if (plan_.streamline_options.remove_invalid) removed_invalid[group.name] = counts.n_removed_invalid;
        // The connectivity labels are read with the volume buffers: after the volume thread.
        if (background.empty()) write_connectivity_data(layout_, plan_, s_, g, worker_.volumes);
      });
      stages[group.name] = seconds_since(tg);
    }
    if (volumes.joinable()) volumes.join();
    if (background_error) std::rethrow_exception(background_error);
    for (const auto& [g, seconds] : background_seconds)
      stages[subject_.groups[g].name] = seconds;
    if (!background.empty())
      for (size_t g = 0; g < subject_.groups.size(); ++g)
        if (subject_.groups[g].type == GroupType::streamlines)
          in_group(g, [&] { write_connectivity_data(layout_, plan_, s_, g, worker_.volumes); });
  }

  const std::string& final_path_;
  const Plan& plan_;
  size_t s_;
  const SubjectPlan& subject_;
  format::Layout& layout_;
  WorkerState& worker_;
  bool seed_intermediate_;
};

} // namespace

SubjectWritten write_subject(const CreateOptions& options,
                             const std::string& final_path,
                             const Plan& plan,
                             size_t subject,
                             const ResumeEntries& resume,
                             format::Layout& layout,
                             WorkerState& worker) {
  return SubjectTask(options, final_path, plan, subject, layout, worker).run(resume);
}

int save_intermediate(const mpi::Comm& comm,
                      const Plan& plan,
                      const std::string& file,
                      const std::string& dir) {
  // The seed form (2021) writes only the streamlines here, as <hdf5 folder>/<subject>_intermediate/
  // <group>.trk (its volumes were saved while processing).
  const bool seed_form = plan.kind == format::Kind::dwi_ml_2021;
  std::vector<size_t> order(plan.subjects.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  const auto reports = run_tasks<bool>(
      comm, plan.subjects.size(), order,
      [&](size_t s) {
        const SubjectPlan& subject = plan.subjects[s];
        for (const auto& g : subject.groups) {
          if (seed_form && g.type == GroupType::volume) continue;
          tools::ExtractOptions o;
          o.file = file;
          o.subject = subject.id;
          o.group = g.name;
          o.overwrite = true;
          o.out = seed_form ? parent_dir(file) + "/" + subject.id + "_intermediate/" + g.name + ".trk"
                            : dir + "/" + subject.id + "_" + g.name +
                                  (g.type == GroupType::volume ? ".nii.gz" : ".trk");
          if (seed_form) ::mkdir(parent_dir(o.out).c_str(), 0755); // may exist (volumes)
          o.gzip_level = 1; // these files are for looking at; speed matters more than size
          tools::extract(o);
        }
        return true;
      },
      /*stop_on_error=*/true);
  int ok = 1;
  if (comm.rank() == 0) {
    std::vector<std::string> names;
    for (const auto& subject : plan.subjects)
      names.push_back(subject.id);
    if (report_failures(reports, names, 10) > 0) ok = 0;
    if (ok)
      log::info("intermediate files written to " + quoted(dir));
    else
      log::error("the HDF5 file is complete, but saving the intermediate files failed");
  }
  return comm.broadcast(ok, 0) ? exit_ok : exit_input_error;
}

} // namespace dwipack::pipeline
