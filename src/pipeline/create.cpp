// `dwipack create` as a sequence of named phases (create.hpp draws the flow). Each phase's
// comment says which of its calls are collective: every rank runs every phase, in order.
#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/compress.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"

#include <csignal>
#include <cstdio>
#include <optional>
#include <unistd.h>

namespace dwipack::pipeline {
namespace {

class CreateJob {
public:
  CreateJob(const CreateOptions& options, const mpi::Comm& comm)
      : options_(options), comm_(comm), coordinator_(comm.rank() == 0),
        skip_(options.on_error == OnError::skip) {}

  /// Collective. The exit code, identical on every rank.
  int run() {
    if (const auto code = set_up()) return *code;
    if (const auto code = plan()) return *code;
    if (const auto code = prepare_writing()) return *code;
    // From here on every rank holds the open parallel file. An error outside a task means this
    // rank may miss the next collective call, so it aborts the whole job instead of hanging it
    // (the file and layout never close collectively in their destructors).
    try {
      timed("layout", [&] { create_layout(); });
      timed("write", [&] { write(); });
      int code = exit_ok;
      timed("finish", [&] { code = finish(); });
      return code;
    } catch (const Error& e) {
      log::error(e.what());
      log::error("aborting all ranks");
      mpi::abort_job(comm_.get(), exit_failure);
    } catch (const std::exception& e) {
      log::error(std::string("unexpected error: ") + e.what());
      mpi::abort_job(comm_.get(), exit_failure);
    }
  }

private:
  /// Runs a phase; rank 0 logs its duration at DEBUG (where the time before the first subject goes).
  template <class Phase> void timed(const char* name, Phase&& phase) {
    const auto t0 = std::chrono::steady_clock::now();
    phase();
    if (coordinator_) log::debug(std::string("phase ") + name + ": " + seconds_text(seconds_since(t0)));
  }

  /// Phase 1, set up. Rank 0 checks paths, config and lists; collective: one broadcast. Every
  /// rank then re-parses the canonical config.
  std::optional<int> set_up() {
    auto setup = rank0_then_broadcast<Setup>(comm_, [&] { return prepare(options_, lock_); });
    if (!setup) return exit_input_error;
    setup_ = std::move(*setup);
    try {
      config_ = config_of(setup_);
    } catch (const Error& e) {
      // Rank 0 parsed the same text; a failure here would leave the others waiting in the
      // planning farm, so stop the whole job.
      log::error(std::string("re-parsing the broadcast config failed: ") + e.what());
      mpi::abort_job(comm_.get(), exit_failure);
    }
    partial_ = partial_path(setup_.final_path);
    if (coordinator_) log_setup();
    return std::nullopt;
  }

  /// -v DEBUG: what the run will do, before any work.
  void log_setup() const {
    std::string groups;
    for (const auto& g : config_.groups)
      groups += (groups.empty() ? "" : ", ") + g.name + " (" + to_string(g.type) + ")";
    log::debug("config " + quoted(setup_.config_source) + ": " + std::to_string(config_.groups.size()) +
               " group(s): " + groups);
    log::debug("subjects: " + std::to_string(setup_.chosen.size()) + " (training " +
               std::to_string(setup_.training.size()) + ", validation " +
               std::to_string(setup_.validation.size()) + ", testing " +
               std::to_string(setup_.testing.size()) + "), " + std::to_string(comm_.size()) + " rank(s)");
  }

