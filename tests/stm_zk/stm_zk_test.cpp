// The STM workloads of the simulation (sim/workloads/stm.hpp: bank, counter, write-skew) against
// a real standalone ZooKeeper server: the same classes, driven by std::threads, each with its
// own dstm::zookeeper client. Also bank with sessions expired on the server mid-run.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <dstm/ref.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/txn.hpp>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using namespace stm_zk;

class StmZooKeeper : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new dstm::testing::zookeeper_server(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static zk_target target() {
    return {[] { return server_->connect_string(); }, [] { delete server_; }};
  }
  template <class Workload>
  static sim::workload_result drive(Workload& wl, const dstm::client_options& o, int clients,
                                    std::uint64_t seed, session_registry& sessions,
                                    std::function<void(const std::atomic<bool>&)> nemesis = {}) {
    return stm_zk::drive(wl, target(), o, clients, seed, sessions, std::move(nemesis));
  }

  static inline dstm::testing::zookeeper_server* server_ = nullptr;
};

constexpr int clients = 4;
constexpr int ops = clients * 50;

TEST_F(StmZooKeeper, BankKeepsItsTotalAndItsBooks) {
  stm::bank wl(workload_options(dstm::isolation::serializable, false, ops), {}, sim::rng(1));
  session_registry sessions;
  const auto r = drive(wl, client_options(dstm::isolation::serializable), clients, 1, sessions);
  expect_clean(wl, r);
  EXPECT_GT(wl.stats().body_runs, 0u) << "no read transaction checked a snapshot";
}

TEST_F(StmZooKeeper, CounterWithCommuteIsExact) {
  stm::counter::settings s;
  s.commute = true;
  stm::counter wl(workload_options(dstm::isolation::serializable, false, ops), s, sim::rng(2));
  session_registry sessions;
  expect_clean(wl, drive(wl, client_options(dstm::isolation::serializable), clients, 2, sessions));
}

TEST_F(StmZooKeeper, CounterWithAlterIsExact) {
  stm::counter::settings s;
  s.commute = false;
  stm::counter wl(workload_options(dstm::isolation::serializable, false, ops), s, sim::rng(3));
  session_registry sessions;
  expect_clean(wl, drive(wl, client_options(dstm::isolation::serializable), clients, 3, sessions));
}

TEST_F(StmZooKeeper, WriteSkewUnderSerializableKeepsTheConstraint) {
  stm::write_skew wl(workload_options(dstm::isolation::serializable, false, ops), {}, sim::rng(4));
  session_registry sessions;
  expect_clean(wl, drive(wl, client_options(dstm::isolation::serializable), clients, 4, sessions));
}

TEST_F(StmZooKeeper, WriteSkewUnderSnapshotWithEnsureKeepsTheConstraint) {
  stm::write_skew wl(workload_options(dstm::isolation::snapshot, /*ensure=*/true, ops), {},
                     sim::rng(5));
  session_registry sessions;
  expect_clean(wl, drive(wl, client_options(dstm::isolation::snapshot), clients, 5, sessions));
}

TEST_F(StmZooKeeper, BankKeepsItsInvariantsWhileSessionsExpire) {
  // Sessions are ended on the server mid-run: the clients open new ones, lose their caches and
  // resolve commits in flight through their (persistent) outcome records.
  stm::bank wl(workload_options(dstm::isolation::serializable, false, 5 * ops), {}, sim::rng(6));
  session_registry sessions;
  std::atomic<int> expired{0};
  const auto r =
      drive(wl, client_options(dstm::isolation::serializable), clients, 6, sessions,
            [&](const std::atomic<bool>& done) {
              sim::rng pick(66);
              while (!done) {
                std::this_thread::sleep_for(std::chrono::milliseconds(pick.between(20, 80)));
                auto s = sessions.live(pick.next());
                if (!s || done) continue;
                try {
                  zk::coordinator::expire_session(server_->connect_string(), s->session_id(),
                                                  s->session_password(), 5s);
                  ++expired;
                } catch (const dstm::coordinator_error&) {
                  // Closed or expired meanwhile: the next one.
                }
              }
            });
  expect_clean(wl, r);
  EXPECT_GT(expired.load(), 0) << "no session was expired: the run proves nothing";
  EXPECT_GT(sessions.reconnects(), 0u);
  std::printf("[ zk run   ] %d sessions expired, %llu reconnects\n", expired.load(),
              static_cast<unsigned long long>(sessions.reconnects()));
}

