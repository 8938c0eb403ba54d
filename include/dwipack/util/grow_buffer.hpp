#pragma once
// A grow-only array whose new elements are left uninitialised: the buffers a worker reuses across
// files and subjects (first touch of fresh memory is slow on VMs, and std::vector would also zero
// every new element before the decoder or converter overwrites it).
#include <cstddef>
#include <memory>

namespace dwipack {

template <class T> class GrowBuffer {
public:
  /// At least n elements; the content is unspecified after a growth. The old array is freed
  /// before the new one is allocated: two big buffers never coexist.
  T* get(size_t n) {
    if (n > size_) {
      data_.reset();
      data_.reset(new T[n]);
      size_ = n;
    }
    return data_.get();
  }
  size_t size() const { return size_; }

private:
  std::unique_ptr<T[]> data_;
  size_t size_ = 0;
};

} // namespace dwipack
