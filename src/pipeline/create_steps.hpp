#pragma once
// The steps `dwipack create` is made of (private to src/pipeline/): create.cpp runs them as
// named phases; each step lives in the file of its concern.
//   create_setup.cpp    phase 1: paths, config, lists (rank 0)
//   create_resume.cpp   digests, and whether a partial file can be continued (rank 0)
//   create_report.cpp   dry-run listing, progress glue, failures, the outcome, provenance
//   create_early_layout.cpp  rank 0 builds the new file's layout while the workers plan
//   write_subject.cpp   the write task of one subject (any rank), --save_intermediate
#include "dwipack/format/layout.hpp"
#include "dwipack/io/output_lock.hpp"
#include "dwipack/pipeline/create.hpp"
#include "dwipack/pipeline/messages.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/pipeline/progress.hpp"
#include "dwipack/pipeline/volume.hpp"

#include "dwipack/util/log.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dwipack::pipeline {

// ---- small shared helpers ----
std::string parent_dir(const std::string& path);
double seconds_since(std::chrono::steady_clock::time_point t0);
/// "subject 'id'": the outer frame of every per-subject message.
std::string subject_context(const std::string& id);

/// Rank 0: print the failed tasks' messages (at most `limit`); returns how many failed.
template <class Result>
size_t
report_failures(const TaskReports<Result>& reports, const std::vector<std::string>& names, size_t limit) {
  size_t failed = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    if (!reports[i] || reports[i]->ok()) continue;
    if (failed < limit)
      log::error("[rank " + std::to_string(reports[i]->rank) + "] " +
                 reports[i]->message(subject_context(names[i])));
    ++failed;
  }
  if (failed > limit) log::error("... and " + std::to_string(failed - limit) + " more failed subject(s)");
  return failed;
}

// ---- phase 1: set up (rank 0) ----
/// Check the paths, read the config and the lists, and (unless --dry-run) take the output's
/// lock into `lock`. Throws Error (nothing written).
Setup prepare(const CreateOptions& options, io::OutputLock& lock);
/// Phase 2, one planning task (any rank): the subject's plan from its headers, every input
/// checked for completeness (io/input_checks) and, with --checksum, checksummed. Throws Error.
PlannedSubject plan_and_check_subject(const CreateOptions& options,
                                      const Config& config,
                                      const PlanOptions& plan_options,
                                      const std::string& id);
/// Rank 0, during phase 2: the new file's layout, built in list order as the subjects' plans
/// arrive (create_early_layout.cpp), under the partial file's name + ".layout" until taken; its
/// destructor removes that file if it was not taken. Any failure only makes it inactive: the
/// layout is then made after the plan, the usual way, which reports errors in full.
class EarlyLayout {
public:
  /// Nullptr when there is nothing to overlap (one rank), no new file is expected (--dry_run;
  /// --resume with a partial or complete file to reuse) or the file cannot be created.
  static std::unique_ptr<EarlyLayout> start(const Setup& setup,
                                            const CreateOptions& options,
                                            const std::string& partial,
                                            format::Kind kind,
                                            size_t ranks);
  EarlyLayout(const EarlyLayout&) = delete;
  EarlyLayout& operator=(const EarlyLayout&) = delete;
  ~EarlyLayout();
  /// The planning farm's report for subject `index` of the lists (any order).
  void on_planned(size_t index, const TaskReport<PlannedSubject>& report);
  /// Once the plan is final: the rest of the layout, the file closed and renamed to `partial`,
  /// and where its datasets are. Nullopt if it does not match `plan` (then removed).
  std::optional<format::LayoutPlaces> take(const Plan& plan, const std::string& partial, size_t ranks);

private:
  EarlyLayout(std::string path, bool skip) : path_(std::move(path)), skip_(skip) {}
  void build(std::chrono::steady_clock::time_point until);
  void abandon();
  std::string path_;
  bool skip_; ///< --on_error skip: a failed subject is left out, not the end of the layout
  std::optional<h5::File> file_;
  std::optional<format::LayoutBuilder> builder_;
  std::map<size_t, std::optional<SubjectPlan>> pending_; ///< reports ahead of next_ (nullopt: skipped)
  size_t next_ = 0;                                      ///< the next subject of the lists to build
};

/// Every rank: the typed config from the setup's canonical JSON, quietly (rank 0 parsed it
/// already and showed its warnings).
Config config_of(const Setup& setup);

// ---- digests and resume (rank 0; create_resume.cpp; layout_digest is in messages.hpp) ----
/// What one subject's content depends on: the config groups that reach it with what planning made
/// of them (files, shapes, attribute values), each input file (path relative to the subject
/// folder, size, and its modification time or, with --checksum, a content checksum) and the
/// streamline options. Recorded per subject in the root attribute dwipack_subject_digests;
/// --resume compares it with the current inputs.
struct SubjectDigest {
  struct Input {
    std::string path;
    int64_t bytes = 0;
    int64_t mtime_ns = 0;
    std::string checksum; ///< "crc32:<hex>" with --checksum, else empty
  };
  std::string subject;
  std::string digest;  ///< of everything below: equal digests, equal content (the journal's plan digest)
  std::string options; ///< digest of the streamline options and the layout kind
  std::map<std::string, std::string> groups; ///< group name -> digest of its config entry and plan
  std::vector<Input> inputs;

  /// The root attribute's JSON text.
  std::string record() const;
  /// From a record; nullopt if it is not one.
  static std::optional<SubjectDigest> from_record(const std::string& text);
};
/// Every planned subject's digest, in plan order (rank 0, from the planning tasks' reports: the
/// successful ones are the plan's subjects, in order; assemble_plan moved their plans).
std::vector<SubjectDigest> subject_digests(const Plan& plan,
                                           const TaskReports<PlannedSubject>& planned,
                                           const Setup& setup,
                                           const CreateOptions& options);
