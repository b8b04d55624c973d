#pragma once
// Helpers shared by the ZooKeeper integration tests.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
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

inline std::shared_ptr<coordinator> connect(const std::string& where,
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

}  // namespace dstm_zk_test
