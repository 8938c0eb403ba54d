#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/log.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

namespace dwipack::pipeline {

std::string layout_digest(const Plan& plan) {
  nlohmann::json j = plan;
  j["data_and_time"] = "";
  j["skipped"] = nlohmann::json::array();
  for (auto& subject : j["subjects"]) {
    subject["inputs"] = nlohmann::json::array();
    subject["input_bytes"] = 0;
  }
  return digest(j.dump());
}

std::string subject_digest(const SubjectPlan& subject, const StreamlineOptions& options) {
  return digest(nlohmann::json(subject).dump() + nlohmann::json(options).dump());
}

ResumeEntries resume_entries(const std::string& partial, const Plan& plan) {
  std::map<std::string, JournalEntry> journal;
  std::string why;
  if (access(partial.c_str(), F_OK) != 0) {
    log::info("--resume: no partial file " + quoted(partial) + "; starting from scratch");
    return {};
  }
  if (!read_journal(journal_path(partial), layout_digest(plan), journal, why)) {
    log::warning("--resume: " + why + "; starting from scratch");
    return {};
  }
  try {
    h5::File file = h5::File::open_read(partial);
    format::Layout layout = format::open_layout(file, plan);
    layout.close();
    file.close();
  } catch (const Error& e) {
    log::warning(std::string("--resume: the partial file cannot be continued (") + e.what() +
                 "); starting from scratch");
    return {};
  }
  ResumeEntries entries;
  entries.resuming = true;
  for (const auto& [id, e] : journal) {
    try {
      entries.subjects[id] = {e.plan_digest, e.datasets.get<format::Checksums>()};
    } catch (const std::exception&) { // a hand-edited line: the subject is redone
      log::warning("--resume: the journal's entry for subject " + quoted(id) + " is malformed; it is redone");
    }
  }
  log::info("--resume: continuing " + quoted(partial) + "; " + std::to_string(entries.subjects.size()) +
            " subject(s) recorded complete in its journal (each is read back and checked)");
  return entries;
}

} // namespace dwipack::pipeline
