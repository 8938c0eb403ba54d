#pragma once
// Bit-level comparisons and raw-file loading shared by the unit tests.
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace dwipack::test {

/// The bit pattern of a float (so -0.0 != +0.0 and NaN payloads count).
inline uint32_t bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

/// A raw file of T values (e.g. written by numpy's tofile).
template <class T> std::vector<T> load_raw(const std::string& path) {
  const std::string bytes = read_file(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

/// Bit-exact comparison, listing the first differences.
inline testing::AssertionResult same_bits(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size())
    return testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  size_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < got.size(); ++i) {
    if (bits(got[i]) == bits(want[i])) continue;
    if (bad < 5)
      first << "\n  [" << i << "] got " << got[i] << " (0x" << std::hex << bits(got[i]) << ") want "
            << std::dec << want[i] << " (0x" << std::hex << bits(want[i]) << std::dec << ")";
    ++bad;
  }
  if (bad == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << bad << " of " << got.size() << " values differ:" << first.str();
}

} // namespace dwipack::test
