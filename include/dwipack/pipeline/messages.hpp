#pragma once
// Every message between the ranks of `dwipack create` is one of the structs below; this header
// is the one place that (de)serialises them (JSON through nlohmann's type macros), and the typed
// broadcast and task-farm helpers are the only way they travel. Errors travel as their frames
// (Error::frames(), outermost first), never as text to be parsed.
#include "dwipack/error.hpp"
#include "dwipack/format/layout.hpp"
#include "dwipack/mpi/comm.hpp"
#include "dwipack/pipeline/farm.hpp"
#include "dwipack/util/log.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::pipeline {

/// Rank 0 -> all, phase 1: what rank 0 checked before any rank does work.
struct Setup {
  std::string final_path;
  std::string config_json;
  std::string groups_config; ///< python repr of the config as written
  std::string config_source;
  std::vector<std::string> training, validation, testing, chosen;
  std::string data_and_time;
  std::string intermediate_dir; ///< --save_intermediate: where the processed inputs go
  /// Rank 0's command line: the provenance attribute is written collectively, so every rank must
  /// write the same value (launchers may start ranks with different argv[0] paths).
  std::string command_line;
};

/// Worker -> rank 0, phase 2: one subject's plan, and (--checksum) a content checksum of each
/// of its inputs, in the order of plan.inputs ("crc32:<8 hex digits>").
struct PlannedSubject {
  format::SubjectPlan plan;
  std::vector<std::string> checksums;
};

/// Rank 0 -> all, before writing: a journaled subject of the partial file being continued.
struct ResumeEntry {
  std::string plan_digest;
  format::Checksums datasets;
  /// Recorded when a complete file became the partial file (an update of its root attributes):
  /// kept as it is, not read back (a complete file was closed cleanly).
  bool trusted = false;
};
/// What rank 0 decided about the data already on disk (--resume), and every subject's digest.
struct ResumeEntries {
  bool resuming = false; ///< the partial file is continued in place (its layout is the plan's)
  std::map<std::string, ResumeEntry> subjects; ///< the partial file's journal
  /// Per plan subject: its digest (what its content depends on; the journal's plan digest) and
  /// its record for the root attribute dwipack_subject_digests (JSON text).
  std::vector<std::string> digests, records;
  /// A complete file (OUT.hdf5, being brought up to date) whose unchanged subjects are copied
  /// raw into the new file: copy[s] for those. Empty: none.
  std::string copy_from;
  std::vector<bool> copy;
  /// The partial file is a complete file whose root attributes are being rewritten: its storage
  /// (compressed or not) stays as it is, no compressed copy is made.
  bool keep_storage = false;
};

/// Worker -> rank 0, phase 4: one subject written (or kept from an interrupted run).
struct SubjectWritten {
  bool kept = false;
  double seconds = 0;
  std::map<std::string, double> stages; ///< seconds per group
  /// --remove_invalid: streamlines dropped per streamline group (empty without the option).
  std::map<std::string, int64_t> removed_invalid;
  /// Not complete: the task stopped at a signal (this number) received here or relayed by rank 0.
  int interrupted = 0;
  bool copied = false;        ///< copied raw from the complete file being brought up to date
  std::string plan_digest;    ///< for the journal
  format::Checksums datasets; ///< for the journal
};

/// Rank 0 -> all, phase 5: how the run ends.
struct Outcome {
  bool ok = true;
  std::vector<bool> dropped; ///< per subject: left out by --on_error skip while writing
  std::vector<std::pair<std::string, std::string>> skipped; ///< (subject, reason)
};

// clang-format off
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Setup, final_path, config_json, groups_config, config_source, training,
                                   validation, testing, chosen, data_and_time, intermediate_dir, command_line)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlannedSubject, plan, checksums)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResumeEntry, plan_digest, datasets, trusted)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResumeEntries, resuming, subjects, digests, records, copy_from, copy,
                                   keep_storage)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SubjectWritten, kept, seconds, stages, removed_invalid, interrupted, copied,
                                   plan_digest, datasets)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Outcome, ok, dropped, skipped)
// clang-format on

/// Collective. `value` on `root` reaches every rank.
template <class T> void broadcast_message(const mpi::Comm& comm, T& value, int root) {
  std::string text = comm.rank() == root ? nlohmann::json(value).dump() : std::string();
  comm.broadcast(text, root);
  if (comm.rank() != root) value = nlohmann::json::parse(text).get<T>();
}

