// Parses and checks generated list-append histories (serial executor, 5 processes, 4 micro-ops
// per transaction) of 10k and 1M transactions. Counters: transactions/s and the process's peak
// RSS (getrusage). The 1M history is written to a temporary file first (about 320 MB).
//
//   build/bin/check_iso_bench --benchmark_filter=1000000
//
// `check_iso_bench --write-history FILE [TRANSACTIONS]` writes the same history (default 1M
// transactions) to FILE and exits, so `dstm-check isolation FILE` can be timed on it.

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <dstm/check/isolation.hpp>
#include <dstm/check/isolation/generator.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

namespace {

using namespace dstm::check;

void write_history(const std::filesystem::path& path, std::uint64_t transactions) {
  history_generator_options o;
  o.kind = workload::list_append;
  o.transactions = transactions;
  o.processes = 5;
  o.min_ops_per_txn = o.max_ops_per_txn = 4;
  o.active_keys = 8;
  o.writes_per_key = 16;
  history_generator gen(o, 20240501);
  std::ofstream out(path, std::ios::binary);
  generated_event e;
  while (gen.next(e)) write_generated_event(out, e, o.kind);
}

struct temp_history {
  std::filesystem::path path;
  explicit temp_history(std::uint64_t transactions) {
    path =
        std::filesystem::temp_directory_path() / ("dstm_iso_bench_" + std::to_string(::getpid()) +
                                                  "_" + std::to_string(transactions) + ".jsonl");
    write_history(path, transactions);
  }
  ~temp_history() { std::filesystem::remove(path); }
};

const temp_history& history_file(std::uint64_t transactions) {
  static std::map<std::uint64_t, std::unique_ptr<temp_history>> files;
  auto& f = files[transactions];
  if (!f) f = std::make_unique<temp_history>(transactions);
  return *f;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

transaction_history parse(const temp_history& file) {
  std::ifstream in(file.path, std::ios::binary);
  return read_transaction_history(in, workload::list_append);
}

void finish(benchmark::State& state, std::uint64_t transactions) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * transactions));
  state.counters["txn/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * transactions), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}

void parse_and_check(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  const temp_history& file = history_file(n);
  isolation_options options;
  options.level = consistency_level::strict_serializable;
  for (auto _ : state) {
    const transaction_history h = parse(file);
    const isolation_result r = check_isolation(h, options);
    if (r.verdict != isolation_verdict::valid)
      state.SkipWithError("a serial history was not valid");
    benchmark::DoNotOptimize(r.edges);
  }
  finish(state, n);
}

void parse_only(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  const temp_history& file = history_file(n);
  for (auto _ : state) {
    const transaction_history h = parse(file);
    benchmark::DoNotOptimize(h.txns().data());
  }
  finish(state, n);
}

void check_only(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  const transaction_history h = parse(history_file(n));
  isolation_options options;
  options.level = consistency_level::strict_serializable;
  for (auto _ : state) {
    const isolation_result r = check_isolation(h, options);
    benchmark::DoNotOptimize(r.edges);
  }
  finish(state, n);
}

BENCHMARK(parse_and_check)
    ->Arg(10'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(parse_only)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(check_only)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string_view(argv[1]) == "--write-history") {
    const std::uint64_t n = argc >= 4 ? std::stoull(argv[3]) : 1'000'000;
    write_history(argv[2], n);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
