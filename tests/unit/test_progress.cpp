// Progress reporting: the lines, bar and quiet modes, the ETA and rate arithmetic (with an
// injected clock, no sleeping), the JSON Lines log, the summary line, the compression phase of
// --compression, and the choice of mode for a real pseudo-terminal and a pipe.
#include "dwipack/pipeline/progress.hpp"

#include "dwipack/error.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <pty.h>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using dwipack::pipeline::file_size_bytes;
using dwipack::pipeline::parse_progress_mode;
using dwipack::pipeline::peak_rss_bytes;
using dwipack::pipeline::Progress;
using dwipack::pipeline::progress_mode_for;
using dwipack::pipeline::ProgressClock;
using dwipack::pipeline::ProgressMode;
using dwipack::pipeline::ProgressOptions;
using dwipack::pipeline::seconds_text;
using dwipack::pipeline::SubjectRecord;
using dwipack::pipeline::SubjectStatus;
using dwipack::pipeline::Summary;
using dwipack::pipeline::summary_line;
using dwipack::test::TempDir;
using testing::EndsWith;
using testing::HasSubstr;
using testing::StartsWith;

namespace {

/// A clock the test moves by hand.
struct FakeClock {
  double seconds = 0;
  std::time_t wall_origin = 1'700'000'000; // 2023-11-14T22:13:20Z
  ProgressClock clock() {
    return {[this] { return seconds; }, [this] { return wall_origin + static_cast<std::time_t>(seconds); }};
  }
};

/// A FILE* writing to memory (open_memstream), read back with text().
class MemoryStream {
public:
  MemoryStream() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryStream() {
    std::fclose(file_);
    std::free(data_);
  }
  MemoryStream(const MemoryStream&) = delete;
  MemoryStream& operator=(const MemoryStream&) = delete;
  std::FILE* get() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

/// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Closes a file descriptor at the end of the scope.
class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int* out() { return &fd_; }

private:
  int fd_;
};

SubjectRecord written(const std::string& subject, int rank, double seconds, int64_t in, int64_t out) {
  SubjectRecord r;
  r.subject = subject;
  r.rank = rank;
  r.seconds = seconds;
  r.bytes_in = in;
  r.bytes_out = out;
  return r;
}

SubjectRecord with_status(SubjectRecord r, SubjectStatus status, const std::string& error = "") {
  r.status = status;
  r.error = error;
  return r;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string local_timestamp(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

/// `text` has the shape of `pattern`: '9' is any digit, '+' is '+' or '-', anything else itself.
bool has_shape(const std::string& text, const std::string& pattern) {
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i], p = pattern[i];
    const bool ok = p == '9'   ? std::isdigit(static_cast<unsigned char>(c)) != 0
                    : p == '+' ? c == '+' || c == '-'
                               : c == p;
    if (!ok) return false;
  }
  return true;
}
const std::string iso8601_with_offset = "9999-99-99T99:99:99+99:99";

constexpr int64_t MB = 1'000'000;

} // namespace

TEST(ProgressLines, OneTimestampedLinePerSubjectInTheDocumentedFormat) {
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 6;
  o.total_bytes_in = 6 * 100 * MB;
  o.total_bytes_out = 6 * 80 * MB;
  o.mode = ProgressMode::lines;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  EXPECT_EQ(out.text(), "") << "lines mode prints nothing before the first subject";

  t.seconds = 5;
  progress.subject_done(written("sub-01", 2, 1.2, 100 * MB, 80 * MB));
  // 100 MB in and 80 MB out in 5 s; 5 of 6 equal subjects left: 25 s.
  EXPECT_EQ(out.text(), "[" + local_timestamp(t.wall_origin + 5) +
                            "] progress: 1/6 subjects (16%), in 20.0 MB/s, out 16.0 MB/s, ETA 00:00:25, "
                            "last: sub-01 by rank 2 in 1.20 s\n");

  // A failed subject leaves the work (4 subjects left, 180 MB converted in 10 s: 40 s) but adds
  // nothing to the rates; a kept one took no time (3 left: 30 s).
  t.seconds = 10;
  progress.subject_done(
      with_status(written("sub-02", 1, 0.3, 100 * MB, 80 * MB), SubjectStatus::failed, "boom"));
  progress.subject_done(with_status(written("sub-03", 0, 0, 100 * MB, 80 * MB), SubjectStatus::kept));
  const auto lines = split_lines(out.text());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[1], EndsWith("progress: 2/6 subjects (33%), in 10.0 MB/s, out 8.0 MB/s, ETA 00:00:40, "
                                 "last: sub-02 failed by rank 1 in 0.30 s"));
  EXPECT_THAT(lines[2], EndsWith("progress: 3/6 subjects (50%), in 10.0 MB/s, out 8.0 MB/s, ETA 00:00:30, "
                                 "last: sub-03 kept"));
  EXPECT_TRUE(has_shape(lines[2].substr(0, 21), "[9999-99-99T99:99:99]")) << lines[2];
}