  /// Phase 2, plan every subject from headers, spread over the workers; nothing is written.
  /// Collective: the planning farm, a max (interrupts), a broadcast (the plan).
  std::optional<int> plan() {
    PlanOptions plan_options;
    plan_options.kind = options_.seed.enabled ? format::Kind::dwi_ml_2021 : format::Kind::dwi_ml;
    plan_options.enforce_files_presence = options_.enforce_files_presence;
    plan_options.streamlines = options_.streamlines;
    plan_options.seed = options_.seed;
    plan_options.allow_outside_subject = options_.allow_outside_subject;
    std::vector<size_t> list_order(setup_.chosen.size());
    for (size_t i = 0; i < list_order.size(); ++i)
      list_order[i] = i;
    const auto ranks = static_cast<size_t>(comm_.size());
    if (coordinator_) early_ = EarlyLayout::start(setup_, options_, partial_, plan_options.kind, ranks);
    auto planned = run_tasks<PlannedSubject>(
        comm_, setup_.chosen.size(), list_order,
        [&](size_t i) { return plan_and_check_subject(options_, config_, plan_options, setup_.chosen[i]); },
        /*stop_on_error=*/false,
        [&](size_t i, TaskReport<PlannedSubject>& r) {
          if (early_) early_->on_planned(i, r);
        });
    if (const int signal = comm_.max(interrupt::received()); signal != 0) {
      if (coordinator_)
        log::error("interrupted by " + interrupt::signal_name(signal) +
                   " while checking the inputs; nothing was written. To start again: " +
                   continue_command(setup_.command_line, comm_.size()));
      return exit_interrupted;
    }
    auto plan = rank0_then_broadcast<Plan>(comm_, [&] {
      Plan p = assemble_plan(planned, setup_, options_);
      digests_ = subject_digests(p, planned, setup_, options_);
      log::info("planned " + std::to_string(p.subjects.size()) + " subject(s) in " +
                seconds_text(seconds_since(t0_)));
      for (const auto& subject : p.subjects)
        log::debug("plan: subject " + quoted(subject.id) + ": " + std::to_string(subject.groups.size()) +
                   " group(s), " + std::to_string(subject.input_bytes) + " bytes in, " +
                   std::to_string(subject.output_bytes()) + " bytes out");
      return p;
    });
    if (!plan) return exit_input_error;
    plan_ = std::move(*plan);
    if (options_.dry_run) {
      if (coordinator_) print_plan(plan_, setup_.final_path);
      return plan_.skipped.empty() ? exit_ok : exit_skipped;
    }
    return std::nullopt;
  }

  /// Before writing: --resume's decision and the progress reporter (rank 0). Collective: a
  /// broadcast (the journal's entries), a max (whether the progress log could be opened).
  std::optional<int> prepare_writing() {
    std::string error;
    if (coordinator_) {
      try {
        progress_ = start_progress(plan_, comm_.size(), setup_.final_path, options_.log_json);
      } catch (const Error& e) {
        error = std::string("--log_json: ") + e.what();
      }
      if (error.empty()) error = decide();
    }
    if (comm_.max(error.empty() ? 0 : 1) != 0) {
      if (coordinator_) log::error(error);
      return exit_input_error;
    }
    broadcast_message(comm_, resume_, 0);
    if (comm_.broadcast(decision_.up_to_date ? 1 : 0, 0) == 0) return std::nullopt;
    if (coordinator_) report_up_to_date();
    return options_.save_intermediate
               ? save_intermediate(comm_, plan_, setup_.final_path, setup_.intermediate_dir)
               : exit_ok;
  }

  /// Rank 0: what is reused of the partial file and of the complete file (--resume; see
  /// create_update.cpp). Returns an error message, or "".
  std::string decide() {
    if (!options_.resume && access(partial_.c_str(), F_OK) == 0)
      log::warning("-f: discarding the partial file " + quoted(partial_) +
                   " and its journal, left by an earlier unfinished run; starting over");
    try {
      decision_ = decide_update(setup_, plan_, digests_, options_);
    } catch (const Error& e) {
      return e.what();
    }
    resume_ = std::move(decision_.entries);      // not a second copy of every subject's record
    std::vector<SubjectDigest>().swap(digests_); // now in resume_'s digests and records
    report_decisions(*progress_, decision_, plan_);
    return {};
  }

  /// Rank 0: --resume found nothing to change; said at the default log level.
  void report_up_to_date() {
    progress_->clear_line();
    Summary summary = progress_->summary();
    summary.update = true;
    summary.output = setup_.final_path;
    summary.bytes_out = file_size_bytes(summary.output);
    progress_->finish(summary);
    std::fprintf(
        stderr,
        "dwipack: %s is up to date (its %zu subjects, lists and config match the inputs); nothing to "
        "do\n",
        quoted(setup_.final_path).c_str(), plan_.subjects.size());
  }

