// --resume as make's or Nextflow's -resume: bring OUT.hdf5 up to date with the current inputs,
// reusing what is still valid. Rank 0 compares each planned subject's digest with the partial
// file's journal (an interrupted run) and with the complete output file's root attribute
// dwipack_subject_digests, then decides, subject by subject:
//   kept in place   journaled in the partial file with the same digest (read back and checked)
//   copied          unchanged in the complete file: its datasets are copied raw into the new file
//   converted       new ("added"), changed ("reconverted", with the reason) or never written
// and drops the subjects no list names any more. When every subject is unchanged and only the
// lists (or their order) differ, the complete file itself becomes the partial file and only its
// root attributes are rewritten; when nothing differs, nothing is touched. Otherwise a new file is
// written beside the old one, which stays at OUT.hdf5 until the new one replaces it, complete.
#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/copy.hpp"
#include "dwipack/h5/read.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <unistd.h>

namespace dwipack::pipeline {
namespace {

/// What an earlier complete output holds, as far as bringing it up to date needs to know.
struct PreviousFile {
  bool has_records = false;                     ///< made by a dwipack that records digests
  std::map<std::string, SubjectDigest> records; ///< by subject
  std::vector<std::string> chosen, training, validation, testing, skipped;
  std::string groups_config;
  bool compressed = false; ///< its datasets are chunked (--compression)
};

std::vector<std::string> text_list(hid_t file, const std::string& name) {
  std::vector<std::string> out;
  if (!h5::has_attribute(file, name)) return out;
  const h5::Value v = h5::read_attribute(file, name, "/");
  if (v.value.is_array()) // an empty list is float64 (0,), as h5py writes []
    for (const auto& x : v.value)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

/// Whether the first subject's datasets are chunked (a compressed file), from whether its
/// non-empty datasets have a contiguous place in the file.
bool chunked(const h5::File& file, const std::vector<std::string>& chosen) {
  if (chosen.empty() || !h5::has_child(file.id(), chosen[0])) return false;
  const std::string subject = "/" + chosen[0];
  const h5::Handle sg = h5::open_group(file.id(), chosen[0], subject);
  for (const auto& group : h5::list_children(sg.id(), subject)) {
    if (group.kind != h5::ObjectKind::group) continue;
    const std::string path = subject + "/" + group.name + "/data";
    if (!h5::has_child(h5::open_group(sg.id(), group.name, path).id(), "data")) continue;
    const h5::Handle d = h5::open_dataset_at(file.id(), path);
    const auto shape = h5::dataset_info(d.id(), path).shape;
    if (!shape.empty() && shape[0] > 0) return !h5::contiguous_offset(file.id(), path).has_value();
  }
  return false;
}

std::optional<PreviousFile> read_previous(const std::string& path) {
  try {
    h5::File file = h5::open_file_read(path);
    PreviousFile p;
    const hid_t root = file.id();
    p.chosen = text_list(root, "chosen_subjs");
    p.training = text_list(root, "training_subjs");
    p.validation = text_list(root, "validation_subjs");
    p.testing = text_list(root, "testing_subjs");
    if (h5::has_attribute(root, "groups_config"))
      p.groups_config = h5::read_attr_text(root, "groups_config", "/");
    p.has_records = h5::has_attribute(root, "dwipack_subject_digests");
    for (const auto& text : text_list(root, "dwipack_subject_digests"))
      if (auto d = SubjectDigest::from_record(text)) p.records[d->subject] = *d;
    for (const auto& text : text_list(root, "dwipack_skipped_subjects")) {
      const auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object() && j.contains("subject") && j["subject"].is_string())
        p.skipped.push_back(j["subject"]);
    }
    p.compressed = chunked(file, p.chosen);
    file.close();
    return p;
  } catch (const Error& e) {
    log::warning("--resume: " + quoted(path) + " cannot be read (" + e.what() +
                 "); every subject is converted, and the new file replaces it once complete");
    return std::nullopt;
  }
}

/// Whether a complete file's layout is the plan's (same subjects, groups and shapes), so that it
/// can be reopened as the partial file.
bool reopens_as(const std::string& path, const Plan& plan) {
  try {
    h5::File file = h5::File::open_read(path);
    format::Layout layout = format::open_layout(file, plan);
    layout.close();
    file.close();
    return true;
  } catch (const Error& e) {
    log::info("--resume: " + quoted(path) + " cannot be updated in place (" + e.what() + ")");
    return false;
  }
}

/// Per subject: kept in place (journaled), copied (unchanged in the complete file), or
/// converted with the status and reason the log will give.
void classify(UpdateDecision& d,
              const Plan& plan,
              const std::vector<SubjectDigest>& digests,
              const std::optional<PreviousFile>& previous,
              std::vector<bool>& unchanged) {
  const std::set<std::string> was_chosen =
      previous ? std::set<std::string>(previous->chosen.begin(), previous->chosen.end())
               : std::set<std::string>();
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const std::string& id = plan.subjects[s].id;
    const auto j = d.entries.subjects.find(id);
    const bool journaled = j != d.entries.subjects.end() && j->second.plan_digest == digests[s].digest;
    const auto r =
        previous ? previous->records.find(id) : std::map<std::string, SubjectDigest>::const_iterator();
    const bool recorded = previous && r != previous->records.end();
    const std::string why = recorded ? why_changed(r->second, digests[s]) : std::string();
    unchanged[s] = recorded && why.empty();
    if (journaled || unchanged[s]) continue; // kept: the task reports it
    if (recorded) {
      d.status[s] = SubjectStatus::reconverted;
      d.reason[s] = why;
    } else if (was_chosen.count(id)) {
      d.status[s] = SubjectStatus::reconverted;
      d.reason[s] = "the file records no digest of it";
    } else if (previous) {
      d.status[s] = SubjectStatus::added;
    } else if (j != d.entries.subjects.end()) {
      d.status[s] = SubjectStatus::reconverted;
      d.reason[s] = "its inputs or options changed since the interrupted run";
    }
  }
  if (!previous) return;
  std::set<std::string> now;
  for (const auto& subject : plan.subjects)
    now.insert(subject.id);
  std::set<std::string> before(previous->chosen.begin(), previous->chosen.end());
  for (const auto& [id, record] : previous->records)
    before.insert(id);
  for (const auto& id : previous->chosen) // the file's order
    if (!now.count(id)) d.dropped.push_back(id);
  for (const auto& id : before)
    if (!now.count(id) && std::find(d.dropped.begin(), d.dropped.end(), id) == d.dropped.end())
      d.dropped.push_back(id);
}

/// The root attributes that describe the content are the ones the plan gives.
bool same_root(const PreviousFile& p, const Plan& plan) {
  std::vector<std::string> chosen, skipped;
  for (const auto& subject : plan.subjects)
    chosen.push_back(subject.id);
  for (const auto& [id, reason] : plan.skipped)
    skipped.push_back(id);
  return p.chosen == chosen && p.training == plan.training && p.validation == plan.validation &&
         p.testing == plan.testing && p.groups_config == plan.groups_config && p.skipped == skipped;
}

/// The complete file becomes the partial file, every subject journaled as trusted: the run then
/// rewrites its root attributes only. The journal is written first (and a stale partial file
/// removed before it), so that a partial file never goes with a journal that is not its own.
void become_partial(UpdateDecision& d,
                    const Setup& setup,
                    const Plan& plan,
                    const std::vector<SubjectDigest>& digests,
                    bool compressed) {
  const std::string partial = partial_path(setup.final_path);
  std::remove(partial.c_str());
  std::remove(journal_path(partial).c_str());
  JournalWriter journal = JournalWriter::create(journal_path(partial), layout_digest(plan));
  d.entries.subjects.clear();
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    journal.record(plan.subjects[s].id, {digests[s].digest, nlohmann::json::object(), true});
    d.entries.subjects[plan.subjects[s].id] = {digests[s].digest, {}, true};
  }
  journal.close();
  if (std::rename(setup.final_path.c_str(), partial.c_str()) != 0)
    throw Error("renaming " + quoted(setup.final_path) + " to " + quoted(partial) +
                " failed: " + std::strerror(errno));
  d.entries.resuming = true;
  d.entries.keep_storage = compressed;
  log::info("--resume: no subject changed; rewriting the root attributes of " + quoted(setup.final_path) +
            " (as " + quoted(partial) + " until it is done)");
}