TEST(ProgressLines, QuietPrintsOnlyTheSummary) {
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.mode = ProgressMode::quiet;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  progress.subject_done(written("sub-01", 1, 1, 10, 10));
  EXPECT_EQ(out.text(), "");
  progress.finish(progress.summary());
  EXPECT_THAT(out.text(), StartsWith("dwipack: 1 subject written (0 kept, 0 skipped)"));
  EXPECT_EQ(split_lines(out.text()).size(), 1u);
}

TEST(ProgressEta, BytesDriveTheEtaAndOnlyWrittenSubjectsTheRates) {
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 4;
  o.total_bytes_in = 1000;
  o.total_bytes_out = 0;
  o.mode = ProgressMode::quiet;
  o.out = nullptr;
  o.clock = t.clock();
  Progress progress(o);
  EXPECT_LT(progress.state().eta_seconds, 0) << "unknown before anything is converted";

  // A subject kept from a previous run: its bytes leave the work, but it took no time.
  progress.subject_done(with_status(written("a", 0, 0, 400, 0), SubjectStatus::kept));
  EXPECT_LT(progress.state().eta_seconds, 0);
  EXPECT_EQ(progress.state().in_bytes_per_second, 0);

  t.seconds = 10;
  progress.subject_done(written("b", 1, 10, 100, 0));
  auto s = progress.state();
  EXPECT_EQ(s.subjects_done, 2u);
  EXPECT_DOUBLE_EQ(s.elapsed_seconds, 10);
  EXPECT_DOUBLE_EQ(s.in_bytes_per_second, 10);           // 100 B in 10 s
  EXPECT_DOUBLE_EQ(s.eta_seconds, 500.0 * 10.0 / 100.0); // 500 B left at 10 B/s

  progress.subject_done(with_status(written("c", 2, 1, 300, 0), SubjectStatus::skipped, "no bundles"));
  EXPECT_DOUBLE_EQ(progress.state().eta_seconds, 20); // 200 B left
  EXPECT_DOUBLE_EQ(progress.state().in_bytes_per_second, 10);

  t.seconds = 30; // no new subject: the ETA follows the clock
  EXPECT_DOUBLE_EQ(progress.state().eta_seconds, 200.0 * 30.0 / 100.0);

  progress.subject_done(written("d", 1, 2, 200, 0));
  EXPECT_EQ(progress.state().eta_seconds, 0);
  EXPECT_DOUBLE_EQ(progress.state().in_bytes_per_second, 10); // 300 B in 30 s
}

TEST(ProgressEta, SubjectCountsWithoutByteTotalsOrWhenTheTotalsRunOut) {
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 4;
  o.mode = ProgressMode::quiet;
  o.out = nullptr;
  o.clock = t.clock();
  {
    Progress progress(o); // no byte totals
    t.seconds = 2;
    progress.subject_done(written("a", 1, 2, 0, 0));
    EXPECT_DOUBLE_EQ(progress.state().eta_seconds, 3 * 2.0 / 1); // 3 subjects at 1 per 2 s
  }
  o.total_bytes_in = 100; // an underestimate: the first subject alone has 150
  t.seconds = 0;
  Progress progress(o);
  t.seconds = 4;
  progress.subject_done(written("a", 1, 4, 150, 0));
  EXPECT_DOUBLE_EQ(progress.state().eta_seconds, 3 * 4.0 / 1);
}

TEST(ProgressEta, UnknownEtaReadsAsDashes) {
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 3;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  progress.subject_done(with_status(written("a", 1, 1, 0, 0), SubjectStatus::failed, "bad header"));
  EXPECT_THAT(out.text(), HasSubstr("1/3 subjects (33%), in 0.0 MB/s, out 0.0 MB/s, ETA --:--:--, "));
}

