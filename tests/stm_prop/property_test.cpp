// RapidCheck over the simulation: the workload's shape, the reply-loss rate and the fault
// schedule are generated data (the world's seed too, but it is not shrunk: a different seed is a
// different run, not a smaller one). A failure shrinks to the fewest, shortest faults that still
// break a checker, and its message is the dstm-sim command that replays it.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <dstm/sim/schedule.hpp>
#include <dstm/sim/workloads/atoms.hpp>
#include <dstm/sim/workloads/list_append.hpp>
#include <dstm/testing/planted.hpp>
#include <string>
#include <vector>

namespace sim = dstm::sim;
using sim::scheduled_fault;

namespace {

rc::Gen<scheduled_fault> gen_fault() {
  return rc::gen::build<scheduled_fault>(
      rc::gen::set(&scheduled_fault::what,
                   rc::gen::element(scheduled_fault::kind::crash, scheduled_fault::kind::isolate,
                                    scheduled_fault::kind::cut, scheduled_fault::kind::expire,
                                    scheduled_fault::kind::believe, scheduled_fault::kind::lag)),
      rc::gen::set(&scheduled_fault::target, rc::gen::inRange(0, 4)),
      rc::gen::set(&scheduled_fault::at_ms, rc::gen::inRange<std::int64_t>(0, 1500)),
      rc::gen::set(&scheduled_fault::duration_ms, rc::gen::inRange<std::int64_t>(0, 1200)));
}

struct scenario {
  std::string workload;
  sim::workload_config config;
  std::string faults;  ///< the schedule's text form
};

/// Generates a scenario for `workload` (list-append or atoms).
scenario generate(const std::string& workload) {
  scenario s;
  s.workload = workload;
  auto& c = s.config;
  c.seed = *rc::gen::noShrink(rc::gen::arbitrary<std::uint64_t>());
  c.clients = *rc::gen::inRange(1, 5);
  c.ops = *rc::gen::inRange(1, 60);
  c.record_history = false;
  c.faults = sim::fault_config::none();
  c.faults.name = "none";
  c.faults.loss_after_per_million = static_cast<std::uint32_t>(*rc::gen::inRange(0, 60'000));
  c.faults.loss_before_per_million = static_cast<std::uint32_t>(*rc::gen::inRange(0, 60'000));
  const sim::fault_schedule schedule{
      *rc::gen::container<std::vector<scheduled_fault>>(gen_fault())};
  s.faults = schedule.format();
  c.params["schedule"] = s.faults;
  c.params["loss-after"] = std::to_string(c.faults.loss_after_per_million);
  c.params["loss-before"] = std::to_string(c.faults.loss_before_per_million);
  return s;
}

std::string replay(const scenario& s) {
  std::string cmd = "dstm-sim --workload " + s.workload + " --seed " +
                    std::to_string(s.config.seed) + " --clients " +
                    std::to_string(s.config.clients) + " --ops " + std::to_string(s.config.ops);
  for (const auto& [k, v] : s.config.params) {
    if (!v.empty()) cmd += " --param " + k + "=" + v;
  }
  const auto bug = dstm::testing::active_planted_bug().load();
  if (bug != dstm::testing::planted_bug::none)
    cmd += " --planted-bug " + std::string(dstm::testing::planted_bug_name(bug));
  return cmd;
}

void check(const scenario& s, sim::workload_fn fn) {
  const auto o = sim::run_workload(fn, s.config);
  RC_TAG(o.result.ops > 0 ? "ran" : "empty");
  if (o.result.anomalies > 0) {
    RC_FAIL(std::to_string(o.result.anomalies) + " anomalies; replay with\n  " + replay(s) + "\n" +
            (o.result.explanations.empty() ? "" : o.result.explanations.front()));
  }
}

RC_GTEST_PROP(StmFaultSchedules, ListAppendHistoriesStaySerializable, ()) {
  check(generate("list-append"), sim::workloads::list_append_workload);
}

RC_GTEST_PROP(StmFaultSchedules, AtomHistoriesStayLinearizable, ()) {
  check(generate("atoms"), sim::workloads::atoms_workload);
}

// The property can fail: with a planted bug, RapidCheck finds a counterexample and shrinks it.
TEST(StmFaultSchedules, APlantedBugIsFoundAndShrunk) {
  dstm::testing::scoped_plant plant(dstm::testing::planted_bug::blind_retry);
  const bool passed = rc::check("list-append with blind retries", [] {
    auto s = generate("list-append");
    // Lost replies are what blind retries get wrong: make sure there are some.
    s.config.faults.loss_after_per_million += 100'000;
    s.config.params["loss-after"] = std::to_string(s.config.faults.loss_after_per_million);
    check(s, sim::workloads::list_append_workload);
  });
  EXPECT_FALSE(passed) << "the planted bug went unnoticed by the property";
}

TEST(FaultSchedule, TextFormRoundTripsAndBadItemsAreNamed) {
  const auto s = sim::fault_schedule::parse("crash:1@120+300,expire:0@50,lag:2@10+500");
  ASSERT_EQ(s.faults.size(), 3u);
  EXPECT_EQ(s.faults[1].what, scheduled_fault::kind::expire);
  EXPECT_EQ(s.format(), "crash:1@120+300,expire:0@50,lag:2@10+500");
  EXPECT_TRUE(sim::fault_schedule::parse("").faults.empty());
  for (const char* bad : {"crash", "boom:1@2", "crash:x@1", "crash:1@-5", "crash:1@5+"}) {
    try {
      sim::fault_schedule::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

}  // namespace
