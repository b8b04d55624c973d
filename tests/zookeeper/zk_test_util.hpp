#pragma once
// Helpers shared by the ZooKeeper integration tests.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dstm_zk_test {

using namespace std::chrono_literals;
using dstm::zookeeper::coordinator;

/// Polls `pred` until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

/// A root znode unique to the running test, so tests sharing one server do not collide.
inline std::string test_root() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/") + info->test_suite_name() + "." + info->name();
}

inline std::shared_ptr<coordinator> open_session(const std::string& where,
                                            coordinator::options o = {}) {
  return std::make_shared<coordinator>(where, std::move(o));
}

/// Freezes a server process (SIGSTOP): connections stay open, nothing is answered. Thaws it
/// on destruction, also when an assertion leaves the test early.
class freeze {
 public:
  explicit freeze(pid_t pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
  freeze(const freeze&) = delete;
  freeze& operator=(const freeze&) = delete;
  ~freeze() { thaw(); }
  void thaw() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

/// Records the session states a listener saw.
class state_log {
 public:
  void operator()(dstm::session_state s) {
    std::lock_guard lock(mutex_);
    states_.push_back(s);
  }
  std::vector<dstm::session_state> states() const {
    std::lock_guard lock(mutex_);
    return states_;
  }
  bool saw(dstm::session_state s) const {
    std::lock_guard lock(mutex_);
    for (auto x : states_) {
      if (x == s) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<dstm::session_state> states_;
};

/// What `check_watch_order` observed.
struct watch_order_result {
  long checks = 0;      ///< reads of /b
  long refreshes = 0;   ///< reads of /a (cache refills)
  long violations = 0;  ///< /b newer than a cache of /a not yet invalidated
};

/// The ordering promise the STM's cache rests on: a session sees the event for a znode (in an
/// in_order watch) before any reply that reflects the change, replies for other znodes
/// included. `writer` sets `a` then `b` to i = 1, 2, ... The reader caches `a` (invalidated by
/// an in_order watch) and reads `b`; if it sees b == i while its cache of `a` is still valid,
/// the cache must hold a value >= i. Dispatching the invalidation off the completion thread
/// breaks this (measured: violations in two of three 2-second runs with plain watches).
inline watch_order_result check_watch_order(coordinator& writer, coordinator& reader,
                                            const std::string& a, const std::string& b,
                                            std::chrono::milliseconds duration) {
  writer.create(a, "0");
  writer.create(b, "0");
  std::atomic<bool> stop{false};
  std::thread w([&] {
    for (long i = 1; !stop.load(); ++i) {
      std::error_code ec;
      writer.set(a, std::to_string(i), dstm::any_version, ec);
      writer.set(b, std::to_string(i), dstm::any_version, ec);
    }
  });
  watch_order_result r;
  std::atomic<bool> valid{false};
  long cached = 0;
  const auto end = std::chrono::steady_clock::now() + duration;
  try {
    while (std::chrono::steady_clock::now() < end) {
      if (!valid.load()) {
        // Marked valid before the read: the watch this read sets is the only one armed, and
        // it may fire (on the completion thread) before this thread runs again.
        valid.store(true);
        auto n = reader.get(a, dstm::watch{[&](const dstm::watch_event&) { valid.store(false); },
                                           true});
        cached = std::stol(n.data);
        ++r.refreshes;
      }
      const long bv = std::stol(reader.get(b).data);
      ++r.checks;
      if (valid.load() && bv > cached) ++r.violations;
    }
  } catch (...) {
    stop.store(true);
    w.join();
    throw;
  }
  stop.store(true);
  w.join();
  std::printf("[ ordering ] %ld checks, %ld refreshes of %s, %ld violations\n", r.checks,
              r.refreshes, a.c_str(), r.violations);
  return r;
}

}  // namespace dstm_zk_test
