// Whole runs: the same seed gives the same trace (in one process and across processes),
// different seeds differ, no real clock or randomness in the library, and the workloads are
// clean on correct code under harsh faults while a planted bug is caught.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dstm/sim/runner.hpp"
#include "dstm/sim/workloads.hpp"

namespace sim = dstm::sim;

namespace {

sim::run_outcome run(const std::string& workload, std::uint64_t seed, const std::string& faults) {
  const auto registry = sim::builtin_workloads();
  sim::workload_config cfg;
  cfg.seed = seed;
  cfg.faults = *sim::fault_config::preset(faults);
  return sim::run_workload(registry.find(workload)->fn, cfg);
}

std::string run_binary(const std::string& args) {
  const std::string cmd = std::string(DSTM_SIM_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  out += "\nexit=" + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return out;
}

std::string last_line(const std::string& s) {
  std::istringstream in(s);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line.rfind("exit=", 0) != 0) last = line;
  }
  return last;
}

int cli(std::vector<std::string> args, std::string& out) {
  std::ostringstream o, e;
  const int rc = sim::run_cli(args, sim::builtin_workloads(), o, e);
  out = o.str() + e.str();
  return rc;
}

}  // namespace

TEST(SimDeterminism, SameSeedTwiceInOneProcessGivesTheSameTrace) {
  for (const char* faults : {"none", "harsh"}) {
    for (const char* workload : {"register", "sequential"}) {
      const auto a = run(workload, 42, faults);
      const auto b = run(workload, 42, faults);
      EXPECT_EQ(a.trace, b.trace) << workload << " " << faults;
      EXPECT_EQ(a.result.history, b.result.history);
      EXPECT_EQ(a.result.ops, 200u);
    }
  }
}

TEST(SimDeterminism, DifferentSeedsGiveDifferentTraces) {
  std::set<std::uint64_t> traces;
  for (std::uint64_t seed = 0; seed < 20; ++seed)
    traces.insert(run("register", seed, "standard").trace);
  EXPECT_EQ(traces.size(), 20u);
  // Even without faults the seed drives the clients' choices.
  EXPECT_NE(run("register", 1, "none").trace, run("register", 2, "none").trace);
}

TEST(SimDeterminism, SameSeedInTwoProcessesGivesTheSameTrace) {
  const std::string args = "--workload register --seed 7 --faults harsh";
  const auto a = run_binary(args), b = run_binary(args);
  EXPECT_NE(a.find("exit=0"), std::string::npos) << a;
  const std::regex shape(
      R"(^seed=7 workload=register ops=200 faults=harsh anomalies=0 trace=[0-9a-f]{16}$)");
  EXPECT_TRUE(std::regex_match(last_line(a), shape)) << last_line(a);
  EXPECT_EQ(last_line(a), last_line(b));
  // ...and the same as in this process.
  EXPECT_NE(last_line(a).find(sim::format_trace(run("register", 7, "harsh").trace)),
            std::string::npos);
}

TEST(SimRunner, HarshSweepOfTheRegisterWorkloadIsClean) {
  std::string out;
  EXPECT_EQ(cli({"--workload", "register", "--seeds", "0:200", "--faults", "harsh"}, out), 0)
      << out;
  EXPECT_NE(out.find("seeds=0:200 runs=200 failed=0"), std::string::npos) << out;
}

TEST(SimRunner, HarshSweepOfTheSequentialWorkloadIsClean) {
  std::string out;
  EXPECT_EQ(cli({"--workload", "sequential", "--seeds", "0:100", "--faults", "harsh"}, out), 0)
      << out;
}

TEST(SimRunner, PlantedStaleReadsAreCaughtAndTheReplayCommandReproducesThem) {
  std::string out;
  EXPECT_EQ(cli({"--workload", "register", "--seeds", "0:60", "--faults", "harsh", "--param",
                 "register.reads=plain"},
                out),
            1);
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(out, m, std::regex(R"(replay: (dstm-sim [^\n]*--seed (\d+)[^\n]*))")))
      << out;
  EXPECT_NE(out.find("Not linearizable"), std::string::npos);
  // Replaying the printed command gives the failing line again, anomalies and trace included.
  const std::string seed = m[2];
  std::smatch line;
  ASSERT_TRUE(std::regex_search(out, line, std::regex("seed=" + seed + " [^\n]*")));
  const std::string replay = m[1].str().substr(std::string("dstm-sim ").size());
  const auto again = run_binary(replay);
  EXPECT_EQ(last_line(again), line.str());
  EXPECT_NE(again.find("exit=1"), std::string::npos);
}

