#pragma once
// The --resume journal: OUT.hdf5.partial.journal beside the partial file, JSON Lines, appended
// by rank 0 only.
//   line 1: {"journal": "dwipack resume journal", "version": 1, "layout": "<digest>"}
//   then one line per subject whose data is completely in the partial file:
//           {"subject": "<id>", "plan": "<digest>", "datasets": {"<hdf5 path>": [crc32, bytes], ...}}
//   (or, for a subject of a complete file whose root attributes are being rewritten in place,
//           {"subject": "<id>", "plan": "<digest>", "datasets": {}, "trusted": true})
// A line is appended only after the worker's writes returned (the data is in the kernel, so it
// survives any process being killed). A node crash can still lose data the journal names, so
// --resume reads every kept subject back and compares the CRC-32s; a mismatch, a changed input
// (the plan digest covers input sizes and mtimes) or a torn last line means the subject is redone.
#include "dwipack/util/unique_fd.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace dwipack::pipeline {

/// Where the journal of a partial file lives.
std::string journal_path(const std::string& partial_path);

/// A 64-bit FNV-1a digest of `text`, as 16 hex digits (change detection, not security).
std::string digest(const std::string& text);

/// The same digest of a text given piece by piece (one too large to hold at once).
class Digest {
public:
  void add(const std::string& piece);
  std::string hex() const;

private:
  uint64_t h_ = 14695981039346656037ull;
};

/// What the journal says about one subject.
struct JournalEntry {
  std::string plan_digest;
  nlohmann::json datasets; ///< {"<hdf5 path>": [crc32, bytes]}
  /// The subject came with a complete file that became this partial file (--resume rewriting its
  /// root attributes): kept without being read back; its line has "trusted": true and no CRCs.
  bool trusted = false;
};

/// Appends to a journal; every record is one write(2) of a whole line.
class JournalWriter {
public:
  JournalWriter() = default;
  /// Create (truncate) the journal and write its first line.
  static JournalWriter create(const std::string& path, const std::string& layout_digest);
  /// Append to an existing journal (--resume).
  static JournalWriter append_to(const std::string& path);

  void record(const std::string& subject, const JournalEntry& entry);
  /// Close now; throws Error naming the journal if close(2) reports a failure. (Destruction
  /// closes too, silently.)
  void close();

private:
  explicit JournalWriter(UniqueFd fd) : fd_(std::move(fd)) {}
  void write_line(const std::string& line);
  UniqueFd fd_;
};

/// Read a journal. Returns false (with `why`) when it is missing, unreadable, or was written for
/// another layout; the last line may be torn (ignored). Later entries for a subject win.
bool read_journal(const std::string& path,
                  const std::string& layout_digest,
                  std::map<std::string, JournalEntry>& entries,
                  std::string& why);

} // namespace dwipack::pipeline