TEST(ProgressJson, EveryLineIsJsonWithTheFieldsAndIsFlushedAtOnce) {
  TempDir tmp;
  const std::string path = tmp / "log.jsonl";
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 2;
  o.total_bytes_in = 30;
  o.total_bytes_out = 20;
  o.ranks = 3;
  o.output = "/data/out.hdf5";
  o.mode = ProgressMode::quiet;
  o.out = nullptr;
  o.json_log_path = path;
  o.clock = t.clock();
  {
    Progress progress(o);
    const auto start = nlohmann::json::parse(dwipack::test::read_file(path));
    EXPECT_EQ(start["type"], "start");
    EXPECT_EQ(start["subjects"], 2);
    EXPECT_EQ(start["bytes_in"], 30);
    EXPECT_EQ(start["bytes_out"], 20);
    EXPECT_EQ(start["ranks"], 3);
    EXPECT_EQ(start["output"], "/data/out.hdf5");
    EXPECT_TRUE(has_shape(start["time"].get<std::string>(), iso8601_with_offset)) << start["time"];

    t.seconds = 1.5;
    SubjectRecord r = written("sub-01", 2, 1.25, 10, 20);
    r.stages = {{"dwi", 0.5}, {"bundles", 0.75}};
    progress.subject_done(r);
    // Still inside the Progress's lifetime: the record is already on disk.
    const auto lines = split_lines(dwipack::test::read_file(path));
    ASSERT_EQ(lines.size(), 2u);
    const auto j = nlohmann::ordered_json::parse(lines[1]);
    EXPECT_EQ(j["type"], "subject");
    EXPECT_EQ(j["subject"], "sub-01");
    EXPECT_EQ(j["status"], "written");
    EXPECT_EQ(j["rank"], 2);
    EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 1.25);
    EXPECT_EQ(j["stages"].dump(), R"({"dwi":0.5,"bundles":0.75})") << "stages keep their order";
    EXPECT_EQ(j["bytes_in"], 10);
    EXPECT_EQ(j["bytes_out"], 20);
    EXPECT_EQ(j["done"], 1);
    EXPECT_EQ(j["total"], 2);
    EXPECT_DOUBLE_EQ(j["elapsed_seconds"].get<double>(), 1.5);
    EXPECT_TRUE(has_shape(j["time"].get<std::string>(), iso8601_with_offset));
    EXPECT_FALSE(j.contains("error"));

    progress.subject_done(
        with_status(written("sub-02", 1, 0.5, 20, 0), SubjectStatus::failed, "file 'x.nii': truncated"));
    Summary s = progress.summary();
    s.peak_rss_bytes_per_rank = {40 * MB, 210 * MB, 205 * MB};
    progress.finish(s);
  }
  const auto lines = split_lines(dwipack::test::read_file(path));
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines)
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  const auto failed = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["error"], "file 'x.nii': truncated");
  EXPECT_EQ(failed["stages"], nlohmann::json::object());
  const auto summary = nlohmann::json::parse(lines[3]);
  EXPECT_EQ(summary["type"], "summary");
  EXPECT_EQ(summary["subjects_written"], 1);
  EXPECT_EQ(summary["subjects_failed"], 1);
  EXPECT_EQ(summary["bytes_in"], 10) << "only written subjects count as moved";
  EXPECT_EQ(summary["bytes_out"], 20);
  EXPECT_DOUBLE_EQ(summary["wall_seconds"].get<double>(), 1.5);
  EXPECT_EQ(summary["peak_rss_bytes_per_rank"], nlohmann::json({40 * MB, 210 * MB, 205 * MB}));
  EXPECT_EQ(summary["output"], "/data/out.hdf5");

  // A second run (a resumed job) appends after the first.
  { Progress again(o); }
  const auto all = split_lines(dwipack::test::read_file(path));
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(nlohmann::json::parse(all[4])["type"], "start");
}

