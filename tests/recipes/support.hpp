#pragma once
// Helpers shared by the recipe unit tests on the embedded coordinator.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dstm/embedded.hpp"
#include "faulty.hpp"

namespace dstm_recipes_test {

using namespace std::chrono_literals;
using embedded_coordinator = dstm::embedded::coordinator;
using faulty_embedded = faulty<embedded_coordinator>;

/// One embedded store and sessions on it.
struct embedded_env {
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();

  std::shared_ptr<embedded_coordinator> open() const { return dstm::embedded::open(store); }

  std::shared_ptr<faulty_embedded> open_faulty() const {
    auto s = store;
    return std::make_shared<faulty_embedded>([s] { return dstm::embedded::open(s); });
  }

  /// The children of `path` (empty when it does not exist), sorted.
  std::vector<std::string> children(const std::string& path) const {
    auto c = open();
    std::error_code ec;
    auto kids = c->children(path, {}, ec);
    auto names = kids.names;
    std::sort(names.begin(), names.end());
    return names;
  }

  bool exists(const std::string& path) const {
    auto c = open();
    return c->exists(path).has_value();
  }
};

/// Polls `pred` until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

/// Runs `f` on a thread and joins it on destruction.
class background {
 public:
  explicit background(std::function<void()> f) : t_(std::move(f)) {}
  ~background() {
    if (t_.joinable()) t_.join();
  }
  void join() { t_.join(); }

 private:
  std::thread t_;
};

}  // namespace dstm_recipes_test