// A commit returns after its multi's reply; the reads that re-arm the cache's watches on the
// written refs arrive later, into the cache. The next transaction on those refs waits for them
// instead of reading again: one round trip per write transaction, none per read-only one, no
// cache miss, and every transaction sees the previous one's writes.
TEST_F(StmZooKeeper, WriteTransactionsCostOneRoundTripAndLeaveTheCacheWarm) {
  session_registry sessions;
  auto o = client_options(dstm::isolation::serializable);
  o.root = test_root() + "/rearm";
  auto c = connect(target(), o, sessions);
  dstm::ref<std::int64_t> a{c, test_root() + "/rearm-a", 0}, b{c, test_root() + "/rearm-b", 0};
  auto transfer = [&] {
    dstm::dosync(c, [&](dstm::txn& tx) {
      tx.alter(a, [](std::int64_t v) { return v + 1; });
      tx.alter(b, [](std::int64_t v) { return v - 1; });
    });
  };
  for (int i = 0; i < 5; ++i) transfer();  // warm: lanes, the gate, the cache
  constexpr int n = 200;
  const auto before = c->metrics();
  for (int i = 0; i < n; ++i) transfer();
  const auto sum = dstm::dosync(c, [&](dstm::txn& tx) { return tx.deref(a) + tx.deref(b); });
  const auto mid = c->metrics();
  EXPECT_EQ(sum, 0);
  EXPECT_EQ(mid.commits - before.commits, static_cast<std::uint64_t>(n + 1));
  EXPECT_EQ(mid.round_trips - before.round_trips, static_cast<std::uint64_t>(n))
      << "a write transaction must cost one round trip, a read-only one none";
  EXPECT_EQ(mid.cache_misses - before.cache_misses, 0u)
      << "a transaction read again what its predecessor's commit was already reading back";
  EXPECT_EQ(dstm::dosync(c, [&](dstm::txn& tx) { return tx.deref(a); }), n + 5);
  std::printf("[ zk run   ] %d transactions, %llu waited for a re-arming read\n", n,
              static_cast<unsigned long long>(mid.rearm_waits - before.rearm_waits));
  c->close();
}

// Threads sharing one client commit on the same refs: re-arming reads of one commit overlap
// the next commits (marks are counted per ref), and nothing is lost.
TEST_F(StmZooKeeper, ThreadsSharingOneClientLoseNoUpdate) {
  session_registry sessions;
  auto o = client_options(dstm::isolation::serializable);
  o.root = test_root() + "/rearm-shared";
  auto c = connect(target(), o, sessions);
  dstm::ref<std::int64_t> counter{c, test_root() + "/rearm-counter", 0};
  dstm::ref<std::int64_t> other{c, test_root() + "/rearm-other", 0};
  constexpr int threads = 4, each = 60;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        dstm::dosync(c, [&](dstm::txn& tx) {
          tx.alter(counter, [](std::int64_t v) { return v + 1; });
          if (t % 2 == 0) tx.alter(other, [](std::int64_t v) { return v + 2; });
        });
      }
    });
  }
  for (auto& th : pool) th.join();
  const auto before = c->metrics().round_trips;
  EXPECT_EQ(dstm::dosync(c, [&](dstm::txn& tx) { return tx.deref(counter); }), threads * each);
  EXPECT_EQ(dstm::dosync(c, [&](dstm::txn& tx) { return tx.deref(other); }),
            (threads / 2) * each * 2);
  // Every commit's re-arming read landed in the cache (or is awaited there): the reads after
  // the run cost no round trip.
  EXPECT_EQ(c->metrics().round_trips - before, 0u);
  c->close();
}

}  // namespace
