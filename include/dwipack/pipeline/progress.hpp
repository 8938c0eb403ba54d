#pragma once
// Progress of a conversion, as rank 0 learns of each finished subject: a live bar on a
// terminal, timestamped lines in a file (SLURM logs), an optional JSON Lines log for tools, and
// one summary line at the end. Knows nothing of MPI or HDF5: the caller feeds it SubjectRecords
// (from run_farm's on_result) and, at the end, what only a collective can know (peak RSS per rank).
//
// Usage on rank 0 (not thread-safe; one Progress per run):
//   Progress progress(ProgressOptions{...});       // bar mode draws "0/N" at once
//   ... on_result: progress.subject_done(record);  // redraw the bar or print one line; JSON record
//   Summary s = progress.summary();                // counts, bytes, wall time as seen
//   s.peak_rss_bytes_per_rank = gathered; s.output = path;
//   progress.finish(s);                            // ends the bar line, prints the summary line
//
// --compression adds a second phase between the subjects and finish(): compression_progress()
// with the bytes of data whose compressed chunks are stored, of the total; the first call ends
// the subjects' bar (kept on screen) and starts a second one (or its own progress lines).
//
// Bar mode and other output: the bar is the last, unterminated line of `out`. Anything else
// written to the same stream (a log line) must be bracketed by clear_line() and redraw(), or it
// lands on the bar's line; subject_done() always redraws, so a log line written just before it
// costs at most one untidy line.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dwipack::pipeline {

enum class SubjectStatus {
  written,     ///< converted and written by this run
  kept,        ///< already complete in the file (--resume); no work done by this run
  skipped,     ///< left out (skip-and-report); `error` says why
  failed,      ///< the task threw; `error` is its message
  interrupted, ///< stopped by SIGTERM/SIGINT before it was complete; --resume converts it
  reconverted, ///< --resume: converted again, because what it depends on changed (`reason`)
  added,       ///< --resume: converted, new since the file being brought up to date
  dropped,     ///< --resume: in the earlier file, in no list now; left out (no work)
};
/// "written", "kept", "skipped", "failed", "interrupted", "reconverted", "added", "dropped"
/// (the JSON log's spelling).
const char* to_string(SubjectStatus status);

/// One per subject, as rank 0 learns it.
struct SubjectRecord {
  std::string subject;
  SubjectStatus status = SubjectStatus::written;
  int rank = 0;       ///< the rank that ran the task (0 for a kept subject)
  std::string error;  ///< why, for skipped and failed subjects
  std::string reason; ///< why, for reconverted subjects (which input or option changed)
  double seconds = 0; ///< wall time of the task on its rank
  /// Seconds per stage or group, e.g. {"dwi": 1.2, "bundles": 3.4}; copied into the JSON log.
  nlohmann::ordered_json stages = nlohmann::ordered_json::object();
  /// The subject's sizes (input files read, data written), whatever its status: for a subject
  /// not converted by this run, its planned sizes. They are removed from the remaining work
  /// (the ETA), but only written subjects count towards the rates and the summary's bytes.
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  /// --remove_invalid: streamlines dropped per streamline group (empty without the option).
  std::map<std::string, int64_t> removed_invalid;
};

enum class ProgressMode {
  bar,   ///< one line redrawn in place (a terminal)
  lines, ///< one timestamped line per subject (a file, a pipe, a SLURM log)
  quiet, ///< no progress output; the summary line and the JSON log are still written
};
/// "bar", "lines" or "quiet"; throws Error otherwise.
ProgressMode parse_progress_mode(const std::string& name);
/// The mode for output to `fd`: DWIPACK_PROGRESS=bar|lines|quiet when set (an unknown value is
/// warned about and ignored), else bar for a terminal (unless TERM=dumb), else lines.
/// Under Open MPI's mpirun a rank's stderr is a pipe (and its stdout a pty even when mpirun's own
/// output goes to a file), so only the variable can ask for the bar there.
ProgressMode progress_mode_for(int fd);

/// Time sources, injectable so that tests control rates and ETAs without sleeping.
struct ProgressClock {
  std::function<double()> monotonic_seconds; ///< any origin; differences are elapsed time
  std::function<std::time_t()> wall_time;    ///< for the timestamps
  /// steady_clock and the system clock.
  static ProgressClock system();
};

struct ProgressOptions {
  size_t total_subjects = 0;
  /// Planned totals, in the same units as SubjectRecord's bytes. Their sum drives the ETA
  /// (largest-first ordering makes subject counts misleading); 0 and 0: counts are used.
  int64_t total_bytes_in = 0;
  int64_t total_bytes_out = 0;
  int ranks = 0;      ///< for the start record; 0: unknown, left out
  std::string output; ///< the output file, for the start record; empty: left out
  ProgressMode mode = ProgressMode::lines;
  std::FILE* out = stderr; ///< progress and summary; nullptr: none
  /// JSON Lines log (--log_json): opened for appending, so that a resumed job adds its run
  /// after the previous one's; every run starts with a "start" record. Empty: no log.
  std::string json_log_path;
  ProgressClock clock = ProgressClock::system();
};