  /// Phase 3, the file and its whole layout. A new file: rank 0 creates it and every group,
  /// dataset and attribute alone, closes it, and broadcasts where the datasets are; collective:
  /// that broadcast, the file's parallel opening. --resume: collective opening and check of the
  /// existing layout, and a flush. Rank 0 starts the journal.
  void create_layout() {
    std::unique_ptr<EarlyLayout> early_layout = std::move(early_); // removes its file unless taken
    if (resume_.resuming) {
      file_.emplace(h5::File::open_parallel(partial_, comm_.get()));
      layout_ = format::open_layout(*file_, plan_);
      file_->flush();
    } else {
      // Built by one rank: a collective creation costs every rank the same time and memory
      // (HDF5's per-object work and metadata cache on each), ~10 µs per object, and more with
      // more ranks than cores (docs/design.md, "Layout by rank 0"). Closed before the others
      // open it, the layout is on disk before any data, so an interrupted file can be reopened.
      // Mostly built already, while the workers planned (EarlyLayout).
      format::LayoutPlaces places;
      std::optional<format::LayoutPlaces> early;
      if (early_layout) early = early_layout->take(plan_, partial_, static_cast<size_t>(comm_.size()));
      if (early) {
        places = std::move(*early);
      } else if (coordinator_) {
        // HDF5 1.8 format bounds only when an attribute may exceed 64 KiB (decided from the plan).
        h5::File serial = h5::File::create_serial(
            partial_, format::needs_dense_attributes(plan_, static_cast<size_t>(comm_.size())));
        format::Layout layout = format::create_layout(serial, plan_);
        places = layout.places();
        layout.close();
        serial.close();
      }
      broadcast_message(comm_, places, 0); // the workers sleep meanwhile
      file_.emplace(h5::File::open_parallel(partial_, comm_.get()));
      layout_ = format::attach_layout(*file_, std::move(places));
    }
    if (options_.direct_io) {
      if (!file_->enable_direct_writes() && coordinator_)
        log::info("the file system refuses O_DIRECT; writing through MPI-IO and the page cache");
      layout_.direct = file_->direct_writer();
    }
    if (coordinator_)
      journal_ = resume_.resuming ? JournalWriter::append_to(journal_path(partial_))
                                  : JournalWriter::create(journal_path(partial_), layout_digest(plan_));
  }

  /// Phase 4, the data. Collective: the write farm; inside it, independent I/O only.
  void write() {
    WorkerState worker;
    worker.cores = mpi::cores_per_worker(comm_);
    relay_.emplace(comm_); // a signal that reaches one rank stops them all
    written_ = run_tasks<SubjectWritten>(
        comm_, plan_.subjects.size(), largest_first(plan_.subjects),
        [&](size_t s) { return write_task(s, worker); },
        /*stop_on_error=*/!skip_,
        [&](size_t s, TaskReport<SubjectWritten>& r) {
          on_written(s, r);
          // Journaled and reported: only whether it succeeded stays (decide_outcome), not
          // ~1 kB of checksums and timings per subject.
          if (!r.result) return;
          r.result->stages.clear();
          r.result->removed_invalid.clear();
          r.result->plan_digest.clear();
          r.result->plan_digest.shrink_to_fit();
          r.result->datasets.clear();
        },
        [&] { relay_->relay(interrupt::received()); }); // rank 0's own signal, while it waits
    relay_->finish();
    relay_.reset();
    // Each worker opened its own subjects' datasets: the ranks' HDF5 metadata caches differ now,
    // and the collective end (root attributes, close) needs them alike (h5/file.hpp, reopen).
    layout_.close();
    file_->reopen();
  }

  /// One subject (any rank). Stopped by a signal, it reports itself interrupted, not failed.
  SubjectWritten write_task(size_t s, WorkerState& worker) {
    try {
      return with_context(subject_context(plan_.subjects[s].id), [&] {
        return write_subject(options_, setup_.final_path, plan_, s, resume_, layout_, worker);
      });
    } catch (const Error&) {
      SubjectWritten stopped;
      stopped.interrupted = interrupt::received();
      if (stopped.interrupted == 0) throw;
      return stopped;
    }
  }

