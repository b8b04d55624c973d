// Isolation, retries, commute, opacity, concurrency, session expiry, exactly-once and metrics of
// transactions on the embedded coordinator. Races that matter are staged deterministically
// (a barrier between reads and commits, or a hook that runs just before a multi); the stress
// tests then check invariants under free-running threads.

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <dstm/dstm.hpp>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using dstm_test::fast_options;

class StmTxn : public ::testing::Test {
 protected:
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm::client> c1 = dstm::embedded::connect(store, fast_options());
  std::shared_ptr<dstm::client> c2 = dstm::embedded::connect(store, fast_options());
};

// A tiny deterministic generator for the stress tests (no std::*_distribution).
struct rng {
  std::uint64_t state;
  std::uint64_t next() { return dstm::detail::splitmix64(state); }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
};

// ----- isolation: write skew -----

// Two doctors are on call; each transaction takes one off call if the other is still on. Both
// read both refs, wait at a barrier until the other has read too, then write their own ref.
// Returns how many doctors remain on call.
int doctors_on_call(std::shared_ptr<dstm::client> a, std::shared_ptr<dstm::client> b,
                    dstm::isolation level, bool use_ensure) {
  dstm::ref alice{a, "/alice", 1};
  dstm::ref bob{a, "/bob", 1};
  dstm::ref<int> alice_b{b, "/alice"};
  dstm::ref<int> bob_b{b, "/bob"};
  std::barrier both_read(2);
  auto go_off_call = [&](std::shared_ptr<dstm::client> c, const dstm::ref<int>& mine,
                         const dstm::ref<int>& other) {
    bool first_run = true;
    dstm::dosync(
        c,
        [&](dstm::txn& tx) {
          const int on_call = tx.deref(mine) + (use_ensure ? tx.ensure(other) : tx.deref(other));
          if (first_run) {
            first_run = false;
            both_read.arrive_and_wait();
          }
          if (on_call >= 2) tx.ref_set(mine, 0);
        },
        dstm::txn_options{.level = level, .max_retries = {}});
  };
  std::thread t1([&] { go_off_call(a, alice, bob); });
  std::thread t2([&] { go_off_call(b, bob_b, alice_b); });
  t1.join();
  t2.join();
  return alice.deref() + bob.deref();
}

TEST_F(StmTxn, WriteSkewHappensUnderSnapshot) {
  EXPECT_EQ(doctors_on_call(c1, c2, dstm::isolation::snapshot, false), 0);
}

TEST_F(StmTxn, EnsurePreventsWriteSkewUnderSnapshot) {
  EXPECT_EQ(doctors_on_call(c1, c2, dstm::isolation::snapshot, true), 1);
}

TEST_F(StmTxn, SerializablePreventsWriteSkew) {
  EXPECT_EQ(doctors_on_call(c1, c2, dstm::isolation::serializable, false), 1);
}

TEST_F(StmTxn, ClientDefaultIsolationApplies) {
  auto options = fast_options();
  options.default_isolation = dstm::isolation::snapshot;
  auto s1 = dstm::embedded::connect(store, options);
  auto s2 = dstm::embedded::connect(store, options);
  // No level in txn_options: the clients' default (snapshot) lets the skew through.
  dstm::ref alice{s1, "/alice", 1};
  dstm::ref bob{s1, "/bob", 1};
  dstm::ref<int> alice2{s2, "/alice"};
  dstm::ref<int> bob2{s2, "/bob"};
  std::barrier both_read(2);
  auto run = [&](std::shared_ptr<dstm::client> c, const dstm::ref<int>& mine,
                 const dstm::ref<int>& other) {
    bool first = true;
    dstm::dosync(c, [&](dstm::txn& tx) {
      EXPECT_EQ(tx.level(), dstm::isolation::snapshot);
      const int n = tx.deref(mine) + tx.deref(other);
      if (std::exchange(first, false)) both_read.arrive_and_wait();
      if (n >= 2) tx.ref_set(mine, 0);
    });
  };
  std::thread t1([&] { run(s1, alice, bob); });
  std::thread t2([&] { run(s2, bob2, alice2); });
  t1.join();
  t2.join();
  EXPECT_EQ(alice.deref() + bob.deref(), 0);
}

