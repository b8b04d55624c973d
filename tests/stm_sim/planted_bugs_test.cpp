// The harness must be able to fail: every planted bug of <dstm/testing/planted.hpp> is caught
// by an STM workload within 200 seeds, and the seed that catches it is clean without the bug
// (so the anomaly is the bug's, not the configuration's).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support.hpp"

namespace stm_sim_test {
namespace {

using dstm::testing::planted_bug;

struct planted_case {
  planted_bug bug;
  std::string why;  ///< what the workload sees
  setup config;
  std::string evidence;  ///< a phrase the explanation must contain
};

void PrintTo(const planted_case& c, std::ostream* os) {
  *os << dstm::testing::planted_bug_name(c.bug) << " via " << c.config.workload;
}

setup with_lost_replies(setup s) {
  s.cfg.faults.loss_after_per_million = 100'000;
  s.faults = "none (+ loss_after_per_million=100000, not a preset)";
  return s;
}

std::vector<planted_case> cases() {
  return {
      {planted_bug::skip_version_check, "lost updates break the total and the books",
       setup("bank", "none"), "bank"},
      {planted_bug::skip_version_check, "lost increments",
       setup("counter", "none", {{"counter.op", "alter"}}), "outside"},
      {planted_bug::multi_one_by_one, "a transfer applied in part: total or a read sum wrong",
       setup("bank", "harsh"), "bank"},
      {planted_bug::blind_retry, "a commit applied twice after its reply was lost",
       with_lost_replies(setup("counter", "none", {{"counter.op", "commute"}})), "applied twice"},
      {planted_bug::blind_retry, "a transfer applied twice after its reply was lost",
       with_lost_replies(setup("bank", "none")), "applied twice"},
      {planted_bug::stale_snapshot, "a read transaction sums an inconsistent snapshot",
       setup("bank", "none"), "opacity violated"},
      {planted_bug::commute_no_reread, "concurrent commutes overwrite each other",
       setup("counter", "none", {{"counter.op", "commute"}}), "outside"},
      {planted_bug::drop_ensure, "write skew although the withdrawal ensures the other ref",
       setup("write-skew", "none").snapshot(/*ensure=*/true), "breaks x + y >= 0"},
  };
}

class StmPlantedBugs : public ::testing::TestWithParam<planted_case> {};

TEST_P(StmPlantedBugs, AreCaughtWithin200Seeds) {
  ASSERT_TRUE(dstm::testing::planted_bugs_compiled) << "dstm::sim defines DSTM_PLANTED_BUGS=1";
  const auto& c = GetParam();
  sweep_result caught;
  {
    dstm::testing::scoped_plant plant(c.bug);
    caught = sweep(c.config, 0, 200, /*stop_at_first=*/true);
  }
  ASSERT_FALSE(caught.failing.empty())
      << dstm::testing::planted_bug_name(c.bug) << " (" << c.why << ") went unnoticed by "
      << c.config.workload << " in 200 seeds; transactions: " << stm::describe(caught.total);
  const auto seed = caught.failing.front();
  EXPECT_NE(caught.report.find(c.evidence), std::string::npos) << caught.report;
  std::printf("[ caught   ] %s by %s at seed %llu: %s\n",
              std::string(dstm::testing::planted_bug_name(c.bug)).c_str(),
              c.config.workload.c_str(), static_cast<unsigned long long>(seed),
              caught.report.substr(0, caught.report.find('\n')).c_str());
  // Without the bug the same seed is clean: the anomaly is the bug's doing.
  const auto clean = run(c.config, seed);
  EXPECT_EQ(clean.result.anomalies, 0u)
      << "seed " << seed << " fails without the bug too:\n"
      << (clean.result.explanations.empty() ? "" : clean.result.explanations.front());
}

INSTANTIATE_TEST_SUITE_P(Every, StmPlantedBugs, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<planted_case>& info) {
                           std::string name(dstm::testing::planted_bug_name(info.param.bug));
                           name += "_" + info.param.config.workload;
                           for (auto& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name + "_" + std::to_string(info.index);
                         });

TEST(StmPlantedBugCases, EveryBugHasACase) {
  for (const auto& [bug, name] : dstm::testing::planted_bugs) {
    bool found = false;
    for (const auto& c : cases()) found = found || c.bug == bug;
    EXPECT_TRUE(found) << name << " has no workload that must catch it";
  }
}

}  // namespace
}  // namespace stm_sim_test
