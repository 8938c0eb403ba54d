#include "dwipack/util/crc32.hpp"

#include <isa-l/crc.h>

namespace dwipack {

void Crc32::update(const void* data, size_t n_bytes) {
  // ISA-L's folding CRC runs at memory speed (PCLMULQDQ); its length argument is 64-bit.
  value = crc32_gzip_refl(value, static_cast<const unsigned char*>(data), n_bytes);
  bytes += n_bytes;
}

} // namespace dwipack