// Under snapshot isolation a blind write still loses to a concurrent committed write of the same
// ref (first committer wins): otherwise T1 (reads z, writes y) and T2 (writes y and z) form a
// G-single cycle.
TEST_F(StmTxn, BlindWriteConflictsWithAConcurrentWriteUnderSnapshot) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref y{hooked, "/y", 0};
  dstm::ref z{hooked, "/z", 0};
  dstm::ref<int> y2{c2, "/y"};
  dstm::ref<int> z2{c2, "/z"};
  hooks->before_next_multi([&] {
    dstm::dosync(c2, [&](dstm::txn& tx) {
      tx.ref_set(y2, 2);
      tx.ref_set(z2, 2);
    });
  });
  int runs = 0;
  dstm::dosync(
      hooked,
      [&](dstm::txn& tx) {
        ++runs;
        tx.ref_set(y, tx.deref(z) + 10);
      },
      dstm::txn_options{.level = dstm::isolation::snapshot, .max_retries = {}});
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(y.deref(), 12);  // the retry read z = 2
}

// A refused multi whose reply names no failing op (every op runtime_inconsistency, as a real
// ensemble answered during a leader change) is settled through the outcome record: the
// transaction is applied exactly once whether or not that multi was, and dosync does not throw.
TEST_F(StmTxn, AMultiRefusalThatNamesNoOpIsSettledThroughTheOutcomeRecord) {
  for (const auto f : {dstm_test::multi_hooks::fault::unattributed_before_apply,
                       dstm_test::multi_hooks::fault::unattributed_after_apply}) {
    auto hooks = std::make_shared<dstm_test::multi_hooks>();
    auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
    dstm::ref counter{hooked, "/unattributed", 0};
    const int start = counter.deref();
    hooks->fail_next_multi(f);
    const auto before = hooked->metrics();
    dstm::dosync(hooked, [&](dstm::txn& tx) { tx.alter(counter, [](int v) { return v + 1; }); });
    EXPECT_EQ(counter.deref(), start + 1);
    EXPECT_EQ(hooked->metrics().outcome_resolutions - before.outcome_resolutions, 1u);
  }
}

// ----- commute -----

TEST_F(StmTxn, CommuteIsReappliedWithoutRerunningTheBody) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref counter{hooked, "/counter", 0};
  dstm::ref<int> counter2{c2, "/counter"};
  counter.deref();  // warm: the body reads from the cache
  hooks->before_next_multi([&] {
    dstm::dosync(c2, [&](dstm::txn& tx) { tx.commute(counter2, [](int v) { return v + 10; }); });
  });
  const auto before = hooked->metrics();
  int runs = 0;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    EXPECT_EQ(tx.commute(counter, [](int v) { return v + 1; }), 1);  // the in-txn value
  });
  const auto after = hooked->metrics();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(counter.deref(), 11);
  EXPECT_EQ(after.commute_reapplies - before.commute_reapplies, 1u);
  EXPECT_EQ(after.conflicts - before.conflicts, 1u);
  EXPECT_EQ(after.retries - before.retries, 0u);
}

TEST_F(StmTxn, AlterConflictRerunsTheBody) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref counter{hooked, "/counter", 0};
  dstm::ref<int> counter2{c2, "/counter"};
  counter.deref();
  hooks->before_next_multi([&] {
    dstm::dosync(c2, [&](dstm::txn& tx) { tx.alter(counter2, [](int v) { return v + 10; }); });
  });
  const auto before = hooked->metrics();
  int runs = 0;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    tx.alter(counter, [](int v) { return v + 1; });
  });
  const auto after = hooked->metrics();
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(counter.deref(), 11);
  EXPECT_EQ(after.commute_reapplies - before.commute_reapplies, 0u);
  EXPECT_EQ(after.retries - before.retries, 1u);
}

TEST_F(StmTxn, CommuteOfARefTheBodyReadIsCheckedUnderSerializable) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref counter{hooked, "/counter", 0};
  dstm::ref<int> counter2{c2, "/counter"};
  hooks->before_next_multi([&] {
    dstm::dosync(c2, [&](dstm::txn& tx) { tx.alter(counter2, [](int v) { return v + 10; }); });
  });
  int runs = 0;
  int seen = -1;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    seen = tx.deref(counter);  // a read: the body's decision depends on it
    tx.commute(counter, [](int v) { return v + 1; });
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(counter.deref(), 11);
}

// ----- retry limit -----

