#pragma once
/// \file
/// The state of one request to the ZooKeeper C client, shared by the caller that waits for it
/// and the completion callback that fills it, and the table of watches not yet fired.
///
/// The completion can arrive after the caller stopped waiting (request timeout), so the state
/// is reference-counted: the C client's `data` pointer owns one reference, released when the
/// completion has run.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "dstm/coordinator/types.hpp"

namespace dstm::zookeeper::detail {

/// Watches handed to the C client and not yet fired. The C client gets a watch's id as its
/// context, never a pointer, so a late or repeated callback for a watch already gone finds
/// nothing instead of freed memory.
class watch_table {
 public:
  std::uint64_t add(watch w) {
    std::lock_guard lock(mutex_);
    const auto id = next_++;
    map_.emplace(id, std::move(w));
    return id;
  }
  /// Removes and returns the watch; nullopt when it already fired or was dropped.
  std::optional<watch> take(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    std::optional<watch> w(std::move(it->second));
    map_.erase(it);
    return w;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return map_.size();
  }
  void clear() {
    std::unordered_map<std::uint64_t, watch> gone;
    {
      std::lock_guard lock(mutex_);
      gone.swap(map_);
    }
    // Destroyed outside the lock: a watch's captures may have destructors that take locks.
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, watch> map_;
  std::uint64_t next_ = 1;
};

/// One request's reply: its return code and value `T`, set once by the completion callback.
template <class T>
class pending {
 public:
  using clock = std::chrono::steady_clock;

  /// Called once, on the completion thread: records `rc`, lets `fill` write the value, wakes
  /// the waiter. Never throws and never blocks beyond a short critical section.
  template <class Fill>
  void complete(int rc, Fill&& fill) noexcept {
    {
      std::lock_guard lock(mutex_);
      rc_ = rc;
      try {
        fill(value_);
      } catch (...) {
        rc_ = static_cast<int>(coordinator_errc::marshalling_error);
      }
      done_ = true;
    }
    cv_.notify_all();
    if (then_) {
      try {
        then_(rc_, value_);
      } catch (...) {
      }
    }
  }

  /// Hands the reply to `fn(rc, value)` on the completion thread, for a request nobody waits
  /// for. Set before the request is sent.
  void then(std::function<void(int, T&)> fn) { then_ = std::move(fn); }
  void complete(int rc) noexcept {
    complete(rc, [](T&) {});
  }

  /// Waits for the reply until `deadline` (nullopt: forever); true when it arrived.
  bool wait_until(const std::optional<clock::time_point>& deadline) {
    std::unique_lock lock(mutex_);
    if (!deadline) {
      cv_.wait(lock, [&] { return done_; });
      return true;
    }
    return cv_.wait_until(lock, *deadline, [&] { return done_; });
  }

  /// Valid after `wait_until` returned true.
  int rc() const noexcept { return rc_; }
  T& value() noexcept { return value_; }

  /// The watch this read registered, and whether the C client activated it for this reply
  /// (it does so only for some return codes). A watch that was not activated never fires, so
  /// the completion drops it from the table.
  void track_watch(std::shared_ptr<watch_table> table, std::uint64_t id) noexcept {
    watches_ = std::move(table);
    watch_id_ = id;
  }
  void drop_watch() noexcept {
    if (watches_ && watch_id_) {
      try {
        watches_->take(watch_id_);
      } catch (...) {
      }
    }
  }
  void drop_watch_unless(bool activated) noexcept {
    if (!activated) drop_watch();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  int rc_ = 0;
  T value_{};
  std::function<void(int, T&)> then_;
  std::shared_ptr<watch_table> watches_;
  std::uint64_t watch_id_ = 0;
};

/// Takes back the reference the C client held in a completion's `data`.
template <class T>
std::shared_ptr<pending<T>> adopt(const void* data) noexcept {
  auto* holder = static_cast<std::shared_ptr<pending<T>>*>(const_cast<void*>(data));
  std::shared_ptr<pending<T>> p = std::move(*holder);
  delete holder;
  return p;
}

}  // namespace dstm::zookeeper::detail
