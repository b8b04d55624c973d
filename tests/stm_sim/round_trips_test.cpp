// The STM's cost in coordinator round trips, counted in the simulation (no noise): a write
// transaction over k refs on a warm cache is one round trip, a read-only one is none, an atom
// update is one. And exactly-once commits when replies are lost.
#include <dstm/dstm.hpp>
#include <dstm/sim/coordinator.hpp>
#include <dstm/sim/ensemble.hpp>
#include <dstm/sim/world.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sim = dstm::sim;

namespace {

struct simulation {
  explicit simulation(std::uint64_t seed = 1, sim::ensemble_options o = {})
      : w(seed), ens(w, std::move(o)) {}
  void run(std::function<void()> body) {
    w.spawn("test", std::move(body));
    w.run();
  }
  std::shared_ptr<dstm::client> connect() {
    return dstm::connect_with([this] { return std::make_shared<sim::coordinator>(ens); });
  }
  sim::world w;
  sim::ensemble ens;
};

class RoundTrips : public ::testing::TestWithParam<int> {};

TEST_P(RoundTrips, WriteTransactionOverKRefsOnAWarmCacheIsOneRoundTrip) {
  const int k = GetParam();
  simulation s;
  s.run([&] {
    auto client = s.connect();
    std::vector<dstm::ref<int>> refs;
    for (int i = 0; i < k; ++i) refs.emplace_back(client, "/rt/r" + std::to_string(i), 0);
    auto bump = [&] {
      dstm::dosync(client, [&](dstm::txn& tx) {
        for (auto& r : refs) tx.alter(r, [](int v) { return v + 1; });
      });
    };
    bump();  // creates the outcome record's lane
    for (int round = 0; round < 5; ++round) {
      const auto before = client->metrics();
      bump();
      const auto after = client->metrics();
      EXPECT_EQ(after.round_trips - before.round_trips, 1u) << "k=" << k << " round " << round;
      EXPECT_EQ(after.cache_misses, before.cache_misses) << "the re-armed cache stayed warm";
      EXPECT_EQ(after.commits - before.commits, 1u);
    }
    for (auto& r : refs) EXPECT_EQ(r.deref(), 6);
  });
}
INSTANTIATE_TEST_SUITE_P(K, RoundTrips, ::testing::Values(1, 2, 4, 8));

TEST(RoundTrips, ReadOnlyTransactionOnAWarmCacheCostsNone) {
  simulation s;
  s.run([&] {
    auto client = s.connect();
    dstm::ref a{client, "/ro/a", 1};
    dstm::ref b{client, "/ro/b", 2};
    const auto before = client->metrics();
    const int sum = dstm::dosync(client, [&](dstm::txn& tx) { return tx.deref(a) + tx.deref(b); });
    const auto after = client->metrics();
    EXPECT_EQ(sum, 3);
    EXPECT_EQ(after.round_trips, before.round_trips);
    EXPECT_EQ(after.cache_hits - before.cache_hits, 2u);
    EXPECT_EQ(after.read_only_commits - before.read_only_commits, 1u);
  });
}

TEST(RoundTrips, AtomUpdateOnAWarmCacheIsOneRoundTrip) {
  simulation s;
  s.run([&] {
    auto client = s.connect();
    dstm::atom counter{client, "/atom", 0};
    counter.update([](int v) { return v + 1; });
    const auto before = client->metrics();
    EXPECT_EQ(counter.update([](int v) { return v + 1; }), 2);
    EXPECT_EQ(client->metrics().round_trips - before.round_trips, 1u);
  });
}

// Two clients see each other's commits through watch invalidation, never a stale cached value
// inside a committed write (the multi's version checks would refuse it).
TEST(RoundTrips, RemoteWritesInvalidateTheCache) {
  simulation s;
  s.run([&] {
    auto c1 = s.connect();
    auto c2 = s.connect();
    dstm::ref<int> r1{c1, "/shared", 0};
    dstm::ref<int> r2{c2, "/shared"};
    for (int i = 0; i < 10; ++i) {
      auto& c = i % 2 ? c1 : c2;
      auto& r = i % 2 ? r1 : r2;
      dstm::dosync(c, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
    }
    EXPECT_EQ(r1.deref(), 10);
    EXPECT_EQ(r2.deref(), 10);
  });
}

}  // namespace
