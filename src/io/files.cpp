#include "dwipack/io/files.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/log.hpp"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>

namespace dwipack::io {

namespace {

bool is_absolute(const std::string& path) {
  return !path.empty() && path[0] == '/';
}

// The subject folder is a path, not a pattern: neutralise glob metacharacters in it with
// one-character classes (glob.escape's method; GLOB_NOESCAPE makes backslash a plain character).
std::string escape_glob(const std::string& path) {
  std::string out;
  for (const char c : path) {
    if (c == '*' || c == '?' || c == '[') {
      out += '[';
      out += c;
      out += ']';
    } else {
      out += c;
    }
  }
  return out;
}

/// Owns a glob_t so that globfree runs on every path out.
class GlobResult {
public:
  GlobResult() = default;
  GlobResult(const GlobResult&) = delete;
  GlobResult& operator=(const GlobResult&) = delete;
  ~GlobResult() { globfree(&g_); }
  glob_t* get() { return &g_; }
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < g_.gl_pathc; ++i)
      out.emplace_back(g_.gl_pathv[i]);
    return out;
  }

private:
  glob_t g_{};
};

/// Regular files matching `pattern`, sorted bytewise.
std::vector<std::string> glob_files(const std::string& pattern, const std::string& entry) {
  GlobResult result;
  // No GLOB_PERIOD: wildcards skip dot-files, as Python's glob. No GLOB_ERR: unreadable folders
  // are skipped, as Python's glob. Python's fnmatch has no backslash escapes: GLOB_NOESCAPE.
  const int rc = glob(pattern.c_str(), GLOB_NOSORT | GLOB_NOESCAPE, nullptr, result.get());
  if (rc == GLOB_NOMATCH) return {};
  if (rc == GLOB_NOSPACE) throw Error("pattern " + quoted(entry) + ": out of memory while globbing");
  if (rc != 0) throw Error("pattern " + quoted(entry) + ": glob failed (code " + std::to_string(rc) + ")");

  std::vector<std::string> files;
  for (std::string& path : result.paths()) {
    // dwi_ml would keep directories and dangling links and fail on them while loading.
    if (is_regular_file(path) || is_trx_folder(path))
      files.push_back(std::move(path));
    else if (!is_directory(path))
      log::warning("pattern " + quoted(entry) + " matches " + quoted(path) +
                   ", which is not a regular file (dangling link?); skipped");
  }
  // Bytewise order, so that the concatenation order does not depend on the filesystem.
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

ResolvedFiles resolve_entries(const std::string& subject_dir, const std::vector<std::string>& entries) {
  ResolvedFiles out;
  for (const std::string& entry : entries) {
    if (entry.find('*') != std::string::npos) {
      const std::string pattern = is_absolute(entry) ? entry : join_path(escape_glob(subject_dir), entry);
      std::vector<std::string> matches = glob_files(pattern, entry);
      if (matches.empty())
        out.missing.push_back(entry);
      else
        out.files.insert(out.files.end(), matches.begin(), matches.end());
    } else {
      // Literal: '?' and '[' are plain characters here, as in dwi_ml.
      std::string path = join_path(subject_dir, entry);
      while (path.size() > 1 && path.back() == '/' && is_trx_folder(path.substr(0, path.size() - 1)))
        path.pop_back(); // "bundle.trx/" names the folder; its extension must stay visible
      if (is_regular_file(path) || is_trx_folder(path))
        out.files.push_back(std::move(path));
      else
        out.missing.push_back(entry);
    }
  }
  return out;
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_trx_folder(const std::string& path) {
  return extension_of(path) == ".trx" && is_directory(path);
}

std::string extension_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t first = base.find_first_not_of('.');
  if (first == std::string::npos) return "";
  const size_t dot = base.rfind('.');
  if (dot == std::string::npos || dot < first) return "";
  return base.substr(dot);
}

std::string join_path(const std::string& dir, const std::string& entry) {
  // os.path.join semantics for the cases we meet: an absolute entry escapes the folder.
  if ((!entry.empty() && entry[0] == '/') || dir.empty()) return entry;
  if (dir.back() == '/') return dir + entry;
  return dir + "/" + entry;
}

} // namespace dwipack::io
