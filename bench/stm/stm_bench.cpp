// dstm against the physical limit: every figure here comes with its raw ZooKeeper counterpart
// (the same C client, the same server, the same run), so bench/report.py can print ratios on a
// noisy machine. Names and counters are what report.py reads:
//
//   paired/write_k:K      a write transaction altering K refs (one client, warm cache) against a
//                         raw multi of K checks + K sets (and two decompositions, see paired());
//                         the arms alternate operation by operation for a whole window.
//                         Counters <arm>_p50_us, <arm>_mean_us for arms raw, multi, fired,
//                         sent, proto, stm.
//   paired/atom_update    an atom update (one client) against a raw get + versioned set.
//   contention/T:N        N threads per mode, the modes in turns: <mode>_ops_per_s,
//                         <mode>_fairness (max/min per thread), <mode>_retries_per_op; modes
//                         raw_cas (N sessions, get + versioned set on one node), multi_cas (the
//                         same loop with dstm's commit multi for the set), alter and commute
//                         (N clients on one ref), raw_pipelined (N threads on ONE session, each
//                         setting its own node), disjoint (N threads on ONE client, each altering
//                         its own ref).
//   peers/counter/T:N     an atom's update, kazoo's Counter +1 and the raw CAS loop, in turns.
//   peers/lock/T:N        recipes::mutex, kazoo's Lock and (N = 1) the raw limit, in turns.
//   read_only/refs:N      a read-only transaction over N refs on a warm cache, in-process.
//
//   build/bin/bench_stm                       its own server, fsync on
//   DSTM_BENCH_FSYNC=0 build/bin/bench_stm    fsync off
//   DSTM_BENCH_ZOOKEEPER=127.0.0.1:2181 ...   a running server (what bench/run.sh does)
//   DSTM_BENCH_BACKOFF_MIN_NS, DSTM_BENCH_BACKOFF_MAX_NS, DSTM_BENCH_ESCALATE_AFTER
//                                             client_options for tuning runs (default: the
//                                             library's defaults)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <dstm/dstm.hpp>
#include <dstm/recipes/mutex.hpp>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/bench_zookeeper.hpp"