/// Why a subject must be converted again, in a few words ("input 'dwi/dwi.nii.gz' changed
/// (size 1200 -> 1300 bytes)"); empty if it is unchanged: the same options and groups, the same
/// input files with the same sizes and, as `now` was made, the same checksums (--checksum) or
/// modification times.
std::string why_changed(const SubjectDigest& before, const SubjectDigest& now);
/// --resume: the journal's entries if the partial file can be continued (else .resuming is false).
ResumeEntries resume_entries(const std::string& partial, const Plan& plan);

// ---- bringing an earlier file up to date (rank 0; create_update.cpp) ----
/// What --resume does with the data already on disk, subject by subject.
struct UpdateDecision {
  ResumeEntries entries;             ///< for every rank (the digests and records too, without --resume)
  std::vector<SubjectStatus> status; ///< per plan subject, when converted: written, reconverted or added
  std::vector<std::string> reason;   ///< per plan subject: why it is reconverted
  std::vector<std::string> dropped;  ///< subjects of the earlier file that no list names now
  bool update = false;               ///< an earlier complete file is being brought up to date
  bool up_to_date = false;           ///< nothing changed: the file is left as it is
};
/// Compare the plan's digests with the partial file's journal and with the complete output file
/// (--resume), decide what is kept in place, copied raw or converted, and prepare the partial
/// file when a complete file only needs its root attributes rewritten. Without --resume: every
/// subject is converted. Throws Error.
UpdateDecision decide_update(const Setup& setup,
                             const Plan& plan,
                             const std::vector<SubjectDigest>& digests,
                             const CreateOptions& options);
/// The progress records of an update's decisions: the dropped subjects, and (up to date) every
/// subject kept.
void report_decisions(Progress& progress, const UpdateDecision& decision, const Plan& plan);

// ---- reporting (rank 0) ----
/// The plan from the planning tasks' reports, whose subject plans are moved into it (each
/// report keeps its checksums). Failed subjects stop the job (all their errors printed), or
/// with --on_error skip are left out and listed. Throws Error.
Plan assemble_plan(TaskReports<PlannedSubject>& planned, const Setup& setup, const CreateOptions& options);
/// --dry-run: what would be written, and the memory a task needs.
void print_plan(const Plan& plan, const std::string& out);
/// The progress reporter, with the subjects skipped while planning already counted.
std::unique_ptr<Progress>
start_progress(const Plan& plan, int ranks, const std::string& output, const std::string& json_log);
/// After the write tasks: ok or not, and the subjects --on_error skip dropped.
Outcome
decide_outcome(const TaskReports<SubjectWritten>& written, const Plan& plan, bool interrupted, bool skip);
/// --on_error skip: warn about each list that named subjects but holds none in the file.
void warn_about_emptied_lists(const Setup& setup, const Plan& plan, const Outcome& outcome);
/// The provenance root attributes of the written subjects; `rank_hosts`: every rank's host, in
/// rank order; `digest_records`: every plan subject's (SubjectDigest::record()), moved into it
/// (one copy of them, not two, while the root attributes are written).
format::Provenance provenance_of(const Plan& plan,
                                 const Outcome& outcome,
                                 const Setup& setup,
                                 std::vector<std::string> rank_hosts,
                                 std::vector<std::string> digest_records);

// ---- interrupts ----
/// Collective (construction, finish()). While the subjects are written: a signal that reached
/// one rank stops them all. Rank 0 relays the first interruption it learns of (its own signal,
/// or a worker's interrupted task) to every worker, whose main thread looks for it between the
/// blocks of a subject (interrupt::set_poll).
class StopRelay {
public:
  explicit StopRelay(const mpi::Comm& comm);
  ~StopRelay();
  StopRelay(const StopRelay&) = delete;
  StopRelay& operator=(const StopRelay&) = delete;
  /// Rank 0: if `signal` is not 0, tell every worker (once) and count rank 0 interrupted.
  void relay(int signal);
  /// Collective, after the farm: every relayed message is received (and its signal recorded).
  void finish();

private:
  void take_stop();
  mpi::Comm comm_; ///< a duplicate: these messages never meet the farm's
  bool sent_ = false, received_ = false;
  int signal_ = 0;
};

/// The exact command that continues an interrupted run: the launcher (mpirun or srun, with the
/// rank count) when there is one, and dwipack's own command line with --resume.
std::string continue_command(const std::string& command_line, int ranks);

// ---- phase 4: the write task (any rank) ----
/// What a worker keeps across its subjects.
struct WorkerState {
  VolumeBuffers volumes;
  StreamlineBuffers streamlines;
  int cores = 1; ///< cores this worker may use (helper threads only when >= 2)
  /// --resume bringing a complete file up to date: that file, open for reading once per worker.
  std::optional<h5::File> copy_source;
};
/// One subject's groups, read, processed and written into the layout (or, with --resume, read
/// back and kept when its journal entry still holds).
SubjectWritten write_subject(const CreateOptions& options,
                             const std::string& final_path,
                             const Plan& plan,
                             size_t subject,
                             const ResumeEntries& resume,
                             format::Layout& layout,
                             WorkerState& worker);

/// Collective. --save_intermediate: every subject's groups read back from the completed file by
/// `extract`, spread over the workers. Returns the exit code.
int save_intermediate(const mpi::Comm& comm,
                      const Plan& plan,
                      const std::string& file,
                      const std::string& dir);

} // namespace dwipack::pipeline
