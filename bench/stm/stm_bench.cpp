// dstm against the physical limit: every figure here comes with its raw ZooKeeper counterpart
// (the same C client, the same server, the same run), so bench/report.py can print ratios on a
// noisy machine. Names and counters are what report.py reads:
//
//   paired/write_k:K      a write transaction altering K refs (one client, warm cache) against a
//                         raw multi of K checks + K sets; the two alternate, one after the other,
//                         for a whole window. Counters raw_p50_us, stm_p50_us, raw_mean_us, ...
//   paired/atom_update    an atom update (one client) against a raw get + versioned set.
//   window/<mode>/T:N     N threads for one window: ops_per_s, fairness (max/min per thread),
//                         retries_per_op; modes raw_cas (N sessions, get + versioned set on one
//                         node), alter and commute (N clients on one ref), raw_pipelined (N
//                         threads on ONE session, each setting its own node), disjoint (N
//                         threads on ONE client, each altering its own ref), atom (an atom's
//                         update), lock (recipes::mutex acquire + release, one session each).
//   read_only/refs:N      a read-only transaction over N refs on a warm cache, in-process.
//
//   build/bin/bench_stm                       its own server, fsync on
//   DSTM_BENCH_FSYNC=0 build/bin/bench_stm    fsync off
//   DSTM_BENCH_ZOOKEEPER=127.0.0.1:2181 ...   a running server (what bench/run.sh does)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <dstm/dstm.hpp>
#include <dstm/recipes/mutex.hpp>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "../common/bench_zookeeper.hpp"

namespace {

using dstm_bench::ensure;
using dstm_bench::session;
using clock_type = std::chrono::steady_clock;
using zk_coordinator = dstm::zookeeper::coordinator;

std::shared_ptr<dstm::client> stm_client() {
  return dstm::zookeeper::connect(dstm_bench::zookeeper_target::get().connect_string());
}

// ---------------------------------------------------------------------------------------------
// Paired latency: the arms alternate for one window (their order rotating); each sample is one
// operation. Four arms: `raw` (the reference), `multi` (dstm's commit multi by hand: the
// versioned sets, the gate check and the outcome record's set, nothing else), `proto` (the same
// multi and, pipelined behind it, the reads that re-arm the cache's watches: the whole commit
// protocol by hand, no STM engine) and `stm` (dstm itself). multi/raw is what the extra ops
// cost, proto/multi what re-arming costs, stm/proto the engine's overhead.

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

template <class F>
void timed(F& f, samples& s) {
  const auto t0 = clock_type::now();
  f();
  s.us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
}

template <class Raw, class Multi, class Proto, class Stm>
void paired(benchmark::State& state, Raw& raw, Multi& multi, Proto& proto, Stm& stm,
            const std::shared_ptr<dstm::client>& c) {
  for (auto _ : state) {
    for (int i = 0; i < 5; ++i) {  // warm: lanes, caches, the server's JIT
      raw();
      multi();
      proto();
      stm();
    }
    const auto before = c->metrics();
    samples a, m, p, b;
    const auto start = clock_type::now();
    const auto end = start + std::chrono::milliseconds(dstm_bench::window_ms());
    for (int turn = 0; clock_type::now() < end; turn = (turn + 1) % 4) {
      for (int arm = 0; arm < 4; ++arm) {
        switch ((turn + arm) % 4) {
          case 0:
            timed(raw, a);
            break;
          case 1:
            timed(multi, m);
            break;
          case 2:
            timed(proto, p);
            break;
          default:
            timed(stm, b);
        }
      }
    }
    const auto after = c->metrics();
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - start).count());
    const double n = static_cast<double>(b.us.size());
    state.counters["samples"] = n;
    for (auto [name, s] : {std::pair{"raw", &a}, {"multi", &m}, {"proto", &p}, {"stm", &b}}) {
      state.counters[std::string(name) + "_mean_us"] = s->mean();
      state.counters[std::string(name) + "_p50_us"] = s->p50();
    }
    state.counters["stm_round_trips_per_op"] =
        static_cast<double>(after.round_trips - before.round_trips) / n;
    state.counters["stm_retries_per_op"] = static_cast<double>(after.retries - before.retries) / n;
  }
}

