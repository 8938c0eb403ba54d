#include "dwipack/pipeline/create.hpp"

#include "dwipack/config.hpp"
#include "dwipack/error.hpp"
#include "dwipack/h5/compress.hpp"
#include "dwipack/h5/schema.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/nifti.hpp"
#include "dwipack/io/nifti_writer.hpp"
#include "dwipack/io/npy.hpp"
#include "dwipack/pipeline/farm.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/pipeline/progress.hpp"
#include "dwipack/pipeline/volume.hpp"
#include "dwipack/tools/extract.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"
#include "dwipack/version.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace dwipack::pipeline {

std::string output_path(const std::string& out_file) {
  const std::string ext = io::extension_of(out_file);
  if (ext.empty()) return out_file + ".hdf5";
  if (ext != ".hdf5")
    throw Error("output file " + quoted(out_file) + ": extension '" + ext + "' is not allowed; use '.hdf5' " +
                "(or no extension, and '.hdf5' is appended)");
  return out_file;
}

std::string partial_path(const std::string& final_path) {
  return final_path + ".partial";
}

std::string config_copy_path(const std::string& final_path) {
  return final_path.substr(0, final_path.size() - io::extension_of(final_path).size()) + ".json";
}

std::string folder_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y_%m_%d_%H%M%S", &tm);
  return buf;
}

namespace {

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// '%d %B %Y %X' in the C locale, like dwi_ml's strftime. SOURCE_DATE_EPOCH (seconds, UTC) makes
/// it reproducible, as for reproducible builds.
std::string data_and_time_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH")) {
    t = static_cast<std::time_t>(std::strtoll(sde, nullptr, 10));
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  char buf[128];
  std::strftime(buf, sizeof buf, "%d %B %Y %X", &tm);
  return buf;
}

void copy_config(const std::string& from, const std::string& to) {
  struct stat a {
  }, b{};
  if (::stat(from.c_str(), &a) != 0) return; // a missing config is reported by load_config
  if (::stat(to.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return;
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  if (in.peek() != std::ifstream::traits_type::eof()) out << in.rdbuf();
  out.close(); // a full disk shows only when the buffer is flushed
  if (!out) {
    const std::string reason = std::strerror(errno);
    std::remove(to.c_str()); // no truncated copy
    throw Error("cannot write the config copy " + quoted(to) + ": " + reason);
  }
}

/// The seed-era config: volume groups only ('type' and 'files'); every group is standardized,
/// per feature unless --independent_modalities False (the 2021 code had no standardization
/// key). Returns the typed config; its python_repr is that of the file as written.
Config load_seed_config(const std::string& path, bool independent) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("config " + quoted(path) + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::json::exception&) {
    return parse_config(text.str(), path); // its error message says where the syntax is wrong
  }
  const std::string original_repr = python_repr(j);
  if (j.is_object())
    for (auto& [name, group] : j.items()) {
      if (!group.is_object()) continue;
      if (group.value("type", "") != "volume")
        throw Error("config " + quoted(path) + ": /" + name +
                    "/type: the seed-era create_hdf5_dataset takes " +
                    "volume groups only; streamlines come from each subject's bundles/ (--bundles)");
      if (!group.contains("standardization")) group["standardization"] = independent ? "independent" : "all";
    }
  Config config = parse_config(j.dump(), path);
  config.python_repr = original_repr;
  return config;
}

/// What rank 0 checks before any rank does work, broadcast to all.
struct Setup {
  std::string final_path;
  std::string config_json;
  std::string groups_config; ///< python repr of the config as written
  std::string config_source;
  std::vector<std::string> training, validation, testing, chosen;
  std::string data_and_time;
  std::string intermediate_dir; ///< --save_intermediate: where the processed inputs go
  bool nothing_to_do = false;   ///< --resume, and the output is complete already
  /// Rank 0's command line: the provenance attribute is written collectively, so every rank must
  /// write the same value (launchers may start ranks with different argv[0] paths).
  std::string command_line;
};

void warn_about_lists(const Setup& s, const std::string& root) {
  // dwi_ml: a subject in several lists is only a warning.
  std::set<std::string> seen;
  for (const auto* list : {&s.training, &s.validation, &s.testing})
    for (const auto& id : *list)
      if (!seen.insert(id).second) log::warning("subject " + quoted(id) + " is in more than one list");
  // Folders that no list names: info only.
  if (DIR* d = opendir(root.c_str())) {
    std::set<std::string> chosen(s.chosen.begin(), s.chosen.end());
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (!chosen.count(name) && io::is_directory(root + "/" + name))
        log::info("folder " + quoted(name) + " in " + quoted(root) + " is in no subject list");
    }
    closedir(d);
  }
}