namespace {

using dstm_bench::ensure;
using dstm_bench::samples;
using dstm_bench::session;
using clock_type = std::chrono::steady_clock;
using zk_coordinator = dstm::zookeeper::coordinator;

/// One increment of the integer at `path` by a CAS loop: a get, then `write(value, version, ec)`
/// (a write conditional on the version read); a refused version retries. Returns the retries.
template <class Write>
std::uint64_t cas_increment(zk_coordinator& zk, const std::string& path, Write&& write) {
  for (std::uint64_t retries = 0;; ++retries) {
    auto node = zk.get(path);
    std::error_code ec;
    write(std::to_string(std::stoll(node.data) + 1), node.stat.version, ec);
    if (!ec) return retries;
    if (ec != dstm::coordinator_errc::bad_version) throw dstm::coordinator_error(ec, "cas");
  }
}

/// The raw CAS loop's increment: get, then a versioned set.
std::uint64_t raw_cas(zk_coordinator& zk, const std::string& path) {
  return cas_increment(zk, path,
                       [&](const std::string& v, std::int32_t version, std::error_code& ec) {
                         zk.set(path, v, version, ec);
                       });
}

/// The clients' options: the library's defaults, unless DSTM_BENCH_BACKOFF_MIN_NS,
/// DSTM_BENCH_BACKOFF_MAX_NS or DSTM_BENCH_ESCALATE_AFTER say otherwise (for tuning runs).
dstm::client_options stm_options() {
  dstm::client_options o;
  auto env = [](const char* name, auto& field) {
    if (const char* v = std::getenv(name); v && *v)
      field = static_cast<std::remove_reference_t<decltype(field)>>(std::atoll(v));
  };
  env("DSTM_BENCH_BACKOFF_MIN_NS", o.backoff_min_ns);
  env("DSTM_BENCH_BACKOFF_MAX_NS", o.backoff_max_ns);
  env("DSTM_BENCH_ESCALATE_AFTER", o.escalate_after);
  return o;
}

std::shared_ptr<dstm::client> stm_client() {
  return dstm::zookeeper::connect(dstm_bench::zookeeper_target::get().connect_string(), {},
                                  stm_options());
}

// ---------------------------------------------------------------------------------------------
// Paired latency: the arms alternate for one window (their order rotating); each sample is one
// operation. The arms: `raw` (the reference), `multi` (dstm's commit multi by hand: the
// versioned sets, the gate check and the outcome record's set, nothing else), `fired` (that
// multi on nodes the session watches, as the cache's are: each multi fires the watches, which
// are set again after the timed operation), `sent` (the multi with the reads that re-arm the
// watches pipelined behind it, not waited for: dstm's commit protocol by hand), `proto` (the
// same, the reads waited for: a client that waits for its re-arming reads) and `stm` (dstm
// itself). multi/raw is what the extra ops cost, fired/multi what the server's watch
// notifications cost (a floor for any cache that keeps the written refs watched), sent/fired
// what the reads queued behind the multi delay its reply, stm/sent the engine.

/// One arm of `paired`: `op` is timed, `after` (optional) runs untimed after it.
struct paired_arm {
  std::string name;
  std::function<void()> op;
  std::function<void()> after;
  samples s;
};

void paired(benchmark::State& state, std::vector<paired_arm>& arms,
            const std::shared_ptr<dstm::client>& c) {
  const std::size_t n_arms = arms.size();
  for (auto _ : state) {
    for (int i = 0; i < 5; ++i) {  // warm: lanes, caches, the server's JIT
      for (auto& a : arms) {
        a.op();
        if (a.after) a.after();
      }
    }
    const auto before = c->metrics();
    for (auto& a : arms) a.s.us.clear();
    const auto start = clock_type::now();
    const auto end = start + std::chrono::milliseconds(dstm_bench::window_ms());
    for (std::size_t turn = 0; clock_type::now() < end; turn = (turn + 1) % n_arms) {
      for (std::size_t i = 0; i < n_arms; ++i) {
        auto& a = arms[(turn + i) % n_arms];
        const auto t0 = clock_type::now();
        a.op();
        a.s.us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        if (a.after) a.after();
      }
    }
    const auto after = c->metrics();
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - start).count());
    const double n = static_cast<double>(arms.back().s.us.size());
    state.counters["samples"] = n;
    for (auto& a : arms) {
      state.counters[a.name + "_mean_us"] = a.s.mean();
      state.counters[a.name + "_p50_us"] = a.s.p50();
    }
    state.counters["stm_round_trips_per_op"] =
        static_cast<double>(after.round_trips - before.round_trips) / n;
    state.counters["stm_retries_per_op"] = static_cast<double>(after.retries - before.retries) / n;
    state.counters["stm_rearm_waits_per_op"] =
        static_cast<double>(after.rearm_waits - before.rearm_waits) / n;
  }
}

/// dstm's commit protocol by hand: versioned sets of `written`, a check of a gate node, a
/// versioned set of an outcome record; `fired`, `sent` and `proto` keep `written` watched (a
/// get with an in-order watch of each): `sent` pipelines those reads behind the multi, `proto`
/// also waits for them, `fired` sets them again in `rearm()`, which the benchmark does not time.
class protocol_by_hand {
 public:
  enum class mode { multi, fired, proto, sent };

  protocol_by_hand(std::shared_ptr<zk_coordinator> zk, const std::string& dir, int k, mode m)
      : zk_(std::move(zk)), mode_(m) {
    const std::string tag = m == mode::proto   ? ""
                            : m == mode::fired ? "-fired"
                            : m == mode::sent  ? "-sent"
                                               : "-multi";
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
    if (mode_ == mode::fired) rearm();
  }
  void operator()() {
    ops_.clear();
    for (std::size_t i = 0; i < written_.size(); ++i)
      ops_.push_back(dstm::op::set(written_[i], std::string(24, 'q'), versions_[i]));
    ops_.push_back(dstm::op::check(gate_, gate_version_));
    ops_.push_back(dstm::op::set(record_, std::to_string(++sequence_), record_version_));
    std::error_code ec;
    if (mode_ == mode::proto) {
      zk_->multi_then_get(ops_, results_, ec, written_, watch_, reads_);
    } else if (mode_ == mode::sent) {
      zk_->multi_then_get_async(ops_, results_, ec, written_, watch_, ignore_);
    } else {
      results_ = zk_->multi(ops_, ec);
    }
    if (ec) throw dstm::coordinator_error(ec, "protocol by hand");
    for (std::size_t i = 0; i < written_.size(); ++i) versions_[i] = results_[i].stat.version;
    record_version_ = results_.back().stat.version;
  }
  /// Sets the watches again (fired mode).
  void rearm() { zk_->get_many(written_, watch_); }
  std::function<void()> after() {
    if (mode_ != mode::fired) return {};
    return [this] { rearm(); };
  }