/// dstm's commit protocol by hand: versioned sets of `written`, a check of a gate node, a
/// versioned set of an outcome record, then (pipelined, one round trip) a get with an in-order
/// watch of every written node to re-arm the cache.
class protocol_by_hand {
 public:
  protocol_by_hand(std::shared_ptr<zk_coordinator> zk, const std::string& dir, int k, bool rearm)
      : zk_(std::move(zk)), rearm_(rearm) {
    const std::string tag = rearm ? "" : "-multi";
    gate_ = dir + "/gate" + tag;
    record_ = dir + "/record" + tag;
    ensure(*zk_, gate_, "");
    ensure(*zk_, record_, "0");
    gate_version_ = zk_->get(gate_).stat.version;
    record_version_ = zk_->get(record_).stat.version;
    for (int i = 0; i < k; ++i) {
      written_.push_back(dir + "/p" + tag + std::to_string(i));
      ensure(*zk_, written_.back(), "0");
      versions_.push_back(zk_->get(written_.back()).stat.version);
    }
  }
  void operator()() {
    ops_.clear();
    for (std::size_t i = 0; i < written_.size(); ++i)
      ops_.push_back(dstm::op::set(written_[i], std::string(24, 'q'), versions_[i]));
    ops_.push_back(dstm::op::check(gate_, gate_version_));
    ops_.push_back(dstm::op::set(record_, std::to_string(++sequence_), record_version_));
    std::error_code ec;
    if (rearm_) {
      zk_->multi_then_get(ops_, results_, ec, written_, watch_, reads_);
    } else {
      results_ = zk_->multi(ops_, ec);
    }
    if (ec) throw dstm::coordinator_error(ec, "protocol by hand");
    for (std::size_t i = 0; i < written_.size(); ++i) versions_[i] = results_[i].stat.version;
    record_version_ = results_.back().stat.version;
  }

 private:
  std::shared_ptr<zk_coordinator> zk_;
  bool rearm_;
  std::string gate_, record_;
  std::int32_t gate_version_ = 0, record_version_ = 0;
  std::vector<std::string> written_;
  std::vector<std::int32_t> versions_;
  std::vector<dstm::op> ops_;
  std::vector<dstm::op_result> results_;
  std::vector<dstm::get_result> reads_;
  dstm::watch watch_{[](const dstm::watch_event&) {}, true};
  std::uint64_t sequence_ = 0;
};

void paired_write(benchmark::State& state, int k) {
  const std::string dir = "/bench/stm/write" + std::to_string(k);
  // Raw: k checked nodes and k written ones, versions tracked from the replies.
  auto zk = session();
  ensure(*zk, "/bench", "");
  ensure(*zk, "/bench/stm", "");
  ensure(*zk, dir, "");
  std::vector<std::string> checked, written;
  std::vector<std::int32_t> checked_versions, versions;
  for (int i = 0; i < k; ++i) {
    checked.push_back(dir + "/c" + std::to_string(i));
    written.push_back(dir + "/w" + std::to_string(i));
    ensure(*zk, checked.back(), "0");
    ensure(*zk, written.back(), "0");
    checked_versions.push_back(zk->get(checked.back()).stat.version);
    versions.push_back(zk->get(written.back()).stat.version);
  }
  std::vector<dstm::op> ops;
  auto raw = [&] {
    ops.clear();
    for (int i = 0; i < k; ++i) ops.push_back(dstm::op::check(checked[i], checked_versions[i]));
    for (int i = 0; i < k; ++i)
      ops.push_back(dstm::op::set(written[i], std::string(64, 'z'), versions[i]));
    auto results = zk->multi(ops);
    for (int i = 0; i < k; ++i) versions[i] = results[static_cast<std::size_t>(k + i)].stat.version;
  };
  protocol_by_hand multi(session(), dir, k, false), proto(session(), dir, k, true);
  // dstm: one client, k refs altered in one transaction.
  auto c = stm_client();
  std::vector<dstm::ref<std::int64_t>> refs;
  for (int i = 0; i < k; ++i) refs.emplace_back(c, dir + "/r" + std::to_string(i), 0);
  auto stm = [&] {
    dstm::dosync(c, [&](dstm::txn& tx) {
      for (auto& r : refs) tx.alter(r, [](std::int64_t v) { return v + 1; });
    });
  };
  paired(state, raw, multi, proto, stm, c);
}

