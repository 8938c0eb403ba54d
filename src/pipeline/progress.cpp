#include "dwipack/pipeline/progress.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace dwipack::pipeline {
namespace {

constexpr double bytes_per_megabyte = 1e6; // decimal, as disk and network rates are quoted

/// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string megabytes_per_second(double bytes_per_second) {
  return fixed(bytes_per_second / bytes_per_megabyte, 1) + " MB/s";
}

/// A decimal unit for showing `bytes`: B, kB, MB, GB, TB, PB.
struct ByteUnit {
  double bytes_per_unit;
  const char* name;
};
ByteUnit byte_unit_for(int64_t bytes) {
  static const ByteUnit units[] = {{1, "B"},    {1e3, "kB"},  {1e6, "MB"},
                                   {1e9, "GB"}, {1e12, "TB"}, {1e15, "PB"}};
  size_t i = 0;
  while (i + 1 < std::size(units) && static_cast<double>(bytes) >= units[i + 1].bytes_per_unit)
    ++i;
  return units[i];
}

/// "1.2 GB" in `unit` (one unit for numbers shown side by side: "1.2 GB in, 0.9 GB out").
std::string in_unit(int64_t bytes, ByteUnit unit) {
  return fixed(static_cast<double>(bytes) / unit.bytes_per_unit, unit.bytes_per_unit == 1 ? 0 : 1) + " " +
         unit.name;
}

/// "12.3/45.6 MB": `done` of `total`, in the unit of `total`.
std::string amount_of_total(int64_t done, int64_t total) {
  const ByteUnit unit = byte_unit_for(total);
  return fixed(static_cast<double>(done) / unit.bytes_per_unit, unit.bytes_per_unit == 1 ? 0 : 1) + "/" +
         in_unit(total, unit);
}

/// Compression phase: the bar's redraws and the lines' (and JSON records') spacing, in seconds.
constexpr double compression_redraw_seconds = 0.25;
constexpr double compression_min_line_seconds = 0.5;
constexpr double compression_max_line_seconds = 60;

/// Seconds to the millisecond: the JSON log's precision (the clock's digits are noise).
double milliseconds_precision(double seconds) {
  return std::round(seconds * 1000) / 1000;
}