TEST_F(StmTxn, RetryLimitExceededSurfacesAsAnError) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto options = fast_options();
  options.max_retries = 0;
  auto hooked = dstm_test::connect_hooked(store, hooks, options);
  dstm::ref r{hooked, "/r", 0};
  dstm::ref<int> r2{c2, "/r"};
  hooks->before_next_multi([&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, 5); }); });
  int runs = 0;
  try {
    dstm::dosync(hooked, [&](dstm::txn& tx) {
      ++runs;
      tx.alter(r, [](int v) { return v + 1; });
    });
    FAIL() << "no error after a conflict with max_retries = 0";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::retry_limit_exceeded);
  }
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(r.deref(), 5);
  // txn_options overrides the client's limit.
  hooks->before_next_multi([&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, 6); }); });
  dstm::dosync(
      hooked, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); },
      dstm::txn_options{.level = {}, .max_retries = 3});
  EXPECT_EQ(r.deref(), 7);
}

// ----- exactly once under connection loss -----

TEST_F(StmTxn, LostReplyOfAnAppliedCommitIsNotAppliedTwice) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref r{hooked, "/r", 0};
  r.deref();
  hooks->fail_next_multi(dstm_test::multi_hooks::fault::lose_after_apply);
  int runs = 0;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    tx.alter(r, [](int v) { return v + 1; });
  });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(r.deref(), 1);
  EXPECT_EQ(hooked->metrics().outcome_resolutions, 1u);
  // Later commits still work on the same lane.
  dstm::dosync(hooked, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ(r.deref(), 2);
}

TEST_F(StmTxn, LostRequestIsRetriedAndAppliedOnce) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref r{hooked, "/r", 0};
  dstm::atom a{hooked, "/a", 0};
  hooks->fail_next_multi(dstm_test::multi_hooks::fault::lose_before_apply);
  int runs = 0;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    tx.alter(r, [](int v) { return v + 1; });
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(r.deref(), 1);
  hooks->fail_next_multi(dstm_test::multi_hooks::fault::lose_after_apply);
  hooks->fail_next_multi(dstm_test::multi_hooks::fault::lose_before_apply);
  EXPECT_EQ(a.update([](int v) { return v + 1; }), 1);
  EXPECT_EQ(a.update([](int v) { return v + 1; }), 2);
  EXPECT_EQ(hooked->metrics().outcome_resolutions, 3u);
}

TEST_F(StmTxn, RemovedOutcomeRecordsAreRecreated) {
  dstm::ref r{c1, "/r", 0};
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  // Somebody removes the client's records (its lane and its directory).
  auto s = c2->session();
  const std::string dir = c1->record_dir();
  std::error_code ec;
  for (const auto& name : s->children(dir, {}, ec).names) s->remove(dir + "/" + name, -1, ec);
  s->remove(dir, -1, ec);
  ASSERT_FALSE(ec);
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ(r.deref(), 2);
  EXPECT_TRUE(s->exists(dir, {}, ec).has_value());
}

// ----- opacity -----

