// The recipes against real ZooKeeper: a standalone server shared by the `RecipesZk` suite, and
// a three-server ensemble whose leader is killed in `RecipesZkEnsemble`. Sessions are expired
// on the server (a second handle attaches to the session and closes it), as a real expiry
// does: the holder hears of it only afterwards.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "dstm/recipes/all.hpp"
#include "dstm/testing/zookeeper_server.hpp"
#include "dstm/zookeeper.hpp"
#include "faulty.hpp"

namespace dstm_recipes_zk {
namespace {

using namespace std::chrono_literals;
using zk_coordinator = dstm::zookeeper::coordinator;
namespace r = dstm::recipes;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

std::string root() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/") + info->test_suite_name() + "." + info->name();
}

/// A store that refuses accesses with a fencing token older than the newest it saw.
class fenced_store {
 public:
  bool write(std::int64_t token) {
    std::lock_guard lock(m_);
    if (token < max_) {
      ++refused_;
      return false;
    }
    max_ = token;
    ++value_;
    return true;
  }
  int refused() const {
    std::lock_guard lock(m_);
    return refused_;
  }

 private:
  mutable std::mutex m_;
  std::int64_t max_ = 0;
  int value_ = 0;
  int refused_ = 0;
};

class RecipesZk : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new dstm::testing::zookeeper_server(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::shared_ptr<zk_coordinator> open() {
    return std::make_shared<zk_coordinator>(server_->connect_string());
  }
  static void expire(const zk_coordinator& c) {
    zk_coordinator::expire_session(server_->connect_string(), c.session_id(), c.session_password());
  }
  static inline dstm::testing::zookeeper_server* server_ = nullptr;
};

TEST_F(RecipesZk, MutexExcludesAndTokensGrow) {
  const auto path = root() + "/lock";
  std::atomic<int> inside{0}, max_inside{0};
  std::mutex tokens_mutex;
  std::vector<std::int64_t> tokens;
  {
    std::vector<std::jthread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        r::mutex m(open(), path);
        for (int i = 0; i < 10; ++i) {
          r::lock_guard g(m);
          const int now = ++inside;
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          {
            std::lock_guard lock(tokens_mutex);
            tokens.push_back(g.token());
          }
          std::this_thread::sleep_for(1ms);
          --inside;
        }
      });
    }
  }
  EXPECT_EQ(max_inside.load(), 1);
  ASSERT_EQ(tokens.size(), 40u);
  for (std::size_t i = 1; i < tokens.size(); ++i) EXPECT_LT(tokens[i - 1], tokens[i]);
  EXPECT_TRUE(open()->children(path).names.empty());
}

// The holder's session is expired by the server: the holder is told, a waiter takes over,
// and the fenced store refuses the old holder's token from then on.
TEST_F(RecipesZk, HolderExpiredOnTheServerIsToldAndFenced) {
  const auto path = root() + "/lock";
  auto holder_zk = open();
  std::atomic<bool> lost{false};
  r::lock_options o;
  o.on_lost = [&] { lost = true; };
  r::mutex holder(holder_zk, path, o);
  holder.lock();
  const auto old_token = holder.token();
  fenced_store store;
  ASSERT_TRUE(store.write(old_token));
  std::atomic<std::int64_t> new_token{0};
  std::jthread waiter([&] {
    r::mutex m(open(), path);
    r::lock_guard g(m);
    new_token = g.token();
    store.write(g.token());
  });
  ASSERT_TRUE(eventually([&] { return holder.contenders().size() == 2; }));
  expire(*holder_zk);
  ASSERT_TRUE(eventually([&] { return new_token.load() != 0; }));
  EXPECT_GT(new_token.load(), old_token);
  EXPECT_FALSE(store.write(old_token)) << "a stale holder's write went through";
  ASSERT_TRUE(eventually([&] { return lost.load(); }));
  EXPECT_FALSE(holder.is_held());
  holder.unlock();  // nothing left to remove; no throw
  EXPECT_THROW(holder.lock(), dstm::error);
}

// Session events reach a waiter whose session the server expires.
TEST_F(RecipesZk, WaiterWakesWhenItsSessionIsExpired) {
  const auto path = root() + "/lock";
  r::mutex holder(open(), path);
  holder.lock();
  auto zk = open();
  std::atomic<int> outcome{0};
  std::jthread waiter([&] {
    r::mutex m(zk, path);
    try {
      m.lock();
      outcome = 1;
    } catch (const dstm::error& e) {
      outcome = e.code() == dstm::errc::session_expired ? 2 : 3;
    }
  });
  ASSERT_TRUE(eventually([&] { return holder.contenders().size() == 2; }));
  expire(*zk);
  EXPECT_TRUE(eventually([&] { return outcome.load() != 0; }, 10s));
  EXPECT_EQ(outcome.load(), 2);
  holder.unlock();
}