TEST(ProgressJson, AnUnopenableLogIsAnErrorNamingIt) {
  ProgressOptions o;
  o.out = nullptr;
  o.json_log_path = "/nonexistent-dir/log.jsonl";
  try {
    Progress progress(o);
    FAIL() << "expected an Error";
  } catch (const dwipack::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'/nonexistent-dir/log.jsonl'"));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

TEST(ProgressBar, RedrawnInPlaceAtAFixedWidthAndEndedWithANewline) {
  ScopedEnv columns("COLUMNS", "80"); // a memory stream has no window size
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 12;
  o.total_bytes_in = 1200 * MB;
  o.total_bytes_out = 0;
  o.mode = ProgressMode::bar;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  EXPECT_EQ(out.text(), "\r  0% [" + std::string(10, '.') +
                            "]  0/12 subjects, in    0.0 MB/s, out    0.0 MB/s, ETA --:--:--\x1b[K");

  for (int i = 1; i <= 12; ++i) {
    t.seconds = i;
    progress.subject_done(written("sub-" + std::to_string(i), 1, 1, 100 * MB, 0));
  }
  progress.finish(progress.summary());
  const std::string text = out.text();
  const size_t newline = text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const std::string bar = text.substr(0, newline);
  EXPECT_EQ(std::count(bar.begin(), bar.end(), '\r'), 14) << "initial, 12 subjects, final";
  EXPECT_THAT(bar, HasSubstr("\r 50% [#####.....]  6/12 subjects, in  100.0 MB/s, out    0.0 MB/s, "
                             "ETA 00:00:06\x1b[K"));
  EXPECT_THAT(bar, EndsWith("\r100% [##########] 12/12 subjects, in  100.0 MB/s, out    0.0 MB/s, "
                            "ETA 00:00:00\x1b[K"));
  std::istringstream draws(bar.substr(1));
  for (std::string draw; std::getline(draws, draw, '\r');)
    EXPECT_EQ(draw.size(), 79u + 3) << "one column short of the width, plus \\e[K: " << draw;
  EXPECT_THAT(text.substr(newline + 1), StartsWith("dwipack: 12 subjects written"));
  EXPECT_EQ(split_lines(text.substr(newline + 1)).size(), 1u);
  EXPECT_THAT(text, EndsWith("\n"));
}

TEST(ProgressBar, ClearLineBeforeOtherOutputAndANewlineIfNeverFinished) {
  ScopedEnv columns("COLUMNS", "30"); // too narrow for the bar: the numbers alone, cut
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 2;
  o.mode = ProgressMode::bar;
  o.out = out.get();
  o.clock = t.clock();
  {
    Progress progress(o);
    const std::string bar = "\r  0% 0/2 subjects, in    0.0 \x1b[K";
    EXPECT_EQ(out.text(), bar);
    progress.clear_line();
    std::fputs("WARNING: something\n", out.get());
    progress.redraw();
    EXPECT_EQ(out.text(), bar + "\r\x1b[KWARNING: something\n" + bar);
  } // destroyed without finish(), e.g. by an exception
  EXPECT_THAT(out.text(), EndsWith("\x1b[K\n"));
}

TEST(ProgressBar, UsesTheWidthOfARealTerminal) {
  ScopedEnv columns("COLUMNS", std::nullopt);
  Fd master, slave;
  winsize ws{};
  ws.ws_col = 100;
  ws.ws_row = 24;
  ASSERT_EQ(openpty(master.out(), slave.out(), nullptr, nullptr, &ws), 0) << std::strerror(errno);
  std::FILE* tty = ::fdopen(::dup(slave.get()), "w");
  ASSERT_NE(tty, nullptr);
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.mode = ProgressMode::bar;
  o.out = tty;
  o.clock = t.clock();
  {
    Progress progress(o);
    t.seconds = 1;
    progress.subject_done(written("a", 1, 1, 0, 0));
  }
  std::fclose(tty);
  std::string seen;
  char buf[4096];
  pollfd readable{master.get(), POLLIN, 0};
  while (::poll(&readable, 1, 200) > 0) {
    const ssize_t n = ::read(master.get(), buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
  }
  EXPECT_THAT(seen, HasSubstr("\r100% [##############################] 1/1 subjects, "));
  std::istringstream draws(seen);
  for (std::string draw; std::getline(draws, draw, '\r');) {
    const size_t end = draw.find("\x1b[K");
    EXPECT_LE(end == std::string::npos ? draw.size() : end, 99u) << draw;
  }
}

TEST(ProgressMode, ATerminalGetsTheBarAPipeGetsLines) {
  ScopedEnv forced("DWIPACK_PROGRESS", std::nullopt);
  ScopedEnv term("TERM", "xterm");
  Fd master, slave;
  ASSERT_EQ(openpty(master.out(), slave.out(), nullptr, nullptr, nullptr), 0) << std::strerror(errno);
  EXPECT_EQ(progress_mode_for(slave.get()), ProgressMode::bar);

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Fd read_end(fds[0]), write_end(fds[1]);
  EXPECT_EQ(progress_mode_for(write_end.get()), ProgressMode::lines);

  ScopedEnv dumb("TERM", "dumb");
  EXPECT_EQ(progress_mode_for(slave.get()), ProgressMode::lines) << "TERM=dumb cannot redraw a line";
}

TEST(ProgressMode, TheEnvironmentOverridesTheDetection) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Fd read_end(fds[0]), write_end(fds[1]);
  {
    ScopedEnv forced("DWIPACK_PROGRESS", "bar");
    EXPECT_EQ(progress_mode_for(write_end.get()), ProgressMode::bar);
  }
  {
    ScopedEnv forced("DWIPACK_PROGRESS", "QUIET");
    EXPECT_EQ(progress_mode_for(write_end.get()), ProgressMode::quiet);
  }
  {
    ScopedEnv forced("DWIPACK_PROGRESS", "sparkles"); // warned about, then ignored
    EXPECT_EQ(progress_mode_for(write_end.get()), ProgressMode::lines);
  }
  EXPECT_EQ(parse_progress_mode("lines"), ProgressMode::lines);
  EXPECT_THROW(parse_progress_mode("sparkles"), dwipack::Error);
}

TEST(ProgressSummary, TheDocumentedLine) {
  Summary s;
  s.subjects_written = 6;
  s.bytes_in = 1'200 * MB;
  s.bytes_out = 900 * MB;
  s.wall_seconds = 12.3;
  s.peak_rss_bytes_per_rank = {40 * MB, 210 * MB, 205 * MB};
  EXPECT_EQ(summary_line(s), "dwipack: 6 subjects written (0 kept, 0 skipped): 1.2 GB in, 0.9 GB out, "
                             "12.3 s wall, 73.2 MB/s out; peak RSS per rank: 40/210/205 MB");

  Summary small;
  small.subjects_written = 1;
  small.subjects_kept = 2;
  small.subjects_failed = 1;
  small.bytes_in = 512;
  small.bytes_out = 0;
  EXPECT_EQ(summary_line(small), "dwipack: 1 subject written (2 kept, 0 skipped, 1 failed): 512 B in, "
                                 "0 B out, 0.0 s wall, 0.0 MB/s out");
}

TEST(ProgressRemoveInvalid, StreamlinesLostPerGroupInTheLineTheJsonAndTheSummary) {
  TempDir tmp;
  const std::string path = tmp / "log.jsonl";
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 3;
  o.mode = ProgressMode::lines;
  o.out = out.get();
  o.json_log_path = path;
  o.clock = t.clock();
  {
    Progress progress(o);
    t.seconds = 2;
    SubjectRecord a = written("sub-01", 1, 1.23456, 10, 20);
    a.removed_invalid = {{"bundles", 2}, {"tracking", 0}};
    progress.subject_done(a);
    SubjectRecord b = written("sub-02", 2, 0.5, 10, 20);
    b.removed_invalid = {{"bundles", 5}, {"tracking", 1}};
    progress.subject_done(b);
    SubjectRecord c = with_status(written("sub-03", 0, 0, 10, 20), SubjectStatus::kept);
    progress.subject_done(c); // kept from an interrupted run: nothing known, nothing added
    Summary s = progress.summary();
    EXPECT_EQ(s.removed_invalid, (std::map<std::string, int64_t>{{"bundles", 7}, {"tracking", 1}}));
    progress.finish(s);
  }
  const auto lines = split_lines(out.text());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0],
              EndsWith("last: sub-01 by rank 1 in 1.23 s; streamlines removed as invalid: bundles 2, "
                       "tracking 0"));
  EXPECT_THAT(lines[1],
              EndsWith("last: sub-02 by rank 2 in 0.50 s; streamlines removed as invalid: bundles 5, "
                       "tracking 1"));
  EXPECT_THAT(lines[2], EndsWith("last: sub-03 kept"));
  EXPECT_THAT(lines[3], HasSubstr(" out; streamlines removed as invalid: 8 (bundles 7, tracking 1)"));
  const auto json = split_lines(dwipack::test::read_file(path));
  ASSERT_EQ(json.size(), 5u);
  EXPECT_EQ(nlohmann::json::parse(json[1])["removed_invalid"],
            nlohmann::json({{"bundles", 2}, {"tracking", 0}}));
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(json[1])["seconds"].get<double>(), 1.235) << "to the millisecond";
  EXPECT_FALSE(nlohmann::json::parse(json[3]).contains("removed_invalid"));
  EXPECT_EQ(nlohmann::json::parse(json[4])["removed_invalid"],
            nlohmann::json({{"bundles", 7}, {"tracking", 1}}));

  // Without --remove_invalid, nothing of it anywhere.
  Summary none;
  EXPECT_THAT(summary_line(none), testing::Not(HasSubstr("invalid")));
}