/// What one run did, for the summary line and the JSON log's last record.
struct Summary {
  /// subjects_written counts every subject whose data this run wrote, reconverted and added ones
  /// included.
  size_t subjects_written = 0, subjects_kept = 0, subjects_skipped = 0, subjects_failed = 0;
  size_t subjects_interrupted = 0, subjects_reconverted = 0, subjects_added = 0, subjects_dropped = 0;
  /// --resume brought an earlier file up to date: the summary line counts reconverted, added
  /// and dropped subjects even when there are none.
  bool update = false;
  int64_t bytes_in = 0; ///< read by this run (written subjects)
  /// summary(): the data written by this run (written subjects); the caller sets the output
  /// file's size on disk (file_size_bytes), which is what the summary line shows as "out".
  int64_t bytes_out = 0;
  double wall_seconds = 0;
  std::vector<int64_t> peak_rss_bytes_per_rank; ///< index = rank; empty: not shown
  std::vector<std::string> rank_hosts;          ///< index = rank; for the JSON record, empty: left out
  std::string output;                           ///< for the JSON record; empty: left out
  /// --remove_invalid: streamlines dropped per group name, over the written subjects; empty: the
  /// option was off.
  std::map<std::string, int64_t> removed_invalid;
};

/// The numbers shown, as of now (reads the clock).
struct ProgressState {
  size_t subjects_done = 0, subjects_total = 0;
  double elapsed_seconds = 0;
  double in_bytes_per_second = 0, out_bytes_per_second = 0; ///< written subjects only
  double eta_seconds = -1;                                  ///< < 0: unknown yet
};

/// The compression phase (--compression), as of now (reads the clock).
struct CompressionState {
  int64_t bytes_done = 0, bytes_total = 0; ///< data (uncompressed) whose chunks are stored
  double elapsed_seconds = 0;              ///< since the phase started
  double bytes_per_second = 0;             ///< of data
  double eta_seconds = -1;                 ///< < 0: unknown yet
};

class Progress {
public:
  /// Writes the JSON "start" record and, in bar mode, draws the empty bar. Throws Error if the
  /// JSON log cannot be opened (call it before the collective part of the job).
  explicit Progress(ProgressOptions options);
  /// Ends an unfinished bar line, so that what follows (an error) starts on its own line.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Redraw the bar or print one line; append one JSON record, flushed.
  void subject_done(const SubjectRecord& record);
  /// --compression: `done_bytes` of `total_bytes` of data have their compressed chunks in the
  /// copy. The first call starts the phase: the subjects' bar gets its final state and a newline,
  /// and the JSON log a "compression_start" record. Cheap to call after every chunk: the bar is
  /// redrawn at most every 0.25 s; a line (lines mode) and a JSON "compression" record are
  /// written at the start, when a further tenth of the data is done (at most every 0.5 s), at
  /// least once a minute, and at 100%, which also ends the bar line.
  void compression_progress(int64_t done_bytes, int64_t total_bytes);
  CompressionState compression_state() const;

  /// Counts, bytes and wall time as seen so far; peak RSS and output left for the caller.
  Summary summary() const;
  /// End the bar line, print the summary line and append the "summary" record.
  void finish(const Summary& summary);

  /// Bar mode: erase the bar before other output to the same stream...
  void clear_line();
  /// ...and draw it again after. Both are no-ops in the other modes and after finish().
  void redraw();

  ProgressState state() const;

private:
  struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  /// Everything the compression phase shows; the clock is read by the callers.
  struct CompressionPhase {
    bool started = false, ended = false;
    int64_t done_bytes = 0, total_bytes = 0;
    double start_seconds = 0, last_draw_seconds = 0, last_line_seconds = 0;
    int last_tenth = 0; ///< of the data done, at the last line
  };
  void start_compression(int64_t total_bytes, double now);
  void report_compression(double now);
  void draw_bar();
  /// "\r 50% [#####.....]<tail>\e[K" (`done` of `total`), fitted to the terminal's width.
  void draw_bar_line(int64_t done, int64_t total, const std::string& tail);
  void write_json(const nlohmann::ordered_json& record);
  double elapsed_seconds() const;

  ProgressOptions options_;
  std::unique_ptr<std::FILE, FileCloser> json_log_;
  double start_seconds_ = 0;
  size_t written_ = 0, kept_ = 0, skipped_ = 0, failed_ = 0;
  size_t interrupted_ = 0, reconverted_ = 0, added_ = 0, dropped_ = 0;
  int64_t done_work_bytes_ = 0;                          ///< in + out of every subject seen (ETA)
  int64_t written_in_bytes_ = 0, written_out_bytes_ = 0; ///< written subjects only (rates)
  std::map<std::string, int64_t> removed_invalid_;       ///< written subjects, per group name
  CompressionPhase compression_;
  bool bar_on_screen_ = false;
  bool finished_ = false;
};

/// This process's peak resident set size (getrusage; Linux reports KiB).
int64_t peak_rss_bytes();

/// The size of the file at `path` on disk (stat's st_size, as os.path.getsize), 0 if there is
/// none.
int64_t file_size_bytes(const std::string& path);

/// This process's host name (gethostname): under SLURM, the node's name.
std::string host_name();

/// "dwipack: 6 subjects written (0 kept, 0 skipped) — 1.2 GB in, ..." (no newline).
std::string summary_line(const Summary& summary);

/// A duration for a log line: "0.21 s" below 10 s, "12.3 s" above (the clock's other digits are noise).
std::string seconds_text(double seconds);

} // namespace dwipack::pipeline