// Writers keep x + y == 0 while moving amounts between them; every body, writers' and readers',
// checks the invariant on what it reads. Several clients, several threads each.
TEST_F(StmTxn, BodiesNeverObserveAnInconsistentSnapshot) {
  constexpr int clients = 3;
  constexpr int threads_per_client = 2;
  constexpr int iterations = 500;
  std::vector<std::shared_ptr<dstm::client>> cs;
  for (int i = 0; i < clients; ++i) cs.push_back(dstm::embedded::connect(store, fast_options()));
  dstm::ref<int>{cs[0], "/x", 0};
  dstm::ref<int>{cs[0], "/y", 0};
  std::atomic<int> violations{0};
  std::atomic<int> bodies{0};
  std::vector<std::thread> threads;
  std::latch start(clients * threads_per_client);
  for (int c = 0; c < clients; ++c) {
    for (int t = 0; t < threads_per_client; ++t) {
      threads.emplace_back([&, c, t] {
        dstm::ref<int> x{cs[c], "/x"};
        dstm::ref<int> y{cs[c], "/y"};
        rng g{static_cast<std::uint64_t>(c * 10 + t + 1)};
        start.arrive_and_wait();
        for (int i = 0; i < iterations; ++i) {
          const bool writer = t == 0 || g.below(2) == 0;
          const int d = g.below(100) - 50;
          dstm::dosync(cs[c], [&](dstm::txn& tx) {
            ++bodies;
            // Read in both orders, so that either read may be the cache miss.
            const int a = (i % 2) ? tx.deref(x) : -tx.deref(y);
            // Now and then give the other threads time to commit between the two reads: the
            // second read is then a miss that must not be combined with the first.
            if (i % 4 == 0) std::this_thread::sleep_for(20us);
            const int b = (i % 2) ? -tx.deref(y) : tx.deref(x);
            if (a != b) ++violations;
            if (writer) {
              tx.alter(x, [d](int v) { return v + d; });
              tx.alter(y, [d](int v) { return v - d; });
            }
          });
        }
      });
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(violations.load(), 0);
  dstm::ref<int> x{cs[0], "/x"};
  dstm::ref<int> y{cs[0], "/y"};
  EXPECT_EQ(x.deref() + y.deref(), 0);
  std::uint64_t retries = 0;
  for (auto& c : cs) retries += c->metrics().retries;
  // The run was contended: otherwise it proves nothing about opacity.
  EXPECT_GT(retries, 0u);
  EXPECT_GE(bodies.load(), clients * threads_per_client * iterations);
}

// ----- concurrency -----

TEST_F(StmTxn, ConcurrentIncrementsAreExact) {
  constexpr int clients = 3;
  constexpr int threads_per_client = 3;
  constexpr int increments = 150;
  std::vector<std::shared_ptr<dstm::client>> cs;
  for (int i = 0; i < clients; ++i) cs.push_back(dstm::embedded::connect(store, fast_options()));
  dstm::ref<long>{cs[0], "/altered", 0L};
  dstm::ref<long>{cs[0], "/commuted", 0L};
  std::vector<std::thread> threads;
  std::latch start(clients * threads_per_client);
  for (int c = 0; c < clients; ++c) {
    for (int t = 0; t < threads_per_client; ++t) {
      threads.emplace_back([&, c] {
        dstm::ref<long> altered{cs[c], "/altered"};
        dstm::ref<long> commuted{cs[c], "/commuted"};
        start.arrive_and_wait();
        for (int i = 0; i < increments; ++i) {
          dstm::dosync(cs[c],
                       [&](dstm::txn& tx) { tx.alter(altered, [](long v) { return v + 1; }); });
          dstm::dosync(cs[c],
                       [&](dstm::txn& tx) { tx.commute(commuted, [](long v) { return v + 1; }); });
        }
      });
    }
  }
  for (auto& th : threads) th.join();
  dstm::ref<long> altered{c1, "/altered"};
  dstm::ref<long> commuted{c1, "/commuted"};
  EXPECT_EQ(altered.deref(), clients * threads_per_client * increments);
  EXPECT_EQ(commuted.deref(), clients * threads_per_client * increments);
}

TEST_F(StmTxn, BankTransfersKeepTheTotal) {
  constexpr int accounts = 8;
  constexpr int clients = 3;
  constexpr int initial = 100;
  std::vector<std::shared_ptr<dstm::client>> cs;
  for (int i = 0; i < clients; ++i) cs.push_back(dstm::embedded::connect(store, fast_options()));
  for (int a = 0; a < accounts; ++a) dstm::ref<int>{cs[0], "/bank/" + std::to_string(a), initial};
  std::atomic<bool> stop{false};
  std::atomic<int> bad_totals{0};
  std::atomic<int> audits{0};
  std::vector<std::thread> threads;
  std::latch start(2 * clients);
  auto open_accounts = [&](const std::shared_ptr<dstm::client>& c) {
    std::vector<dstm::ref<int>> refs;
    for (int a = 0; a < accounts; ++a) refs.emplace_back(c, "/bank/" + std::to_string(a));
    return refs;
  };
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {  // transfers
      auto refs = open_accounts(cs[c]);
      rng g{static_cast<std::uint64_t>(c + 100)};
      start.arrive_and_wait();
      for (int i = 0; i < 300; ++i) {
        const int from = g.below(accounts);
        const int to = (from + 1 + g.below(accounts - 1)) % accounts;
        const int amount = g.below(30);
        dstm::dosync(cs[c], [&](dstm::txn& tx) {
          if (tx.deref(refs[from]) < amount) return;  // no overdraft
          tx.alter(refs[from], [=](int v) { return v - amount; });
          tx.alter(refs[to], [=](int v) { return v + amount; });
        });
      }
    });
    threads.emplace_back([&, c] {  // audits: read-only transactions
      auto refs = open_accounts(cs[c]);
      start.arrive_and_wait();
      for (int n = 0; !stop.load() || n < 50; ++n) {
        const int total = dstm::dosync(cs[c], [&](dstm::txn& tx) {
          int sum = 0;
          for (auto& r : refs) sum += tx.deref(r);
          return sum;
        });
        ++audits;
        if (total != accounts * initial) ++bad_totals;
      }
    });
  }
  for (int i = 0; i < clients; ++i) threads[2 * static_cast<std::size_t>(i)].join();
  stop = true;
  for (int i = 0; i < clients; ++i) threads[2 * static_cast<std::size_t>(i) + 1].join();
  EXPECT_EQ(bad_totals.load(), 0);
  EXPECT_GT(audits.load(), 0);
  auto refs = open_accounts(c1);
  int total = 0;
  for (auto& r : refs) {
    EXPECT_GE(r.deref(), 0);
    total += r.deref();
  }
  EXPECT_EQ(total, accounts * initial);
}

