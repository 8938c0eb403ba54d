// The plan's text for the broadcast and the layout digest, one subject at a time (messages.hpp).
#include "dwipack/pipeline/messages.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/journal.hpp"

#include <cstring>

namespace dwipack::pipeline {
namespace {

/// Everything of the plan but its subjects (a few lists and options).
format::Plan without_subjects(const format::Plan& plan) {
  format::Plan top;
  top.kind = plan.kind;
  top.training = plan.training;
  top.validation = plan.validation;
  top.testing = plan.testing;
  top.groups_config = plan.groups_config;
  top.space_2021 = plan.space_2021;
  top.data_and_time = plan.data_and_time;
  top.streamline_options = plan.streamline_options;
  top.skipped = plan.skipped;
  return top;
}

/// The broadcast carries the subjects in batches of about this many bytes of text, so that no
/// rank holds the text of the whole plan (~8 kB per subject: 100 MB for 12,800 subjects).
constexpr size_t batch_bytes = size_t{4} << 20;

} // namespace

void plan_json_pieces(const format::Plan& plan,
                      const std::function<void(nlohmann::json&)>& edit_top,
                      const std::function<void(nlohmann::json&)>& edit_subject,
                      const std::function<void(const std::string&)>& piece) {
  nlohmann::json j = without_subjects(plan);
  if (edit_top) edit_top(j);
  // The subjects go where the empty list is: "subjects" is a key of the top level only, and a
  // string's quotes are escaped, so this text occurs once.
  const std::string text = j.dump();
  const std::string empty = "\"subjects\":[]";
  const size_t at = text.find(empty);
  if (at == std::string::npos) throw Error("the plan's JSON text has no subject list");
  piece(text.substr(0, at + empty.size() - 1));
  for (size_t s = 0; s < plan.subjects.size(); ++s) {
    nlohmann::json subject = plan.subjects[s];
    if (edit_subject) edit_subject(subject);
    piece((s > 0 ? "," : "") + subject.dump());
  }
  piece(text.substr(at + empty.size() - 1));
}

std::string plan_json_text(const format::Plan& plan,
                           const std::function<void(nlohmann::json&)>& edit_top,
                           const std::function<void(nlohmann::json&)>& edit_subject) {
  std::string out;
  plan_json_pieces(plan, edit_top, edit_subject, [&](const std::string& piece) { out += piece; });
  return out;
}

std::string layout_digest(const format::Plan& plan) {
  // The digest of the text the whole plan's JSON tree would give, made one subject at a time
  // (a tree of the whole plan costs ~14 kB per subject, its text ~8 kB).
  Digest d;
  plan_json_pieces(
      plan,
      [](nlohmann::json& top) {
        top["data_and_time"] = "";
        top["skipped"] = nlohmann::json::array();
      },
      [](nlohmann::json& subject) {
        subject["inputs"] = nlohmann::json::array();
        subject["input_bytes"] = 0;
      },
      [&](const std::string& piece) { d.add(piece); });
  return d.hex();
}

void broadcast_message(const mpi::Comm& comm, format::LayoutPlaces& places, int root) {
  if (comm.size() == 1) return;
  // [n offsets][n first][offsets...][first...], uint64 each, in the ranks' own byte order.
  std::string bytes;
  if (comm.rank() == root) {
    std::vector<uint64_t> words = {places.offsets.size(), places.first.size()};
    words.insert(words.end(), places.offsets.begin(), places.offsets.end());
    words.insert(words.end(), places.first.begin(), places.first.end());
    bytes.assign(reinterpret_cast<const char*>(words.data()), words.size() * 8);
  }
  comm.broadcast(bytes, root);
  if (comm.rank() == root) return;
  uint64_t counts[2] = {0, 0};
  if (bytes.size() >= sizeof counts) std::memcpy(counts, bytes.data(), sizeof counts);
  if (bytes.size() < sizeof counts || counts[0] > bytes.size() / 8 || counts[1] > bytes.size() / 8 ||
      bytes.size() != 8 * (2 + counts[0] + counts[1]))
    throw Error("layout places: a message of " + std::to_string(bytes.size()) + " bytes for " +
                std::to_string(counts[0]) + " offsets and " + std::to_string(counts[1]) + " subjects");
  std::vector<uint64_t> words(bytes.size() / 8);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  places.offsets.assign(words.begin() + 2, words.begin() + 2 + static_cast<std::ptrdiff_t>(counts[0]));
  places.first.assign(words.begin() + 2 + static_cast<std::ptrdiff_t>(counts[0]), words.end());
}

void broadcast_message(const mpi::Comm& comm, format::Plan& plan, int root) {
  if (comm.size() == 1) return;
  const bool sender = comm.rank() == root;
  std::string text = sender ? nlohmann::json(without_subjects(plan)).dump() : std::string();
  comm.broadcast(text, root);
  if (!sender) plan = nlohmann::json::parse(text).get<format::Plan>();
  // Then the subjects, one line of JSON each (a dump escapes every newline inside strings), in
  // batches; an empty batch ends them.
  for (size_t next = 0;;) {
    text.clear();
    for (; sender && next < plan.subjects.size() && text.size() < batch_bytes; ++next)
      text += nlohmann::json(plan.subjects[next]).dump() + '\n';
    comm.broadcast(text, root);
    if (text.empty()) return;
    for (size_t start = 0; !sender && start < text.size();) {
      const size_t end = text.find('\n', start);
      plan.subjects.push_back(nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                                                    text.begin() + static_cast<std::ptrdiff_t>(end))
                                  .get<format::SubjectPlan>());
      start = end + 1;
    }
  }
}

} // namespace dwipack::pipeline