TEST(ProgressJson, DurationsAreRoundedToTheMillisecond) {
  TempDir tmp;
  const std::string path = tmp / "log.jsonl";
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.mode = ProgressMode::quiet;
  o.out = nullptr;
  o.json_log_path = path;
  o.clock = t.clock();
  Progress progress(o);
  t.seconds = 0.1234567;
  SubjectRecord r = written("sub-01", 1, 0.0987654, 1, 1);
  r.stages = {{"dwi", 0.0123456}, {"bundles", 2.0004999}};
  progress.subject_done(r);
  const auto j = nlohmann::ordered_json::parse(split_lines(dwipack::test::read_file(path))[1]);
  EXPECT_EQ(j["seconds"].dump(), "0.099");
  EXPECT_EQ(j["elapsed_seconds"].dump(), "0.123");
  EXPECT_EQ(j["stages"].dump(), R"({"dwi":0.012,"bundles":2.0})");
}

TEST(ProgressText, SecondsAreRounded) {
  EXPECT_EQ(seconds_text(0.004994), "0.00 s");
  EXPECT_EQ(seconds_text(0.210365), "0.21 s");
  EXPECT_EQ(seconds_text(9.994), "9.99 s");
  EXPECT_EQ(seconds_text(12.345678), "12.3 s");
  EXPECT_EQ(seconds_text(3725.25), "3725.2 s");
}