 private:
  std::shared_ptr<zk_coordinator> zk_;
  mode mode_;
  std::string gate_, record_;
  std::int32_t gate_version_ = 0, record_version_ = 0;
  std::vector<std::string> written_;
  std::vector<std::int32_t> versions_;
  std::vector<dstm::op> ops_;
  std::vector<dstm::op_result> results_;
  std::vector<dstm::get_result> reads_;
  dstm::watch watch_{[](const dstm::watch_event&) {}, true};
  dstm::read_callback ignore_ = [](std::size_t, dstm::get_result&&) {};
  std::uint64_t sequence_ = 0;
};

/// The arms raw, multi, fired, proto, sent, stm over `k` written nodes under `dir`.
template <class Raw, class Stm>
std::vector<paired_arm> arms_of(const std::string& dir, int k, Raw raw, Stm stm,
                                std::vector<std::unique_ptr<protocol_by_hand>>& keep) {
  std::vector<paired_arm> arms;
  arms.push_back({"raw", raw, {}, {}});
  for (auto [name, m] : {std::pair{"multi", protocol_by_hand::mode::multi},
                         {"fired", protocol_by_hand::mode::fired},
                         {"proto", protocol_by_hand::mode::proto},
                         {"sent", protocol_by_hand::mode::sent}}) {
    keep.push_back(std::make_unique<protocol_by_hand>(session(), dir, k, m));
    auto* p = keep.back().get();
    arms.push_back({name, [p] { (*p)(); }, p->after(), {}});
  }
  arms.push_back({"stm", stm, {}, {}});
  return arms;
}

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
  // dstm: one client, k refs altered in one transaction.
  auto c = stm_client();
  std::vector<dstm::ref<std::int64_t>> refs;
  for (int i = 0; i < k; ++i) refs.emplace_back(c, dir + "/r" + std::to_string(i), 0);
  auto stm = [&] {
    dstm::dosync(c, [&](dstm::txn& tx) {
      for (auto& r : refs) tx.alter(r, [](std::int64_t v) { return v + 1; });
    });
  };
  std::vector<std::unique_ptr<protocol_by_hand>> keep;
  auto arms = arms_of(dir, k, raw, stm, keep);
  paired(state, arms, c);
}

void paired_atom(benchmark::State& state) {
  auto zk = session();
  ensure(*zk, "/bench", "");
  ensure(*zk, "/bench/stm", "");
  ensure(*zk, "/bench/stm/cas", "0");
  ensure(*zk, "/bench/stm/atomp", "");
  auto raw = [&] { raw_cas(*zk, "/bench/stm/cas"); };  // uncontended: no retry
  auto c = stm_client();
  dstm::atom<std::int64_t> a{c, "/bench/stm/atom", 0};
  auto stm = [&] { a.update([](std::int64_t v) { return v + 1; }); };
  std::vector<std::unique_ptr<protocol_by_hand>> keep;
  auto arms = arms_of("/bench/stm/atomp", 1, raw, stm, keep);
  paired(state, arms, c);
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
        *cas_retries += raw_cas(*cas_sessions[static_cast<std::size_t>(i)], "/bench/stm/hot-raw");
      },
      [cas_retries] { return cas_retries->load(); }, nullptr);
  // multi_cas: the raw CAS loop whose set is dstm's commit multi (the versioned set, the gate's
  // check, the session's own outcome record's versioned set): what the protocol's extra ops cost
  // a contended loop, without the cache, the engine or the backoff.
  ensure(*setup, "/bench/stm/hot-multi", "0");
  ensure(*setup, "/bench/stm/hot-multi-gate", "");
  auto multi_retries = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::vector<std::int32_t> record_versions(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const auto record = "/bench/stm/hot-multi-record" + std::to_string(i);
    ensure(*setup, record, "0");
    record_versions[i] = setup->get(record).stat.version;
  }
  const auto gate_version = setup->get("/bench/stm/hot-multi-gate").stat.version;
  modes.emplace_back(
      "multi_cas",
      [&, gate_version](int i) {
        const auto at = static_cast<std::size_t>(i);
        auto& zk = *cas_sessions[at];
        const auto record = "/bench/stm/hot-multi-record" + std::to_string(i);
        *multi_retries += cas_increment(
            zk, "/bench/stm/hot-multi",
            [&](const std::string& v, std::int32_t version, std::error_code& ec) {
              const dstm::op ops[] = {dstm::op::set("/bench/stm/hot-multi", v, version),
                                      dstm::op::check("/bench/stm/hot-multi-gate", gate_version),
                                      dstm::op::set(record, "1", record_versions[at])};
              auto results = zk.multi(ops, ec);
              if (!ec) record_versions[at] = results.back().stat.version;
            });
      },
      [multi_retries] { return multi_retries->load(); }, nullptr);
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
// Peers: kazoo's Counter and Lock (bench/peers/kazoo_peers.py --serve, a child process on the same
// server) in turns with dstm's atom and mutex and with the raw limit, window by window.