// Watches only set flags: no coordinator call from the C client's completion thread.
TEST_F(RecipesZk, NoCoordinatorCallOnTheCompletionThread) {
  const auto path = root() + "/lock";
  auto zk = std::make_shared<dstm_recipes_test::faulty<zk_coordinator>>([] { return open(); });
  r::mutex holder(open(), path);
  holder.lock();
  std::jthread waiter([&] {
    r::mutex m(zk, path);
    m.lock();
    m.unlock();
  });
  ASSERT_TRUE(eventually([&] { return holder.contenders().size() == 2; }));
  holder.unlock();
  waiter.join();
  EXPECT_EQ(zk->calls_inside_watches(), 0);
}

TEST_F(RecipesZk, SharedMutexSemaphoreAndBarriers) {
  const auto base = root();
  r::shared_mutex r1(open(), base + "/rw"), r2(open(), base + "/rw"), w(open(), base + "/rw");
  EXPECT_TRUE(r1.try_lock_shared());
  EXPECT_TRUE(r2.try_lock_shared());
  EXPECT_FALSE(w.try_lock());
  r1.unlock_shared();
  r2.unlock_shared();
  EXPECT_TRUE(w.try_lock());
  w.unlock();

  r::semaphore s1(open(), base + "/sem", 2), s2(open(), base + "/sem", 2);
  auto a = s1.acquire();
  auto b = s2.acquire();
  EXPECT_FALSE(s1.try_acquire());
  b.release();
  EXPECT_TRUE(s1.try_acquire_for(2s));

  std::atomic<int> entered{0};
  {
    std::vector<std::jthread> ts;
    for (int i = 0; i < 3; ++i) {
      ts.emplace_back([&] {
        r::double_barrier db(open(), base + "/db", 3);
        EXPECT_TRUE(db.enter());
        ++entered;
        EXPECT_TRUE(db.leave());
      });
    }
  }
  EXPECT_EQ(entered.load(), 3);

  r::barrier gate(open(), base + "/gate");
  gate.raise();
  std::atomic<bool> passed{false};
  std::jthread t([&] { passed = r::barrier(open(), base + "/gate").wait(); });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(passed.load());
  gate.lower();
  t.join();
  EXPECT_TRUE(passed.load());
}

TEST_F(RecipesZk, GroupCounterQueueMemoize) {
  const auto base = root();
  auto observer_zk = open();
  r::group observer(observer_zk, base + "/group", "observer");
  std::mutex m;
  std::vector<std::string> last;
  observer.watch([&](const std::vector<std::string>& members) {
    std::lock_guard lock(m);
    last = members;
  });
  auto member_zk = open();
  r::group member(member_zk, base + "/group", "worker-1", "10.0.0.1");
  member.join();
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return last == std::vector<std::string>{"worker-1"};
  }));
  expire(*member_zk);  // a member that dies leaves the group
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return last.empty();
  }));

  {
    std::vector<std::jthread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        r::counter c(open(), base + "/counter");
        for (int i = 0; i < 25; ++i) c += 1;
      });
    }
  }
  EXPECT_EQ(r::counter(open(), base + "/counter").value(), 100);

  r::queue q(open(), base + "/queue");
  for (int i = 0; i < 10; ++i) q.put("job" + std::to_string(i));
  std::set<std::string> done;
  r::queue consumer(open(), base + "/queue");
  while (auto it = consumer.take(200'000'000)) {
    done.insert(it->data());
    it->ack();
  }
  EXPECT_EQ(done.size(), 10u);

  std::atomic<int> calls{0};
  auto slow = [&](int x) {
    ++calls;
    std::this_thread::sleep_for(100ms);
    return x * 2;
  };
  {
    std::vector<std::jthread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        auto memo = r::memoize(open(), base + "/memo", slow);
        EXPECT_EQ(memo(21), 42);
      });
    }
  }
  EXPECT_EQ(calls.load(), 1);
}

