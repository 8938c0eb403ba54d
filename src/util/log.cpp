#include "dwipack/util/log.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace dwipack::log {
namespace {
Level g_level = Level::warning; // dwi_ml's default
int g_rank = -1;
} // namespace

void set_level(Level l) {
  g_level = l;
}
Level level() {
  return g_level;
}
void set_rank(int rank) {
  g_rank = rank;
}

Level parse_level(const std::string& name) {
  std::string up = name;
  std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
  if (up == "DEBUG") return Level::debug;
  if (up == "INFO") return Level::info;
  if (up == "WARNING") return Level::warning;
  if (up == "ERROR") return Level::error;
  throw Error("unknown log level '" + name + "', expected DEBUG, INFO, WARNING or ERROR");
}

void write(Level l, const std::string& message) {
  if (l < g_level) return;
  const char* tag = l == Level::debug     ? "DEBUG"
                    : l == Level::info    ? "INFO"
                    : l == Level::warning ? "WARNING"
                                          : "ERROR";
  std::string line;
  if (g_rank >= 0) line = "[rank " + std::to_string(g_rank) + "] ";
  line += tag;
  line += ": ";
  line += message;
  line += '\n';
  // One fwrite per line so that lines from different ranks do not interleave mid-line.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace dwipack::log
