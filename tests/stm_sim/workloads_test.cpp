// The STM workloads in the simulation: clean across seeds under harsh faults, the write-skew
// positive control fails under snapshot isolation without ensure, exactly-once commits rest
// on the outcome record (a blind retry is caught), runs are deterministic, and the runner's
// STM flags work.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace stm_sim_test {
namespace {

using dstm::testing::planted_bug;

void expect_clean(const setup& s, std::uint64_t seeds) {
  const auto r = sweep(s, 0, seeds);
  EXPECT_TRUE(r.failing.empty()) << r.failing.size() << " of " << seeds
                                 << " seeds have anomalies; the first:\n"
                                 << r.report << "transactions: " << stm::describe(r.total);
  // The faults must have bitten, or the sweep proves little.
  EXPECT_GT(r.total.committed, 0u);
  EXPECT_GT(r.total.aborted + r.total.unknown + r.total.outcome_resolutions + r.total.reconnects,
            0u)
      << stm::describe(r.total);
  std::printf("[ sweep    ] %s: %d seeds, %s\n", s.replay(0).c_str(), r.runs,
              stm::describe(r.total).c_str());
}

// ---- sweeps under harsh faults: zero anomalies -------------------------------------------

TEST(StmWorkloads, BankIsCleanUnderHarshFaults) { expect_clean(setup("bank", "harsh"), 300); }

TEST(StmWorkloads, BankUnderSnapshotIsolationIsCleanUnderHarshFaults) {
  // Transfers write both accounts they read: snapshot isolation checks them too.
  expect_clean(setup("bank", "harsh").snapshot(), 150);
}

TEST(StmWorkloads, CounterWithCommuteIsCleanUnderHarshFaults) {
  expect_clean(setup("counter", "harsh", {{"counter.op", "commute"}}), 300);
}

TEST(StmWorkloads, CounterWithAlterIsCleanUnderHarshFaults) {
  expect_clean(setup("counter", "harsh", {{"counter.op", "alter"}}), 300);
}

TEST(StmWorkloads, WriteSkewUnderSerializableIsCleanUnderHarshFaults) {
  expect_clean(setup("write-skew", "harsh"), 300);
}

TEST(StmWorkloads, WriteSkewUnderSnapshotWithEnsureIsCleanUnderHarshFaults) {
  expect_clean(setup("write-skew", "harsh").snapshot(/*ensure=*/true), 300);
}

// ---- the positive control -------------------------------------------------------------------

TEST(StmWorkloads, WriteSkewUnderSnapshotWithoutEnsureIsCaught) {
  // Clojure's snapshot isolation lets two withdrawals from different refs commit from one
  // snapshot: the invariant must break for some seeds, or the workload could not see write skew.
  for (const char* faults : {"none", "harsh"}) {
    const auto r = sweep(setup("write-skew", faults).snapshot(), 0, 20);
    EXPECT_GT(r.failing.size(), 0u) << faults << ": no write skew in 20 seeds";
    EXPECT_NE(r.report.find("breaks x + y >= 0"), std::string::npos) << r.report;
  }
}

// ---- exactly once: the outcome record ----------------------------------------------------------

setup lossy(const std::string& workload, std::map<std::string, std::string> params = {}) {
  setup s(workload, "none", std::move(params));
  s.cfg.faults.loss_after_per_million = 100'000;  // one reply in ten lost after applying
  s.cfg.faults.name = "lost-replies";
  s.faults = "none (+ loss_after_per_million=100000, not a preset)";
  return s;
}

TEST(StmWorkloads, LostRepliesAreResolvedExactlyOnce) {
  for (const auto& s : {lossy("counter", {{"counter.op", "commute"}}),
                        lossy("counter", {{"counter.op", "alter"}}), lossy("bank")}) {
    const auto r = sweep(s, 0, 100);
    EXPECT_TRUE(r.failing.empty()) << r.report;
    EXPECT_GT(r.total.committed, 0u);
  }
}

TEST(StmWorkloads, ABlindRetryAfterALostReplyIsCaught) {
  // The same configuration with the outcome record ignored: a commit whose reply was lost is
  // run again and applied twice, which the books show.
  dstm::testing::scoped_plant plant(planted_bug::blind_retry);
  for (const auto& s : {lossy("counter", {{"counter.op", "commute"}}),
                        lossy("counter", {{"counter.op", "alter"}}), lossy("bank")}) {
    const auto r = sweep(s, 0, 100);
    EXPECT_GT(r.failing.size(), 0u) << s.workload << ": blind retries went unnoticed";
    EXPECT_NE(r.report.find("applied twice"), std::string::npos) << r.report;
  }
}

// ---- determinism --------------------------------------------------------------------------------

TEST(StmDeterminism, SameSeedTwiceGivesTheSameTrace) {
  const auto registry = sim::builtin_workloads();
  for (const char* workload : {"bank", "counter", "write-skew"}) {
    for (std::uint64_t seed : {3u, 17u}) {
      setup s(workload, "harsh");
      s.cfg.seed = seed;
      const auto a = sim::run_workload(registry.find(workload)->fn, s.cfg);
      const auto b = sim::run_workload(registry.find(workload)->fn, s.cfg);
      EXPECT_EQ(a.trace, b.trace) << workload << " seed " << seed;
      EXPECT_EQ(a.result.digest, b.result.digest);
      // The tests' own driver is the runner's: same world, same streams, same trace.
      EXPECT_EQ(run(s, seed).trace, a.trace) << workload << " seed " << seed;
    }
  }
  setup s("bank", "harsh");
  s.cfg.seed = 1;
  const auto one = sim::run_workload(sim::builtin_workloads().find("bank")->fn, s.cfg);
  s.cfg.seed = 2;
  const auto two = sim::run_workload(sim::builtin_workloads().find("bank")->fn, s.cfg);
  EXPECT_NE(one.trace, two.trace);
}

// ---- the runner's STM flags ---------------------------------------------------------------------

int cli(std::vector<std::string> args, std::string& out) {
  std::ostringstream o, e;
  const int rc = sim::run_cli(args, sim::builtin_workloads(), o, e);
  out = o.str() + e.str();
  return rc;
}

TEST(StmRunner, IsolationAndEnsureFlags) {
  std::string out;
  EXPECT_EQ(
      cli({"--workload", "write-skew", "--seeds", "0:10", "--isolation", "snapshot", "--ensure"},
          out),
      0)
      << out;
  EXPECT_NE(out.find("seeds=0:10 runs=10 failed=0"), std::string::npos) << out;
  EXPECT_EQ(
      cli({"--workload", "write-skew", "--seeds", "0:10", "--isolation", "serializable"}, out), 0)
      << out;
  // The positive control fails, and its replay line carries the isolation level.
  EXPECT_EQ(cli({"--workload", "write-skew", "--seeds", "0:10", "--isolation", "snapshot"}, out), 1)
      << out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex(R"(replay: dstm-sim ([^\n]*--seed (\d+)[^\n]*))")))
      << out;
  const std::string replay = m[1];
  EXPECT_NE(replay.find("--isolation snapshot"), std::string::npos) << replay;
  EXPECT_EQ(replay.find("--ensure"), std::string::npos) << replay;
  // Replaying it gives the same line.
  std::smatch line;
  ASSERT_TRUE(std::regex_search(out, line, std::regex("seed=" + m[2].str() + " [^\n]*")));
  std::vector<std::string> args;
  std::istringstream words(replay);
  for (std::string w; words >> w;) args.push_back(w);
  std::string again;
  EXPECT_EQ(cli(args, again), 1);
  EXPECT_NE(again.find(line.str()), std::string::npos) << again;
}

