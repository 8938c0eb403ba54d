#pragma once
// A byte vector whose resize() leaves the new bytes uninitialised: message and chunk buffers that
// are filled right after they grow (std::vector would zero every new byte first).
#include <memory>
#include <utility>
#include <vector>

namespace dwipack {

/// An allocator whose value-initialising construct() does nothing (other constructs as usual).
template <class T> struct UninitializedAllocator : std::allocator<T> {
  template <class U> struct rebind { using other = UninitializedAllocator<U>; };
  UninitializedAllocator() = default;
  template <class U> UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <class U> void construct(U* p) noexcept { ::new (static_cast<void*>(p)) U; }
  template <class U, class... Args> void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using Bytes = std::vector<unsigned char, UninitializedAllocator<unsigned char>>;

} // namespace dwipack
