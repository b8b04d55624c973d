// Simulated coordinator operations per wall-clock second on one core (target: >= 200,000/s),
// and whole workload seeds per second.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dstm/dstm.hpp"
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

/// The STM's cost in coordinator round trips as contention grows, in the simulation (virtual
/// time, no faults, deterministic: the same figures every run, whatever the machine does):
/// `clients` clients, each with its own session, each committing `commits` transactions that
/// alter (or commute) one shared ref. Counters per committed transaction: round_trips (every
/// wait on the coordinator, retries and escalations included) and retries.
void stm_round_trips(benchmark::State& state, bool commute) {
  const int clients = static_cast<int>(state.range(0));
  constexpr int commits = 50;
  dstm::client_metrics sum{};
  std::int64_t end_ns = 0;  // virtual time when the last client finished
  for (auto _ : state) {
    sum = {};
    end_ns = 0;
    sim::world w(7);
    sim::ensemble ens(w, sim::ensemble_options{});
    std::vector<std::shared_ptr<dstm::client>> cs;
    for (int i = 0; i < clients; ++i) {
      w.spawn("client", [&] {
        dstm::client_options o;  // DSTM_BENCH_ESCALATE_AFTER: for tuning runs
        if (const char* v = std::getenv("DSTM_BENCH_ESCALATE_AFTER"); v && *v)
          o.escalate_after = std::atoi(v);
        auto c = dstm::connect_with([&] { return std::make_shared<sim::coordinator>(ens); }, o);
        cs.push_back(c);
        dstm::ref<std::int64_t> r{c, "/hot", 0};
        r.deref();
        const auto before = c->metrics();
        for (int k = 0; k < commits; ++k) {
          dstm::dosync(c, [&](dstm::txn& tx) {
            if (commute) {
              tx.commute(r, [](std::int64_t v) { return v + 1; });
            } else {
              tx.alter(r, [](std::int64_t v) { return v + 1; });
            }
          });
        }
        const auto after = c->metrics();
        end_ns = std::max(end_ns, w.now());
        sum.commits += after.commits - before.commits;
        sum.round_trips += after.round_trips - before.round_trips;
        sum.retries +=
            after.retries - before.retries + after.commute_reapplies - before.commute_reapplies;
        sum.escalations += after.escalations - before.escalations;
      });
    }
    w.run();
    for (auto& c : cs) c->close();
  }
  const double n = static_cast<double>(sum.commits ? sum.commits : 1);
  state.counters["round_trips_per_commit"] = static_cast<double>(sum.round_trips) / n;
  state.counters["retries_per_commit"] = static_cast<double>(sum.retries) / n;
  state.counters["escalations_per_commit"] = static_cast<double>(sum.escalations) / n;
  state.counters["commits_per_virtual_s"] =
      end_ns > 0 ? static_cast<double>(sum.commits) * 1e9 / static_cast<double>(end_ns) : 0.0;
}
BENCHMARK_CAPTURE(stm_round_trips, alter, false)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(stm_round_trips, commute, true)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Arg(16)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
