// Linearizability checking of Porcupine's 103 Jepsen etcd histories: parse + check, the figure
// the brief compares with Porcupine (0.55-1.24 s for all 103 on this machine).

#include <dstm/check/linearizability.hpp>

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::vector<std::string> load_histories() {
  std::vector<std::string> texts;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(DSTM_JEPSEN_ETCD_DIR))
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return texts;
}

// All 103 histories per iteration, from text in memory to verdict.
void BM_JepsenEtcd_ParseAndCheckAll(benchmark::State& state) {
  const auto texts = load_histories();
  if (texts.empty()) {
    state.SkipWithError("no histories in " DSTM_JEPSEN_ETCD_DIR);
    return;
  }
  std::size_t invalid = 0, events = 0;
  for (auto _ : state) {
    invalid = events = 0;
    for (const auto& t : texts) {
      const auto h = dstm::check::parse_history(t);
      events += h.size();
      invalid += dstm::check::check_linearizable(h).result == dstm::check::verdict::invalid;
    }
  }
  state.counters["histories"] = static_cast<double>(texts.size());
  state.counters["invalid"] = static_cast<double>(invalid);
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_JepsenEtcd_ParseAndCheckAll)->Unit(benchmark::kMillisecond);

// Parsing alone, to separate the two costs.
void BM_JepsenEtcd_ParseAll(benchmark::State& state) {
  const auto texts = load_histories();
  for (auto _ : state)
    for (const auto& t : texts) benchmark::DoNotOptimize(dstm::check::parse_history(t));
}
BENCHMARK(BM_JepsenEtcd_ParseAll)->Unit(benchmark::kMillisecond);

// A long, valid, highly concurrent history: 5 clients, 20000 operations on one register.
void BM_LongValidRegisterHistory(benchmark::State& state) {
  dstm::check::history h;
  const int clients = 5, rounds = 4000;
  std::int64_t value = 0;
  for (int r = 0; r < rounds; ++r) {
    // All clients invoke, then they complete in reverse order; writes apply in invoke order
    // and reads see the value after all of this round's writes.
    const std::int64_t before = value;
    for (int c = 0; c < clients; ++c) {
      const bool write = (r + c) % 2 == 0;
      h.push_back({c, dstm::check::event_type::invoke, write ? "write" : "read", "",
                   write ? nlohmann::json(before * 10 + c + 1) : nlohmann::json(), 0});
      if (write) value = before * 10 + c + 1;
    }
    for (int c = clients - 1; c >= 0; --c) {
      const bool write = (r + c) % 2 == 0;
      h.push_back({c, dstm::check::event_type::ok, write ? "write" : "read", "",
                   write ? nlohmann::json(before * 10 + c + 1) : nlohmann::json(value), 0});
    }
    value %= 1000003;
  }
  for (auto _ : state) {
    const auto r = dstm::check::check_linearizable(h);
    if (r.result != dstm::check::verdict::valid) state.SkipWithError("expected valid");
  }
  state.counters["operations"] = static_cast<double>(h.size() / 2);
}
BENCHMARK(BM_LongValidRegisterHistory)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