// Local and coordinator refs in one transaction under contention: a member moves between a
// local group and a coordinator group; readers on other clients of this process check it is in
// exactly one of them.
TEST_F(StmTxn, MovesBetweenLocalAndCoordinatorRefsAreAtomicToReaders) {
  dstm::ref<int, dstm::local> here{c1, "here", 10};
  dstm::ref there{c1, "/there", 0};
  dstm::ref<int> there2{c2, "/there"};
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> movers;
  std::latch start(4);
  for (int t = 0; t < 3; ++t) {
    movers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 300; ++i) {
        const bool out = (i + t) % 2 == 0;
        dstm::dosync(c1, [&](dstm::txn& tx) {
          const int h = tx.deref(here);
          if (out ? h == 0 : h == 10) return;
          tx.ref_set(here, out ? h - 1 : h + 1);
          tx.alter(there, [out](int v) { return out ? v + 1 : v - 1; });
        });
      }
    });
  }
  std::thread reader([&] {
    start.arrive_and_wait();
    while (!stop.load() || reads.load() < 100) {
      const int sum = dstm::dosync(c2, [&](dstm::txn& tx) {
        return (reads.load() % 2) ? tx.deref(here) + tx.deref(there2)
                                  : tx.deref(there2) + tx.deref(here);
      });
      ++reads;
      if (sum != 10) ++bad;
    }
  });
  for (auto& m : movers) m.join();
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(here.deref() + there.deref(), 10);
}

// The window that matters, staged: another thread reads both refs after the mover's multi has
// applied but before its local part is installed. It must wait for the install (or see neither).
TEST_F(StmTxn, ReaderNeverSeesHalfOfALocalCommit) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto mover = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref<int, dstm::local> here{mover, "here", 1};
  dstm::ref there{mover, "/there", 0};
  dstm::ref<int> there2{c2, "/there"};
  there2.deref();
  int seen = -1;
  std::thread reader;
  hooks->after_next_multi([&] {
    reader = std::thread([&] {
      seen = dstm::dosync(c2, [&](dstm::txn& tx) { return tx.deref(there2) + tx.deref(here); });
    });
    std::this_thread::sleep_for(50ms);  // the reader runs now, inside the window
  });
  dstm::dosync(mover, [&](dstm::txn& tx) {
    tx.ref_set(here, 0);
    tx.ref_set(there, 1);
  });
  reader.join();
  EXPECT_EQ(seen, 1);
}

// ----- session expiry -----

TEST_F(StmTxn, ExpiredSessionIsReplacedAndItsCacheDropped) {
  dstm::ref r{c1, "/r", 1};
  r.deref();
  const auto old_session = c1->session()->session_id();
  ASSERT_TRUE(store->expire(old_session));
  ASSERT_TRUE(dstm_test::await_new_session(*c1, old_session));
  EXPECT_EQ(c1->metrics().reconnects, 1u);
  const auto misses = c1->metrics().cache_misses;
  EXPECT_EQ(r.deref(), 1);
  EXPECT_EQ(c1->metrics().cache_misses - misses, 1u);  // the old session's cache is gone
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ((dstm::ref<int>{c2, "/r"}.deref()), 2);
}