void paired_atom(benchmark::State& state) {
  auto zk = session();
  ensure(*zk, "/bench", "");
  ensure(*zk, "/bench/stm", "");
  ensure(*zk, "/bench/stm/cas", "0");
  ensure(*zk, "/bench/stm/atomp", "");
  auto raw = [&] {  // the raw CAS loop: get, then a versioned set (uncontended: no retry)
    for (;;) {
      auto n = zk->get("/bench/stm/cas");
      std::error_code ec;
      zk->set("/bench/stm/cas", std::to_string(std::stoll(n.data) + 1), n.stat.version, ec);
      if (!ec) return;
      if (ec != dstm::coordinator_errc::bad_version) throw dstm::coordinator_error(ec, "cas");
    }
  };
  protocol_by_hand multi(session(), "/bench/stm/atomp", 1, false),
      proto(session(), "/bench/stm/atomp", 1, true);
  auto c = stm_client();
  dstm::atom<std::int64_t> a{c, "/bench/stm/atom", 0};
  auto stm = [&] { a.update([](std::int64_t v) { return v + 1; }); };
  paired(state, raw, multi, proto, stm, c);
}

// ---------------------------------------------------------------------------------------------
// Contention: for T threads, every mode runs in turns (rounds of short windows, so slow phases
// of the machine hit all modes alike); counters are <mode>_ops_per_s, <mode>_fairness (max/min
// operations per thread), <mode>_retries_per_op, <mode>_round_trips_per_op.

struct mode {
  mode(std::string name_, std::function<void(int)> op_, std::function<std::uint64_t()> retries_,
       std::function<std::uint64_t()> round_trips_)
      : name(std::move(name_)),
        op(std::move(op_)),
        retries(std::move(retries_)),
        round_trips(std::move(round_trips_)) {}
  std::string name;
  std::function<void(int)> op;
  std::function<std::uint64_t()> retries;      // cumulative; empty: none counted
  std::function<std::uint64_t()> round_trips;  // cumulative; empty: not counted
  std::vector<std::uint64_t> done;
  double seconds = 0;
  std::uint64_t retries0 = 0, trips0 = 0;
};

template <class Metric>
std::function<std::uint64_t()> sum_metric(const std::vector<std::shared_ptr<dstm::client>>& cs,
                                          Metric metric) {
  return [&cs, metric] {
    std::uint64_t n = 0;
    for (auto& c : cs) n += metric(c->metrics());
    return n;
  };
}