TEST(ProgressSummary, PeakRssGrowsWithTouchedMemory) {
  constexpr size_t bytes = 64u << 20;
  std::vector<char> block(bytes, 1); // written, so resident
  EXPECT_GE(peak_rss_bytes(), static_cast<int64_t>(bytes));
  EXPECT_EQ(block[bytes / 2], 1);
}

TEST(ProgressCompression, LinesAndJsonAtTheStartEachTenthOnceAMinuteAndTheEnd) {
  TempDir tmp;
  const std::string path = tmp / "log.jsonl";
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.mode = ProgressMode::lines;
  o.out = out.get();
  o.json_log_path = path;
  o.clock = t.clock();
  {
    Progress progress(o);
    t.seconds = 10;
    progress.subject_done(written("sub-01", 1, 10, 100 * MB, 80 * MB));
    EXPECT_LT(progress.compression_state().eta_seconds, 0) << "no phase yet";
    progress.compression_progress(0, 400 * MB); // the structure is written: the phase starts
    t.seconds = 12;
    progress.compression_progress(100 * MB, 400 * MB); // 25%: a further tenth
    t.seconds = 12.1;
    progress.compression_progress(140 * MB, 400 * MB); // another tenth, but too soon
    t.seconds = 12.2;
    progress.compression_progress(150 * MB, 400 * MB);
    t.seconds = 13;
    progress.compression_progress(160 * MB, 400 * MB); // 40%
    t.seconds = 73.5;
    progress.compression_progress(170 * MB, 400 * MB); // no new tenth, but a minute since the last line
    const auto state = progress.compression_state();
    EXPECT_EQ(state.bytes_done, 170 * MB);
    EXPECT_DOUBLE_EQ(state.elapsed_seconds, 63.5);
    EXPECT_DOUBLE_EQ(state.eta_seconds, 230.0 * 63.5 / 170.0);
    t.seconds = 75;
    progress.compression_progress(400 * MB, 400 * MB); // complete
    t.seconds = 76;
    progress.compression_progress(400 * MB, 400 * MB); // after the end: nothing
    Summary s = progress.summary();
    s.bytes_out = 123 * MB; // the caller's: the file's size
    progress.finish(s);
  }
  const auto lines = split_lines(out.text());
  ASSERT_EQ(lines.size(), 7u) << out.text();
  const auto at = [&](double seconds) {
    return "[" + local_timestamp(t.wall_origin + static_cast<std::time_t>(seconds)) + "] ";
  };
  EXPECT_EQ(lines[1], at(10) + "progress: compression 0.0/400.0 MB (0%), 0.0 MB/s, ETA --:--:--");
  EXPECT_EQ(lines[2], at(12) + "progress: compression 100.0/400.0 MB (25%), 50.0 MB/s, ETA 00:00:06");
  EXPECT_EQ(lines[3], at(13) + "progress: compression 160.0/400.0 MB (40%), 53.3 MB/s, ETA 00:00:05");
  EXPECT_EQ(lines[4], at(73) + "progress: compression 170.0/400.0 MB (42%), 2.7 MB/s, ETA 00:01:26");
  EXPECT_EQ(lines[5], at(75) + "progress: compression 400.0/400.0 MB (100%), 6.2 MB/s, ETA 00:00:00");
  EXPECT_THAT(lines[6],
              StartsWith("dwipack: 1 subject written (0 kept, 0 skipped): 100.0 MB in, 123.0 MB out, "
                         "76.0 s wall, 1.6 MB/s out"));

  const auto json = split_lines(dwipack::test::read_file(path));
  ASSERT_EQ(json.size(), 9u);
  std::vector<std::string> types;
  for (const auto& line : json)
    types.push_back(nlohmann::json::parse(line)["type"]);
  EXPECT_EQ(types,
            (std::vector<std::string>{"start", "subject", "compression_start", "compression", "compression",
                                      "compression", "compression", "compression", "summary"}));
  const auto start = nlohmann::json::parse(json[2]);
  EXPECT_EQ(start["bytes_total"], 400 * MB);
  EXPECT_TRUE(has_shape(start["time"].get<std::string>(), iso8601_with_offset)) << start["time"];
  const auto first = nlohmann::json::parse(json[3]);
  EXPECT_EQ(first["bytes_done"], 0);
  EXPECT_EQ(first["bytes_total"], 400 * MB);
  EXPECT_TRUE(first["eta_seconds"].is_null()) << "unknown yet";
  const auto minute = nlohmann::json::parse(json[6]);
  EXPECT_EQ(minute["bytes_done"], 170 * MB);
  EXPECT_DOUBLE_EQ(minute["elapsed_seconds"].get<double>(), 63.5);
  EXPECT_DOUBLE_EQ(minute["eta_seconds"].get<double>(), 85.912);
  const auto last = nlohmann::json::parse(json[7]);
  EXPECT_EQ(last["bytes_done"], 400 * MB);
  EXPECT_EQ(last["bytes_total"], 400 * MB);
  EXPECT_DOUBLE_EQ(last["elapsed_seconds"].get<double>(), 65);
  EXPECT_EQ(last["eta_seconds"], 0);
  EXPECT_EQ(nlohmann::json::parse(json[8])["bytes_out"], 123 * MB);
}