/// HH:MM:SS, rounded up so that work left never reads 00:00:00; "--:--:--" when unknown.
std::string hours_minutes_seconds(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "--:--:--";
  const auto total = static_cast<long long>(std::ceil(seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  return buf;
}

std::tm local_time(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

/// 2026-05-01T12:34:56 (local time; the SLURM log's own clock).
std::string local_timestamp(std::time_t t) {
  const std::tm tm = local_time(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

/// 2026-05-01T12:34:56+02:00: ISO 8601 with the offset, so that tools need not guess the zone.
std::string iso8601_with_offset(std::time_t t) {
  const std::tm tm = local_time(t);
  char offset[16];
  std::strftime(offset, sizeof offset, "%z", &tm); // +0200
  std::string zone = offset;
  if (zone.size() == 5) zone.insert(3, ":");
  return local_timestamp(t) + zone;
}

size_t terminal_columns(std::FILE* out) {
  winsize ws{};
  const int fd = ::fileno(out);
  if (fd >= 0 && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const long n = std::strtol(columns, nullptr, 10);
    if (n > 0 && n < 10000) return static_cast<size_t>(n);
  }
  return 80;
}

/// One fwrite and a flush, so that the text is visible at once and not split by other writers.
void write_text(std::FILE* out, const std::string& text) {
  if (!out) return;
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

std::string plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

/// "bundles 3, tracking 0"
std::string per_group_text(const std::map<std::string, int64_t>& counts) {
  std::string text;
  for (const auto& [group, n] : counts)
    text += (text.empty() ? "" : ", ") + group + " " + std::to_string(n);
  return text;
}

} // namespace

const char* to_string(SubjectStatus status) {
  switch (status) {
  case SubjectStatus::written:
    return "written";
  case SubjectStatus::kept:
    return "kept";
  case SubjectStatus::skipped:
    return "skipped";
  case SubjectStatus::failed:
    return "failed";
  case SubjectStatus::interrupted:
    return "interrupted";
  case SubjectStatus::reconverted:
    return "reconverted";
  case SubjectStatus::added:
    return "added";
  case SubjectStatus::dropped:
    return "dropped";
  }
  return "unknown";
}

ProgressMode parse_progress_mode(const std::string& name) {
  std::string low = name;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  if (low == "bar") return ProgressMode::bar;
  if (low == "lines") return ProgressMode::lines;
  if (low == "quiet") return ProgressMode::quiet;
  throw Error("unknown progress mode '" + name + "', expected bar, lines or quiet");
}

ProgressMode progress_mode_for(int fd) {
  if (const char* forced = std::getenv("DWIPACK_PROGRESS"); forced && *forced) {
    try {
      return parse_progress_mode(forced);
    } catch (const Error& e) {
      // A typo in an environment variable must not stop a conversion.
      log::warning(std::string("DWIPACK_PROGRESS: ") + e.what() + "; ignored");
    }
  }
  const char* term = std::getenv("TERM");
  const bool dumb = term && std::strcmp(term, "dumb") == 0; // no cursor control (Emacs shells)
  return ::isatty(fd) == 1 && !dumb ? ProgressMode::bar : ProgressMode::lines;
}

ProgressClock ProgressClock::system() {
  return {[] {
            return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
          },
          [] { return std::time(nullptr); }};
}

Progress::Progress(ProgressOptions options) : options_(std::move(options)) {
  start_seconds_ = options_.clock.monotonic_seconds();
  if (!options_.json_log_path.empty()) {
    json_log_.reset(std::fopen(options_.json_log_path.c_str(), "a"));
    if (!json_log_)
      throw Error("cannot open the JSON log " + quoted(options_.json_log_path) + ": " + std::strerror(errno));
  }
  nlohmann::ordered_json start = {{"type", "start"},
                                  {"time", iso8601_with_offset(options_.clock.wall_time())},
                                  {"subjects", options_.total_subjects},
                                  {"bytes_in", options_.total_bytes_in},
                                  {"bytes_out", options_.total_bytes_out}};
  if (options_.ranks > 0) start["ranks"] = options_.ranks;
  if (!options_.output.empty()) start["output"] = options_.output;
  write_json(start);
  if (options_.mode == ProgressMode::bar) draw_bar();
}

Progress::~Progress() {
  if (bar_on_screen_ && !finished_) write_text(options_.out, "\n");
}

double Progress::elapsed_seconds() const {
  return options_.clock.monotonic_seconds() - start_seconds_;
}

ProgressState Progress::state() const {
  ProgressState s;
  s.subjects_total = options_.total_subjects;
  s.subjects_done = written_ + kept_ + skipped_ + failed_ + interrupted_; // dropped: not in the total
  s.elapsed_seconds = elapsed_seconds();
  if (s.elapsed_seconds > 0) {
    s.in_bytes_per_second = static_cast<double>(written_in_bytes_) / s.elapsed_seconds;
    s.out_bytes_per_second = static_cast<double>(written_out_bytes_) / s.elapsed_seconds;
  }
  // ETA = work left / this run's throughput. Work is bytes when totals are known (largest-first
  // ordering makes the first subjects slower than the rest), else subjects. Kept, skipped and
  // failed subjects leave the work left but add nothing to the throughput.
  // Counts also take over when the byte totals turn out too small (subjects left, no bytes left).
  const int64_t total_bytes = options_.total_bytes_in + options_.total_bytes_out;
  double work_left = 0, work_converted = 0;
  if (total_bytes > done_work_bytes_) {
    work_left = static_cast<double>(total_bytes - done_work_bytes_);
    work_converted = static_cast<double>(written_in_bytes_ + written_out_bytes_);
  } else {
    work_left = static_cast<double>(s.subjects_total - std::min(s.subjects_done, s.subjects_total));
    work_converted = static_cast<double>(written_);
  }
  if (s.subjects_done >= s.subjects_total)
    s.eta_seconds = 0;
  else if (work_converted > 0 && s.elapsed_seconds > 0)
    s.eta_seconds = work_left * s.elapsed_seconds / work_converted;
  return s;
}

void Progress::subject_done(const SubjectRecord& r) {
  switch (r.status) {
  case SubjectStatus::reconverted:
  case SubjectStatus::added:
    ++(r.status == SubjectStatus::added ? added_ : reconverted_);
    [[fallthrough]];
  case SubjectStatus::written:
    ++written_;
    written_in_bytes_ += r.bytes_in;
    written_out_bytes_ += r.bytes_out;
    for (const auto& [group, n] : r.removed_invalid)
      removed_invalid_[group] += n;
    break;
  case SubjectStatus::kept:
    ++kept_;
    break;
  case SubjectStatus::skipped:
    ++skipped_;
    break;
  case SubjectStatus::failed:
    ++failed_;
    break;
  case SubjectStatus::interrupted:
    ++interrupted_;
    break;
  case SubjectStatus::dropped:
    ++dropped_;
    break;
  }
  done_work_bytes_ += r.bytes_in + r.bytes_out;
  const ProgressState s = state();
  nlohmann::ordered_json stages_ms = nlohmann::ordered_json::object();
  for (const auto& [stage, seconds] : r.stages.items())
    stages_ms[stage] =
        seconds.is_number() ? nlohmann::ordered_json(milliseconds_precision(seconds.get<double>())) : seconds;
  const std::time_t now = options_.clock.wall_time();

  if (options_.mode == ProgressMode::bar) {
    redraw();
  } else if (options_.mode == ProgressMode::lines) {
    const size_t percent = s.subjects_total ? 100 * s.subjects_done / s.subjects_total : 100;
    // "sub-03 by rank 2 in 1.20 s", "sub-04 failed by rank 1 in 0.30 s", "sub-05 kept"
    std::string last = r.subject;
    if (r.status != SubjectStatus::written) last += std::string(" ") + to_string(r.status);
    if (r.status != SubjectStatus::kept && r.status != SubjectStatus::dropped)
      last += " by rank " + std::to_string(r.rank) + " in " + seconds_text(r.seconds);
    if (!r.reason.empty()) last += " (" + r.reason + ")";
    if (!r.removed_invalid.empty())
      last += "; streamlines removed as invalid: " + per_group_text(r.removed_invalid);
    write_text(options_.out, "[" + local_timestamp(now) + "] progress: " + std::to_string(s.subjects_done) +
                                 "/" + std::to_string(s.subjects_total) + " subjects (" +
                                 std::to_string(percent) + "%), in " +
                                 megabytes_per_second(s.in_bytes_per_second) + ", out " +
                                 megabytes_per_second(s.out_bytes_per_second) + ", ETA " +
                                 hours_minutes_seconds(s.eta_seconds) + ", last: " + last + "\n");
  }

  nlohmann::ordered_json j = {{"type", "subject"},
                              {"time", iso8601_with_offset(now)},
                              {"subject", r.subject},
                              {"status", to_string(r.status)},
                              {"rank", r.rank},
                              {"seconds", milliseconds_precision(r.seconds)},
                              {"stages", stages_ms},
                              {"bytes_in", r.bytes_in},
                              {"bytes_out", r.bytes_out},
                              {"done", s.subjects_done},
                              {"total", s.subjects_total},
                              {"elapsed_seconds", milliseconds_precision(s.elapsed_seconds)}};
  if (!r.removed_invalid.empty()) j["removed_invalid"] = r.removed_invalid;
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.reason.empty()) j["reason"] = r.reason;
  write_json(j);
}

CompressionState Progress::compression_state() const {
  CompressionState s;
  s.bytes_done = compression_.done_bytes;
  s.bytes_total = compression_.total_bytes;
  if (!compression_.started) return s;
  s.elapsed_seconds = options_.clock.monotonic_seconds() - compression_.start_seconds;
  if (s.elapsed_seconds > 0) s.bytes_per_second = static_cast<double>(s.bytes_done) / s.elapsed_seconds;
  if (s.bytes_done >= s.bytes_total)
    s.eta_seconds = 0;
  else if (s.bytes_done > 0 && s.elapsed_seconds > 0)
    s.eta_seconds = static_cast<double>(s.bytes_total - s.bytes_done) * s.elapsed_seconds /
                    static_cast<double>(s.bytes_done);
  return s;
}

void Progress::compression_progress(int64_t done_bytes, int64_t total_bytes) {
  if (finished_ || compression_.ended) return;
  const double now = options_.clock.monotonic_seconds();
  const bool first = !compression_.started;
  if (first) start_compression(total_bytes, now);
  compression_.done_bytes = std::min(done_bytes, compression_.total_bytes);
  const bool complete = compression_.done_bytes >= compression_.total_bytes;
  if (options_.mode == ProgressMode::bar &&
      (complete || now - compression_.last_draw_seconds >= compression_redraw_seconds)) {
    draw_bar();
    compression_.last_draw_seconds = now;
  }
  const int tenth = compression_.total_bytes > 0
                        ? static_cast<int>(10 * compression_.done_bytes / compression_.total_bytes)
                        : 10;
  const double since_line = now - compression_.last_line_seconds;
  if (first || complete || (tenth > compression_.last_tenth && since_line >= compression_min_line_seconds) ||
      since_line >= compression_max_line_seconds) {
    compression_.last_tenth = tenth;
    report_compression(now);
  }
  if (complete) {
    compression_.ended = true;
    if (bar_on_screen_) write_text(options_.out, "\n"); // the final numbers stay on screen
    bar_on_screen_ = false;
  }
}

void Progress::start_compression(int64_t total_bytes, double now) {
  if (options_.mode == ProgressMode::bar) { // the subjects' bar, as it ended, on its own line
    draw_bar();
    write_text(options_.out, "\n");
    bar_on_screen_ = false;
  }
  compression_.started = true;
  compression_.total_bytes = std::max<int64_t>(0, total_bytes);
  compression_.start_seconds = now;
  compression_.last_draw_seconds = now - compression_redraw_seconds; // the first call draws
  write_json({{"type", "compression_start"},
              {"time", iso8601_with_offset(options_.clock.wall_time())},
              {"bytes_total", compression_.total_bytes}});
}

/// One progress line (lines mode) and one JSON "compression" record.
void Progress::report_compression(double now) {
  compression_.last_line_seconds = now;
  const CompressionState s = compression_state();
  const size_t percent =
      s.bytes_total > 0 ? static_cast<size_t>(100 * s.bytes_done / s.bytes_total) : size_t{100};
  const std::time_t wall = options_.clock.wall_time();
  if (options_.mode == ProgressMode::lines)
    write_text(options_.out, "[" + local_timestamp(wall) + "] progress: compression " +
                                 amount_of_total(s.bytes_done, s.bytes_total) + " (" +
                                 std::to_string(percent) + "%), " + megabytes_per_second(s.bytes_per_second) +
                                 ", ETA " + hours_minutes_seconds(s.eta_seconds) + "\n");
  write_json(
      {{"type", "compression"},
       {"time", iso8601_with_offset(wall)},
       {"bytes_done", s.bytes_done},
       {"bytes_total", s.bytes_total},
       {"elapsed_seconds", milliseconds_precision(s.elapsed_seconds)},
       {"eta_seconds", s.eta_seconds < 0 ? nlohmann::ordered_json()
                                         : nlohmann::ordered_json(milliseconds_precision(s.eta_seconds))}});
}

Summary Progress::summary() const {
  Summary s;
  s.subjects_written = written_;
  s.subjects_kept = kept_;
  s.subjects_skipped = skipped_;
  s.subjects_failed = failed_;
  s.subjects_interrupted = interrupted_;
  s.subjects_reconverted = reconverted_;
  s.subjects_added = added_;
  s.subjects_dropped = dropped_;
  s.bytes_in = written_in_bytes_;
  s.bytes_out = written_out_bytes_;
  s.wall_seconds = elapsed_seconds();
  s.output = options_.output;
  s.removed_invalid = removed_invalid_;
  return s;
}

void Progress::finish(const Summary& summary) {
  if (finished_) return;
  if (options_.mode == ProgressMode::bar) {
    if (!compression_.ended) draw_bar(); // the final numbers stay on screen
    if (bar_on_screen_) write_text(options_.out, "\n");
    bar_on_screen_ = false;
  }
  finished_ = true;
  write_text(options_.out, summary_line(summary) + "\n");
  nlohmann::ordered_json j = {{"type", "summary"},
                              {"time", iso8601_with_offset(options_.clock.wall_time())},
                              {"subjects_written", summary.subjects_written},
                              {"subjects_kept", summary.subjects_kept},
                              {"subjects_skipped", summary.subjects_skipped},
                              {"subjects_failed", summary.subjects_failed},
                              {"subjects_interrupted", summary.subjects_interrupted},
                              {"subjects_reconverted", summary.subjects_reconverted},
                              {"subjects_added", summary.subjects_added},
                              {"subjects_dropped", summary.subjects_dropped},
                              {"bytes_in", summary.bytes_in},
                              {"bytes_out", summary.bytes_out},
                              {"wall_seconds", milliseconds_precision(summary.wall_seconds)},
                              {"peak_rss_bytes_per_rank", summary.peak_rss_bytes_per_rank}};
  if (!summary.output.empty()) j["output"] = summary.output;
  if (!summary.rank_hosts.empty()) j["rank_hosts"] = summary.rank_hosts;
  if (!summary.removed_invalid.empty()) j["removed_invalid"] = summary.removed_invalid;
  write_json(j);
}

void Progress::clear_line() {
  if (!bar_on_screen_) return;
  write_text(options_.out, "\r\x1b[K");
  bar_on_screen_ = false;
}

void Progress::redraw() {
  // An ended compression bar stays as it was drawn, with its newline.
  if (options_.mode == ProgressMode::bar && !finished_ && !compression_.ended) draw_bar();
}

void Progress::draw_bar() {
  if (!options_.out) return;
  if (compression_.started) {
    // " 50% [#####.....] compression  12.3/24.6 MB,  150.3 MB/s, ETA 00:00:22"
    const CompressionState c = compression_state();
    const std::string total_text = amount_of_total(c.bytes_total, c.bytes_total);
    std::string amount = amount_of_total(c.bytes_done, c.bytes_total);
    amount.insert(0, total_text.size() > amount.size() ? total_text.size() - amount.size() : 0, ' ');
    char rate[32];
    std::snprintf(rate, sizeof rate, "%6.1f MB/s", c.bytes_per_second / bytes_per_megabyte);
    draw_bar_line(c.bytes_done, c.bytes_total,
                  " compression " + amount + ", " + rate + ", ETA " + hours_minutes_seconds(c.eta_seconds));
    return;
  }
  const ProgressState s = state();
  // " 50% [#####.....] 3/6 subjects, in  120.3 MB/s, out   98.1 MB/s, ETA 00:01:10". Numbers are
  // padded to a fixed width so that the line does not jitter from one redraw to the next.
  const std::string total = std::to_string(s.subjects_total);
  std::string done = std::to_string(s.subjects_done);
  done.insert(0, total.size() > done.size() ? total.size() - done.size() : 0, ' ');
  const auto rate = [](double bytes_per_second) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.1f MB/s", bytes_per_second / bytes_per_megabyte);
    return std::string(buf);
  };
  draw_bar_line(static_cast<int64_t>(s.subjects_done), static_cast<int64_t>(s.subjects_total),
                " " + done + "/" + total + " subjects, in " + rate(s.in_bytes_per_second) + ", out " +
                    rate(s.out_bytes_per_second) + ", ETA " + hours_minutes_seconds(s.eta_seconds));
}

void Progress::draw_bar_line(int64_t done, int64_t total, const std::string& tail) {
  done = std::min(done, total);
  char head[16];
  std::snprintf(head, sizeof head, "%3lld%% ", static_cast<long long>(total > 0 ? 100 * done / total : 100));
  // One column short of the width: writing the last column makes some terminals wrap.
  const size_t columns = terminal_columns(options_.out) - 1;
  const size_t room =
      columns > std::strlen(head) + tail.size() + 2 ? columns - std::strlen(head) - tail.size() - 2 : 0;
  std::string line = head;
  if (room >= 10) {
    const size_t width = std::min<size_t>(30, room);
    const size_t filled = total > 0 ? static_cast<size_t>(static_cast<int64_t>(width) * done / total) : width;
    line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]" + tail;
  } else {
    line += tail.substr(1); // a narrow terminal: the numbers only, cut at the width
  }
  line.resize(std::min(line.size(), columns));
  // \r to the line start, the text, then clear what a longer previous line left (\e[K).
  write_text(options_.out, "\r" + line + "\x1b[K");
  bar_on_screen_ = true;
}

void Progress::write_json(const nlohmann::ordered_json& record) {
  if (!json_log_) return;
  const std::string line = record.dump() + "\n";
  // Flushed per record: `tail -f` sees it, and a killed job keeps what was done.
  if (std::fwrite(line.data(), 1, line.size(), json_log_.get()) != line.size() ||
      std::fflush(json_log_.get()) != 0) {
    const std::string reason = std::strerror(errno);
    json_log_.reset(); // a full disk must not stop the conversion; say so once
    clear_line();
    log::warning("writing the JSON log " + quoted(options_.json_log_path) + " failed (" + reason +
                 "); it is not written any more");
    redraw();
  }
}

int64_t peak_rss_bytes() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024; // KiB on Linux
}

int64_t file_size_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?"; // provenance only: never fatal
  return name;
}