void contention(benchmark::State& state, int threads) {
  const auto n = static_cast<std::size_t>(threads);
  auto setup = session();
  ensure(*setup, "/bench", "");
  ensure(*setup, "/bench/stm", "");
  ensure(*setup, "/bench/stm/hot-raw", "0");
  ensure(*setup, "/bench/stm/disjoint", "");

  // raw_cas: T sessions, get + versioned set on one node, retried on conflict.
  std::vector<std::shared_ptr<zk_coordinator>> cas_sessions;
  auto cas_retries = std::make_shared<std::atomic<std::uint64_t>>(0);
  // raw_pipelined: T threads on one session, each setting its own node.
  auto shared = session();
  // alter / commute: T clients on one ref; disjoint: T threads on one client, own refs.
  std::vector<std::shared_ptr<dstm::client>> alter_clients, commute_clients, disjoint_client;
  std::vector<std::unique_ptr<dstm::ref<std::int64_t>>> alter_refs, commute_refs, disjoint_refs;
  disjoint_client.push_back(stm_client());
  for (std::size_t i = 0; i < n; ++i) {
    cas_sessions.push_back(session());
    ensure(*shared, "/bench/stm/pipe-" + std::to_string(i), "0");
    alter_clients.push_back(stm_client());
    alter_refs.push_back(
        std::make_unique<dstm::ref<std::int64_t>>(alter_clients.back(), "/bench/stm/hot-alter", 0));
    alter_refs.back()->deref();
    commute_clients.push_back(stm_client());
    commute_refs.push_back(std::make_unique<dstm::ref<std::int64_t>>(commute_clients.back(),
                                                                     "/bench/stm/hot-commute", 0));
    commute_refs.back()->deref();
    disjoint_refs.push_back(std::make_unique<dstm::ref<std::int64_t>>(
        disjoint_client.front(), "/bench/stm/disjoint/r" + std::to_string(i), 0));
  }
  auto bump = [](std::int64_t v) { return v + 1; };

  std::vector<mode> modes;
  modes.emplace_back(
      "raw_cas",
      [&](int i) {
        auto& zk = *cas_sessions[static_cast<std::size_t>(i)];
        for (;;) {
          auto node = zk.get("/bench/stm/hot-raw");
          std::error_code ec;
          zk.set("/bench/stm/hot-raw", std::to_string(std::stoll(node.data) + 1), node.stat.version,
                 ec);
          if (!ec) return;
          if (ec != dstm::coordinator_errc::bad_version) throw dstm::coordinator_error(ec, "cas");
          ++*cas_retries;
        }
      },
      [cas_retries] { return cas_retries->load(); }, nullptr);
  modes.emplace_back(
      "alter",
      [&](int i) {
        auto& r = *alter_refs[static_cast<std::size_t>(i)];
        dstm::dosync(alter_clients[static_cast<std::size_t>(i)],
                     [&](dstm::txn& tx) { tx.alter(r, bump); });
      },
      sum_metric(alter_clients, [](const dstm::client_metrics& m) { return m.retries; }),
      sum_metric(alter_clients, [](const dstm::client_metrics& m) { return m.round_trips; }));
  modes.emplace_back(
      "commute",
      [&](int i) {
        auto& r = *commute_refs[static_cast<std::size_t>(i)];
        dstm::dosync(commute_clients[static_cast<std::size_t>(i)],
                     [&](dstm::txn& tx) { tx.commute(r, bump); });
      },
      // A commute conflict re-applies at commit time instead of re-running the body: both count.
      sum_metric(commute_clients,
                 [](const dstm::client_metrics& m) { return m.retries + m.commute_reapplies; }),
      sum_metric(commute_clients, [](const dstm::client_metrics& m) { return m.round_trips; }));
  modes.emplace_back(
      "raw_pipelined",
      [&](int i) { shared->set("/bench/stm/pipe-" + std::to_string(i), std::string(64, 'p')); },
      nullptr, nullptr);
  modes.emplace_back(
      "disjoint",
      [&](int i) {
        auto& r = *disjoint_refs[static_cast<std::size_t>(i)];
        dstm::dosync(disjoint_client.front(), [&](dstm::txn& tx) { tx.alter(r, bump); });
      },
      sum_metric(disjoint_client, [](const dstm::client_metrics& m) { return m.retries; }),
      sum_metric(disjoint_client, [](const dstm::client_metrics& m) { return m.round_trips; }));

  for (auto& m : modes) {
    m.done.assign(n, 0);
    // One untimed operation per thread: lanes of the outcome record, warm caches.
    dstm_bench::run_window(threads, {}, m.op, 1);
  }
  constexpr int rounds = 3;
  const std::int64_t slice = std::max<std::int64_t>(dstm_bench::window_ms() / rounds, 1);
  for (auto _ : state) {
    for (auto& m : modes) {
      m.retries0 = m.retries ? m.retries() : 0;
      m.trips0 = m.round_trips ? m.round_trips() : 0;
    }
    for (int round = 0; round < rounds; ++round) {
      for (auto& m : modes) {
        auto r = dstm_bench::run_window(threads, {}, m.op, 0, slice);
        for (std::size_t i = 0; i < n; ++i) m.done[i] += r.done[i];
        m.seconds += r.seconds;
      }
    }
    double total_seconds = 0;
    for (auto& m : modes) {
      dstm_bench::window_result r{m.done, m.seconds};
      total_seconds += m.seconds;
      state.counters[m.name + "_ops_per_s"] = r.rate();
      state.counters[m.name + "_fairness"] = r.fairness();
      // Retries and round trips count every operation run, also one cut off by a window's end.
      if (m.retries) {
        state.counters[m.name + "_retries_per_op"] =
            static_cast<double>(m.retries() - m.retries0) / static_cast<double>(r.total());
      }
      if (m.round_trips) {
        state.counters[m.name + "_round_trips_per_op"] =
            static_cast<double>(m.round_trips() - m.trips0) / static_cast<double>(r.total());
      }
    }
    state.SetIterationTime(total_seconds);
  }
}

// ---------------------------------------------------------------------------------------------
// Atom and lock windows (the kazoo peers run the same loops, in Python, on the same server).

/// T clients updating one atom (the kazoo Counter comparison uses T = 1).
void window_atom(benchmark::State& state, int threads) {
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::shared_ptr<dstm::client>> clients;
  std::vector<std::unique_ptr<dstm::atom<std::int64_t>>> atoms;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(stm_client());
    atoms.push_back(
        std::make_unique<dstm::atom<std::int64_t>>(clients.back(), "/bench/stm/counter", 0));
  }
  auto op = [&](int i) {
    atoms[static_cast<std::size_t>(i)]->update([](std::int64_t v) { return v + 1; });
  };
  dstm_bench::run_window(threads, {}, op, 1);
  auto retries = sum_metric(clients, [](const dstm::client_metrics& m) { return m.retries; });
  for (auto _ : state) {
    const auto retries0 = retries();
    auto r = dstm_bench::run_window(threads, {}, op);
    dstm_bench::report(state, r);
    state.counters["retries_per_op"] = static_cast<double>(retries() - retries0) /
                                       static_cast<double>(std::max<std::uint64_t>(r.total(), 1));
  }
}

