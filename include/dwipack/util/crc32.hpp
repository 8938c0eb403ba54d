#pragma once
// A running CRC-32 (the gzip/zlib polynomial) over bytes fed in order. --resume uses it to tell
// a subject whose data reached the file from one whose data was lost with a crashed node.
#include <cstddef>
#include <cstdint>

namespace dwipack {

struct Crc32 {
  uint32_t value = 0;
  uint64_t bytes = 0; ///< how many bytes were fed

  void update(const void* data, size_t n_bytes);
};

} // namespace dwipack
