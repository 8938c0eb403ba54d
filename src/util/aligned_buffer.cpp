#include "dwipack/util/aligned_buffer.hpp"

#include <new>
#include <stdexcept>

namespace dwipack {

AlignedBuffer::AlignedBuffer(size_t bytes, size_t alignment) : alignment_(alignment) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0)
    throw std::invalid_argument("AlignedBuffer: the alignment must be a power of two >= sizeof(void*)");
  reserve(bytes);
}

void AlignedBuffer::reserve(size_t bytes) {
  if (bytes <= size_) return;
  data_.reset();
  size_ = 0;
  void* p = nullptr;
  if (posix_memalign(&p, alignment_, bytes) != 0) throw std::bad_alloc();
  data_.reset(static_cast<unsigned char*>(p));
  size_ = bytes;
}

} // namespace dwipack
