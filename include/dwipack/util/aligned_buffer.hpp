#pragma once
// The one aligned byte buffer: page-aligned memory for O_DIRECT reads and writes (the kernel
// moves such data straight between the buffer and the disk, so the address, like the offsets
// and sizes, must be a multiple of the page).
#include <cstddef>
#include <cstdlib>
#include <memory>

namespace dwipack {

/// Uninitialised bytes at an address that is a multiple of `alignment`. Move-only. Grows only
/// (reserve), freeing the old array before allocating the new one, so two large buffers never
/// coexist; the content is unspecified after a growth.
class AlignedBuffer {
public:
  /// O_DIRECT's alignment on Linux file systems (the page).
  static constexpr size_t page_bytes = 4096;

  AlignedBuffer() = default;
  /// `bytes` bytes at once. `alignment` is a power of two, at least sizeof(void*).
  explicit AlignedBuffer(size_t bytes, size_t alignment = page_bytes);

  unsigned char* data() noexcept { return data_.get(); }
  const unsigned char* data() const noexcept { return data_.get(); }
  /// The bytes usable from data().
  size_t size() const noexcept { return size_; }
  size_t alignment() const noexcept { return alignment_; }

  /// At least `bytes` bytes from now on (a no-op if there are already). Throws std::bad_alloc.
  void reserve(size_t bytes);

private:
  struct Free {
    void operator()(unsigned char* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<unsigned char, Free> data_;
  size_t size_ = 0;
  size_t alignment_ = page_bytes;
};

} // namespace dwipack
