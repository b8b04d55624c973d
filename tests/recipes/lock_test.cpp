// mutex and shared_mutex on the embedded coordinator: kazoo's Lock/ReadLock/WriteLock scenarios,
// and one test per fault protection (each fails when its protection is removed).

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "dstm/recipes/mutex.hpp"
#include "dstm/recipes/shared_mutex.hpp"
#include "support.hpp"

namespace dstm_recipes_test {
namespace {

using dstm::recipes::lock_guard;
using dstm::recipes::lock_options;
using dstm::recipes::mutex;
using dstm::recipes::shared_lock_guard;
using dstm::recipes::shared_mutex;

lock_options named(std::string id) {
  lock_options o;
  o.identifier = std::move(id);
  return o;
}

TEST(Mutex, LockUnlockAndToken) {
  embedded_env env;
  auto zk = env.open();
  mutex m(zk, "/locks/a");
  EXPECT_FALSE(m.is_held());
  EXPECT_EQ(m.token(), 0);
  m.lock();
  EXPECT_TRUE(m.is_held());
  EXPECT_GT(m.token(), 0);
  ASSERT_EQ(env.children("/locks/a").size(), 1u);
  EXPECT_EQ(zk->exists(m.node())->czxid, m.token());
  EXPECT_EQ(zk->exists(m.node())->ephemeral_owner, zk->session_id());
  m.unlock();
  EXPECT_FALSE(m.is_held());
  EXPECT_TRUE(env.children("/locks/a").empty());
  EXPECT_THROW(m.unlock(), dstm::error);  // not held
}

TEST(Mutex, ReentrantPerThread) {
  embedded_env env;
  mutex m(env.open(), "/locks/r");
  m.lock();
  const auto token = m.token();
  m.lock();
  EXPECT_TRUE(m.try_lock());
  EXPECT_EQ(m.token(), token);
  EXPECT_EQ(env.children("/locks/r").size(), 1u);  // one node for all levels
  m.unlock();
  m.unlock();
  EXPECT_TRUE(m.is_held());
  m.unlock();
  EXPECT_FALSE(m.is_held());
  EXPECT_TRUE(env.children("/locks/r").empty());
}

// kazoo test_lock_reacquire
TEST(Mutex, Reacquire) {
  embedded_env env;
  mutex m(env.open(), "/locks/re");
  m.lock();
  const auto first = m.token();
  m.unlock();
  m.lock();
  EXPECT_GT(m.token(), first);
  m.unlock();
}

// kazoo test_lock_many_threads: many clients, one critical section at a time; tokens grow.
TEST(Mutex, MutualExclusionAcrossSessions) {
  embedded_env env;
  constexpr int threads = 6, rounds = 15;
  std::atomic<int> inside{0}, max_inside{0}, entries{0};
  std::mutex tokens_mutex;
  std::vector<std::int64_t> tokens;
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int t = 0; t < threads; ++t) {
      ts.push_back(std::make_unique<background>([&] {
        auto zk = env.open();
        mutex m(zk, "/locks/many");
        for (int i = 0; i < rounds; ++i) {
          lock_guard g(m);
          const int now = ++inside;
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          {
            std::lock_guard lock(tokens_mutex);
            tokens.push_back(g.token());
          }
          std::this_thread::sleep_for(100us);
          --inside;
          ++entries;
        }
      }));
    }
  }
  EXPECT_EQ(entries.load(), threads * rounds);
  EXPECT_EQ(max_inside.load(), 1);
  ASSERT_EQ(tokens.size(), static_cast<std::size_t>(threads * rounds));
  for (std::size_t i = 1; i < tokens.size(); ++i) EXPECT_LT(tokens[i - 1], tokens[i]);
  EXPECT_TRUE(env.children("/locks/many").empty());
}

// kazoo test_lock: contenders line up and are served in order.
TEST(Mutex, FairOrderAndContenders) {
  embedded_env env;
  auto zk = env.open();
  mutex first(zk, "/locks/fair", named("test"));
  first.lock();
  constexpr int n = 5;
  std::mutex order_mutex;
  std::vector<std::string> order;
  std::vector<std::unique_ptr<background>> ts;
  for (int i = 0; i < n; ++i) {
    const std::string name = "contender" + std::to_string(i);
    ts.push_back(std::make_unique<background>([&, name] {
      mutex m(env.open(), "/locks/fair", named(name));
      lock_guard g(m);
      std::lock_guard lock(order_mutex);
      order.push_back(name);
    }));
    // Line up one after the other, so the queue order is known.
    ASSERT_TRUE(eventually([&] { return first.contenders().size() == std::size_t(i) + 2; }));
  }
  auto contenders = first.contenders();
  ASSERT_EQ(contenders.size(), std::size_t(n) + 1);
  EXPECT_EQ(contenders.front(), "test");
  first.unlock();
  ts.clear();
  contenders.erase(contenders.begin());
  EXPECT_EQ(order, contenders);
}