  /// Rank 0, as each write task reports: the journal, the log, the progress.
  void on_written(size_t s, const TaskReport<SubjectWritten>& r) {
    const SubjectPlan& subject = plan_.subjects[s];
    SubjectRecord record;
    record.subject = subject.id;
    record.rank = r.rank;
    record.bytes_in = subject.input_bytes;
    record.bytes_out = subject.output_bytes();
    progress_->clear_line();
    const int stopped = r.ok() ? r.result->interrupted : r.interrupted ? SIGTERM : 0;
    relay_->relay(stopped ? stopped : interrupt::received()); // from now on, every rank stops
    if (!r.ok() || stopped) {
      record.status = interrupt::received() ? SubjectStatus::interrupted
                      : skip_               ? SubjectStatus::skipped
                                            : SubjectStatus::failed;
      record.error = r.ok() ? "interrupted by " + interrupt::signal_name(stopped)
                            : r.message(subject_context(subject.id));
      progress_->subject_done(record);
      return;
    }
    const SubjectWritten& w = *r.result;
    record.status = w.kept || w.copied ? SubjectStatus::kept : decision_.status[s];
    if (record.status == SubjectStatus::reconverted) record.reason = decision_.reason[s];
    record.seconds = w.seconds;
    for (const auto& [group, seconds] : w.stages)
      record.stages[group] = seconds;
    record.removed_invalid = w.removed_invalid;
    ++done_;
    const auto entry = resume_.subjects.find(subject.id);
    if (w.kept && (entry == resume_.subjects.end() || !entry->second.trusted)) ++resumed_;
    if (w.kept || w.copied) ++kept_;
    if (!w.kept) // the worker's writes have returned: the data is in the file (or the OS's cache of it)
      journal_.record(subject.id, {w.plan_digest, nlohmann::json(w.datasets)});
    // The progress line (or bar) already reports the subject at INFO's level of detail.
    std::string stages;
    for (const auto& [group, seconds] : w.stages)
      stages += (stages.empty() ? "" : ", ") + group + " " + seconds_text(seconds);
    log::debug("subject " + quoted(subject.id) +
               (w.kept     ? " kept, checked by rank "
                : w.copied ? " copied by rank "
                           : " written by rank ") +
               std::to_string(r.rank) + " in " + seconds_text(w.seconds) + " (" + std::to_string(done_) +
               "/" + std::to_string(plan_.subjects.size()) + ")" +
               (stages.empty() ? "" : "; per group: " + stages));
    progress_->subject_done(record);
  }

  /// Phase 5, the end. Collective: a max (interrupts), the outcome's broadcast, the root
  /// attributes (after a gather and broadcast of the hosts), the close, the compressed copy, the exit
  /// code's broadcast, a gather (peak RSS).
  int finish() {
    if (coordinator_) progress_->clear_line();
    const int signal = comm_.max(interrupt::received());
    Outcome outcome;
    if (coordinator_) outcome = decide_outcome(written_, plan_, signal != 0, skip_);
    broadcast_message(comm_, outcome, 0);
    // Every rank's host: gathered on rank 0 and broadcast, so that all ranks write the same values.
    std::vector<std::string> hosts;
    comm_.gather(host_name(), hosts, 0);
    broadcast_message(comm_, hosts, 0);
    if (outcome.ok)
      format::write_root(*file_, plan_, outcome.dropped,
                         provenance_of(plan_, outcome, setup_, hosts, std::move(resume_.records)));
    layout_.close();
    file_->close();
    // --compression: all ranks write a compressed copy of the complete file.
    // (A complete file whose root attributes were rewritten keeps its storage.)
    const std::string complete = outcome.ok && options_.compression_level > 0 && !resume_.keep_storage
                                     ? compressed_path(partial_)
                                     : partial_;
    CompressionProgress on_stored; // rank 0: the progress of the compression phase
    if (coordinator_)
      on_stored = [this](uint64_t done, uint64_t total) {
        progress_->compression_progress(static_cast<int64_t>(done), static_cast<int64_t>(total));
      };
    const int stop_signal =
        complete == partial_
            ? 0
            : write_compressed_copy(partial_, complete, options_.compression_level, comm_, on_stored);
    const int interrupted_by = signal ? signal : stop_signal;
    int code = coordinator_ ? publish(outcome, complete, interrupted_by) : exit_ok;
    code = comm_.broadcast(code, 0);
    std::vector<int64_t> peak_rss;
    comm_.gather_i64(peak_rss_bytes(), peak_rss, 0);
    if (coordinator_) {
      Summary summary = progress_->summary();
      summary.peak_rss_bytes_per_rank = peak_rss;
      summary.rank_hosts = hosts;
      summary.update = decision_.update;
      summary.output = code == exit_ok || code == exit_skipped ? setup_.final_path : partial_;
      summary.bytes_out = file_size_bytes(summary.output); // the file's real size, compressed or not
      progress_->finish(summary);
      // The last line: what is complete, and the command that continues.
      if (code == exit_interrupted)
        log::error("interrupted by " + interrupt::signal_name(interrupted_by) + ": " + std::to_string(done_) +
                   " of " + std::to_string(plan_.subjects.size()) + " subject(s) are complete in " +
                   quoted(partial_) + " (kept, with its journal). To continue: " +
                   continue_command(setup_.command_line, comm_.size()));
    }
    if (code == exit_ok && options_.save_intermediate)
      code = save_intermediate(comm_, plan_, setup_.final_path, setup_.intermediate_dir);
    return code;
  }