void log_decisions(const UpdateDecision& d, const Plan& plan) {
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    const std::string& id = plan.subjects[s].id;
    std::string what;
    if (d.status[s] == SubjectStatus::reconverted)
      what = "reconverted: " + d.reason[s];
    else if (d.status[s] == SubjectStatus::added)
      what = "added";
    else if (d.entries.copy[s])
      what = "kept (unchanged; copied into the new file)";
    else if (d.entries.subjects.count(id) && d.entries.subjects.at(id).plan_digest == d.entries.digests[s])
      what = "kept (unchanged)";
    else
      continue;
    log::info("--resume: subject " + quoted(id) + " " + what);
  }
  for (const auto& id : d.dropped)
    log::info("--resume: subject " + quoted(id) + " dropped (in no list now)");
}

} // namespace

UpdateDecision decide_update(const Setup& setup,
                             const Plan& plan,
                             const std::vector<SubjectDigest>& digests,
                             const CreateOptions& options) {
  UpdateDecision d;
  const size_t n = plan.subjects.size();
  d.status.assign(n, SubjectStatus::written);
  d.reason.assign(n, std::string());
  d.entries.copy.assign(n, false);
  d.entries.digests.reserve(digests.size());
  d.entries.records.reserve(digests.size());
  for (const auto& digest : digests) {
    d.entries.digests.push_back(digest.digest);
    d.entries.records.push_back(digest.record());
    d.entries.records.back().shrink_to_fit(); // kept to the end (the root attribute): no slack
  }
  if (!options.resume) return d;
  const ResumeEntries journal = resume_entries(partial_path(setup.final_path), plan);
  d.entries.resuming = journal.resuming;
  d.entries.subjects = journal.subjects;
  std::optional<PreviousFile> previous;
  if (access(setup.final_path.c_str(), F_OK) == 0) previous = read_previous(setup.final_path);
  if (previous && !previous->has_records)
    log::warning("--resume: " + quoted(setup.final_path) +
                 " records no digest of its subjects (made by another program or an older dwipack); every "
                 "subject is converted again");
  d.update = previous.has_value();
  std::vector<bool> unchanged(n, false);
  classify(d, plan, digests, previous, unchanged);
  const bool all_unchanged = std::all_of(unchanged.begin(), unchanged.end(), [](bool u) { return u; });
  const bool same_storage = previous && previous->compressed == (options.compression_level > 0);
  if (previous && !d.entries.resuming && all_unchanged && d.dropped.empty() && same_storage) {
    // Unchanged subjects may still have new records (a file touched, compared by --checksum):
    // then the root attributes are rewritten, so that the file describes the inputs as they are.
    bool same_records = true;
    for (const auto& digest : digests)
      same_records = same_records && previous->records.at(digest.subject).record() == digest.record();
    if (same_records && same_root(*previous, plan)) {
      d.up_to_date = true;
      return d;
    }
    if (reopens_as(setup.final_path, plan)) {
      become_partial(d, setup, plan, digests, previous->compressed);
      log_decisions(d, plan);
      return d;
    }
  }
  if (previous) { // what the partial file does not hold is copied from the complete file
    d.entries.copy_from = setup.final_path;
    for (size_t s = 0; s < n; ++s) {
      const auto j = d.entries.subjects.find(plan.subjects[s].id);
      const bool journaled = j != d.entries.subjects.end() && j->second.plan_digest == digests[s].digest;
      d.entries.copy[s] = unchanged[s] && !journaled;
    }
  }
  log_decisions(d, plan);
  return d;
}

void report_decisions(Progress& progress, const UpdateDecision& decision, const Plan& plan) {
  for (const auto& id : decision.dropped) {
    SubjectRecord r;
    r.subject = id;
    r.status = SubjectStatus::dropped;
    progress.subject_done(r);
  }
  if (!decision.up_to_date) return;
  for (const auto& subject : plan.subjects) {
    SubjectRecord r;
    r.subject = subject.id;
    r.status = SubjectStatus::kept;
    r.bytes_in = subject.input_bytes;
    r.bytes_out = subject.output_bytes();
    progress.subject_done(r);
  }
}

} // namespace dwipack::pipeline