Setup prepare(const CreateOptions& o) {
  Setup s;
  if (!io::is_directory(o.dwi_ml_ready))
    throw Error("dwi_ml_ready folder " + quoted(o.dwi_ml_ready) + " does not exist or is not a folder");
  if (o.seed.enabled) {
    // The seed-era script writes DATABASE/hdf5/NAME.hdf5; hdf5/ must not exist without --force.
    // (It then deleted the whole folder; dwipack only replaces the file, once complete.)
    s.final_path = o.out_file;
    const std::string folder = parent_dir(s.final_path);
    if (io::is_directory(folder) && !o.overwrite)
      throw Error("folder " + quoted(folder) + " already exists; use --force to write into it");
    if (!o.dry_run && !io::is_directory(folder) && ::mkdir(folder.c_str(), 0755) != 0)
      throw Error("cannot create folder " + quoted(folder) + ": " + std::strerror(errno));
    const Config config = load_seed_config(o.config_file, o.independent_modalities);
    s.config_json = config.canonical_json;
    s.groups_config = config.python_repr;
  } else {
    s.final_path = output_path(o.out_file);
    const std::string out_dir = parent_dir(s.final_path);
    if (!io::is_directory(out_dir))
      throw Error("output folder " + quoted(out_dir) +
                  (access(out_dir.c_str(), F_OK) == 0 ? " is not a folder" : " does not exist"));
    if (io::is_directory(s.final_path)) throw Error("output " + quoted(s.final_path) + " is a folder");
    const bool final_exists = access(s.final_path.c_str(), F_OK) == 0;
    const bool partial_exists = access(partial_path(s.final_path).c_str(), F_OK) == 0;
    if (o.resume && final_exists && !partial_exists && !o.dry_run) {
      // A requeued job whose conversion had finished: nothing to redo.
      log::info("--resume: " + quoted(s.final_path) + " is complete (no partial file); nothing to do");
      s.nothing_to_do = true;
      return s;
    }
    if (!o.overwrite && final_exists)
      throw Error("output file " + quoted(s.final_path) + " already exists; use -f to overwrite it");
    if (!o.dry_run && access(out_dir.c_str(), W_OK) != 0)
      throw Error("output folder " + quoted(out_dir) + " is not writable: " + std::strerror(errno));

    // dwi_ml copies the config next to the output (before checking it), so the file's config
    // can always be found again. A config already at that path is left as it is.
    if (!o.dry_run) copy_config(o.config_file, config_copy_path(s.final_path));

    const Config config = load_config(o.config_file);
    s.config_json = config.canonical_json;
    s.groups_config = config.python_repr;
  }
  s.config_source = o.config_file;
  s.training = read_subject_list(o.training_list);
  s.validation = read_subject_list(o.validation_list);
  if (!o.seed.enabled) s.testing = read_subject_list(o.testing_list); // 2021: no testing set
  s.chosen = union_of_lists(s.training, s.validation, s.testing);
  if (s.chosen.empty()) throw Error("the three subject lists are empty: nothing to convert");

  std::vector<std::string> missing;
  for (const auto& id : s.chosen)
    if (!io::is_directory(o.dwi_ml_ready + "/" + id)) missing.push_back(quoted(id));
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing)
      list += (list.empty() ? "" : ", ") + m;
    throw Error("subject folder(s) missing in " + quoted(o.dwi_ml_ready) + ": " + list);
  }
  warn_about_lists(s, o.dwi_ml_ready);
  if (o.save_intermediate && !o.seed.enabled && !o.dry_run) {
    // dwi_ml: <dirname(out)>/intermediate_<%Y_%m_%d_%H%M%S>/, made without parents.
    s.intermediate_dir = parent_dir(s.final_path) + "/intermediate_" + folder_timestamp();
    if (::mkdir(s.intermediate_dir.c_str(), 0755) != 0)
      throw Error("cannot create folder " + quoted(s.intermediate_dir) + ": " + std::strerror(errno));
  }
  s.data_and_time = data_and_time_now();
  s.command_line = o.command_line;
  return s;
}

// clang-format off
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Setup, final_path, config_json, groups_config, config_source, training,
                                   validation, testing, chosen, data_and_time, intermediate_dir, nothing_to_do,
                                   command_line)
// clang-format on

/// Rank 0 runs `body`; its outcome (payload or error) reaches every rank. Returns false on every
/// rank if it failed (rank 0 has printed the error).
bool rank0_then_broadcast(const mpi::Comm& comm,
                          std::string& payload,
                          const std::function<std::string()>& body) {
  int ok = 1;
  if (comm.rank() == 0) {
    try {
      payload = body();
    } catch (const Error& e) {
      log::error(e.what());
      ok = 0;
    }
  }
  ok = comm.broadcast(ok, 0);
  if (!ok) return false;
  comm.broadcast(payload, 0);
  return true;
}

/// Print the failed tasks' messages (at most `limit`) on rank 0; returns how many failed.
size_t report_failures(const FarmResults& results, const std::vector<std::string>& names, size_t limit) {
  size_t failed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i] || results[i]->ok) continue;
    if (failed < limit) {
      std::string msg = results[i]->payload;
      // Messages from planning already start with "subject '...'"; add it where missing.
      if (msg.rfind("subject ", 0) != 0) msg = "subject " + quoted(names[i]) + ": " + msg;
      log::error("[rank " + std::to_string(results[i]->rank) + "] " + msg);
    }
    ++failed;
  }
  if (failed > limit) log::error("... and " + std::to_string(failed - limit) + " more failed subject(s)");
  return failed;
}