// kazoo test_lock_non_blocking
TEST(Mutex, TryLockFailsWhileHeldAndLeavesNoNode) {
  embedded_env env;
  mutex holder(env.open(), "/locks/nb", named("holder"));
  holder.lock();
  mutex other(env.open(), "/locks/nb", named("other"));
  EXPECT_FALSE(other.try_lock());
  EXPECT_FALSE(other.is_held());
  EXPECT_EQ(holder.contenders(), std::vector<std::string>{"holder"});
  holder.unlock();
  EXPECT_TRUE(other.try_lock());
  other.unlock();
}

// kazoo test_lock_many_threads_no_block and test_lock_many_threads with one object shared by
// the threads: reentrancy is per thread, so the threads still exclude each other.
TEST(Mutex, ThreadsSharingAnObjectStillExcludeEachOther) {
  embedded_env env;
  mutex m(env.open(), "/locks/shared-object");
  std::atomic<int> inside{0}, max_inside{0}, entries{0}, try_wins{0};
  m.lock();
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int i = 0; i < 8; ++i) {
      ts.push_back(std::make_unique<background>([&] {
        if (m.try_lock()) ++try_wins;  // held by the main thread: never
        for (int k = 0; k < 5; ++k) {
          lock_guard g(m);
          const int now = ++inside;
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(200us);
          --inside;
          ++entries;
        }
      }));
    }
    std::this_thread::sleep_for(20ms);
    m.unlock();
  }
  EXPECT_EQ(try_wins.load(), 0);
  EXPECT_EQ(entries.load(), 40);
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_TRUE(env.children("/locks/shared-object").empty());
}

