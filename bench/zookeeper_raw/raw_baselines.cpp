// The physical limits: raw ZooKeeper operations through the same C client (via
// dstm::zookeeper::coordinator) against a server this program starts. Every later dstm figure
// is divided by one of these, measured in the same run.
//
//   build/bin/bench_zookeeper_raw                 fsync on (ZooKeeper's default)
//   DSTM_BENCH_FSYNC=0 build/bin/bench_zookeeper_raw
//   DSTM_BENCH_ZOOKEEPER=127.0.0.1:PORT ...       a running server (bench/run.sh's)
//
// Counters: items_per_second is operations (or committed CASes) per second; the CAS loop also
// reports retries per success.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <dstm/zookeeper.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../common/bench_zookeeper.hpp"

namespace {

using dstm_bench::ensure;
using dstm_bench::session;
std::shared_ptr<dstm::zookeeper::coordinator> shared_session;  // PipelinedSets' one session

void Get(benchmark::State& state) {
  auto zk = session();
  ensure(*zk, "/bench-get", std::string(64, 'x'));
  for (auto _ : state) benchmark::DoNotOptimize(zk->get("/bench-get"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(Get)->UseRealTime();

void SetWithVersion(benchmark::State& state) {
  auto zk = session();
  ensure(*zk, "/bench-set", "0");
  auto version = zk->get("/bench-set").stat.version;
  for (auto _ : state) version = zk->set("/bench-set", std::string(64, 'y'), version).version;
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SetWithVersion)->UseRealTime();

// The commit of a write transaction over k refs: k version checks and k versioned sets.
void MultiChecksAndSets(benchmark::State& state) {
  const int k = static_cast<int>(state.range(0));
  auto zk = session();
  std::vector<std::string> checked, written;
  std::vector<std::int32_t> versions;
  for (int i = 0; i < k; ++i) {
    checked.push_back("/bench-multi-c" + std::to_string(i));
    written.push_back("/bench-multi-w" + std::to_string(i));
    ensure(*zk, checked.back(), "0");
    ensure(*zk, written.back(), "0");
    versions.push_back(zk->get(written.back()).stat.version);
  }
  std::vector<std::int32_t> checked_versions;
  for (auto& p : checked) checked_versions.push_back(zk->get(p).stat.version);
  std::vector<dstm::op> ops;
  for (auto _ : state) {
    ops.clear();
    for (int i = 0; i < k; ++i) ops.push_back(dstm::op::check(checked[i], checked_versions[i]));
    for (int i = 0; i < k; ++i)
      ops.push_back(dstm::op::set(written[i], std::string(64, 'z'), versions[i]));
    auto results = zk->multi(ops);
    for (int i = 0; i < k; ++i) versions[i] = results[k + i].stat.version;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(MultiChecksAndSets)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseRealTime();

// T clients (sessions) incrementing one node with get + versioned set, retrying on conflict.
void CasLoop(benchmark::State& state) {
  static std::atomic<std::uint64_t> retries{0};
  if (state.thread_index() == 0) {
    auto zk = session();
    ensure(*zk, "/bench-cas", "0");
    retries = 0;
  }
  auto zk = session();
  std::uint64_t successes = 0;
  for (auto _ : state) {
    for (;;) {
      auto n = zk->get("/bench-cas");
      std::error_code ec;
      zk->set("/bench-cas", std::to_string(std::stoll(n.data) + 1), n.stat.version, ec);
      if (!ec) break;
      if (ec != dstm::coordinator_errc::bad_version) throw dstm::coordinator_error(ec, "cas");
      ++retries;
    }
    ++successes;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(successes));
  if (state.thread_index() == 0) {
    state.counters["retries_per_success"] = benchmark::Counter(
        static_cast<double>(retries.load()) / static_cast<double>(successes * state.threads()));
  }
}
BENCHMARK(CasLoop)->Threads(1)->Threads(4)->Threads(8)->UseRealTime();

// Many threads sharing ONE session, each setting its own node: the session pipelines them.
void PipelinedSets(benchmark::State& state) {
  auto& shared = shared_session;
  const auto path = "/bench-pipe-" + std::to_string(state.thread_index());
  ensure(*shared, path, "0");
  for (auto _ : state) shared->set(path, std::string(64, 'p'));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(PipelinedSets)->Threads(1)->Threads(8)->Threads(32)->UseRealTime();

// A loop of commits on the same k watched nodes, each re-setting its watches with k reads, by
// when the reads go out: pipelined behind the multi (after_reply:0, what dstm does) or once the
// multi's reply is in (after_reply:1). multi_p50_us: until the multi's reply (where a commit
// that does not wait for its reads returns); done_p50_us: until the reads are in too (what the
// next transaction on the same refs waits for). Reads queued behind a multi delay its reply;
// sending them later costs the next transaction a round trip.
void RearmingReads(benchmark::State& state) {
  const int k = static_cast<int>(state.range(0));
  const bool after_reply = state.range(1) != 0;
  auto zk = session();
  std::vector<std::string> paths;
  std::vector<std::int32_t> versions;
  for (int i = 0; i < k; ++i) {
    paths.push_back("/bench-rearm-" + std::to_string(state.range(1)) + "-" + std::to_string(i));
    ensure(*zk, paths.back(), "0");
    versions.push_back(zk->get(paths.back()).stat.version);
  }
  const dstm::watch w{[](const dstm::watch_event&) {}, true};
  zk->get_many(paths, w);
  std::mutex m;
  std::condition_variable cv;
  std::size_t landed = 0;
  const dstm::read_callback on_read = [&](std::size_t, dstm::get_result&&) {
    {
      std::lock_guard lock(m);
      ++landed;
    }
    cv.notify_all();
  };
  dstm_bench::samples multi_us, done_us;
  std::vector<dstm::op> ops;
  std::vector<dstm::op_result> results;
  using clock = std::chrono::steady_clock;
  auto us = [](clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  for (auto _ : state) {
    ops.clear();
    for (int i = 0; i < k; ++i)
      ops.push_back(dstm::op::set(paths[i], std::string(24, 'r'), versions[i]));
    std::error_code ec;
    const auto t0 = clock::now();
    if (after_reply) {
      results = zk->multi(ops, ec);
      multi_us.us.push_back(us(clock::now() - t0));
      zk->get_many(paths, w);
    } else {
      {
        std::lock_guard lock(m);
        landed = 0;
      }
      zk->multi_then_get_async(ops, results, ec, paths, w, on_read);
      multi_us.us.push_back(us(clock::now() - t0));
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return landed == paths.size(); });
    }
    done_us.us.push_back(us(clock::now() - t0));
    if (ec) {
      state.SkipWithError("multi failed");
      break;
    }
    for (int i = 0; i < k; ++i) versions[i] = results[i].stat.version;
  }
  state.counters["multi_p50_us"] = multi_us.p50();
  state.counters["done_p50_us"] = done_us.p50();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(RearmingReads)
    ->ArgsProduct({{1, 8}, {0, 1}})
    ->ArgNames({"k", "after_reply"})
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  auto& server = dstm_bench::zookeeper_target::get();
  server.start();
  shared_session = session();
  benchmark::AddCustomContext("zookeeper_fsync", server.fsync() ? "on" : "off");
  benchmark::AddCustomContext("zookeeper_server", server.shared() ? "shared" : "own");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  shared_session.reset();
  server.stop();
  return 0;
}