/// Collective. The plan, as one line of JSON for each subject after one line for the rest: no
/// rank builds a JSON tree of the whole plan (about 14 kB per subject), one subject's at a time.
void broadcast_message(const mpi::Comm& comm, format::Plan& plan, int root);

/// Collective. Where rank 0's layout put every dataset, as raw 64-bit words (8 bytes per dataset
/// rather than ~20 of JSON text: 12,800 subjects have ~150,000 datasets).
void broadcast_message(const mpi::Comm& comm, format::LayoutPlaces& places, int root);

/// The JSON text of `plan`, byte for byte nlohmann::json(plan).dump(), handed to `piece` in
/// pieces made from one subject's JSON tree at a time (the whole text is ~8 kB per subject, a
/// tree of the whole plan ~14 kB). `edit_top` (whose "subjects" is then empty) and
/// `edit_subject` may change the trees before they are written (the layout digest leaves out
/// times and inputs).
void plan_json_pieces(const format::Plan& plan,
                      const std::function<void(nlohmann::json&)>& edit_top,
                      const std::function<void(nlohmann::json&)>& edit_subject,
                      const std::function<void(const std::string&)>& piece);
/// The same text, whole.
std::string plan_json_text(const format::Plan& plan,
                           const std::function<void(nlohmann::json&)>& edit_top = {},
                           const std::function<void(nlohmann::json&)>& edit_subject = {});
/// The journal's layout digest: digest() of the plan's JSON text without what does not change the
/// file's layout (the run's time, the skipped subjects, each subject's inputs and input bytes),
/// made from the pieces of plan_json_pieces.
std::string layout_digest(const format::Plan& plan);

/// Collective. Rank 0 runs `body`; its value reaches every rank. If it throws Error, rank 0 logs
/// it and every rank gets nullopt.
template <class T>
std::optional<T> rank0_then_broadcast(const mpi::Comm& comm, const std::function<T()>& body) {
  std::optional<T> value;
  int ok = 1;
  if (comm.rank() == 0) {
    try {
      value = body();
    } catch (const Error& e) {
      log::error(e.what());
      ok = 0;
    }
  }
  if (comm.broadcast(ok, 0) == 0) return std::nullopt;
  if (comm.rank() != 0) value.emplace();
  broadcast_message(comm, *value, 0);
  return value;
}

/// What rank 0 learns of one task: the worker's typed result, or the error's frames.
template <class Result> struct TaskReport {
  int rank = 0;
  std::optional<Result> result;   ///< when the task succeeded
  std::vector<std::string> error; ///< frames, outermost first, when it failed
  bool interrupted = false;       ///< it failed because its rank was interrupted (SIGTERM/SIGINT)
  bool ok() const { return result.has_value(); }
  /// The error as one line, with `context` (e.g. "subject 'sub-01'") as its outer frame.
  std::string message(const std::string& context) const {
    std::string text = context;
    for (const auto& frame : error)
      text += ": " + frame;
    return text;
  }
};
template <class Result> using TaskReports = std::vector<std::optional<TaskReport<Result>>>;

/// Collective over comm: run_farm with typed results (see farm.hpp). Returns the reports on
/// rank 0 (one per task; empty for tasks never run), an empty vector elsewhere. Each result is
/// parsed as it arrives and its text let go at once: rank 0 never holds every task's text and
/// every typed report together. `on_report` sees each report before it is stored, and may empty
/// what the caller no longer needs of it (memory per subject, for large cohorts).
template <class Result>
TaskReports<Result> run_tasks(const mpi::Comm& comm,
                              size_t n_tasks,
                              const std::vector<size_t>& order,
                              const std::function<Result(size_t)>& task,
                              bool stop_on_error,
                              const std::function<void(size_t, TaskReport<Result>&)>& on_report = {},
                              const std::function<void()>& on_idle = {}) {
  TaskReports<Result> out(comm.rank() == 0 ? n_tasks : 0);
  const auto take = [&](size_t i, TaskResult& r) {
    TaskReport<Result> report;
    report.rank = r.rank;
    if (r.ok)
      report.result = nlohmann::json::parse(r.payload).get<Result>();
    else
      report.error = r.frames;
    report.interrupted = r.interrupted;
    std::string().swap(r.payload); // typed now: the text goes
    if (on_report) on_report(i, report);
    out[i] = std::move(report);
  };
  const FarmResults raw = run_farm(
      comm, n_tasks, order, [&](size_t i) { return nlohmann::json(task(i)).dump(); }, stop_on_error, take,
      on_idle);
  if (raw.empty()) return {}; // a worker
  return out;
}

} // namespace dwipack::pipeline
