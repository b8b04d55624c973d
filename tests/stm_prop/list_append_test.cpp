// The list-append workload over the STM in the simulation, checked by the isolation checker:
// clean at the promised level under harsh faults, and the planted bugs it must expose.
#include <gtest/gtest.h>

#include <cstdint>
#include <dstm/sim/workloads/list_append.hpp>
#include <dstm/testing/planted.hpp>
#include <string>

namespace sim = dstm::sim;

namespace {

sim::workload_config config(std::uint64_t seed, sim::fault_config faults,
                            dstm::isolation level = dstm::isolation::serializable) {
  sim::workload_config c;
  c.seed = seed;
  c.clients = 4;
  c.ops = 60;
  c.faults = std::move(faults);
  c.isolation = level;
  c.record_history = false;
  return c;
}

std::uint64_t anomalies(const sim::workload_config& c) {
  return sim::run_workload(sim::workloads::list_append_workload, c).result.anomalies;
}

TEST(ListAppend, SerializableUnderHarshFaults) {
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    const auto o = sim::run_workload(sim::workloads::list_append_workload,
                                     config(seed, sim::fault_config::harsh()));
    ASSERT_EQ(o.result.anomalies, 0u)
        << "seed " << seed << ":\n"
        << (o.result.explanations.empty() ? "" : o.result.explanations.front());
  }
}

TEST(ListAppend, SnapshotIsolatedUnderSnapshot) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    ASSERT_EQ(anomalies(config(seed, sim::fault_config::standard(), dstm::isolation::snapshot)), 0u)
        << "seed " << seed;
  }
}

TEST(ListAppend, TheHistoryIsRecordedAndChecked) {
  auto c = config(7, sim::fault_config::none());
  c.record_history = true;
  const auto o = sim::run_workload(sim::workloads::list_append_workload, c);
  ASSERT_FALSE(o.result.history.empty());
  bool read_something = false;
  for (const auto& e : o.result.history) {
    ASSERT_EQ(e.f, "txn");
    if (e.type != dstm::check::event_type::ok) continue;
    for (const auto& m : e.value) read_something |= m[0] == "r" && m[2].is_array() && !m[2].empty();
  }
  EXPECT_TRUE(read_something) << "the transactions must read what others appended";
}

// Each planted bug must be exposed by the isolation checker or the final-list checks within
// 200 seeds (most within a few).
class ListAppendPlanted : public ::testing::TestWithParam<dstm::testing::planted_bug> {};

TEST_P(ListAppendPlanted, IsCaught) {
  dstm::testing::scoped_plant plant(GetParam());
  auto faults = sim::fault_config::standard();
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    if (anomalies(config(seed, faults)) > 0) {
      RecordProperty("caught_at_seed", static_cast<int>(seed));
      return;
    }
  }
  ADD_FAILURE() << "planted bug " << dstm::testing::planted_bug_name(GetParam())
                << " was not caught by list-append within 200 seeds";
}

INSTANTIATE_TEST_SUITE_P(Bugs, ListAppendPlanted,
                         ::testing::Values(dstm::testing::planted_bug::skip_version_check,
                                           dstm::testing::planted_bug::multi_one_by_one,
                                           dstm::testing::planted_bug::blind_retry,
                                           dstm::testing::planted_bug::stale_snapshot),
                         [](const auto& info) {
                           std::string n(dstm::testing::planted_bug_name(info.param));
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
