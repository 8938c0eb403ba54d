#include "dwipack/pipeline/journal.hpp"

#include "dwipack/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>
#include <utility>

namespace dwipack::pipeline {
namespace {

constexpr const char* journal_magic = "dwipack resume journal";

} // namespace

std::string journal_path(const std::string& partial_path) {
  return partial_path + ".journal";
}

std::string digest(const std::string& text) {
  Digest d;
  d.add(text);
  return d.hex();
}

void Digest::add(const std::string& piece) {
  for (unsigned char c : piece) {
    h_ ^= c;
    h_ *= 1099511628211ull;
  }
}

std::string Digest::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
  return buf;
}

JournalWriter JournalWriter::create(const std::string& path, const std::string& layout_digest) {
  UniqueFd fd = UniqueFd::try_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (!fd.valid()) throw Error("cannot create the journal " + quoted(path) + ": " + std::strerror(errno));
  JournalWriter w(std::move(fd));
  w.write_line(nlohmann::json{{"journal", journal_magic}, {"version", 1}, {"layout", layout_digest}}.dump());
  return w;
}

JournalWriter JournalWriter::append_to(const std::string& path) {
  UniqueFd fd = UniqueFd::try_open(path, O_WRONLY | O_APPEND);
  if (!fd.valid()) throw Error("cannot open the journal " + quoted(path) + ": " + std::strerror(errno));
  JournalWriter w(std::move(fd));
  // A torn last line from a killed run: start ours on a fresh line.
  w.write_line("");
  return w;
}

void JournalWriter::close() {
  with_context("the journal", [&] { fd_.close(); });
}

void JournalWriter::record(const std::string& subject, const JournalEntry& entry) {
  nlohmann::json line{{"subject", subject}, {"plan", entry.plan_digest}, {"datasets", entry.datasets}};
  if (entry.trusted) line["trusted"] = true;
  write_line(line.dump());
}

void JournalWriter::write_line(const std::string& line) {
  const std::string text = line + "\n";
  // O_APPEND and a single write: a line is either whole or (if the machine dies) torn at the end.
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("writing the journal " + quoted(fd_.path()) + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

bool read_journal(const std::string& path,
                  const std::string& layout_digest,
                  std::map<std::string, JournalEntry>& entries,
                  std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "no journal " + quoted(path);
    return false;
  }
  std::string line;
  if (!std::getline(in, line)) {
    why = "the journal " + quoted(path) + " is empty";
    return false;
  }
  const auto head = nlohmann::json::parse(line, nullptr, false);
  if (head.is_discarded() || !head.is_object() || head.value("journal", "") != journal_magic) {
    why = "the journal " + quoted(path) + " has no valid first line";
    return false;
  }
  if (head.value("layout", "") != layout_digest) {
    why = "the partial file was made for other inputs or options (its layout differs)";
    return false;
  }
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    // A torn line (the writer died mid-write) is not a record.
    if (j.is_discarded() || !j.is_object() || !j.contains("subject") || !j.contains("datasets")) continue;
    if (!j["subject"].is_string() || !j["datasets"].is_object()) continue;
    entries[j["subject"].get<std::string>()] = {j.value("plan", ""), j["datasets"],
                                                j.value("trusted", false)};
  }
  return true;
}

} // namespace dwipack::pipeline
