#include "dwipack/util/crc32.hpp"

#include "dwipack/util/gzip.hpp"

namespace dwipack {

void Crc32::update(const void* data, size_t n_bytes) {
  value = gzip::crc32(value, data, n_bytes);
  bytes += n_bytes;
}

} // namespace dwipack