TEST(SimRunner, UsageErrorsAndHistoryFile) {
  std::string out;
  EXPECT_EQ(cli({"--workload", "nope", "--seed", "1"}, out), 2);
  // Every registered workload is named (a list that grows as areas register theirs).
  EXPECT_NE(out.find("known: "), std::string::npos) << out;
  const auto registry = sim::builtin_workloads();
  for (const auto& [name, e] : registry.entries())
    EXPECT_NE(out.find(name), std::string::npos) << name << " missing from: " << out;
  EXPECT_EQ(cli({"--workload", "register"}, out), 2);
  EXPECT_EQ(cli({"--workload", "register", "--seeds", "5:5"}, out), 2);
  EXPECT_EQ(cli({"--workload", "register", "--seed", "1", "--faults", "mild"}, out), 2);
  EXPECT_EQ(cli({"--help"}, out), 0);
  EXPECT_NE(out.find("half-open"), std::string::npos);
  const auto file = std::filesystem::temp_directory_path() / "dstm_sim_history_test.jsonl";
  EXPECT_EQ(
      cli({"--workload", "register", "--seed", "3", "--ops", "50", "--history", file.string()},
          out),
      0);
  std::ifstream in(file);
  const auto h = dstm::check::read_history(in);
  EXPECT_EQ(h.size(), 100u);  // 50 invokes, 50 completions (no faults: nothing retracted)
  std::filesystem::remove(file);
}

TEST(SimHygiene, LibraryHeadersUseNoRealClockSleepOrRandomDevice) {
  namespace fs = std::filesystem;
  const fs::path root = DSTM_SOURCE_DIR;
  const std::regex forbidden(
      R"(std::chrono::(steady_clock|system_clock|high_resolution_clock)|std::this_thread::sleep_for|std::this_thread::sleep_until|\busleep\s*\(|\bnanosleep\s*\(|\bgettimeofday\s*\(|\bclock_gettime\s*\(|(^|[^_a-zA-Z0-9:.>])time\s*\(|std::time\s*\(|std::random_device)");
  auto allowed = [&](const fs::path& p) {
    const auto rel = fs::relative(p, root).generic_string();
    return rel.starts_with("include/dstm/zookeeper") || rel.starts_with("include/dstm/embedded") ||
           rel.starts_with("include/dstm/testing/") ||
           rel == "include/dstm/detail/thread_event.hpp" ||
           rel == "include/dstm/crdt/wall_clock.hpp";  // the default HLC's physical source
  };
  std::vector<std::string> offenders;
  std::size_t scanned = 0;
  for (const auto* dir : {"include/dstm", "sim/include"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file() || allowed(entry.path())) continue;
      ++scanned;
      std::ifstream in(entry.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        const auto comment = line.find("//");
        const std::string code = comment == std::string::npos ? line : line.substr(0, comment);
        if (std::regex_search(code, forbidden)) {
          offenders.push_back(fs::relative(entry.path(), root).string() + ":" + std::to_string(n) +
                              ": " + line);
        }
      }
    }
  }
  EXPECT_GT(scanned, 10u);
  EXPECT_TRUE(offenders.empty()) << [&] {
    std::string s = "real clocks, sleeps or random_device in deterministic code:\n";
    for (const auto& o : offenders) s += "  " + o + "\n";
    return s;
  }();
}

TEST(SimHygiene, TheGrepRecognisesWhatItForbids) {
  // Guards the regex above against rotting into a test that cannot fail.
  const std::regex forbidden(
      R"(std::chrono::(steady_clock|system_clock|high_resolution_clock)|std::this_thread::sleep_for|\busleep\s*\(|(^|[^_a-zA-Z0-9:.>])time\s*\(|std::time\s*\(|std::random_device)");
  EXPECT_TRUE(std::regex_search("auto t = std::chrono::steady_clock::now();", forbidden));
  EXPECT_TRUE(std::regex_search("std::this_thread::sleep_for(1s);", forbidden));
  EXPECT_TRUE(std::regex_search("std::random_device rd;", forbidden));
  EXPECT_TRUE(std::regex_search("auto t = time(nullptr);", forbidden));
  EXPECT_FALSE(std::regex_search("c.sleep_for(ns);", forbidden));
  EXPECT_FALSE(std::regex_search("std::int64_t ctime = x.mtime(1);", forbidden));
}