/// Read a streamline group's connectivity inputs and write them (dwi_ml: np.load(matrix) > 0,
/// and scilpy's get_data_as_labels: the integer label volume cast to uint16, wrapping).
void write_connectivity_data(
    h5::Layout& layout, const Plan& plan, size_t s, size_t g, VolumeBuffers& buffers) {
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
  h5::write_connectivity(layout, plan, s, g, matrix.values, labels);
}

/// Collective. --save_intermediate: every subject's groups as dwi_ml saves them (volumes as
/// .nii.gz, streamlines as .trk in RAS mm), read back from the completed file by `extract`, the
/// subjects spread over the workers. In the seed form (2021), only the streamlines are written
/// here, as <hdf5 folder>/<subject>_intermediate/<group>.trk (volumes were saved while processing).
int save_intermediate(const mpi::Comm& comm,
                      const Plan& plan,
                      const std::string& file,
                      const std::string& dir,
                      bool seed_form) {
  std::vector<size_t> order(plan.subjects.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  const FarmResults results = run_farm(
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
        return std::string();
      },
      /*stop_on_error=*/true);
  int ok = 1;
  if (comm.rank() == 0) {
    std::vector<std::string> names;
    for (const auto& subject : plan.subjects)
      names.push_back(subject.id);
    if (report_failures(results, names, 10) > 0) ok = 0;
    if (ok)
      log::info("intermediate files written to " + quoted(dir));
    else
      log::error("the HDF5 file is complete, but saving the intermediate files failed");
  }
  return comm.broadcast(ok, 0) ? exit_ok : exit_input_error;
}

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

/// --dry-run: what would be written, and the memory a task needs (one group at a time).
void print_plan(const Plan& plan, const std::string& out) {
  int64_t total = 0, largest_group = 0;
  std::string largest_where;
  std::printf("%-16s %-16s %-12s %-28s %12s\n", "subject", "group", "type", "shape", "bytes");
  for (const auto& subject : plan.subjects) {
    for (const auto& g : subject.groups) {
      std::string shape;
      int64_t bytes = 0;
      if (g.type == GroupType::volume) {
        const auto& v = g.volume;
        shape = "(" + std::to_string(v.shape[0]) + ", " + std::to_string(v.shape[1]) + ", " +
                std::to_string(v.shape[2]) + ", " + std::to_string(v.nb_features) + ") float32";
        bytes = v.bytes();
        if (bytes > largest_group) {
          largest_group = bytes;
          largest_where = "/" + subject.id + "/" + g.name;
        }
      } else {
        shape = std::to_string(g.streamlines.n_streamlines) + " streamlines, " +
                std::to_string(g.streamlines.n_points) + " points";
        bytes = g.streamlines.bytes();
      }
      total += bytes;
      std::printf("%-16s %-16s %-12s %-28s %12lld\n", subject.id.c_str(), g.name.c_str(), to_string(g.type),
                  shape.c_str(), static_cast<long long>(bytes));
    }
  }
  std::printf("dry run: %zu subject(s), %s of data would be written to '%s'; nothing was written.\n",
              plan.subjects.size(), megabytes(total).c_str(), out.c_str());
  if (largest_group > 0)
    std::printf(
        "largest volume group: %s (%s); memory per worker task: about %s\n", largest_where.c_str(),
        megabytes(largest_group).c_str(),
        // the group, its largest file's raw voxels (decoded whole before the transpose, up to
        // 1 GiB), streamline blocks and per-streamline arrays
        megabytes(largest_group + std::min<int64_t>(largest_group, int64_t{1} << 30) + 200'000'000).c_str());
  std::fflush(stdout);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string iso_time_ns(int64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%09lldZ", static_cast<long long>(ns % 1'000'000'000));
  return std::string(buf) + frac;
}

/// What fixes the file's layout (the datasets and their shapes): the plan without its time and
/// input provenance. A --resume'd partial file must have been made for the same.
std::string layout_digest(const Plan& plan) {
  nlohmann::json j = plan;
  j["data_and_time"] = "";
  j["skipped"] = nlohmann::json::array();
  for (auto& subject : j["subjects"]) {
    subject["inputs"] = nlohmann::json::array();
    subject["input_bytes"] = 0;
  }
  return digest(j.dump());
}

/// What fixes one subject's data: its plan (input sizes and mtimes included) and the options.
std::string subject_digest(const SubjectPlan& subject, const StreamlineOptions& o) {
  nlohmann::json options = {
      {"step_size", o.step_size_mm ? nlohmann::json(*o.step_size_mm) : nlohmann::json()},
      {"nb_points", o.nb_points ? nlohmann::json(*o.nb_points) : nlohmann::json()},
      {"compress", o.compress_mm ? nlohmann::json(*o.compress_mm) : nlohmann::json()},
      {"remove_invalid", o.remove_invalid}};
  return digest(nlohmann::json(subject).dump() + options.dump());
}

/// Provenance of the written subjects: their input files with sizes and modification times.
std::vector<std::string> input_provenance(const Plan& plan, const std::vector<bool>& dropped) {
  std::vector<std::string> out;
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    if (dropped[s]) continue;
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& f : plan.subjects[s].inputs)
      files.push_back({f.path, f.bytes, iso_time_ns(f.mtime_ns)});
    out.push_back(nlohmann::ordered_json{{"subject", plan.subjects[s].id}, {"files", files}}.dump());
  }
  return out;
}