std::string summary_line(const Summary& s) {
  std::string line = "dwipack: " + plural(s.subjects_written, "subject") + " written (" +
                     std::to_string(s.subjects_kept) + " kept, " + std::to_string(s.subjects_skipped) +
                     " skipped";
  for (const auto& [n, what, always] : {std::make_tuple(s.subjects_reconverted, "reconverted", s.update),
                                        std::make_tuple(s.subjects_added, "added", s.update),
                                        std::make_tuple(s.subjects_dropped, "dropped", s.update),
                                        std::make_tuple(s.subjects_interrupted, "interrupted", false),
                                        std::make_tuple(s.subjects_failed, "failed", false)})
    if (n > 0 || always) line += ", " + std::to_string(n) + " " + what;
  const ByteUnit unit = byte_unit_for(std::max(s.bytes_in, s.bytes_out));
  line += "): " + in_unit(s.bytes_in, unit) + " in, " + in_unit(s.bytes_out, unit) + " out, " +
          fixed(s.wall_seconds, 1) + " s wall, " +
          megabytes_per_second(s.wall_seconds > 0 ? static_cast<double>(s.bytes_out) / s.wall_seconds : 0) +
          " out";
  if (!s.removed_invalid.empty()) {
    int64_t total = 0;
    for (const auto& [group, n] : s.removed_invalid)
      total += n;
    line += "; streamlines removed as invalid: " + std::to_string(total) + " (" +
            per_group_text(s.removed_invalid) + ")";
  }
  if (!s.peak_rss_bytes_per_rank.empty()) {
    line += "; peak RSS per rank: ";
    for (size_t i = 0; i < s.peak_rss_bytes_per_rank.size(); ++i)
      line +=
          (i ? "/" : "") + fixed(static_cast<double>(s.peak_rss_bytes_per_rank[i]) / bytes_per_megabyte, 0);
    line += " MB";
  }
  return line;
}

std::string seconds_text(double seconds) {
  return fixed(seconds, seconds < 10 ? 2 : 1) + " s";
}

} // namespace dwipack::pipeline