TEST_F(StmTxn, ExpiryBeforeTheListenerRanIsHandledByTheNextRequest) {
  dstm::ref r{c1, "/r", 1};
  dstm::ref<int> r2{c2, "/r"};
  const auto old_session = c1->session()->session_id();
  ASSERT_TRUE(store->expire(old_session));
  // No waiting for the listener: the next write meets session_expired first.
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.alter(r2, [](int v) { return v + 1; }); });
  EXPECT_EQ(r.deref(), 3);
  EXPECT_EQ(c1->metrics().reconnects, 1u);
}

TEST_F(StmTxn, TransactionsKeepWorkingExactlyOnceAcrossExpiries) {
  constexpr int threads_n = 4;
  constexpr int increments = 200;
  dstm::ref<long>{c1, "/count", 0L};
  std::atomic<int> expiries{0};
  std::atomic<std::int64_t> last_expired{0};
  std::vector<std::thread> threads;
  std::latch start(threads_n);
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      dstm::ref<long> count{c1, "/count"};
      start.arrive_and_wait();
      for (int i = 0; i < increments; ++i) {
        if (t == 0 && i % 50 == 25) {  // the server expires the session while others commit
          const auto id = c1->session()->session_id();
          if (store->expire(id)) {
            ++expiries;
            last_expired = id;
          }
        }
        dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(count, [](long v) { return v + 1; }); });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_GT(expiries.load(), 0);
  ASSERT_TRUE(dstm_test::await_new_session(*c1, last_expired.load()));
  EXPECT_EQ((dstm::ref<long>{c2, "/count"}.deref()), threads_n * increments);
  EXPECT_GE(c1->metrics().reconnects, 1u);
  EXPECT_EQ(c1->metrics().reconnects, static_cast<std::uint64_t>(expiries.load()));
}

TEST_F(StmTxn, WatchesSurviveASessionExpiry) {
  dstm::ref r{c1, "/w", 0};
  dstm::ref<int> r2{c2, "/w"};
  dstm_test::mailbox<std::pair<int, int>> seen;
  r.add_watch("k", [&](const std::string&, const int& o, const int& n) { seen.post({o, n}); });
  const auto old_session = c1->session()->session_id();
  ASSERT_TRUE(store->expire(old_session));
  ASSERT_TRUE(dstm_test::await_new_session(*c1, old_session));
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, 1); });
  EXPECT_EQ(seen.take(), (std::pair<int, int>{0, 1}));
}

// ----- metrics -----

TEST_F(StmTxn, ReadOnlyTransactionOnAWarmCacheCostsNoRoundTrip) {
  dstm::ref a{c1, "/a", 1};
  dstm::ref b{c1, "/b", 2};
  const auto before = c1->metrics();
  const int sum = dstm::dosync(c1, [&](dstm::txn& tx) { return tx.deref(a) + tx.deref(b); });
  const auto after = c1->metrics();
  EXPECT_EQ(sum, 3);
  EXPECT_EQ(after.round_trips - before.round_trips, 0u);
  EXPECT_EQ(after.cache_hits - before.cache_hits, 2u);
  EXPECT_EQ(after.cache_misses - before.cache_misses, 0u);
  EXPECT_EQ(after.read_only_commits - before.read_only_commits, 1u);
}

TEST_F(StmTxn, WriteTransactionCommitsOnce) {
  constexpr int k = 4;
  std::vector<dstm::ref<int>> refs;
  for (int i = 0; i < k; ++i) refs.emplace_back(c1, "/k" + std::to_string(i), i);
  // The first commit creates the client's outcome record; the second is the steady state.
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(refs[0], [](int v) { return v; }); });
  for (auto& r : refs) r.deref();
  const auto before = c1->metrics();
  dstm::dosync(c1, [&](dstm::txn& tx) {
    for (auto& r : refs) tx.alter(r, [](int v) { return v + 1; });
  });
  const auto after = c1->metrics();
  EXPECT_EQ(after.commits - before.commits, 1u);
  EXPECT_EQ(after.read_only_commits - before.read_only_commits, 0u);
  // One multi and the re-read that re-arms the watches, in one round trip (as ZooKeeper
  // pipelines them).
  EXPECT_EQ(after.round_trips - before.round_trips, 1u);
  EXPECT_EQ(after.cache_misses - before.cache_misses, 0u);
  // The re-read leaves the cache warm: reading the new values costs nothing.
  for (int i = 0; i < k; ++i) EXPECT_EQ(refs[static_cast<std::size_t>(i)].deref(), i + 1);
  EXPECT_EQ(c1->metrics().round_trips, after.round_trips);
}

}  // namespace