std::string skip_record(const std::string& subject, const std::string& reason) {
  return nlohmann::ordered_json{{"subject", subject}, {"reason", reason}}.dump();
}

/// The error message of a failed task, starting with the subject.
std::string task_message(const TaskResult& r, const std::string& subject) {
  if (r.payload.rfind("subject ", 0) == 0) return r.payload;
  return "subject " + quoted(subject) + ": " + r.payload;
}

/// Rank 0, --resume: the journal's entries if the partial file can be continued (same layout,
/// readable, every dataset present with its planned shape); empty otherwise (start over).
std::optional<std::map<std::string, JournalEntry>> resumable(const std::string& partial, const Plan& plan) {
  std::map<std::string, JournalEntry> entries;
  std::string why;
  if (access(partial.c_str(), F_OK) != 0) {
    log::info("--resume: no partial file " + quoted(partial) + "; starting from scratch");
    return std::nullopt;
  }
  if (!read_journal(journal_path(partial), layout_digest(plan), entries, why)) {
    log::warning("--resume: " + why + "; starting from scratch");
    return std::nullopt;
  }
  try {
    h5::File file = h5::File::open_read(partial);
    h5::Layout layout = h5::open_layout(file, plan);
  } catch (const Error& e) {
    log::warning(std::string("--resume: the partial file cannot be continued (") + e.what() +
                 "); starting from scratch");
    return std::nullopt;
  }
  log::info("--resume: continuing " + quoted(partial) + "; " + std::to_string(entries.size()) +
            " subject(s) recorded complete in its journal (each is read back and checked)");
  return entries;
}

/// Rank 0: the plan of the job from the planning farm's results. Failed subjects stop the job
/// (all their errors printed), or with --on_error skip are left out and listed. Throws Error.
Plan assemble_plan(const FarmResults& planned, const Setup& setup, const CreateOptions& options) {
  Plan plan;
  std::vector<std::string> skipped; // --on_error skip: subjects whose inputs failed the checks
  if (options.on_error == OnError::skip) {
    for (size_t i = 0; i < planned.size(); ++i)
      if (!planned[i]->ok) {
        const std::string message = task_message(*planned[i], setup.chosen[i]);
        log::warning("[rank " + std::to_string(planned[i]->rank) + "] " + message + " -> skipped");
        skipped.push_back(setup.chosen[i]);
        plan.skipped.push_back({setup.chosen[i], message});
      }
    if (skipped.size() == planned.size())
      throw Error("every subject failed the input checks; nothing was written");
  } else if (report_failures(planned, setup.chosen, 10) > 0) {
    throw Error("input validation failed; nothing was written");
  }
  const auto without_skipped = [&](const std::vector<std::string>& list) {
    std::vector<std::string> out;
    for (const auto& id : list)
      if (std::find(skipped.begin(), skipped.end(), id) == skipped.end()) out.push_back(id);
    return out;
  };
  for (const auto& r : planned)
    if (r->ok) plan.subjects.push_back(nlohmann::json::parse(r->payload).get<SubjectPlan>());
  plan.training = without_skipped(setup.training);
  plan.validation = without_skipped(setup.validation);
  plan.testing = without_skipped(setup.testing);
  plan.groups_config = setup.groups_config;
  plan.layout_2021 = options.seed.enabled;
  plan.space_2021 = options.seed.space;
  plan.data_and_time = setup.data_and_time;
  return plan;
}

/// Rank 0, --resume: the journal's entries as JSON ({"<subject>": {"plan", "datasets"}}), or
/// null when the partial file cannot be continued.
std::string resume_entries_text(const std::string& partial, const Plan& plan) {
  const auto entries = resumable(partial, plan);
  if (!entries) return "null";
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [id, e] : *entries)
    j[id] = {{"plan", e.plan_digest}, {"datasets", e.datasets}};
  return j.dump();
}

/// Rank 0's progress reporter, with the subjects skipped while planning already counted.
std::unique_ptr<Progress>
start_progress(const Plan& plan, int ranks, const std::string& output, const std::string& json_log) {
  ProgressOptions po;
  po.total_subjects = plan.subjects.size() + plan.skipped.size();
  for (const auto& subject : plan.subjects) {
    po.total_bytes_in += subject.input_bytes;
    po.total_bytes_out += subject.output_bytes();
  }
  po.ranks = ranks;
  po.output = output;
  po.mode = progress_mode_for(STDERR_FILENO);
  po.json_log_path = json_log;
  auto progress = std::make_unique<Progress>(std::move(po));
  for (const auto& [id, reason] : plan.skipped) {
    SubjectRecord r;
    r.subject = id;
    r.status = SubjectStatus::skipped;
    r.error = reason;
    progress->subject_done(r);
  }
  return progress;
}

