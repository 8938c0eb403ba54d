#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"
#include "dwipack/version.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <tuple>
#include <unistd.h>

namespace dwipack::pipeline {
namespace {

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

} // namespace

/// --dry-run: what would be written, and the memory a task needs (one group at a time).
void print_plan(const Plan& plan, const std::string& out) {
  int64_t total = 0;
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
  // A rank's peak (pipeline/volume.hpp): within 10 % of the measured one (docs/design.md).
  const MemoryEstimate m = estimate_memory(plan);
  if (!m.largest_group.empty())
    std::printf("largest volume group: %s (%s); ", m.largest_group.c_str(),
                megabytes(m.volume_bytes).c_str());
  std::printf("memory per worker task: about %s (volume group %s, its decoding %s, masks %s, streamlines %s, "
              "plan %s, process %s)\n",
              megabytes(m.total()).c_str(), megabytes(m.volume_bytes).c_str(),
              megabytes(m.decode_bytes).c_str(), megabytes(m.mask_bytes).c_str(),
              megabytes(m.streamline_bytes).c_str(), megabytes(m.plan_bytes).c_str(),
              megabytes(m.process_bytes).c_str());
  std::fflush(stdout);
}

namespace {

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

} // namespace

Plan assemble_plan(TaskReports<PlannedSubject>& planned, const Setup& setup, const CreateOptions& options) {
  Plan plan;
  std::vector<std::string> skipped; // --on_error skip: subjects whose inputs failed the checks
  if (options.on_error == OnError::skip) {
    for (size_t i = 0; i < planned.size(); ++i)
      if (!planned[i]->ok()) {
        const std::string message = planned[i]->message(subject_context(setup.chosen[i]));
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
  plan.subjects.reserve(planned.size());
  for (auto& r : planned)
    if (r->ok()) plan.subjects.push_back(std::move(r->result->plan)); // one copy of the plan, not two
  plan.kind = options.seed.enabled ? format::Kind::dwi_ml_2021 : format::Kind::dwi_ml;
  plan.training = without_skipped(setup.training);
  plan.validation = without_skipped(setup.validation);
  plan.testing = without_skipped(setup.testing);
  plan.groups_config = setup.groups_config;
  plan.space_2021 = options.seed.space;
  plan.data_and_time = setup.data_and_time;
  plan.streamline_options = options.streamlines;
  return plan;
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

Outcome
decide_outcome(const TaskReports<SubjectWritten>& written, const Plan& plan, bool interrupted, bool skip) {
  Outcome outcome;
  outcome.dropped.assign(plan.subjects.size(), false);
  std::vector<std::string> names;
  for (const auto& subject : plan.subjects)
    names.push_back(subject.id);
  if (interrupted) {
    outcome.ok = false;
  } else if (skip) {
    for (size_t s = 0; s < written.size(); ++s)
      if (!written[s] || !written[s]->ok()) {
        const std::string message = written[s] ? written[s]->message(subject_context(names[s]))
                                               : subject_context(names[s]) + ": not run";
        log::warning("[rank " + std::to_string(written[s] ? written[s]->rank : 0) + "] " + message +
                     " -> skipped");
        outcome.dropped[s] = true;
        outcome.skipped.push_back({names[s], message});
      }
    if (!outcome.skipped.empty() && outcome.skipped.size() == plan.subjects.size()) outcome.ok = false;
  } else {
    if (report_failures(written, names, 10) > 0) outcome.ok = false;
    for (const auto& r : written)
      if (!r) outcome.ok = false; // stopped early
  }
  return outcome;
}

void warn_about_emptied_lists(const Setup& setup, const Plan& plan, const Outcome& outcome) {
  std::vector<std::string> dropped;
  for (size_t s = 0; s < plan.subjects.size(); ++s)
    if (outcome.dropped[s]) dropped.push_back(plan.subjects[s].id);
  const auto written = [&](const std::vector<std::string>& list) {
    return std::count_if(list.begin(), list.end(), [&](const std::string& id) {
      return std::find(dropped.begin(), dropped.end(), id) == dropped.end();
    });
  };
  for (const auto& [name, asked, kept] : {std::make_tuple("training", &setup.training, &plan.training),
                                          std::make_tuple("validation", &setup.validation, &plan.validation),
                                          std::make_tuple("testing", &setup.testing, &plan.testing)})
    if (!asked->empty() && written(*kept) == 0)
      log::warning(std::string("the ") + name + " list is empty in the file: all of its " +
                   std::to_string(asked->size()) + " subject(s) were skipped");
}

format::Provenance provenance_of(const Plan& plan,
                                 const Outcome& outcome,
                                 const Setup& setup,
                                 std::vector<std::string> rank_hosts,
                                 std::vector<std::string> digest_records) {
  format::Provenance p;
  p.version = version;
  p.git_commit = git_commit;
  p.command_line = setup.command_line;
  p.ranks = static_cast<int64_t>(rank_hosts.size());
  p.rank_hosts = std::move(rank_hosts);
  p.inputs = input_provenance(plan, outcome.dropped);
  for (size_t s = 0; s < plan.subjects.size() && s < digest_records.size(); ++s)
    if (!outcome.dropped[s]) p.subject_digests.push_back(std::move(digest_records[s]));
  for (const auto& [id, reason] : plan.skipped)
    p.skipped.push_back(skip_record(id, reason));
  for (const auto& [id, reason] : outcome.skipped)
    p.skipped.push_back(skip_record(id, reason));
  return p;
}

} // namespace dwipack::pipeline
