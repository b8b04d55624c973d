#pragma once
/// \file
/// A one-shot flag for real threads: the `event` of the ZooKeeper and embedded coordinators.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace dstm::detail {

class thread_event {
 public:
  /// Sets the flag and wakes every waiter; safe from any thread, never blocks for long.
  void set() {
    // Notify under the lock: a waiter that wakes may destroy the event as soon as it can
    // take the mutex, so set() must not touch the condition variable after releasing it.
    std::lock_guard lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  bool is_set() const {
    std::lock_guard lock(mutex_);
    return set_;
  }
  /// Waits until set or `timeout_ns` passed (negative: forever); true when set.
  bool wait(std::int64_t timeout_ns) {
    std::unique_lock lock(mutex_);
    if (timeout_ns < 0) {
      cv_.wait(lock, [&] { return set_; });
      return true;
    }
    return cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns), [&] { return set_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

}  // namespace dstm::detail