TEST(StmRunner, EnsureIsInTheReplayLine) {
  ASSERT_TRUE(dstm::testing::planted_bugs_compiled) << "dstm::sim defines DSTM_PLANTED_BUGS=1";
  std::string out;
  // A planted bug makes a failure to replay: drop-ensure under snapshot with --ensure.
  EXPECT_EQ(cli({"--workload", "write-skew", "--seeds", "0:50", "--isolation", "snapshot",
                 "--ensure", "--planted-bug", "drop-ensure"},
                out),
            1)
      << out;
  EXPECT_NE(out.find("--isolation snapshot --ensure --planted-bug drop-ensure"), std::string::npos)
      << out;
  // The runner clears the bug after its runs.
  EXPECT_EQ(dstm::testing::active_planted_bug().load(), planted_bug::none);
}

TEST(StmRunner, BadValuesAreUsageErrors) {
  std::string out;
  EXPECT_EQ(cli({"--workload", "bank", "--seed", "1", "--isolation", "linearizable"}, out), 2);
  EXPECT_NE(out.find("--isolation must be serializable or snapshot"), std::string::npos) << out;
  EXPECT_EQ(cli({"--workload", "bank", "--seed", "1", "--isolation"}, out), 2);
  EXPECT_EQ(cli({"--workload", "bank", "--seed", "1", "--planted-bug", "nope"}, out), 2);
  EXPECT_NE(out.find("no planted bug 'nope'"), std::string::npos) << out;
  EXPECT_EQ(cli({"--workload", "bank", "--seed", "1", "--planted-bug"}, out), 2);
  // A workload parameter out of range fails the run (exit 1, with the reason).
  EXPECT_EQ(cli({"--workload", "counter", "--seed", "1", "--param", "counter.op=swap"}, out), 1);
  EXPECT_NE(out.find("counter.op must be commute or alter"), std::string::npos) << out;
}

TEST(StmRunner, PlantedBugListNamesEveryBug) {
  std::string out;
  EXPECT_EQ(cli({"--planted-bug", "list"}, out), 0);
  std::string expected;
  for (const auto& [bug, name] : dstm::testing::planted_bugs) expected += std::string(name) + "\n";
  EXPECT_EQ(out, expected);
  EXPECT_NE(out.find("blind-retry\n"), std::string::npos);
}

TEST(StmRunner, HelpNamesTheNewFlagsAndWorkloads) {
  std::string out;
  EXPECT_EQ(cli({"--help"}, out), 0);
  for (const char* s : {"--isolation", "--ensure", "--planted-bug", "bank", "counter", "write-skew",
                        "counter.op"}) {
    EXPECT_NE(out.find(s), std::string::npos) << s;
  }
}

TEST(StmRunner, HistoryOfEachWorkloadIsWellFormed) {
  const auto file = std::filesystem::temp_directory_path() / "dstm_stm_sim_history.jsonl";
  for (const char* workload : {"bank", "counter", "write-skew"}) {
    std::string out;
    EXPECT_EQ(cli({"--workload", workload, "--seed", "5", "--ops", "60", "--faults", "harsh",
                   "--history", file.string()},
                  out),
              0)
        << out;
    std::ifstream in(file);
    const auto h = dstm::check::read_history(in);  // checks the invoke/complete pairing
    EXPECT_GE(h.size(), 120u) << workload;         // 60 invokes and their completions
  }
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace stm_sim_test
