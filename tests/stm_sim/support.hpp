#pragma once
// Helpers of the STM workload tests: run a workload for one seed (keeping its transaction
// counts), sweep seeds, and say how to replay a failure.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dstm/sim/runner.hpp"
#include "dstm/sim/workloads.hpp"
#include "dstm/testing/planted.hpp"

namespace stm_sim_test {

namespace sim = dstm::sim;
namespace stm = dstm::sim::workloads::stm;

/// One run: what the workload found and how its transactions ended.
struct observed {
  sim::workload_result result;
  stm::txn_stats stats;
  std::uint64_t trace = 0;
};

/// What to run: a workload by name and its config (faults name for the replay command).
struct setup {
  std::string workload;
  sim::workload_config cfg;
  std::string faults = "none";  ///< a preset's name, or a description of custom faults

  setup(std::string w, std::string preset, std::map<std::string, std::string> params = {})
      : workload(std::move(w)), faults(std::move(preset)) {
    cfg.faults = sim::fault_config::preset(faults).value_or(sim::fault_config::none());
    cfg.params = std::move(params);
    cfg.record_history = false;
  }
  setup& snapshot(bool ensure = false) {
    cfg.isolation = dstm::isolation::snapshot;
    cfg.ensure = ensure;
    return *this;
  }
  setup& ops(int n) {
    cfg.ops = n;
    return *this;
  }

  std::string replay(std::uint64_t seed) const {
    std::string s = "dstm-sim --workload " + workload + " --seed " + std::to_string(seed) +
                    " --clients " + std::to_string(cfg.clients) + " --ops " +
                    std::to_string(cfg.ops) + " --faults " + faults + " --isolation " +
                    (cfg.isolation == dstm::isolation::snapshot ? "snapshot" : "serializable");
    if (cfg.ensure) s += " --ensure";
    const auto bug = dstm::testing::active_planted_bug().load();
    if (bug != dstm::testing::planted_bug::none)
      s += " --planted-bug " + std::string(dstm::testing::planted_bug_name(bug));
    for (const auto& [k, v] : cfg.params) s += " --param " + k + "=" + v;
    return s;
  }
};

template <class Workload, class Settings>
observed run_as(const sim::workload_config& cfg, const std::string& name, Settings settings) {
  sim::world_options wo;
  wo.buggify = cfg.faults.buggify;
  sim::world w(cfg.seed, wo);
  Workload wl(stm::sim_options(w, cfg), settings, w.stream("workload/" + name + "/setup"));
  observed o;
  o.result = stm::run_in_sim(w, cfg, wl, name);
  o.stats = wl.stats();
  w.trace().add_all(o.result.ops, o.result.anomalies, o.result.digest);
  o.trace = w.trace_value();
  return o;
}

/// Runs `s` for `seed` (as `dstm-sim` would: the same world and seed streams).
inline observed run(const setup& s, std::uint64_t seed) {
  auto cfg = s.cfg;
  cfg.seed = seed;
  if (s.workload == "bank") return run_as<stm::bank>(cfg, "bank", stm::bank_settings(cfg));
  if (s.workload == "counter")
    return run_as<stm::counter>(cfg, "counter", stm::counter_settings(cfg));
  if (s.workload == "write-skew")
    return run_as<stm::write_skew>(cfg, "write-skew", stm::write_skew_settings(cfg));
  ADD_FAILURE() << "no STM workload " << s.workload;
  return {};
}

/// A sweep's findings.
struct sweep_result {
  int runs = 0;
  std::vector<std::uint64_t> failing;  ///< seeds with anomalies
  std::string report;                  ///< explanations and replay commands of the first few
  stm::txn_stats total;                ///< summed over the seeds
};

/// Runs seeds [first, last); stops at the first failing seed when `stop_at_first`.
inline sweep_result sweep(const setup& s, std::uint64_t first, std::uint64_t last,
                          bool stop_at_first = false) {
  sweep_result out;
  for (auto seed = first; seed < last; ++seed) {
    const auto o = run(s, seed);
    ++out.runs;
    out.total += o.stats;
    if (o.result.anomalies == 0) continue;
    out.failing.push_back(seed);
    if (out.failing.size() <= 3) {
      for (const auto& e : o.result.explanations) out.report += "  " + e + "\n";
      out.report += "  replay: " + s.replay(seed) + "\n";
    }
    if (stop_at_first) break;
  }
  return out;
}

}  // namespace stm_sim_test
