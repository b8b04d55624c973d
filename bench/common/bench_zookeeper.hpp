#pragma once
// What the ZooKeeper benchmarks share: the server they measure against, and a timed window
// that runs T threads for a fixed time and counts what each completed.
//
// The server: the one named by DSTM_BENCH_ZOOKEEPER ("127.0.0.1:PORT"; bench/run.sh starts one
// for the whole run through build/bin/with_zookeeper, so raw baselines, dstm and the kazoo peers
// all measure the same server), else a private standalone server started here, fsync on
// (ZooKeeper's default) unless DSTM_BENCH_FSYNC=0.
//
// The window: DSTM_BENCH_WINDOW_MS (default 3000) or the program's --window_ms=N flag (the
// CTest smoke runs pass a short one).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace dstm_bench {

inline bool fsync_from_env() {
  const char* v = std::getenv("DSTM_BENCH_FSYNC");
  return !(v && std::string(v) == "0");
}

/// The server of this process's run (see the file comment). Call `start` once from main.
class zookeeper_target {
 public:
  static zookeeper_target& get() {
    static zookeeper_target t;
    return t;
  }
  void start() {
    const char* shared = std::getenv("DSTM_BENCH_ZOOKEEPER");
    fsync_ = fsync_from_env();
    if (shared && *shared) {
      connect_ = shared;
      return;
    }
    dstm::testing::zookeeper_server::options opts;
    opts.force_sync = fsync_;
    own_ = std::make_unique<dstm::testing::zookeeper_server>(opts);
    connect_ = own_->connect_string();
  }
  void stop() { own_.reset(); }
  const std::string& connect_string() const { return connect_; }
  bool fsync() const { return fsync_; }
  bool shared() const { return own_ == nullptr; }

 private:
  std::unique_ptr<dstm::testing::zookeeper_server> own_;
  std::string connect_;
  bool fsync_ = true;
};

/// A new session on the run's server.
inline std::shared_ptr<dstm::zookeeper::coordinator> session() {
  return std::make_shared<dstm::zookeeper::coordinator>(zookeeper_target::get().connect_string());
}

/// Creates `path` with `data` unless it exists.
inline void ensure(dstm::zookeeper::coordinator& zk, const std::string& path,
                   const std::string& data) {
  std::error_code ec;
  zk.create(path, data, dstm::create_mode::persistent, ec);
  if (ec && ec != dstm::coordinator_errc::node_exists) throw dstm::coordinator_error(ec, path);
}

/// Milliseconds of one timed window.
inline std::int64_t& window_ms() {
  static std::int64_t ms = [] {
    const char* v = std::getenv("DSTM_BENCH_WINDOW_MS");
    return v && *v ? std::atoll(v) : 3000;
  }();
  return ms;
}

/// Removes this suite's own flags (--window_ms=N) from argv before Google Benchmark sees it.
inline void parse_own_flags(int& argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--window_ms=", 12) == 0) {
      window_ms() = std::atoll(argv[i] + 12);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
}

/// What T threads did in one window.
/// Latencies of one operation in microseconds: mean and median.
struct samples {
  std::vector<double> us;
  double mean() const {
    return us.empty() ? 0
                      : std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  }
  double p50() {
    if (us.empty()) return 0;
    auto mid = us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2);
    std::nth_element(us.begin(), mid, us.end());
    return *mid;
  }
};

struct window_result {
  std::vector<std::uint64_t> done;  ///< per thread: completed operations inside the window
  double seconds = 0;
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto d : done) n += d;
    return n;
  }
  double rate() const { return seconds > 0 ? static_cast<double>(total()) / seconds : 0; }
  /// Most / fewest operations of one thread (0 fewest: infinity, reported as 1e9).
  double fairness() const {
    if (done.empty()) return 0;
    const auto [lo, hi] = std::minmax_element(done.begin(), done.end());
    return *lo == 0 ? 1e9 : static_cast<double>(*hi) / static_cast<double>(*lo);
  }
};

/// Runs `threads` threads. Each first runs `setup(i)` (if any; not timed), then all start
/// together and call `op(i)` until the window of `ms` milliseconds ends; an op still running at
/// the end is not counted. With `only` > 0 there is no window: each thread runs `only` ops
/// (warming up). The first exception of any thread is rethrown after all have stopped.
inline window_result run_window(int threads, const std::function<void(int)>& setup,
                                const std::function<void(int)>& op, int only = 0,
                                std::int64_t ms = -1) {
  if (ms < 0) ms = window_ms();
  window_result r;
  const auto n = static_cast<std::size_t>(threads);
  r.done.assign(n, 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(n);
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      const auto at = static_cast<std::size_t>(i);
      try {
        if (setup) setup(i);
      } catch (...) {
        errors[at] = std::current_exception();
      }
      ++ready;
      while (!go.load()) std::this_thread::yield();
      if (errors[at]) return;
      try {
        for (int k = 0; only > 0 ? k < only : !stop.load(std::memory_order_relaxed); ++k) {
          op(i);
          if (only > 0 || !stop.load(std::memory_order_relaxed)) ++r.done[at];
        }
      } catch (...) {
        errors[at] = std::current_exception();
      }
    });
  }
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  go = true;
  if (only == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    stop = true;
  }
  for (auto& t : pool) t.join();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (only == 0) {
    // The window is what counts, not the wait for ops cut off at its end.
    r.seconds = std::min(r.seconds, static_cast<double>(ms) / 1000.0 + 0.0005);
  }
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return r;
}

/// Reports a window as the benchmark's counters: ops_per_s, fairness (max/min per thread).
inline void report(benchmark::State& state, const window_result& r) {
  state.SetIterationTime(r.seconds);
  state.counters["ops_per_s"] = r.rate();
  state.counters["fairness"] = r.fairness();
  state.counters["ops"] = static_cast<double>(r.total());
}

}  // namespace dstm_bench
