#pragma once
// A hand-off between a producer thread and a consumer thread over a fixed set of reusable
// buffers (the streamline reader -> compute -> writer chain, the NIfTI decoder -> converter).
#include "dwipack/util/interrupt.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace dwipack {

/// A hand-off between two threads with a fixed set of reusable buffers: the producer takes an
/// empty buffer, fills it and hands it over (`Full` describes a filled one); the consumer takes
/// full ones in order and gives their buffers back. Nothing is allocated while it runs.
template <class Empty, class Full> class Handoff {
public:
  explicit Handoff(std::vector<Empty> buffers) : free_(std::move(buffers)) {}

  /// Producer: an empty buffer (waits while all are in use).
  Empty take() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty() || cancelled_; });
    if (cancelled_) throw Cancelled{};
    Empty empty = free_.back();
    free_.pop_back();
    return empty;
  }
  /// Producer: a filled buffer, for the consumer.
  void give(const Full& full) {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.push_back(full);
    changed_.notify_all();
  }
  /// Producer: no more buffers (normally or after an error, which the consumer rethrows).
  void close(std::exception_ptr error = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    error_ = error;
    changed_.notify_all();
  }
  /// Consumer: the next full buffer; false when the producer has closed and all were taken.
  /// While it waits, it looks for a signal every 50 ms (interrupt::check_interrupted() throws,
  /// and drain() then stops the producer): a slow producer does not delay a stop.
  bool pop(Full& full) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (
        !changed_.wait_for(lock, std::chrono::milliseconds(50), [&] { return !ready_.empty() || closed_; })) {
      lock.unlock();
      interrupt::check_interrupted();
      lock.lock();
    }
    if (ready_.empty()) return false;
    full = ready_.front();
    ready_.pop_front();
    return true;
  }
  /// Consumer: a buffer is free again.
  void recycle(Empty empty) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(empty);
    changed_.notify_all();
  }
  /// Consumer: stop the producer (it throws Cancelled at its next take()).
  void cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }
  /// Consumer: `each` on every full buffer in order, then join the producer thread and rethrow
  /// its error, if any. If `each` throws, the producer is cancelled and joined first.
  template <class Each> void drain(std::thread& producer, Each&& each) {
    try {
      Full full;
      while (pop(full))
        each(full);
    } catch (...) {
      cancel();
      producer.join();
      throw;
    }
    producer.join();
    if (error_) std::rethrow_exception(error_);
  }

  struct Cancelled {};

private:
  std::vector<Empty> free_;
  std::deque<Full> ready_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

} // namespace dwipack
