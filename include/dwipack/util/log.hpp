#pragma once
// Minimal levelled logging to stderr, each line prefixed with the MPI rank when there are
// several ranks, so that 64 ranks' output can be told apart in a SLURM log.
#include <sstream>
#include <string>

namespace dwipack::log {

enum class Level { debug = 10, info = 20, warning = 30, error = 40 };

void set_level(Level level);
Level level();

/// Sets the level for its lifetime and restores the previous one, on every path out.
class LevelLatch {
public:
  explicit LevelLatch(Level level) : previous_(log::level()) { set_level(level); }
  ~LevelLatch() { set_level(previous_); }
  LevelLatch(const LevelLatch&) = delete;
  LevelLatch& operator=(const LevelLatch&) = delete;

private:
  Level previous_;
};
/// Parse "DEBUG", "INFO", "WARNING", "ERROR" (any case); throws Error otherwise.
Level parse_level(const std::string& name);
/// Set the rank shown in the prefix (-1 hides it; set when the job has a single rank).
void set_rank(int rank);

void write(Level level, const std::string& message);

inline void debug(const std::string& m) {
  write(Level::debug, m);
}
inline void info(const std::string& m) {
  write(Level::info, m);
}
inline void warning(const std::string& m) {
  write(Level::warning, m);
}
inline void error(const std::string& m) {
  write(Level::error, m);
}

} // namespace dwipack::log