TEST(ProgressCompression, ASecondBarAfterTheSubjectsRedrawnAtMostEveryQuarterSecond) {
  ScopedEnv columns("COLUMNS", "80");
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.total_bytes_in = 100 * MB;
  o.mode = ProgressMode::bar;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  t.seconds = 1;
  progress.subject_done(written("sub-01", 1, 1, 100 * MB, 0));
  progress.clear_line(); // as before the end of the conversion
  t.seconds = 2;
  progress.compression_progress(0, 400 * MB);
  t.seconds = 2.1;
  progress.compression_progress(10 * MB, 400 * MB); // too soon after the first draw
  t.seconds = 2.3;
  progress.compression_progress(20 * MB, 400 * MB);
  t.seconds = 2.4;
  progress.compression_progress(30 * MB, 400 * MB);
  t.seconds = 4;
  progress.compression_progress(400 * MB, 400 * MB);
  progress.clear_line(); // no-ops now: the bar line has ended
  progress.redraw();
  progress.finish(progress.summary());

  const std::string text = out.text();
  const size_t first_newline = text.find('\n');
  ASSERT_NE(first_newline, std::string::npos);
  EXPECT_THAT(text.substr(0, first_newline),
              EndsWith("\r100% [############] 1/1 subjects, in   50.0 MB/s, out    0.0 MB/s, "
                       "ETA 00:00:00\x1b[K"))
      << "the subjects' bar keeps its final state, on its own line";
  const size_t second_newline = text.find('\n', first_newline + 1);
  ASSERT_NE(second_newline, std::string::npos);
  const std::string bar = text.substr(first_newline + 1, second_newline - first_newline - 1);
  EXPECT_EQ(bar, "\r  0% [" + std::string(18, '.') +
                     "] compression   0.0/400.0 MB,    0.0 MB/s, ETA --:--:--\x1b[K" + "\r  5% [" +
                     std::string(18, '.') + "] compression  20.0/400.0 MB,   66.7 MB/s, ETA 00:00:06\x1b[K" +
                     "\r100% [" + std::string(18, '#') +
                     "] compression 400.0/400.0 MB,  200.0 MB/s, ETA 00:00:00\x1b[K");
  std::istringstream draws(bar.substr(1));
  for (std::string draw; std::getline(draws, draw, '\r');)
    EXPECT_EQ(draw.size(), 79u + 3) << "one column short of the width, plus \\e[K: " << draw;
  const std::string rest = text.substr(second_newline + 1);
  EXPECT_THAT(rest, StartsWith("dwipack: 1 subject written"));
  EXPECT_EQ(split_lines(rest).size(), 1u) << "nothing drawn after the compression bar ended: " << rest;
}

