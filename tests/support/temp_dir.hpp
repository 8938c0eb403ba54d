#pragma once
// A temporary folder for one test, removed (recursively) when the object dies.
#include <string>

namespace dwipack::test {

class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  /// Write `content` to path()/name; returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

private:
  std::string path_;
};

/// Run a command (no shell expansion of our data: arguments are quoted), return its exit code.
int run_command(const std::string& command);
/// Write bytes to a file (throws std::runtime_error on failure).
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
/// Quote a string for /bin/sh.
std::string shell_quote(const std::string& s);

} // namespace dwipack::test