/// A write task: one subject's groups, read, processed and written into the layout (or, with
/// --resume, read back and kept when its journal entry still holds). Returns the JSON result rank
/// 0 receives: bytes, timings per group, and the plan digest and CRCs for the journal.
std::string write_subject(const CreateOptions& options,
                          const std::string& final_path,
                          const Plan& plan,
                          size_t s,
                          const nlohmann::json& resume_entries,
                          h5::Layout& layout,
                          VolumeBuffers& buffers,
                          StreamlineBuffers& streamline_buffers,
                          int cores) {
  const auto ts = std::chrono::steady_clock::now();
  const SubjectPlan& subject = plan.subjects[s];
  const std::string subject_plan_digest = subject_digest(subject, options.streamlines);
  nlohmann::json result = {{"bytes_in", subject.input_bytes}, {"bytes_out", subject.output_bytes()}};
  if (resume_entries.is_object() && resume_entries.contains(subject.id)) {
    const auto& entry = resume_entries[subject.id];
    std::string why = entry["plan"] != subject_plan_digest ? std::string("its inputs or options changed")
                                                           : h5::verify_subject(layout, s, entry["datasets"]);
    if (why.empty()) {
      result["kept"] = true;
      result["seconds"] = seconds_since(ts);
      return result.dump();
    }
    log::info("--resume: subject " + quoted(subject.id) + " is redone: " + why);
  }
  nlohmann::json stages = nlohmann::json::object();
  const bool seed_intermediate = options.seed.enabled && options.save_intermediate;
  const auto in_group = [&](size_t g, const std::function<void()>& work) {
    with_context("subject " + quoted(subject.id) + ": group " + quoted(subject.groups[g].name), work);
  };
  const auto volume_group = [&](size_t g, const std::function<void(const float*)>& write) {
    const GroupPlan& group = subject.groups[g];
    const VolumeGroupPlan& v = group.volume;
    // The 2021 script's intermediate files: <hdf5>/<subject>_intermediate/<group>_*.nii.gz
    const std::string seed_dir = parent_dir(final_path) + "/" + subject.id + "_intermediate";
    const auto save = [&](const float* xyzf, const char* what) {
      if (::mkdir(seed_dir.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error("cannot create folder " + quoted(seed_dir) + ": " + std::strerror(errno));
      io::write_nifti_xyzf(seed_dir + "/" + group.name + what, xyzf, v.shape, v.nb_features, v.vox2ras,
                           v.voxel_sizes, 1);
    };
    std::function<void(const float*)> before;
    if (seed_intermediate) before = [&](const float* xyzf) { save(xyzf, "_nonstandardized.nii.gz"); };
    const float* data = load_volume_group(v, buffers, before);
    if (seed_intermediate) save(data, "_standardized.nii.gz");
    write(data);
  };

  // With direct I/O a volume group needs no HDF5 call once its file range is known, so the
  // subject's volume groups run on a second thread while this one does the streamline groups
  // (HDF5 is not thread-safe: every HDF5 call stays here). On one rank that puts the serial
  // volume path beside the streamline path on the other core.
  // Helper threads (this one, the volume decoder's, the streamline reader) only when the rank has
  // a core to spare (mpi::cores_per_worker): on a busy core they only add switching and copies.
  std::vector<std::pair<size_t, h5::VolumeDirectWrite>> background;
  bool any_streamlines = false;
  int64_t volume_bytes = 0, streamline_bytes = 0;
  for (const auto& group : subject.groups) {
    any_streamlines = any_streamlines || group.type == GroupType::streamlines;
    if (group.type == GroupType::volume) volume_bytes += group.volume.bytes();
    if (group.type == GroupType::streamlines) streamline_bytes += group.streamlines.bytes();
  }
  const bool spare_core = cores >= 2;
  // Volume groups that are a small share of the subject's work (a mask beside a tractogram: the
  // volume path costs about 4x the streamline path per output byte) stay on this thread, in
  // order: a thread for them would only keep the streamline reader from starting (see below).
  const bool volumes_worth_a_thread = 8 * volume_bytes >= streamline_bytes;
  if (spare_core && any_streamlines && !seed_intermediate && volumes_worth_a_thread)
    for (size_t g = 0; g < subject.groups.size(); ++g) {
      if (subject.groups[g].type != GroupType::volume) continue;
      auto target = h5::volume_direct_write(layout, plan, s, g);
      if (!target) {
        background.clear(); // all or none: they share the volume buffers
        break;
      }
      background.emplace_back(g, std::move(*target));
    }
  // The volume decoder's own thread only when no streamline group runs beside it; the streamline
  // reader's only while the volume thread is not running.
  buffers.scratch().threads = spare_core && !any_streamlines ? 2 : 1;
  std::atomic<bool> volumes_running{!background.empty()};
  streamline_buffers.read_ahead = spare_core;
  streamline_buffers.busy = &volumes_running;
  std::map<size_t, double> background_seconds;
  std::exception_ptr background_error;
  std::thread volumes;
  if (!background.empty())
    volumes = std::thread([&] {
      try {
        for (const auto& [g, target] : background) {
          const auto tg = std::chrono::steady_clock::now();
          in_group(
              g, [&, &target = target] { volume_group(g, [&](const float* data) { target.write(data); }); });
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
  } joiner{volumes, streamline_buffers};

  for (size_t g = 0; g < subject.groups.size(); ++g) {
    const GroupPlan& group = subject.groups[g];
    if (group.type == GroupType::volume && !background.empty()) continue;
    const auto tg = std::chrono::steady_clock::now();
    in_group(g, [&] {
      if (group.type == GroupType::volume) {
        volume_group(g, [&](const float* data) { h5::write_volume(layout, plan, s, g, data); });
      } else {
        h5::StreamlineWriter writer(layout, plan, s, g);
        process_streamline_group(group.streamlines, options.streamlines, streamline_buffers, &writer);
        // The connectivity labels are read with the volume buffers: after the volume thread.
        if (background.empty()) write_connectivity_data(layout, plan, s, g, buffers);
      }
    });
    stages[group.name] = seconds_since(tg);
  }
  if (volumes.joinable()) volumes.join();
  if (background_error) std::rethrow_exception(background_error);
  for (const auto& [g, seconds] : background_seconds)
    stages[subject.groups[g].name] = seconds;
  if (!background.empty())
    for (size_t g = 0; g < subject.groups.size(); ++g)
      if (subject.groups[g].type == GroupType::streamlines)
        in_group(g, [&] { write_connectivity_data(layout, plan, s, g, buffers); });
  result["seconds"] = seconds_since(ts);
  result["stages"] = stages;
  result["plan"] = subject_plan_digest;
  result["datasets"] = h5::subject_checksums(layout, s);
  return result.dump();
}

/// Rank 0, after the write farm: {"ok": bool, "dropped": [bool per subject], "skipped":
/// [[subject, reason], ...]}. With --on_error skip, failed subjects are dropped (the run is still
/// ok unless all failed); otherwise any failure (or an interruption) means not ok.
std::string decide_outcome(const FarmResults& written, const Plan& plan, bool interrupted, bool skip) {
  nlohmann::json outcome = {{"ok", true}, {"dropped", std::vector<bool>(plan.subjects.size(), false)}};
  std::vector<std::string> names;
  for (const auto& subject : plan.subjects)
    names.push_back(subject.id);
  if (interrupted) {
    outcome["ok"] = false;
  } else if (skip) {
    for (size_t s = 0; s < written.size(); ++s)
      if (!written[s] || !written[s]->ok) {
        const std::string message =
            written[s] ? task_message(*written[s], names[s]) : "subject " + quoted(names[s]) + ": not run";
        log::warning("[rank " + std::to_string(written[s] ? written[s]->rank : 0) + "] " + message +
                     " -> skipped");
        outcome["dropped"][s] = true;
        outcome["skipped"].push_back({names[s], message});
      }
    if (outcome.contains("skipped") && outcome["skipped"].size() == plan.subjects.size())
      outcome["ok"] = false;
  } else {
    if (report_failures(written, names, 10) > 0) outcome["ok"] = false;
    for (const auto& r : written)
      if (!r) outcome["ok"] = false; // stopped early
  }
  return outcome.dump();
}

} // namespace

int run_create(const CreateOptions& options, const mpi::Comm& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool coordinator = comm.rank() == 0;
  const bool skip = options.on_error == OnError::skip;

  // 1. Setup: paths, config, lists (rank 0), then shared.
  std::string setup_text;
  if (!rank0_then_broadcast(comm, setup_text, [&] { return nlohmann::json(prepare(options)).dump(); }))
    return exit_input_error;
  const Setup setup = nlohmann::json::parse(setup_text).get<Setup>();
  if (setup.nothing_to_do) return exit_ok;
  Config config;
  {
    // Re-parse the canonical JSON on every rank; warnings were already shown by rank 0.
    const log::Level level = log::level();
    if (!coordinator) log::set_level(log::Level::error);
    try {
      config = parse_config(setup.config_json, setup.config_source);
    } catch (const Error& e) {
      // Rank 0 parsed the same text; a failure here would leave the others waiting in the
      // planning farm, so stop the whole job.
      log::error(std::string("re-parsing the broadcast config failed: ") + e.what());
      mpi::abort_job(comm.get(), exit_failure);
    }
    log::set_level(level);
  }

  // 2. Plan every subject from headers, spread over the workers; nothing is written yet.
  PlanOptions plan_options;
  plan_options.enforce_files_presence = options.enforce_files_presence;
  plan_options.streamlines = options.streamlines;
  plan_options.seed = options.seed;
  plan_options.allow_outside_subject = options.allow_outside_subject;
  std::vector<size_t> list_order(setup.chosen.size());
  for (size_t i = 0; i < list_order.size(); ++i)
    list_order[i] = i;
  const FarmResults planned = run_farm(
      comm, setup.chosen.size(), list_order,
      [&](size_t i) {
        const std::string& id = setup.chosen[i];
        nlohmann::json j = plan_subject(options.dwi_ml_ready + "/" + id, id, config, plan_options);
        return j.dump();
      },
      /*stop_on_error=*/false);
  if (const int signal = comm.max(interrupt::received()); signal != 0) {
    if (coordinator)
      log::error("interrupted by " + interrupt::signal_name(signal) +
                 " while checking the inputs; nothing was written");
    return exit_interrupted;
  }

  std::string plan_text;
  const bool planned_ok = rank0_then_broadcast(comm, plan_text, [&] {
    Plan plan = assemble_plan(planned, setup, options);
    log::info("planned " + std::to_string(plan.subjects.size()) + " subject(s) in " +
              std::to_string(seconds_since(t0)) + " s");
    return nlohmann::json(plan).dump();
  });
  if (!planned_ok) return exit_input_error;
  const Plan plan = nlohmann::json::parse(plan_text).get<Plan>();
  const std::string partial = partial_path(setup.final_path);
  const std::string journal = journal_path(partial);
  if (options.dry_run) {
    if (coordinator) print_plan(plan, setup.final_path);
    return plan.skipped.empty() ? exit_ok : exit_skipped;
  }

  // --resume: rank 0 decides whether the partial file can be continued; all ranks learn the
  // journal's entries.
  std::string resume_text = coordinator && options.resume ? resume_entries_text(partial, plan) : "null";
  comm.broadcast(resume_text, 0);
  const nlohmann::json resume_entries = nlohmann::json::parse(resume_text);
  const bool resuming = !resume_entries.is_null();

  // Progress on rank 0 (a bar on a terminal, timestamped lines in a log file, --log_json).
  std::unique_ptr<Progress> progress;
  std::string progress_error;
  if (coordinator) {
    try {
      progress = start_progress(plan, comm.size(), setup.final_path, options.log_json);
    } catch (const Error& e) {
      progress_error = e.what();
    }
  }
  if (comm.max(progress_error.empty() ? 0 : 1) != 0) {
    if (coordinator) log::error("--log_json: " + progress_error);
    return exit_input_error;
  }

  // 3-5. From here on every rank holds the open parallel file. An error outside a task means a
  // rank may miss the next collective call, so it aborts the whole job instead of hanging it.
  // The file and layout live outside the try: the catch aborts before their destructors could
  // start a collective close on this rank alone (which would hang, e.g. on a full disk).
  std::optional<h5::File> file_holder;
  std::optional<h5::Layout> layout_holder;
  try {
    h5::File& file = file_holder.emplace(resuming ? h5::File::open_parallel(partial, comm.get())
                                                  : h5::File::create_parallel(partial, comm.get()));
    h5::Layout& layout =
        layout_holder.emplace(resuming ? h5::open_layout(file, plan) : h5::create_layout(file, plan));
    // The layout reaches the file before any data, so that an interrupted file can be reopened.
    file.flush();
    if (options.direct_io) {
      if (!file.enable_direct_writes() && coordinator)
        log::info("the file system refuses O_DIRECT; writing through MPI-IO and the page cache");
      layout.direct = file.direct_writer();
    }
    JournalWriter journal_writer;
    if (coordinator)
      journal_writer =
          resuming ? JournalWriter::append_to(journal) : JournalWriter::create(journal, layout_digest(plan));

    VolumeBuffers buffers;
    StreamlineBuffers streamline_buffers;
    const int cores = mpi::cores_per_worker(comm);
    size_t done = 0, kept = 0;
    const FarmResults written = run_farm(
        comm, plan.subjects.size(), largest_first(plan.subjects),
        [&](size_t s) {
          return write_subject(options, setup.final_path, plan, s, resume_entries, layout, buffers,
                               streamline_buffers, cores);
        },
        /*stop_on_error=*/!skip,
        [&](size_t s, const TaskResult& r) {
          SubjectRecord record;
          record.subject = plan.subjects[s].id;
          record.rank = r.rank;
          record.bytes_in = plan.subjects[s].input_bytes;
          record.bytes_out = plan.subjects[s].output_bytes();
          if (!r.ok) {
            record.status = skip && !interrupt::received() ? SubjectStatus::skipped : SubjectStatus::failed;
            record.error = r.payload;
            progress->clear_line();
            progress->subject_done(record);
            return;
          }
          const nlohmann::json result = nlohmann::json::parse(r.payload);
          record.status = result.value("kept", false) ? SubjectStatus::kept : SubjectStatus::written;
          record.seconds = result.value("seconds", 0.0);
          if (result.contains("stages")) record.stages = result["stages"];
          ++done;
          if (result.value("kept", false)) {
            ++kept;
          } else {
            // The worker's writes have returned: the data is in the file (or the OS's cache of it).
            journal_writer.record(plan.subjects[s].id,
                                  {result["plan"].get<std::string>(), result["datasets"]});
          }
          progress->clear_line();
          log::info("subject " + quoted(plan.subjects[s].id) +
                    (result.value("kept", false) ? " kept from the interrupted run, checked by rank "
                                                 : " written by rank ") +
                    std::to_string(r.rank) + " (" + std::to_string(done) + "/" +
                    std::to_string(plan.subjects.size()) + ")");
          progress->subject_done(record);
        });

    // Every rank learns whether any rank was interrupted, and rank 0 decides the outcome.
    if (coordinator) progress->clear_line();
    const int signal = comm.max(interrupt::received());
    const bool interrupted = signal != 0;
    std::string outcome_text = coordinator ? decide_outcome(written, plan, interrupted, skip) : "";
    comm.broadcast(outcome_text, 0);
    const nlohmann::json outcome = nlohmann::json::parse(outcome_text);
    const bool ok = outcome["ok"].get<bool>();

    if (ok) {
      const std::vector<bool> dropped = outcome["dropped"].get<std::vector<bool>>();
      h5::Provenance provenance;
      provenance.version = version;
      provenance.git_commit = git_commit;
      provenance.command_line = setup.command_line;
      provenance.ranks = comm.size();
      provenance.inputs = input_provenance(plan, dropped);
      for (const auto& [id, reason] : plan.skipped)
        provenance.skipped.push_back(skip_record(id, reason));
      if (outcome.contains("skipped"))
        for (const auto& entry : outcome["skipped"])
          provenance.skipped.push_back(skip_record(entry[0], entry[1]));
      h5::finalize_root(file, plan, options.streamlines, dropped, provenance);
    }
    h5::close_layout(layout);
    file.close();
    // --compression: all ranks write a compressed copy of the complete file (h5/compress.hpp).
    const std::string complete = ok && options.compression_level > 0 ? h5::compressed_path(partial) : partial;
    const int stop_signal =
        complete == partial
            ? 0
            : h5::write_compressed_copy(partial, complete, options.compression_level, comm.get());

    int code = exit_ok;
    if (coordinator) {
      progress->clear_line();
      if (ok && stop_signal == 0) {
        if (std::rename(complete.c_str(), setup.final_path.c_str()) != 0) {
          log::error("renaming " + quoted(complete) + " to " + quoted(setup.final_path) + " failed");
          code = exit_failure;
        } else {
          if (complete != partial) std::remove(partial.c_str());
          std::remove(journal.c_str());
          const size_t skipped_late = outcome.contains("skipped") ? outcome["skipped"].size() : 0;
          const size_t n_skipped = plan.skipped.size() + skipped_late;
          log::info("wrote " + quoted(setup.final_path) + " (" +
                    std::to_string(plan.subjects.size() - skipped_late) + " subjects" +
                    (kept ? ", " + std::to_string(kept) + " kept from the interrupted run" : "") + ") in " +
                    std::to_string(seconds_since(t0)) + " s with " + std::to_string(comm.size()) +
                    " rank(s)");
          if (n_skipped > 0) {
            log::warning(std::to_string(n_skipped) +
                         " subject(s) were skipped (--on_error skip); the file lists them in its root "
                         "attribute 'dwipack_skipped_subjects'");
            code = exit_skipped;
          }
        }
      } else if (interrupted || stop_signal != 0) {
        log::error("interrupted by " + interrupt::signal_name(signal ? signal : stop_signal) + "; " +
                   std::to_string(done) + " subject(s) are complete in " + quoted(partial) +
                   "; run the same command with --resume to continue");
        code = exit_interrupted;
      } else {
        std::remove(partial.c_str());
        std::remove(journal.c_str());
        log::error("conversion failed; no output file was left at " + quoted(setup.final_path));
        code = exit_input_error;
      }
    }
    code = comm.broadcast(code, 0);
    std::vector<int64_t> peak_rss;
    comm.gather_i64(peak_rss_bytes(), peak_rss, 0);
    if (coordinator) {
      Summary summary = progress->summary();
      summary.peak_rss_bytes_per_rank = peak_rss;
      summary.output = code == exit_ok || code == exit_skipped ? setup.final_path : partial;
      progress->finish(summary);
    }
    if (code == exit_ok && options.save_intermediate)
      code = save_intermediate(comm, plan, setup.final_path, setup.intermediate_dir, options.seed.enabled);
    return code;
  } catch (const Error& e) {
    log::error(e.what());
    log::error("aborting all ranks");
    mpi::abort_job(comm.get(), exit_failure);
  } catch (const std::exception& e) {
    log::error(std::string("unexpected error: ") + e.what());
    mpi::abort_job(comm.get(), exit_failure);
  }
}

} // namespace dwipack::pipeline
