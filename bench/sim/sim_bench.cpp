// Simulated coordinator operations per wall-clock second on one core (target: >= 200,000/s),
// and whole workload seeds per second.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/workloads.hpp"

namespace sim = dstm::sim;

namespace {

/// `clients` sessions each doing get/set pairs on their own key; counts operations.
void run_ops(benchmark::State& state, const sim::fault_config& faults) {
  const int clients = static_cast<int>(state.range(0));
  constexpr int ops_per_client = 20'000;
  std::int64_t ops = 0;
  for (auto _ : state) {
    sim::world w(1);
    sim::ensemble_options o;
    o.faults = faults;
    sim::ensemble ens(w, o);
    for (int i = 0; i < clients; ++i) {
      w.spawn("client", [&, i] {
        sim::coordinator c(ens);
        const std::string path = "/k" + std::to_string(i);
        std::error_code ec;
        c.create(path, "0", dstm::create_mode::persistent, ec);
        for (int k = 0; k < ops_per_client / 2; ++k) {
          c.get(path, {}, ec);
          c.set(path, std::to_string(k), dstm::any_version, ec);
          ops += 2;
        }
      });
    }
    w.run();
    benchmark::DoNotOptimize(w.trace_value());
  }
  state.counters["ops/s"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
}

void sim_coordinator_ops(benchmark::State& state) { run_ops(state, sim::fault_config::none()); }
BENCHMARK(sim_coordinator_ops)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

void sim_coordinator_ops_harsh(benchmark::State& state) {
  run_ops(state, sim::fault_config::harsh());
}
BENCHMARK(sim_coordinator_ops_harsh)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

void sim_register_seed_harsh(benchmark::State& state) {
  const auto registry = sim::builtin_workloads();
  sim::workload_config cfg;
  cfg.faults = sim::fault_config::harsh();
  cfg.record_history = false;
  std::uint64_t seed = 0;
  for (auto _ : state) {
    cfg.seed = seed++;
    auto o = sim::run_workload(registry.find("register")->fn, cfg);
    benchmark::DoNotOptimize(o.trace);
  }
  state.counters["seeds/s"] =
      benchmark::Counter(static_cast<double>(seed), benchmark::Counter::kIsRate);
}
BENCHMARK(sim_register_seed_harsh)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