// kazoo test_lock_timeout
TEST(Mutex, TryLockForTimesOutAndLeavesNoNode) {
  embedded_env env;
  mutex holder(env.open(), "/locks/t");
  holder.lock();
  mutex other(env.open(), "/locks/t");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(other.try_lock_for(150ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 140ms);
  EXPECT_EQ(env.children("/locks/t").size(), 1u);
  holder.unlock();
  EXPECT_TRUE(other.try_lock_for(1s));
  other.unlock();
}

// kazoo test_lock_cancel
TEST(Mutex, CancelledWaitLeavesNoNode) {
  embedded_env env;
  mutex holder(env.open(), "/locks/c", named("one"));
  holder.lock();
  std::stop_source stop;
  std::atomic<bool> cancelled{false};
  auto waiter_zk = env.open();  // outlives the waiter: its node could not go with the session
  background waiter([&] {
    mutex m(waiter_zk, "/locks/c", named("two"));
    try {
      m.lock(stop.get_token());
    } catch (const dstm::error& e) {
      cancelled = e.code() == std::errc::operation_canceled;
    }
  });
  ASSERT_TRUE(eventually([&] { return holder.contenders().size() == 2; }));
  EXPECT_EQ(holder.contenders(), (std::vector<std::string>{"one", "two"}));
  stop.request_stop();
  waiter.join();
  EXPECT_TRUE(cancelled.load());
  EXPECT_EQ(holder.contenders(), std::vector<std::string>{"one"});
  holder.unlock();
}

// kazoo test_lock_reconnect / a holder is told when its session expires.
TEST(Mutex, HolderLearnsOfExpiryAndTheNextContenderTakesOver) {
  embedded_env env;
  auto zk = env.open();
  std::atomic<int> lost{0};
  lock_options o;
  o.on_lost = [&] { ++lost; };
  mutex m(zk, "/locks/x", o);
  m.lock();
  std::atomic<bool> got{false};
  background contender([&] {
    mutex other(env.open(), "/locks/x");
    other.lock();
    got = true;
    other.unlock();
  });
  ASSERT_TRUE(eventually([&] { return env.children("/locks/x").size() == 2; }));
  env.store->expire(zk->session_id());
  ASSERT_TRUE(eventually([&] { return lost.load() == 1; }));
  EXPECT_FALSE(m.is_held());
  contender.join();
  EXPECT_TRUE(got.load());
  m.unlock();  // nothing to remove; does not throw
  EXPECT_THROW(m.lock(), dstm::error);
}

// Session events reach every waiter: the embedded coordinator drops an expired session's
// watches without calling them, so only the session subscription can wake this waiter.
TEST(Mutex, WaiterWakesWhenItsSessionExpires) {
  embedded_env env;
  mutex holder(env.open(), "/locks/w");
  holder.lock();
  auto zk = env.open();
  std::atomic<int> outcome{0};
  background waiter([&] {
    mutex m(zk, "/locks/w");
    try {
      // Bounded, so that a waiter that sleeps through the expiry fails the test instead of
      // hanging it: without a wake-up it returns false at the deadline.
      outcome = m.try_lock_for(3s) ? 1 : 4;
    } catch (const dstm::error& e) {
      outcome = e.code() == dstm::errc::session_expired ? 2 : 3;
    }
  });
  ASSERT_TRUE(eventually([&] { return env.children("/locks/w").size() == 2; }));
  env.store->expire(zk->session_id());
  EXPECT_TRUE(eventually([&] { return outcome.load() != 0; }, 1s))
      << "the waiter slept through the end of its session";
  waiter.join();
  EXPECT_EQ(outcome.load(), 2) << "1: acquired, 4: timed out, 3: another error";
  holder.unlock();  // lets a waiter that slept through it finish
}

// A create that succeeded while its reply was lost: found again, no second node, no orphan.
TEST(MutexFaults, LostCreateReplyIsFoundAgain) {
  embedded_env env;
  auto zk = env.open_faulty();
  zk->inject({fault_op::create, "/locks/lost/", /*applied=*/true, 1, {}});
  mutex m(zk, "/locks/lost");
  m.lock();
  EXPECT_EQ(zk->pending_faults(), 0u);
  EXPECT_EQ(zk->applied(fault_op::create, "/locks/lost/"), 1u) << "a second node was created";
  EXPECT_EQ(env.children("/locks/lost").size(), 1u);
  mutex other(env.open(), "/locks/lost");
  EXPECT_FALSE(other.try_lock());
  m.unlock();
  EXPECT_TRUE(env.children("/locks/lost").empty()) << "an orphan node stayed behind";
  EXPECT_TRUE(other.try_lock());
  other.unlock();
}

// A create lost before it reached the server: created once, on the retry.
TEST(MutexFaults, CreateLostBeforeTheServerIsRetried) {
  embedded_env env;
  auto zk = env.open_faulty();
  zk->inject({fault_op::create, "/locks/lb/", /*applied=*/false, 2, {}});
  mutex m(zk, "/locks/lb");
  m.lock();
  EXPECT_EQ(env.children("/locks/lb").size(), 1u);
  m.unlock();
  EXPECT_TRUE(env.children("/locks/lb").empty());
}

// A node of a previous session is never adopted: the create's reply is lost, the session is
// replaced (the old one lives on at the server, as when a client wrongly believes it expired),
// and the retry finds the old session's node by its name. Adopting it would make this client
// a holder whose node vanishes whenever the old session finally times out.
TEST(MutexFaults, NodeOfAPreviousSessionIsNeverAdopted) {
  embedded_env env;
  auto zk = env.open_faulty();
  std::shared_ptr<embedded_coordinator> old_session;
  zk->inject({fault_op::create, "/locks/prev/", /*applied=*/true, 1,
              [&] { old_session = zk->replace_session(); }});
  mutex m(zk, "/locks/prev");
  bool threw_expired = false;
  try {
    m.lock();
  } catch (const dstm::error& e) {
    threw_expired = e.code() == dstm::errc::session_expired;
  }
  EXPECT_TRUE(threw_expired) << "adopted a node owned by session " << old_session->session_id();
  EXPECT_FALSE(m.is_held());
  // When the old session ends at last, another client gets the lock: nobody else believes
  // it holds it.
  old_session->close();
  mutex other(env.open(), "/locks/prev");
  EXPECT_TRUE(other.try_lock());
  EXPECT_FALSE(m.is_held());
  other.unlock();
}

// A release whose delete failed while the session lived is retried until it succeeds.
TEST(MutexFaults, FailedReleaseIsRetried) {
  embedded_env env;
  auto zk = env.open_faulty();
  mutex m(zk, "/locks/rel");
  m.lock();
  zk->inject({fault_op::remove, "/locks/rel/", /*applied=*/false, 3, {}});
  m.unlock();
  EXPECT_EQ(zk->pending_faults(), 0u);
  EXPECT_TRUE(env.children("/locks/rel").empty()) << "the lock node outlived its release";
  mutex other(env.open(), "/locks/rel");
  EXPECT_TRUE(other.try_lock());
  other.unlock();
}

// ... also when the connection stays down longer than the release is willing to wait: the
// removal is handed to the background and done at the next opportunity.
TEST(MutexFaults, ReleaseFailingPastItsTimeoutIsRetriedLater) {
  embedded_env env;
  auto zk = env.open_faulty();
  lock_options o;
  o.release_timeout_ns = 30'000'000;
  mutex m(zk, "/locks/later", o);
  m.lock();
  zk->inject({fault_op::remove, "/locks/later/", /*applied=*/false, 1000, {}});
  m.unlock();  // returns after ~30 ms with the node still there
  EXPECT_EQ(env.children("/locks/later").size(), 1u);
  zk->clear_faults();
  m.lock();  // the next call flushes the pending removal first
  EXPECT_EQ(env.children("/locks/later").size(), 1u);
  m.unlock();
  EXPECT_TRUE(env.children("/locks/later").empty());
}

// ... and when the object is not used again, at the next reconnection of the session.
TEST(MutexFaults, ReleaseFailingPastItsTimeoutIsRetriedOnReconnection) {
  embedded_env env;
  auto zk = env.open_faulty();
  lock_options o;
  o.release_timeout_ns = 30'000'000;
  mutex m(zk, "/locks/reconnect", o);
  m.lock();
  zk->inject({fault_op::remove, "/locks/reconnect/", /*applied=*/false, 1000, {}});
  m.unlock();
  EXPECT_EQ(env.children("/locks/reconnect").size(), 1u);
  zk->clear_faults();
  zk->announce(dstm::session_state::connecting);
  zk->announce(dstm::session_state::connected);
  EXPECT_TRUE(eventually([&] { return env.children("/locks/reconnect").empty(); }, 3s))
      << "the failed release was not retried after the reconnection";
}

// A timeout during acquire leaves no node, even when the first removals fail.
TEST(MutexFaults, TimeoutCleanupRetriesItsRemoval) {
  embedded_env env;
  mutex holder(env.open(), "/locks/tc");
  holder.lock();
  auto zk = env.open_faulty();
  mutex m(zk, "/locks/tc");
  zk->inject({fault_op::remove, "/locks/tc/", /*applied=*/false, 2, {}});
  EXPECT_FALSE(m.try_lock_for(50ms));
  EXPECT_EQ(env.children("/locks/tc").size(), 1u);
  holder.unlock();
}

// An exception during acquire (here: the watch on the predecessor refused) leaves no node.
TEST(MutexFaults, ExceptionDuringAcquireLeavesNoNode) {
  embedded_env env;
  mutex holder(env.open(), "/locks/ex");
  holder.lock();
  auto zk = env.open_faulty();
  mutex m(zk, "/locks/ex");
  // not_authorized is not transient: the acquisition fails for good.
  zk->inject({fault_op::exists,
              "/locks/ex/",
              false,
              1,
              {},
              make_error_code(dstm::coordinator_errc::not_authorized)});
  EXPECT_THROW(m.lock(), dstm::coordinator_error);
  EXPECT_EQ(env.children("/locks/ex").size(), 1u) << "the failed acquisition left its node";
  holder.unlock();
}

// Watches only set flags: no coordinator call (or wait) ever runs inside a watch callback, so
// nothing blocks the coordinator's completion thread.
TEST(MutexFaults, NoCoordinatorCallInsideWatchCallbacks) {
  embedded_env env;
  auto zk = env.open_faulty();
  mutex holder(env.open(), "/locks/cb");
  holder.lock();
  background waiter([&] {
    mutex m(zk, "/locks/cb");
    m.lock();
    m.unlock();
  });
  ASSERT_TRUE(eventually([&] { return env.children("/locks/cb").size() == 2; }));
  holder.unlock();
  waiter.join();
  EXPECT_EQ(zk->calls_inside_watches(), 0);
}

// ---- shared_mutex: kazoo's test_read_lock, test_write_lock, test_rw_lock --------------------

TEST(SharedMutex, ReadersShareWritersExclude) {
  embedded_env env;
  shared_mutex r1(env.open(), "/rw/a"), r2(env.open(), "/rw/a"), w(env.open(), "/rw/a");
  EXPECT_TRUE(r1.try_lock_shared());
  EXPECT_TRUE(r1.is_held_shared());
  EXPECT_TRUE(r2.try_lock_shared());
  EXPECT_FALSE(w.try_lock());
  r1.unlock_shared();
  EXPECT_FALSE(w.try_lock());
  r2.unlock_shared();
  EXPECT_TRUE(w.try_lock());
  EXPECT_FALSE(r1.try_lock_shared());
  w.unlock();
  EXPECT_TRUE(env.children("/rw/a").empty());
}

TEST(SharedMutex, ServedInOrderReadersTogether) {
  embedded_env env;
  shared_mutex first(env.open(), "/rw/order", named("test"));
  first.lock();
  std::mutex log_mutex;
  std::vector<std::string> log;
  auto record = [&](std::string s) {
    std::lock_guard lock(log_mutex);
    log.push_back(std::move(s));
  };
  std::atomic<int> readers_inside{0};
  std::atomic<bool> both_readers{false};
  std::atomic<bool> release{false};
  std::vector<std::unique_ptr<background>> ts;
  auto reader = [&](std::string name) {
    return std::make_unique<background>([&, name] {
      shared_mutex m(env.open(), "/rw/order", named(name));
      shared_lock_guard g(m);
      record("+" + name);
      if (++readers_inside == 2) both_readers = true;
      while (!both_readers.load() && !release.load()) std::this_thread::sleep_for(1ms);
      --readers_inside;
      record("-" + name);
    });
  };
  ts.push_back(reader("reader1"));
  ASSERT_TRUE(eventually([&] { return first.contenders().size() == 2; }));
  ts.push_back(reader("reader2"));
  ASSERT_TRUE(eventually([&] { return first.contenders().size() == 3; }));
  ts.push_back(std::make_unique<background>([&] {
    shared_mutex m(env.open(), "/rw/order", named("writer"));
    lock_guard g(m);
    record("+writer");
    EXPECT_EQ(readers_inside.load(), 0);
    record("-writer");
  }));
  ASSERT_TRUE(eventually([&] { return first.contenders().size() == 4; }));
  EXPECT_EQ(first.contenders(), (std::vector<std::string>{"test", "reader1", "reader2", "writer"}));
  first.unlock();
  ts.clear();
  release = true;
  EXPECT_TRUE(both_readers.load()) << "readers did not hold the lock together";
  ASSERT_EQ(log.size(), 6u);
  EXPECT_EQ(log[4], "+writer");  // after both readers left
  EXPECT_EQ(log[5], "-writer");
}

TEST(SharedMutex, WriterIsNotStarvedByLaterReaders) {
  embedded_env env;
  shared_mutex reader(env.open(), "/rw/starve");
  reader.lock_shared();
  std::atomic<bool> writer_in{false};
  background writer([&] {
    shared_mutex w(env.open(), "/rw/starve");
    w.lock();
    writer_in = true;
    w.unlock();
  });
  ASSERT_TRUE(eventually([&] { return env.children("/rw/starve").size() == 2; }));
  shared_mutex late(env.open(), "/rw/starve");
  EXPECT_FALSE(late.try_lock_shared()) << "a later reader overtook a waiting writer";
  reader.unlock_shared();
  writer.join();
  EXPECT_TRUE(writer_in.load());
}

TEST(SharedMutex, DowngradeAndRefusedUpgrade) {
  embedded_env env;
  shared_mutex m(env.open(), "/rw/grade");
  m.lock();
  m.lock_shared();  // a writer may also read
  m.unlock();       // ... and keep reading: downgraded
  EXPECT_TRUE(m.is_held_shared());
  shared_mutex reader(env.open(), "/rw/grade");
  EXPECT_TRUE(reader.try_lock_shared());
  reader.unlock_shared();
  EXPECT_THROW(m.lock(), dstm::error);  // upgrade would deadlock
  m.unlock_shared();
  EXPECT_TRUE(env.children("/rw/grade").empty());
}

TEST(SharedMutex, IgnoresUnrelatedChildren) {
  embedded_env env;
  auto zk = env.open();
  zk->create("/rw", "");
  zk->create("/rw/mixed", "");
  zk->create("/rw/mixed/hello", "");
  zk->create("/rw/mixed/other-lock-0000000000", "");
  shared_mutex m(zk, "/rw/mixed");
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

}  // namespace
}  // namespace dstm_recipes_test
