#include "create_steps.hpp"

#include "dwipack/config.hpp"
#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/io/input_checks.hpp"
#include "dwipack/io/output_lock.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/log.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>
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

std::string subject_context(const std::string& id) {
  return "subject " + quoted(id);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

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

} // namespace

namespace {

/// Whether every list file can be opened for reading.
bool readable_lists(const CreateOptions& o) {
  for (const std::string* path : {&o.training_list, &o.validation_list, &o.testing_list}) {
    if (path == &o.testing_list && o.seed.enabled) continue; // 2021: no testing set
    if (access(path->c_str(), R_OK) != 0 || io::is_directory(*path)) return false;
  }
  return true;
}

/// The subject lists, every id checked (a plain folder name) before anything else is read.
void read_lists(const CreateOptions& o, Setup& s) {
  s.training = read_subject_list(o.training_list);
  s.validation = read_subject_list(o.validation_list);
  if (!o.seed.enabled) s.testing = read_subject_list(o.testing_list); // 2021: no testing set
  s.chosen = union_of_lists(s.training, s.validation, s.testing);
  if (s.chosen.empty()) throw Error("the three subject lists are empty: nothing to convert");
}

/// The seed-era output: DATABASE/hdf5/NAME.hdf5; hdf5/ must not exist without --force. (The
/// 2021 script then deleted the whole folder; dwipack only replaces the file, once complete.)
void seed_output(const CreateOptions& o, Setup& s) {
  s.final_path = o.out_file;
  const std::string folder = parent_dir(s.final_path);
  if (io::is_directory(folder) && !o.overwrite && !o.resume)
    throw Error("folder " + quoted(folder) +
                " already exists; use --force to write into it (or --resume to " +
                "continue or bring up to date the file in it)");
  if (!o.dry_run && !io::is_directory(folder) && ::mkdir(folder.c_str(), 0755) != 0)
    throw Error("cannot create folder " + quoted(folder) + ": " + std::strerror(errno));
}

/// The output path and its folder, and what an earlier run left there.
void check_output(const CreateOptions& o, Setup& s) {
  const std::string out_dir = parent_dir(s.final_path);
  if (!io::is_directory(out_dir))
    throw Error("output folder " + quoted(out_dir) +
                (access(out_dir.c_str(), F_OK) == 0 ? " is not a folder" : " does not exist"));
  if (io::is_directory(s.final_path)) throw Error("output " + quoted(s.final_path) + " is a folder");
  if (!o.dry_run && access(out_dir.c_str(), W_OK) != 0)
    throw Error("output folder " + quoted(out_dir) + " is not writable: " + std::strerror(errno));
}

/// An interrupted run's partial file is work: it is never discarded without being asked.
void check_partial(const CreateOptions& o, const Setup& s) {
  const std::string partial = partial_path(s.final_path);
  if (o.dry_run || o.resume || o.overwrite || access(partial.c_str(), F_OK) != 0) return;
  throw Error("the partial file " + quoted(partial) + " (and its journal " + quoted(journal_path(partial)) +
              ") of an earlier, unfinished run exists; run the same command with --resume to continue "
              "it, or with -f to discard it and start over");
}

/// Subject folders: all present, or (--on_error skip) the missing ones are left to the planning,
/// which skips them with their reason.
void check_subject_folders(const CreateOptions& o, const Setup& s) {
  std::vector<std::string> missing;
  for (const auto& id : s.chosen)
    if (!io::is_directory(o.dwi_ml_ready + "/" + id)) missing.push_back(quoted(id));
  if (missing.empty() || o.on_error == OnError::skip) return;
  std::string list;
  for (const auto& m : missing)
    list += (list.empty() ? "" : ", ") + m;
  throw Error("subject folder(s) missing in " + quoted(o.dwi_ml_ready) + ": " + list +
              " (--on_error skip leaves them out)");
}

} // namespace

namespace {

/// One writer per output: taken before anything is written, held by rank 0 until the run ends.
void lock_output(const CreateOptions& o, const Setup& s, io::OutputLock& lock) {
  if (o.dry_run) return; // writes nothing
  lock = io::OutputLock::acquire(s.final_path);
  if (!lock.unsupported().empty())
    log::warning("the file system of " + quoted(s.final_path) + " has no file locks (" + lock.unsupported() +
                 "): another run writing the same output at the same time would not be refused");
}

} // namespace

Setup prepare(const CreateOptions& o, io::OutputLock& lock) {
  Setup s;
  if (!io::is_directory(o.dwi_ml_ready))
    throw Error("dwi_ml_ready folder " + quoted(o.dwi_ml_ready) + " does not exist or is not a folder");
  // Ids are checked before anything is written; but a list file that cannot be read fails only
  // after the config copy, as in dwi_ml (which copies the config before reading the lists).
  const bool lists_readable = readable_lists(o);
  if (lists_readable) read_lists(o, s);
  if (o.seed.enabled) {
    seed_output(o, s);
    lock_output(o, s, lock);
    check_partial(o, s);
    const Config config = load_seed_config(o.config_file, o.independent_modalities);
    s.config_json = config.canonical_json;
    s.groups_config = config.python_repr;
  } else {
    s.final_path = output_path(o.out_file);
    check_output(o, s);
    lock_output(o, s, lock);
    // --resume brings an existing file up to date (create_update.cpp); -f replaces it.
    if (!o.overwrite && !o.resume && access(s.final_path.c_str(), F_OK) == 0)
      throw Error(
          "output file " + quoted(s.final_path) +
          " already exists; use -f to overwrite it, or --resume to bring it up to date with the inputs");
    check_partial(o, s);
    // dwi_ml copies the config next to the output (before checking it), so the file's config
    // can always be found again. A config already at that path is left as it is.
    if (!o.dry_run) copy_config(o.config_file, config_copy_path(s.final_path));
    const Config config = load_config(o.config_file);
    s.config_json = config.canonical_json;
    s.groups_config = config.python_repr;
  }
  s.config_source = o.config_file;
  if (!lists_readable) read_lists(o, s); // throws, naming the file
  check_subject_folders(o, s);
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

PlannedSubject plan_and_check_subject(const CreateOptions& options,
                                      const Config& config,
                                      const PlanOptions& plan_options,
                                      const std::string& id) {
  const std::string subject_dir = options.dwi_ml_ready + "/" + id;
  PlannedSubject planned;
  // (plan_subject refuses a file cut short as it reads its header: io/input_checks.)
  planned.plan = plan_subject(subject_dir, id, config, plan_options);
  if (options.checksum)
    for (const auto& input : planned.plan.inputs)
      planned.checksums.push_back(io::content_checksum(io::join_path(subject_dir, input.path)));
  return planned;
}

Config config_of(const Setup& setup) {
  // Rank 0 parsed the same text in prepare() and showed its warnings there: every rank, rank 0
  // included, stays quiet now (each warning once per run).
  const log::LevelLatch quiet(log::Level::error);
  return parse_config(setup.config_json, setup.config_source);
}

} // namespace dwipack::pipeline