// The singleton service fails over when the leader's session is expired on the server.
TEST_F(RecipesZk, SingletonServiceFailsOverOnServerSideExpiry) {
  const auto path = root() + "/service";
  struct member {
    std::shared_ptr<zk_coordinator> zk;
    std::atomic<bool> running{false};
    std::atomic<int> starts{0}, stops{0};
    std::stop_source stop;
    std::jthread thread;
  };
  std::vector<std::unique_ptr<member>> members;
  for (int i = 0; i < 3; ++i) {
    auto m = std::make_unique<member>();
    m->zk = open();
    auto* p = m.get();
    m->thread = std::jthread([p, path] {
      r::singleton_service svc(
          p->zk, path,
          [p] {
            ++p->starts;
            p->running = true;
          },
          [p] {
            p->running = false;
            ++p->stops;
          });
      try {
        svc.run(p->stop.get_token());
      } catch (const dstm::error&) {
      }
    });
    members.push_back(std::move(m));
  }
  auto runner = [&]() -> member* {
    for (auto& m : members) {
      if (m->running) return m.get();
    }
    return nullptr;
  };
  ASSERT_TRUE(eventually([&] { return runner() != nullptr; }));
  auto* first = runner();
  expire(*first->zk);
  ASSERT_TRUE(eventually([&] { return runner() != nullptr && runner() != first; }));
  EXPECT_TRUE(eventually([&] { return first->stops.load() == 1; }));
  for (auto& m : members) m->stop.request_stop();
  members.clear();
}

// ---- a three-server ensemble whose leader is killed -----------------------------------------

class RecipesZkEnsemble : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ensemble_ = new dstm::testing::zookeeper_ensemble(3); }
  static void TearDownTestSuite() {
    delete ensemble_;
    ensemble_ = nullptr;
  }
  static std::shared_ptr<zk_coordinator> open() {
    dstm::zookeeper::options o;
    o.session_timeout = 6000ms;
    return std::make_shared<zk_coordinator>(ensemble_->connect_string(), o);
  }
  static inline dstm::testing::zookeeper_ensemble* ensemble_ = nullptr;
};

// The lock is held through the loss of the ZooKeeper leader (the session survives the
// election), waiters are served afterwards, and exclusion holds throughout.
TEST_F(RecipesZkEnsemble, MutexSurvivesKillingTheLeaderServer) {
  const auto path = root() + "/lock";
  std::atomic<int> inside{0}, max_inside{0}, done{0};
  fenced_store store;
  std::atomic<int> refused_live{0};
  std::atomic<bool> kill_now{false};
  {
    std::vector<std::jthread> ts;
    for (int t = 0; t < 3; ++t) {
      ts.emplace_back([&] {
        for (int i = 0; i < 6;) {
          try {
            auto zk = open();
            std::atomic<bool> lost{false};
            r::lock_options o;
            o.on_lost = [&] { lost = true; };
            r::mutex m(zk, path, o);
            for (; i < 6; ++i) {
              m.lock();
              const int now = ++inside;
              int seen = max_inside.load();
              while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
              }
              if (i == 2) kill_now = true;
              std::this_thread::sleep_for(100ms);
              if (!store.write(m.token()) && !lost.load()) ++refused_live;
              --inside;
              m.unlock();
              ++done;
            }
          } catch (const dstm::error&) {
            // the session expired during the election: a new one (nothing retried silently)
          }
        }
      });
    }
    ASSERT_TRUE(eventually([&] { return kill_now.load(); }));
    ensemble_->kill(ensemble_->wait_for_leader());
  }
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(done.load(), 18);
  EXPECT_EQ(refused_live.load(), 0);
}

// The singleton service gives leadership up while its session is suspended by the election
// and a leader runs again once the ensemble serves.
TEST_F(RecipesZkEnsemble, SingletonServiceAcrossALeaderServerKill) {
  // The previous test killed one server; bring it back.
  for (int i = 0; i < 3; ++i) {
    if (!ensemble_->server(i).running()) ensemble_->restart(i);
  }
  const auto path = root() + "/service";
  std::atomic<int> running{0}, max_running{0}, starts{0}, stops{0};
  std::stop_source stop;
  std::vector<std::jthread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      while (!stop.stop_requested()) {
        try {
          r::singleton_service svc(
              open(), path,
              [&] {
                ++starts;
                const int now = ++running;
                int seen = max_running.load();
                while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
                }
              },
              [&] {
                --running;
                ++stops;
              });
          svc.run(stop.get_token());
        } catch (const dstm::error&) {
          // the session expired: take part again with a new one
        }
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return running.load() == 1; }));
  const int before = starts.load();
  ensemble_->kill(ensemble_->wait_for_leader());
  // Every client is disconnected during the election: the service stops, then runs again.
  ASSERT_TRUE(eventually([&] { return stops.load() >= 1; }, 30s));
  ASSERT_TRUE(eventually([&] { return running.load() == 1 && starts.load() > before; }, 60s));
  stop.request_stop();
  ts.clear();
  EXPECT_EQ(max_running.load(), 1);
  EXPECT_EQ(running.load(), 0);
}

}  // namespace
}  // namespace dstm_recipes_zk
