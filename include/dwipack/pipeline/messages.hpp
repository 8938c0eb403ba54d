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
  bool nothing_to_do = false;   ///< --resume, and the output is complete already
  /// Rank 0's command line: the provenance attribute is written collectively, so every rank must
  /// write the same value (launchers may start ranks with different argv[0] paths).
  std::string command_line;
};

/// Rank 0 -> all, before writing: a journaled subject of the partial file being continued.
struct ResumeEntry {
  std::string plan_digest;
  format::Checksums datasets;
};
/// The journaled subjects of the partial file being continued.
struct ResumeEntries {
  bool resuming = false; ///< false: no --resume, or the partial file cannot be continued
  std::map<std::string, ResumeEntry> subjects;
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
                                   validation, testing, chosen, data_and_time, intermediate_dir, nothing_to_do,
                                   command_line)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResumeEntry, plan_digest, datasets)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResumeEntries, resuming, subjects)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SubjectWritten, kept, seconds, stages, removed_invalid, interrupted,
                                   plan_digest, datasets)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Outcome, ok, dropped, skipped)
// clang-format on

/// Collective. `value` on `root` reaches every rank.
template <class T> void broadcast_message(const mpi::Comm& comm, T& value, int root) {
  std::string text = comm.rank() == root ? nlohmann::json(value).dump() : std::string();
  comm.broadcast(text, root);
  if (comm.rank() != root) value = nlohmann::json::parse(text).get<T>();
}

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
/// rank 0 (one per task; empty for tasks never run), an empty vector elsewhere.
template <class Result>
TaskReports<Result> run_tasks(const mpi::Comm& comm,
                              size_t n_tasks,
                              const std::vector<size_t>& order,
                              const std::function<Result(size_t)>& task,
                              bool stop_on_error,
                              const std::function<void(size_t, const TaskReport<Result>&)>& on_report = {},
                              const std::function<void()>& on_idle = {}) {
  const auto typed = [](const TaskResult& r) {
    TaskReport<Result> report;
    report.rank = r.rank;
    if (r.ok)
      report.result = nlohmann::json::parse(r.payload).get<Result>();
    else
      report.error = r.frames;
    report.interrupted = r.interrupted;
    return report;
  };
  const FarmResults raw = run_farm(
      comm, n_tasks, order, [&](size_t i) { return nlohmann::json(task(i)).dump(); }, stop_on_error,
      on_report ? std::function<void(size_t, const TaskResult&)>(
                      [&](size_t i, const TaskResult& r) { on_report(i, typed(r)); })
                : std::function<void(size_t, const TaskResult&)>(),
      on_idle);
  TaskReports<Result> out;
  for (const auto& r : raw)
    out.push_back(r ? std::optional<TaskReport<Result>>(typed(*r)) : std::nullopt);
  return out;
}

} // namespace dwipack::pipeline
