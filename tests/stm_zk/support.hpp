#pragma once
// Drives the STM workloads of sim/workloads/stm.hpp against real ZooKeeper servers: the same
// classes as in the simulation, on std::threads, each with its own dstm::zookeeper client; a
// nemesis thread may run beside them; a watchdog turns a deadlock into a fast, explained failure.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <dstm/sim/workloads/stm.hpp>
#include <dstm/zookeeper.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stm_zk {

namespace sim = dstm::sim;
namespace stm = dstm::sim::workloads::stm;
namespace zk = dstm::zookeeper;
using namespace std::chrono_literals;

/// Sessions opened for the clients of one run, so that a nemesis can expire them and the test
/// can read the clients' metrics afterwards.
class session_registry {
 public:
  void add(const std::shared_ptr<zk::coordinator>& s) {
    std::lock_guard lock(mutex_);
    sessions_.push_back(s);
  }
  void add(const std::shared_ptr<dstm::client>& c) {
    std::lock_guard lock(mutex_);
    clients_.push_back(c);
  }
  /// A connected session, chosen by `pick` among the live ones, or null.
  std::shared_ptr<zk::coordinator> live(std::uint64_t pick) {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<zk::coordinator>> live;
    for (auto& w : sessions_) {
      if (auto s = w.lock(); s && s->state() == dstm::session_state::connected) live.push_back(s);
    }
    return live.empty() ? nullptr : live[pick % live.size()];
  }
  std::uint64_t reconnects() {
    std::lock_guard lock(mutex_);
    std::uint64_t n = 0;
    for (auto& c : clients_) n += c->metrics().reconnects;
    return n;
  }

 private:
  std::mutex mutex_;
  std::vector<std::weak_ptr<zk::coordinator>> sessions_;
  std::vector<std::shared_ptr<dstm::client>> clients_;
};

/// Aborts the test process, with a message, if it is not destroyed within `limit`: a deadlock
/// then fails fast and says so, instead of running into CTest's timeout. `before_abort` runs
/// first (it stops the server, whose files an abort would leave behind).
class watchdog {
 public:
  watchdog(std::chrono::seconds limit, std::string what, std::function<void()> before_abort)
      : thread_([this, limit, what = std::move(what), before_abort = std::move(before_abort)] {
          std::unique_lock lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr,
                         "%s did not finish within %lld s: a deadlock? (gdb -p PID, then "
                         "'thread apply all bt')\n",
                         what.c_str(), static_cast<long long>(limit.count()));
            if (before_abort) before_abort();
            std::abort();
          }
        }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

/// Where a run's clients connect, how long it may take, and what to stop before a watchdog
/// aborts the process (servers, whose JVMs and files an abort would leave behind).
struct zk_target {
  std::function<std::string()> connect_string;
  std::function<void()> before_abort;
  std::chrono::seconds limit = 60s;
  /// Waits until the servers can serve again (after a nemesis): before setup and the final
  /// check. Null: nothing to wait for.
  std::function<void()> settle = {};
};

/// A root znode unique to the running test.
inline std::string test_root() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/") + info->test_suite_name() + "." + info->name();
}

/// The workload's options for real threads and real time.
inline stm::options workload_options(dstm::isolation level, bool ensure = false, int ops = 200) {
  stm::options o;
  o.root = test_root();
  o.ops = ops;
  o.level = level;
  o.ensure = ensure;
  o.sleep = [](std::int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); };
  const auto start = std::chrono::steady_clock::now();
  o.clock = [start] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                start)
        .count();
  };
  return o;
}

inline dstm::client_options client_options(dstm::isolation level) {
  dstm::client_options o;
  o.root = test_root() + "/dstm";
  o.max_retries = 500;
  o.backoff_min_ns = 100'000;
  o.backoff_max_ns = 20'000'000;
  o.default_isolation = level;
  return o;
}

/// A client whose sessions (also those opened after an expiry) are recorded in `sessions`.
inline std::shared_ptr<dstm::client> connect(const zk_target& target, const dstm::client_options& o,
                                             session_registry& sessions) {
  const std::string where = target.connect_string();
  auto c = dstm::connect_with(
      [where, &sessions] {
        auto s = std::make_shared<zk::coordinator>(where);
        sessions.add(s);
        return s;
      },
      o);
  sessions.add(c);
  return c;
}

/// Setup on one client, `clients` threads of `client_loop`, then `finish` on a fresh client.
/// `nemesis` runs on its own thread until the clients are done.
template <class Workload>
sim::workload_result drive(Workload& wl, const zk_target& target, const dstm::client_options& o,
                           int clients, std::uint64_t seed, session_registry& sessions,
                           std::function<void(const std::atomic<bool>&)> nemesis = {}) {
  // The deadlocked threads never touch the server object again: it is safe to stop it here.
  watchdog guard(target.limit, test_root(), target.before_abort);
  if (target.settle) target.settle();
  {
    auto c = connect(target, o, sessions);
    wl.setup(c);
    c->close();
  }
  std::atomic<bool> done{false};
  std::thread chaos;
  std::string chaos_failure;  // a nemesis that cannot go on (no quorum) fails the test
  if (nemesis) {
    chaos = std::thread([&] {
      try {
        nemesis(done);
      } catch (const std::exception& e) {
        chaos_failure = e.what();
      }
    });
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      sim::rng r(seed * 1000 + static_cast<std::uint64_t>(i));
      try {
        auto c = connect(target, o, sessions);
        wl.client_loop(c, r, i);
        wl.note_client(*c);
        c->close();
      } catch (const std::exception& e) {
        wl.client_stopped(i, e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  if (chaos.joinable()) chaos.join();
  if (!chaos_failure.empty()) ADD_FAILURE() << "nemesis: " << chaos_failure;
  if (target.settle) target.settle();
  sim::workload_result result;
  session_registry final_sessions;
  auto c = connect(target, o, final_sessions);
  wl.finish(c, result);
  c->close();
  return result;
}

template <class Workload>
void expect_clean(const Workload& wl, const sim::workload_result& r) {
  std::string why;
  for (const auto& e : r.explanations) why += "  " + e + "\n";
  EXPECT_EQ(r.anomalies, 0u) << why << "transactions: " << stm::describe(wl.stats());
  EXPECT_GT(wl.stats().committed, 0u);
  EXPECT_EQ(wl.stats().failed, 0u);
  EXPECT_GT(r.history.size(), 0u);
  std::printf("[ zk run   ] %s: %s\n", test_root().c_str(), stm::describe(wl.stats()).c_str());
}

}  // namespace stm_zk