TEST(ProgressCompression, AnUnfinishedPhaseKeepsItsBarAboveTheSummary) {
  ScopedEnv columns("COLUMNS", "80");
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.total_subjects = 1;
  o.mode = ProgressMode::bar;
  o.out = out.get();
  o.clock = t.clock();
  Progress progress(o);
  progress.subject_done(written("sub-01", 1, 1, 10, 0));
  progress.compression_progress(0, 400 * MB);
  t.seconds = 1;
  progress.compression_progress(100 * MB, 400 * MB);
  progress.clear_line(); // an interruption: the error is logged
  std::fputs("ERROR: interrupted\n", out.get());
  progress.redraw();
  progress.finish(progress.summary());
  const auto lines = split_lines(out.text());
  ASSERT_EQ(lines.size(), 4u) << out.text();
  EXPECT_THAT(lines[1], HasSubstr("\r\x1b[KERROR: interrupted"));
  EXPECT_THAT(lines[2], EndsWith("\r 25% [####..............] compression 100.0/400.0 MB,  100.0 MB/s, "
                                 "ETA 00:00:03\x1b[K"));
  EXPECT_THAT(lines[3], StartsWith("dwipack: 1 subject written"));
}

TEST(ProgressCompression, QuietModePrintsNothingButTheJsonLogHasThePhase) {
  TempDir tmp;
  const std::string path = tmp / "log.jsonl";
  MemoryStream out;
  FakeClock t;
  ProgressOptions o;
  o.mode = ProgressMode::quiet;
  o.out = out.get();
  o.json_log_path = path;
  o.clock = t.clock();
  Progress progress(o);
  progress.compression_progress(0, 0); // nothing to compress (only empty datasets): done at once
  EXPECT_EQ(out.text(), "");
  const auto json = split_lines(dwipack::test::read_file(path));
  ASSERT_EQ(json.size(), 3u);
  const auto done = nlohmann::json::parse(json[2]);
  EXPECT_EQ(done["type"], "compression");
  EXPECT_EQ(done["bytes_done"], 0);
  EXPECT_EQ(done["bytes_total"], 0);
  EXPECT_EQ(done["eta_seconds"], 0);
}

TEST(ProgressSummary, FileSizeIsTheSizeOnDiskOrZero) {
  TempDir tmp;
  const std::string path = tmp / "out.hdf5";
  dwipack::test::write_file(path, std::string(12345, 'x'));
  EXPECT_EQ(file_size_bytes(path), 12345);
  EXPECT_EQ(file_size_bytes(tmp / "missing.hdf5"), 0);
}