/// T sessions, each with its own mutex object on one lock path: acquire + release.
void window_lock(benchmark::State& state, int threads) {
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::shared_ptr<zk_coordinator>> sessions;
  std::vector<std::unique_ptr<dstm::recipes::mutex<zk_coordinator>>> locks;
  for (std::size_t i = 0; i < n; ++i) {
    sessions.push_back(session());
    locks.push_back(
        std::make_unique<dstm::recipes::mutex<zk_coordinator>>(sessions.back(), "/bench/stm/lock"));
  }
  auto op = [&](int i) {
    auto& m = *locks[static_cast<std::size_t>(i)];
    m.lock();
    m.unlock();
  };
  dstm_bench::run_window(threads, {}, op, 1);  // creates the lock's parent: not timed
  for (auto _ : state) dstm_bench::report(state, dstm_bench::run_window(threads, {}, op));
  locks.clear();
}

/// The lock's physical limit, one session: the fewest requests any ZooKeeper lock recipe needs
/// for an uncontended acquire + release — create an ephemeral-sequential child, list the
/// children (to see that it is first), remove the child — as raw calls.
void window_raw_lock(benchmark::State& state) {
  auto zk = session();
  ensure(*zk, "/bench", "");
  ensure(*zk, "/bench/stm", "");
  ensure(*zk, "/bench/stm/rawlock", "");
  auto op = [&](int) {
    auto node = zk->create("/bench/stm/rawlock/n-", "", dstm::create_mode::ephemeral_sequential);
    benchmark::DoNotOptimize(zk->children("/bench/stm/rawlock"));
    zk->remove(node);
  };
  dstm_bench::run_window(1, {}, op, 1);
  for (auto _ : state) dstm_bench::report(state, dstm_bench::run_window(1, {}, op));
}

// ---------------------------------------------------------------------------------------------
// Read-only transactions on a warm cache: no round trip, in-process cost only.

void read_only(benchmark::State& state, int n) {
  auto c = stm_client();
  std::vector<dstm::ref<std::int64_t>> refs;
  for (int i = 0; i < n; ++i) refs.emplace_back(c, "/bench/stm/ro" + std::to_string(i), i);
  for (auto& r : refs) r.deref();
  const auto before = c->metrics();
  for (auto _ : state) {
    auto sum = dstm::dosync(c, [&](dstm::txn& tx) {
      std::int64_t s = 0;
      for (auto& r : refs) s += tx.deref(r);
      return s;
    });
    benchmark::DoNotOptimize(sum);
  }
  const auto after = c->metrics();
  state.SetItemsProcessed(state.iterations());
  state.counters["round_trips_per_op"] =
      static_cast<double>(after.round_trips - before.round_trips) /
      static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}

void register_all() {
  auto timed_once = [](benchmark::internal::Benchmark* b) {
    b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  for (int k : {1, 2, 4, 8}) {
    timed_once(benchmark::RegisterBenchmark(("paired/write_k:" + std::to_string(k)).c_str(),
                                            [k](benchmark::State& s) { paired_write(s, k); }));
  }
  timed_once(benchmark::RegisterBenchmark("paired/atom_update", paired_atom));
  for (int t : {1, 2, 4, 8}) {
    timed_once(benchmark::RegisterBenchmark(("contention/T:" + std::to_string(t)).c_str(),
                                            [t](benchmark::State& s) { contention(s, t); }));
  }
  for (int t : {1, 4}) {
    timed_once(benchmark::RegisterBenchmark(("window/atom/T:" + std::to_string(t)).c_str(),
                                            [t](benchmark::State& s) { window_atom(s, t); }));
    timed_once(benchmark::RegisterBenchmark(("window/lock/T:" + std::to_string(t)).c_str(),
                                            [t](benchmark::State& s) { window_lock(s, t); }));
  }
  timed_once(benchmark::RegisterBenchmark("window/raw_lock/T:1", window_raw_lock));
  for (int n : {1, 4}) {
    benchmark::RegisterBenchmark(("read_only/refs:" + std::to_string(n)).c_str(),
                                 [n](benchmark::State& s) { read_only(s, n); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  dstm_bench::parse_own_flags(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto& server = dstm_bench::zookeeper_target::get();
  server.start();
  benchmark::AddCustomContext("zookeeper_fsync", server.fsync() ? "on" : "off");
  benchmark::AddCustomContext("zookeeper_server", server.shared() ? "shared" : "own");
  benchmark::AddCustomContext("window_ms", std::to_string(dstm_bench::window_ms()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  server.stop();
  return 0;
}