/// The kazoo driver as a child process: one request line in, one answer line out.
class kazoo_peer {
 public:
  kazoo_peer() {
    const char* script = std::getenv("DSTM_BENCH_KAZOO");
    const std::string path = script && *script ? script : DSTM_BENCH_PEERS_DIR "/kazoo_peers.py";
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    const std::string zk = dstm_bench::zookeeper_target::get().connect_string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      ::execl("/usr/bin/python3", "python3", path.c_str(), "--zookeeper", zk.c_str(), "--serve",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = ::fdopen(out[0], "r");
  }
  ~kazoo_peer() {
    if (to_ >= 0) {
      const char quit[] = "quit\n";
      [[maybe_unused]] auto n = ::write(to_, quit, sizeof quit - 1);
      ::close(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  kazoo_peer(const kazoo_peer&) = delete;
  kazoo_peer& operator=(const kazoo_peer&) = delete;

  /// Runs one kazoo window; nullopt when the driver is not there (no kazoo, no script).
  std::optional<dstm_bench::window_result> window(const std::string& kind, int threads,
                                                  std::int64_t ms) {
    if (to_ < 0 || !from_) return std::nullopt;
    const std::string request =
        kind + " " + std::to_string(threads) + " " + std::to_string(ms) + "\n";
    char line[4096];
    if (::write(to_, request.data(), request.size()) != static_cast<ssize_t>(request.size()) ||
        !std::fgets(line, sizeof line, from_)) {
      ::close(to_);  // the driver is gone (no kazoo, no script): do not ask again
      to_ = -1;
      return std::nullopt;
    }
    std::istringstream answer(line);
    std::string ok;
    dstm_bench::window_result r;
    answer >> ok >> r.seconds;
    if (ok != "ok") return std::nullopt;
    for (std::uint64_t d; answer >> d;) r.done.push_back(d);
    return r;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  std::FILE* from_ = nullptr;
};

std::unique_ptr<kazoo_peer>& peer_slot() {
  static std::unique_ptr<kazoo_peer> p;
  return p;
}
/// The driver, started on first use; main ends it before the server goes.
kazoo_peer& peer() {
  if (!peer_slot()) peer_slot() = std::make_unique<kazoo_peer>();
  return *peer_slot();
}

/// Rounds of short windows over `arms` (name, threads' op, or the kazoo kind): counters
/// <name>_ops_per_s and <name>_fairness.
struct arm {
  std::string name;
  std::function<void(int)> op;  // empty: the kazoo driver's `kazoo_kind`
  std::string kazoo_kind;
  int threads = 1;
  dstm_bench::window_result sum{};
};

void rounds(benchmark::State& state, std::vector<arm>& arms) {
  constexpr int count = 3;
  const std::int64_t slice = std::max<std::int64_t>(dstm_bench::window_ms() / count, 1);
  for (auto& a : arms) {
    a.sum.done.assign(static_cast<std::size_t>(a.threads), 0);
    if (a.op) dstm_bench::run_window(a.threads, {}, a.op, 1);  // warm
  }
  for (auto _ : state) {
    double total = 0;
    for (int round = 0; round < count; ++round) {
      for (auto& a : arms) {
        std::optional<dstm_bench::window_result> r;
        if (a.op) {
          r = dstm_bench::run_window(a.threads, {}, a.op, 0, slice);
        } else {
          r = peer().window(a.kazoo_kind, a.threads, slice);
        }
        if (!r || r->done.size() != a.sum.done.size()) {
          state.SkipWithError("the kazoo driver did not answer (python3-kazoo missing?)");
          return;
        }
        for (std::size_t i = 0; i < r->done.size(); ++i) a.sum.done[i] += r->done[i];
        a.sum.seconds += r->seconds;
        total += r->seconds;
      }
    }
    for (auto& a : arms) {
      state.counters[a.name + "_ops_per_s"] = a.sum.rate();
      state.counters[a.name + "_fairness"] = a.sum.fairness();
    }
    state.SetIterationTime(total);
  }
}

/// An atom's update against kazoo's Counter (+1) and the raw CAS loop, T clients on one node.
void peers_counter(benchmark::State& state, int threads) {
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::shared_ptr<zk_coordinator>> sessions;
  std::vector<std::shared_ptr<dstm::client>> clients;
  std::vector<std::unique_ptr<dstm::atom<std::int64_t>>> atoms;
  for (std::size_t i = 0; i < n; ++i) {
    sessions.push_back(session());
    clients.push_back(stm_client());
    atoms.push_back(
        std::make_unique<dstm::atom<std::int64_t>>(clients.back(), "/bench/stm/counter", 0));
  }
  ensure(*sessions.front(), "/bench/stm/counter-raw", "0");
  std::vector<arm> arms;
  arms.push_back(
      {"raw_cas",
       [&](int i) { raw_cas(*sessions[static_cast<std::size_t>(i)], "/bench/stm/counter-raw"); },
       "",
       threads,
       {}});
  arms.push_back({"dstm",
                  [&](int i) {
                    atoms[static_cast<std::size_t>(i)]->update(
                        [](std::int64_t v) { return v + 1; });
                  },
                  "",
                  threads,
                  {}});
  arms.push_back({"kazoo", nullptr, "counter", threads, {}});
  rounds(state, arms);
}

/// recipes::mutex acquire + release against kazoo's Lock and (one client) the raw limit: create
/// an ephemeral-sequential child, list the children, remove the child — the fewest requests any
/// ZooKeeper lock recipe needs.
void peers_lock(benchmark::State& state, int threads) {
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::shared_ptr<zk_coordinator>> sessions;
  std::vector<std::unique_ptr<dstm::recipes::mutex<zk_coordinator>>> locks;
  for (std::size_t i = 0; i < n; ++i) {
    sessions.push_back(session());
    locks.push_back(
        std::make_unique<dstm::recipes::mutex<zk_coordinator>>(sessions.back(), "/bench/stm/lock"));
  }
  ensure(*sessions.front(), "/bench", "");
  ensure(*sessions.front(), "/bench/stm", "");
  ensure(*sessions.front(), "/bench/stm/rawlock", "");
  std::vector<arm> arms;
  if (threads == 1) {
    arms.push_back({"raw_lock",
                    [&](int) {
                      auto& zk = *sessions.front();
                      auto node = zk.create("/bench/stm/rawlock/n-", "",
                                            dstm::create_mode::ephemeral_sequential);
                      benchmark::DoNotOptimize(zk.children("/bench/stm/rawlock"));
                      zk.remove(node);
                    },
                    "",
                    1,
                    {}});
  }
  arms.push_back({"dstm",
                  [&](int i) {
                    auto& m = *locks[static_cast<std::size_t>(i)];
                    m.lock();
                    m.unlock();
                  },
                  "",
                  threads,
                  {}});
  arms.push_back({"kazoo", nullptr, "lock", threads, {}});
  rounds(state, arms);
  locks.clear();
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
    timed_once(benchmark::RegisterBenchmark(("peers/counter/T:" + std::to_string(t)).c_str(),
                                            [t](benchmark::State& s) { peers_counter(s, t); }));
    timed_once(benchmark::RegisterBenchmark(("peers/lock/T:" + std::to_string(t)).c_str(),
                                            [t](benchmark::State& s) { peers_lock(s, t); }));
  }
  for (int n : {1, 4}) {
    benchmark::RegisterBenchmark(("read_only/refs:" + std::to_string(n)).c_str(),
                                 [n](benchmark::State& s) { read_only(s, n); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a kazoo driver that died must not kill the benchmark
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
  peer_slot().reset();  // kazoo closes its sessions while the server still runs
  server.stop();
  return 0;
}