  /// Rank 0: put the complete file in place (or keep the partial file after a signal, or remove
  /// it after a failure). Returns the exit code.
  int publish(const Outcome& outcome, const std::string& complete, int signal) {
    progress_->clear_line();
    const std::string journal = journal_path(partial_);
    if (signal != 0) return exit_interrupted; // finish() says what is complete, last
    if (!outcome.ok) {
      std::remove(partial_.c_str());
      std::remove(journal.c_str());
      log::error("conversion failed; no output file was left at " + quoted(setup_.final_path));
      return exit_input_error;
    }
    if (std::rename(complete.c_str(), setup_.final_path.c_str()) != 0) {
      log::error("renaming " + quoted(complete) + " to " + quoted(setup_.final_path) + " failed");
      return exit_failure;
    }
    if (complete != partial_) std::remove(partial_.c_str());
    std::remove(journal.c_str());
    log::info("wrote " + quoted(setup_.final_path) + " (" +
              std::to_string(plan_.subjects.size() - outcome.skipped.size()) + " subjects" +
              (resumed_ ? ", " + std::to_string(resumed_) + " kept from the interrupted run" : "") +
              (kept_ > resumed_ ? ", " + std::to_string(kept_ - resumed_) + " kept unchanged" : "") +
              ") in " + seconds_text(seconds_since(t0_)) + " with " + std::to_string(comm_.size()) +
              " rank(s)");
    const size_t n_skipped = plan_.skipped.size() + outcome.skipped.size();
    if (n_skipped == 0) return exit_ok;
    warn_about_emptied_lists(setup_, plan_, outcome);
    log::warning(std::to_string(n_skipped) +
                 " subject(s) were skipped (--on_error skip); the file lists them in its root attribute "
                 "'dwipack_skipped_subjects'");
    return exit_skipped;
  }

  const CreateOptions& options_;
  const mpi::Comm& comm_;
  const bool coordinator_;
  const bool skip_;
  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  io::OutputLock lock_; ///< rank 0: one writer per output, for the whole run
  Setup setup_;
  Config config_;
  std::string partial_;
  Plan plan_;
  std::vector<SubjectDigest> digests_; ///< rank 0: every planned subject's, in plan order
  UpdateDecision decision_;            ///< rank 0: what --resume reuses
  ResumeEntries resume_;               ///< every rank: rank 0's decision, and the digests
  std::unique_ptr<Progress> progress_; ///< rank 0
  std::unique_ptr<EarlyLayout> early_; ///< rank 0, from planning to the layout phase (or none)
  std::optional<h5::File> file_;
  format::Layout layout_;
  JournalWriter journal_; ///< rank 0
  TaskReports<SubjectWritten> written_;
  std::optional<StopRelay> relay_; ///< while the subjects are written
  size_t done_ = 0, kept_ = 0;     ///< rank 0: subjects complete, and of them kept (not converted)
  size_t resumed_ = 0;             ///< rank 0: kept from an interrupted run's partial file
};

} // namespace

int run_create(const CreateOptions& options, const mpi::Comm& comm) {
  return CreateJob(options, comm).run();
}

} // namespace dwipack::pipeline
