// Atoms in the simulation, checked for linearizability (cas-register model per atom): reset,
// compare_and_set (also when it fails on a stale cache) and deref_latest under harsh faults,
// and the planted bug the checker must expose.
#include <gtest/gtest.h>

#include <cstdint>
#include <dstm/sim/workloads/atoms.hpp>
#include <dstm/testing/planted.hpp>

namespace sim = dstm::sim;

namespace {

sim::workload_config config(std::uint64_t seed, sim::fault_config faults) {
  sim::workload_config c;
  c.seed = seed;
  c.clients = 4;
  c.ops = 60;
  c.faults = std::move(faults);
  c.record_history = false;
  return c;
}

TEST(Atoms, LinearizableUnderHarshFaults) {
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    const auto o =
        sim::run_workload(sim::workloads::atoms_workload, config(seed, sim::fault_config::harsh()));
    ASSERT_EQ(o.result.anomalies, 0u)
        << "seed " << seed << ":\n"
        << (o.result.explanations.empty() ? "" : o.result.explanations.front());
  }
}

// A client whose server lags has a stale cached view; a compare_and_set that fails against it
// must be confirmed against the latest value, else it reports a mismatch that never existed.
// Staged sequentially (no concurrency to hide behind): A's reset completes, then B compares.
TEST(Atoms, CompareAndSetAndDerefLatestSeeCompletedWritesThroughALaggingServer) {
  int stale_views = 0;
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    sim::world w(seed);
    sim::ensemble_options eo;
    eo.faults.replication_ns = 50 * sim::milliseconds;  // followers lag far behind the leader
    eo.faults.replication_jitter_ns = 100 * sim::milliseconds;
    sim::ensemble ens(w, eo);
    w.spawn("test", [&] {
      const auto o = sim::workloads::stm::sim_client_options(dstm::isolation::serializable);
      auto a = dstm::connect_with([&] { return std::make_shared<sim::coordinator>(ens); }, o);
      auto b = dstm::connect_with([&] { return std::make_shared<sim::coordinator>(ens); }, o);
      dstm::atom<int> xa{a, "/x", 0};
      dstm::atom<int> xb{b, "/x"};  // found through b's lagging server (a sync)
      for (int i = 1; i <= 20; ++i) {
        xb.deref();  // b caches the current value
        xa.reset(i);
        stale_views += xb.deref() != i;
        EXPECT_EQ(xb.deref_latest(), i) << "seed " << seed;
        xa.reset(i + 1);
        xb.deref();
        EXPECT_TRUE(xb.compare_and_set(i + 1, -i)) << "seed " << seed << " i " << i;
        EXPECT_FALSE(xb.compare_and_set(i + 1, 0)) << "seed " << seed << " i " << i;
        EXPECT_EQ(xa.deref_latest(), -i);
      }
    });
    w.run();
  }
  EXPECT_GT(stale_views, 0) << "no client ever had a stale view: nothing was exercised";
}

TEST(Atoms, SkippedVersionChecksAreCaughtByTheLinearizabilityChecker) {
  dstm::testing::scoped_plant plant(dstm::testing::planted_bug::skip_version_check);
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    if (sim::run_workload(sim::workloads::atoms_workload,
                          config(seed, sim::fault_config::standard()))
            .result.anomalies > 0)
      return;
  }
  ADD_FAILURE() << "skip-version-check was not caught within 200 seeds";
}

}  // namespace
