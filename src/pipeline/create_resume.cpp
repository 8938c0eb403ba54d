#include "create_steps.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/util/log.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

namespace dwipack::pipeline {

// ---- subject digests ----

namespace {

/// Bumped when a change of dwipack changes what a subject's data is made of (its numerics), so
/// that --resume converts every subject again.
constexpr int digest_version = 1;

/// `j` with every string that names a file of the subject folder made relative to it: a digest
/// does not change when the dwi_ml_ready folder is moved or mounted elsewhere.
void relative_paths(nlohmann::json& j, const std::string& prefix) {
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s.compare(0, prefix.size(), prefix) == 0) j = s.substr(prefix.size());
  } else if (j.is_structured()) {
    for (auto& item : j)
      relative_paths(item, prefix);
  }
}

SubjectDigest digest_of(const SubjectPlan& subject,
                        const std::vector<std::string>& checksums,
                        const nlohmann::json& config,
                        const CreateOptions& options) {
  SubjectDigest d;
  d.subject = subject.id;
  const std::string prefix = options.dwi_ml_ready + "/" + subject.id + "/";
  d.options = digest(nlohmann::json{
      {"streamlines", options.streamlines},
      {"kind", options.seed.enabled ? "dwi_ml_2021" : "dwi_ml"},
      {"version",
       digest_version}}.dump());
  for (const auto& g : subject.groups) {
    nlohmann::json j{{"config", config.is_object() && config.contains(g.name) ? config[g.name] : nullptr},
                     {"plan", g}};
    relative_paths(j, prefix);
    d.groups[g.name] = digest(j.dump());
  }
  nlohmann::json basis = nlohmann::json::array();
  for (size_t i = 0; i < subject.inputs.size(); ++i) {
    const InputFile& f = subject.inputs[i];
    const std::string checksum = i < checksums.size() ? checksums[i] : std::string();
    d.inputs.push_back({f.path, f.bytes, f.mtime_ns, checksum});
    // With a checksum the content decides, not the modification time.
    basis.push_back(checksum.empty() ? nlohmann::json{f.path, f.bytes, f.mtime_ns}
                                     : nlohmann::json{f.path, f.bytes, checksum});
  }
  d.digest = digest(nlohmann::json{{"options", d.options}, {"groups", d.groups}, {"inputs", basis}}.dump());
  return d;
}

} // namespace

std::string SubjectDigest::record() const {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& f : inputs) {
    nlohmann::ordered_json file{f.path, f.bytes, f.mtime_ns};
    if (!f.checksum.empty()) file.push_back(f.checksum);
    files.push_back(file);
  }
  return nlohmann::ordered_json{
      {"subject", subject}, {"digest", digest}, {"options", options}, {"groups", groups}, {"inputs", files}}
      .dump();
}

std::optional<SubjectDigest> SubjectDigest::from_record(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    SubjectDigest d;
    d.subject = j.at("subject").get<std::string>();
    d.digest = j.at("digest").get<std::string>();
    d.options = j.at("options").get<std::string>();
    d.groups = j.at("groups").get<std::map<std::string, std::string>>();
    for (const auto& f : j.at("inputs"))
      d.inputs.push_back({f.at(0).get<std::string>(), f.at(1).get<int64_t>(), f.at(2).get<int64_t>(),
                          f.size() > 3 ? f.at(3).get<std::string>() : std::string()});
    return d;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<SubjectDigest> subject_digests(const Plan& plan,
                                           const TaskReports<PlannedSubject>& planned,
                                           const Setup& setup,
                                           const CreateOptions& options) {
  // The plan's subjects are the successful reports, in order (assemble_plan).
  std::vector<const std::vector<std::string>*> checksums;
  for (const auto& r : planned)
    if (r && r->ok()) checksums.push_back(&r->result->checksums);
  if (checksums.size() != plan.subjects.size()) throw Error("internal: the plan and its reports differ");
  const auto config = nlohmann::json::parse(setup.config_json, nullptr, false);
  std::vector<SubjectDigest> out;
  out.reserve(plan.subjects.size());
  for (size_t s = 0; s < plan.subjects.size(); ++s)
    out.push_back(digest_of(plan.subjects[s], *checksums[s], config, options));
  return out;
}

std::string why_changed(const SubjectDigest& before, const SubjectDigest& now) {
  std::vector<std::string> why;
  if (before.options != now.options) why.push_back("the streamline options changed");
  for (const auto& [name, d] : now.groups) {
    const auto old = before.groups.find(name);
    if (old == before.groups.end())
      why.push_back("group " + quoted(name) + " was added");
    else if (old->second != d)
      why.push_back("group " + quoted(name) + " changed (its config or its files)");
  }
  for (const auto& [name, d] : before.groups)
    if (!now.groups.count(name)) why.push_back("group " + quoted(name) + " was removed");
  // A file read by two groups (a mask, say) is listed twice, with the same stamp: once is enough.
  std::map<std::string, const SubjectDigest::Input*> old_inputs, new_inputs;
  for (const auto& f : before.inputs)
    old_inputs.emplace(f.path, &f);
  for (const auto& f : now.inputs)
    new_inputs.emplace(f.path, &f);
  for (const auto& [path, input] : new_inputs) {
    const SubjectDigest::Input& f = *input;
    const auto old = old_inputs.find(path);
    if (old == old_inputs.end()) {
      why.push_back("input " + quoted(f.path) + " is new");
      continue;
    }
    const SubjectDigest::Input& o = *old->second;
    old_inputs.erase(old);
    if (o.bytes != f.bytes)
      why.push_back("input " + quoted(f.path) + " changed (size " + std::to_string(o.bytes) + " -> " +
                    std::to_string(f.bytes) + " bytes)");
    else if (!f.checksum.empty() && o.checksum.empty())
      why.push_back("input " + quoted(f.path) + " has no checksum recorded (made without --checksum)");
    else if (!f.checksum.empty() && o.checksum != f.checksum)
      why.push_back("input " + quoted(f.path) + " changed (content checksum)");
    else if (f.checksum.empty() && o.mtime_ns != f.mtime_ns)
      why.push_back("input " + quoted(f.path) + " changed (modification time)");
  }
  for (const auto& [path, f] : old_inputs)
    why.push_back("input " + quoted(path) + " is no longer used");
  std::string text;
  for (size_t i = 0; i < why.size() && i < 3; ++i)
    text += (i ? "; " : "") + why[i];
  if (why.size() > 3) text += "; and " + std::to_string(why.size() - 3) + " more change(s)";
  return text;
}

ResumeEntries resume_entries(const std::string& partial, const Plan& plan) {
  std::map<std::string, JournalEntry> journal;
  std::string why;
  if (access(partial.c_str(), F_OK) != 0) {
    log::info("--resume: no partial file " + quoted(partial));
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
      entries.subjects[id] = {e.plan_digest, e.datasets.get<format::Checksums>(), e.trusted};
    } catch (const std::exception&) { // a hand-edited line: the subject is redone
      log::warning("--resume: the journal's entry for subject " + quoted(id) + " is malformed; it is redone");
    }
  }
  log::info("--resume: continuing " + quoted(partial) + "; " + std::to_string(entries.subjects.size()) +
            " subject(s) recorded complete in its journal (each is read back and checked)");
  return entries;
}

} // namespace dwipack::pipeline
