#pragma once
/// \file
/// The STM workloads: `bank`, `counter` and `write-skew` drive `dstm::ref`, `dstm::dosync` and
/// `tx.alter / commute / ensure / deref` from concurrent clients, each with its own
/// `dstm::client`, and check invariants that a correct STM keeps under any faults.
///
/// The workload logic (`stm::bank`, `stm::counter`, `stm::write_skew`) knows nothing of the
/// world it runs in: a driver gives it clients (`setup`, then `client_loop` once per client,
/// concurrently, then `finish` on a quiescent system), a way to sleep and a clock. `run_in_sim`
/// is the simulation's driver (one simulated thread per client, faults from the config);
/// tests/stm_zk drives the same classes with std::threads against a real ZooKeeper server.
///
/// How `dosync` ends, and what each ending means for the invariants:
///  - returns: committed, exactly once;
///  - `dstm::error` `commit_outcome_unknown`: maybe applied (at most once);
///  - `dstm::error` `retry_limit_exceeded`: not applied;
///  - `dstm::coordinator_error` with connection_loss, operation_timeout, session_expired or
///    session_moved: a read or the commit's bookkeeping failed before anything was applied (a
///    commit whose reply was lost is resolved through the outcome record instead); not applied;
///  - `dstm::coordinator_error` `closing` (only when a livelocked run is ended by closing its
///    clients): maybe applied;
///  - anything else: the engine broke its contract; an anomaly, and "maybe applied" for the
///    accounting so that it causes no second, derived anomaly.
/// Every ref's final value must then lie within what the committed and maybe-applied
/// transactions allow (`ledger`): a transaction applied twice or lost shows up there.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/client.hpp"
#include "dstm/error.hpp"
#include "dstm/ref.hpp"
#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/random.hpp"
#include "dstm/sim/schedule.hpp"
#include "dstm/sim/workload.hpp"
#include "dstm/sim/workloads/common.hpp"
#include "dstm/sim/world.hpp"
#include "dstm/txn.hpp"

namespace dstm::sim::workloads {

namespace stm {

/// How one `dosync` ended (see the file comment).
enum class txn_outcome { committed, aborted, unknown, failed };

struct txn_end {
  txn_outcome outcome = txn_outcome::committed;
  std::error_code code;  ///< the exception's code, if it had one
  std::string error;     ///< what() of the exception, if any
};

/// Coordinator errors after which a `dosync` has applied nothing: the engine resolves lost
/// commit replies itself, so these can only come from reads and bookkeeping before the multi.
inline bool transient(std::error_code ec) noexcept {
  return outcome_unknown(ec) || ec == coordinator_errc::session_expired ||
         ec == coordinator_errc::session_moved;
}

/// Runs `fn` (which calls `dosync`) and classifies how it ended.
template <class Fn>
txn_end run_dosync(Fn&& fn) {
  try {
    fn();
    return {txn_outcome::committed, {}, {}};
  } catch (const coordinator_error& e) {
    if (e.code() == coordinator_errc::closing) return {txn_outcome::unknown, e.code(), e.what()};
    return {transient(e.code()) ? txn_outcome::aborted : txn_outcome::failed, e.code(), e.what()};
  } catch (const dstm::error& e) {
    if (e.code() == errc::commit_outcome_unknown) return {txn_outcome::unknown, e.code(), e.what()};
    if (e.code() == errc::retry_limit_exceeded) return {txn_outcome::aborted, e.code(), e.what()};
    return {txn_outcome::failed, e.code(), e.what()};
  } catch (const std::exception& e) {
    return {txn_outcome::failed, {}, e.what()};
  }
}

/// Counts of how transactions ended (tests use them to prove the faults bit).
struct txn_stats {
  std::uint64_t committed = 0;
  std::uint64_t aborted = 0;  ///< retry limit or a transient coordinator error
  std::uint64_t unknown = 0;  ///< commit_outcome_unknown
  std::uint64_t failed = 0;   ///< an exception outside the contract (each an anomaly)
  std::uint64_t retry_limit = 0;
  std::uint64_t coordinator_errors = 0;
  std::uint64_t body_runs = 0;  ///< runs of bodies that check something inside (opacity)
  /// From the clients' metrics: commits resolved through the outcome record after a lost
  /// reply, new sessions after an expiry, and bodies run again after a transient error or a
  /// conflict — how hard the faults hit what `dosync` hides.
  std::uint64_t outcome_resolutions = 0, reconnects = 0, retries = 0;

  txn_stats& operator+=(const txn_stats& o) noexcept {
    committed += o.committed;
    aborted += o.aborted;
    unknown += o.unknown;
    failed += o.failed;
    retry_limit += o.retry_limit;
    coordinator_errors += o.coordinator_errors;
    body_runs += o.body_runs;
    outcome_resolutions += o.outcome_resolutions;
    reconnects += o.reconnects;
    retries += o.retries;
    return *this;
  }
};

/// One line: how the transactions ended.
inline std::string describe(const txn_stats& s) {
  return "committed=" + std::to_string(s.committed) + " aborted=" + std::to_string(s.aborted) +
         " (retry limit " + std::to_string(s.retry_limit) + ", coordinator errors " +
         std::to_string(s.coordinator_errors) + ") unknown=" + std::to_string(s.unknown) +
         " failed=" + std::to_string(s.failed) +
         " checked body runs=" + std::to_string(s.body_runs) +
         " resolved=" + std::to_string(s.outcome_resolutions) +
         " reconnects=" + std::to_string(s.reconnects) + " retries=" + std::to_string(s.retries);
}

/// Anomalies found so far: every one is counted, the first few are explained in full.
class anomaly_log {
 public:
  static constexpr std::size_t explained = 8;

  void report(std::string explanation) {
    std::lock_guard lock(mutex_);
    ++count_;
    if (explanations_.size() < explained) explanations_.push_back(std::move(explanation));
  }
  std::uint64_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  /// Adds the count and the explanations to `r`.
  void flush(workload_result& r) const {
    std::lock_guard lock(mutex_);
    r.anomalies += count_;
    for (const auto& e : explanations_) r.explanations.push_back(e);
    if (count_ > explanations_.size()) {
      r.explanations.push_back("... and " + std::to_string(count_ - explanations_.size()) +
                               " more anomalies of the kinds above");
    }
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t count_ = 0;
  std::vector<std::string> explanations_;
};

/// Per ref: what committed transactions added, and the range transactions of unknown outcome
/// could add. The final value must be initial + committed + something in [low, high].
class ledger {
 public:
  struct effect {
    std::size_t ref;
    std::int64_t delta;
  };

  /// Starts the books: one row per ref (call before any `record`).
  void open(std::vector<std::string> names, std::vector<std::int64_t> initial) {
    std::lock_guard lock(mutex_);
    names_ = std::move(names);
    initial_ = std::move(initial);
    rows_.assign(initial_.size(), row{});
  }

  void record(const std::vector<effect>& effects, txn_outcome o) {
    if (o == txn_outcome::aborted) return;
    std::lock_guard lock(mutex_);
    for (const auto& e : effects) {
      auto& row = rows_.at(e.ref);
      if (o == txn_outcome::committed) {
        row.committed += e.delta;
        ++row.committed_txns;
      } else {
        (e.delta < 0 ? row.low : row.high) += e.delta;
        ++row.unknown_txns;
      }
    }
  }

  const std::vector<std::int64_t>& initial() const noexcept { return initial_; }

  /// Checks `final_values` (one per ref); reports each ref out of its range.
  void check(const std::vector<std::int64_t>& final_values, anomaly_log& log) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < rows_.size() && i < final_values.size(); ++i) {
      const auto& row = rows_[i];
      const std::int64_t lo = initial_[i] + row.committed + row.low;
      const std::int64_t hi = initial_[i] + row.committed + row.high;
      if (final_values[i] >= lo && final_values[i] <= hi) continue;
      log.report(names_[i] + ": final value " + std::to_string(final_values[i]) + " is outside [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "]: it started at " +
                 std::to_string(initial_[i]) + ", " + std::to_string(row.committed_txns) +
                 " committed transactions changed it by " + std::to_string(row.committed) +
                 ", and " + std::to_string(row.unknown_txns) +
                 " of unknown outcome could change it by " + std::to_string(row.low) + " to +" +
                 std::to_string(row.high) +
                 " — a transaction was applied twice, applied although it failed, or lost");
    }
  }

 private:
  struct row {
    std::int64_t committed = 0, low = 0, high = 0;
    std::uint64_t committed_txns = 0, unknown_txns = 0;
  };
  mutable std::mutex mutex_;
  std::vector<std::string> names_;
  std::vector<std::int64_t> initial_;
  std::vector<row> rows_;
};

/// What every STM workload is told by its driver.
struct options {
  std::string root = "/stm";  ///< parent of the workload's refs
  int ops = 200;              ///< transactions over all clients
  isolation level = isolation::serializable;
  bool ensure = false;                      ///< write-skew: `ensure` the ref read but not written
  bool record_history = true;               ///< keep a history of the transactions
  std::function<void(std::int64_t)> sleep;  ///< pauses the calling client (ns)
  std::function<std::int64_t()> clock;      ///< history timestamps (ns); null: 0
};

/// The client options the workloads' clients use in the simulation: bounded retries, backoff
/// in virtual time, and enough outcome-record attempts to outlast harsh faults.
inline client_options sim_client_options(isolation level) {
  client_options o;
  o.max_retries = 100;
  o.backoff_min_ns = 200 * microseconds;
  o.backoff_max_ns = 100 * milliseconds;
  o.outcome_attempts = 1000;
  o.default_isolation = level;
  return o;
}

/// What the three workloads share: the operation budget, process ids, the history, stats,
/// anomalies and the ledger.
class workload_base {
 public:
  explicit workload_base(options o) : opts_(std::move(o)), remaining_(opts_.ops) {}
  workload_base(const workload_base&) = delete;
  workload_base& operator=(const workload_base&) = delete;

  const options& opts() const noexcept { return opts_; }
  txn_stats stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }
  std::uint64_t anomalies() const { return log_.count(); }
  std::uint64_t invoked() const noexcept { return invoked_.load(); }
  check::history history() const { return history_.events(); }

  /// Adds what a finished client's metrics say about the faults to the stats.
  void note_client(const client& c) {
    const auto m = c.metrics();
    std::lock_guard lock(stats_mutex_);
    stats_.outcome_resolutions += m.outcome_resolutions;
    stats_.reconnects += m.reconnects;
    stats_.retries += m.retries;
  }

  /// Reports a client that could not go on (an anomaly: the contract says it should have).
  void client_stopped(int id, const std::string& what) {
    if (stopped_) return;  // ended on purpose (see `stop`)
    log_.report("client " + std::to_string(id) + " stopped: " + what);
  }

  /// Ends the run early: no more operations, and `why` is reported as an anomaly.
  void stop(const std::string& why) {
    stopped_ = true;
    log_.report(why);
  }

 protected:
  /// Takes one operation from the budget; false when it is used up.
  bool take_op() {
    if (stopped_ || remaining_.fetch_sub(1) <= 0) return false;
    ++invoked_;
    return true;
  }
  std::int64_t new_process() { return next_process_++; }
  std::int64_t now() const { return opts_.clock ? opts_.clock() : 0; }
  void sleep(std::int64_t ns) const {
    if (opts_.sleep) opts_.sleep(ns);
  }

  /// Counts how a transaction ended in `stats()`; returns the history event it maps to: `ok`
  /// (committed), `fail` (aborted: no effect) or `info` (outcome unknown, or an exception
  /// outside dosync's contract).
  check::event_type count(const txn_end& end) {
    std::lock_guard lock(stats_mutex_);
    switch (end.outcome) {
      case txn_outcome::committed:
        ++stats_.committed;
        return check::event_type::ok;
      case txn_outcome::aborted:
        ++stats_.aborted;
        if (end.code == errc::retry_limit_exceeded)
          ++stats_.retry_limit;
        else
          ++stats_.coordinator_errors;
        return check::event_type::fail;
      case txn_outcome::unknown:
        ++stats_.unknown;
        return check::event_type::info;
      case txn_outcome::failed:
        break;
    }
    ++stats_.failed;
    return check::event_type::info;
  }

  /// Runs one transaction as operation `f` of `process`: records it in the history, classifies
  /// how it ended, counts it, and reports an exception outside the contract as an anomaly.
  /// `ok_value` gives the value the history's `ok` carries. After `info` the process is
  /// replaced by a fresh one (Jepsen's rule).
  template <class Fn, class OkValue>
  txn_end transact(std::int64_t& process, const std::string& f, const std::string& key,
                   const nlohmann::json& value, Fn&& fn, OkValue&& ok_value) {
    if (opts_.record_history) history_.invoke(process, f, key, value, now());
    const auto end = run_dosync(std::forward<Fn>(fn));
    const check::event_type type = count(end);
    nlohmann::json out = value;
    if (end.outcome == txn_outcome::committed) out = ok_value();
    if (end.outcome == txn_outcome::failed) {
      log_.report(f + " transaction of process " + std::to_string(process) +
                  ": dosync threw an exception outside its contract (only "
                  "commit_outcome_unknown, retry_limit_exceeded and transient coordinator "
                  "errors may end it under faults): " +
                  end.error);
    }
    if (opts_.record_history) history_.complete(process, type, f, key, std::move(out), now());
    if (type == check::event_type::info) process = new_process();
    // A real client pauses after an error instead of hammering an unreachable ensemble.
    if (end.outcome != txn_outcome::committed) sleep(5 * milliseconds);
    return end;
  }

  /// Calls `fn` until it does not throw a transient coordinator error (setup steps: creating
  /// and connecting refs); other exceptions, and the last transient one, propagate.
  template <class Fn>
  auto with_retries(Fn&& fn, int attempts = 400) {
    for (int attempt = 1;; ++attempt) {
      try {
        return fn();
      } catch (const coordinator_error& e) {
        if (!transient(e.code()) || attempt >= attempts) throw;
      } catch (const dstm::error& e) {
        if (e.code() != errc::commit_outcome_unknown || attempt >= attempts) throw;
      }
      sleep(10 * milliseconds);
    }
  }

  /// Connects handles of `c` to the refs at `paths` (which exist).
  std::vector<ref<int>> connect_refs(const std::shared_ptr<client>& c,
                                     const std::vector<std::string>& paths) {
    std::vector<ref<int>> out;
    for (const auto& p : paths) out.push_back(with_retries([&] { return ref<int>(c, p); }));
    return out;
  }
  /// Creates the refs at `paths` with `initial` values unless they exist.
  void create_refs(const std::shared_ptr<client>& c, const std::vector<std::string>& paths,
                   const std::vector<std::int64_t>& initial) {
    for (std::size_t i = 0; i < paths.size(); ++i) {
      with_retries([&] { (void)ref<int>(c, paths[i], static_cast<int>(initial[i])); });
    }
  }

  /// Reads every ref in one transaction (on a quiescent system, for the final check).
  std::vector<std::int64_t> read_final(const std::shared_ptr<client>& c,
                                       const std::vector<std::string>& paths) {
    auto refs = connect_refs(c, paths);
    return with_retries([&] {
      return dosync(c, [&](txn& tx) {
        std::vector<std::int64_t> v;
        for (auto& r : refs) v.push_back(tx.deref(r));
        return v;
      });
    });
  }

  /// Folds the final values into `r.digest` and adds the anomalies.
  void conclude(const std::vector<std::int64_t>& final_values, workload_result& r) {
    std::uint64_t h = r.digest;
    for (auto v : final_values) h = mix64(h ^ static_cast<std::uint64_t>(v));
    r.digest = h;
    r.ops = invoked();
    log_.flush(r);
    if (opts_.record_history) r.history = history();
  }

  void count_body_run() {
    std::lock_guard lock(stats_mutex_);
    ++stats_.body_runs;
  }

  options opts_;
  anomaly_log log_;
  ledger ledger_;

 private:
  std::atomic<int> remaining_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> invoked_{0};
  std::atomic<std::int64_t> next_process_{0};
  mutable std::mutex stats_mutex_;
  txn_stats stats_;
  check::recorder history_;
};

inline std::string join_values(const std::vector<std::string>& names,
                               const std::vector<std::int64_t>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    s += (i ? ", " : "") + (i < names.size() ? names[i] + "=" : std::string()) +
         std::to_string(values[i]);
  }
  return s;
}

/// Distinct indices in [0, n) in a random order.
inline std::vector<std::size_t> shuffled(std::size_t n, rng& r) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  for (std::size_t i = n; i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
  return v;
}

/// `bank`: accounts (refs of int) with a fixed total. Clients transfer a random amount between
/// two accounts (`alter` both; balances may go negative) or read every account in one
/// transaction. Checked: every run of a reading body — also one that is abandoned and run
/// again — sees balances that sum to the total (opacity); the final balances sum to the total;
/// each account's final balance is what the committed transfers (and those of unknown
/// outcome) allow.
class bank : public workload_base {
 public:
  struct settings {
    int accounts = 0;     ///< 0: 5 to 8, drawn from the setup generator
    int read_one_in = 3;  ///< one operation in this many reads every account
    int max_amount = 20;
  };

  bank(options o, settings s, rng setup) : workload_base(std::move(o)), settings_(s) {
    const int n =
        settings_.accounts > 0 ? settings_.accounts : static_cast<int>(setup.between(5, 8));
    std::vector<std::int64_t> initial;
    for (int i = 0; i < n; ++i) {
      names_.push_back("a" + std::to_string(i));
      paths_.push_back(opts_.root + "/bank/a" + std::to_string(i));
      initial.push_back(setup.between(0, 200));
      total_ += initial.back();
    }
    ledger_.open(names_, std::move(initial));
  }

  std::int64_t total() const noexcept { return total_; }

  void setup(const std::shared_ptr<client>& c) { create_refs(c, paths_, ledger_.initial()); }

  void client_loop(const std::shared_ptr<client>& c, rng& r, int id) {
    auto accounts = connect_refs(c, paths_);
    const std::size_t n = accounts.size();
    std::int64_t process = new_process();
    while (take_op()) {
      if (r.one_in(static_cast<std::uint64_t>(settings_.read_one_in))) {
        const auto order = shuffled(n, r);
        std::vector<std::int64_t> seen;
        transact(
            process, "read", "", nullptr,
            [&] {
              seen = dosync(c, [&](txn& tx) {
                std::vector<std::int64_t> v(n);
                for (auto i : order) v[i] = tx.deref(accounts[i]);
                observe(v, id);
                return v;
              });
            },
            [&] { return nlohmann::json(seen); });
      } else {
        const auto from = r.below(n);
        const auto to = (from + 1 + r.below(n - 1)) % n;
        const int amount = static_cast<int>(r.between(1, settings_.max_amount));
        const auto end = transact(
            process, "transfer", "", nlohmann::json{from, to, amount},
            [&] {
              dosync(c, [&](txn& tx) {
                tx.alter(accounts[from], [amount](int v) { return v - amount; });
                tx.alter(accounts[to], [amount](int v) { return v + amount; });
              });
            },
            [&] {
              return nlohmann::json{from, to, amount};
            });
        ledger_.record({{from, -amount}, {to, amount}}, end.outcome);
      }
    }
  }

  void finish(const std::shared_ptr<client>& c, workload_result& r) {
    const auto final_values = read_final(c, paths_);
    std::int64_t sum = 0;
    for (auto v : final_values) sum += v;
    if (sum != total_) {
      log_.report("bank: the final balances (" + join_values(names_, final_values) + ") sum to " +
                  std::to_string(sum) + ", not the total " + std::to_string(total_) +
                  " — a transfer was applied in part or lost");
    }
    ledger_.check(final_values, log_);
    conclude(final_values, r);
  }

 private:
  /// Runs inside the body: the snapshot must be consistent, so the balances sum to the total.
  void observe(const std::vector<std::int64_t>& v, int id) {
    count_body_run();
    std::int64_t sum = 0;
    for (auto x : v) sum += x;
    if (sum == total_) return;
    log_.report("bank: opacity violated: a run of client " + std::to_string(id) +
                "'s read transaction saw balances (" + join_values(names_, v) + ") summing to " +
                std::to_string(sum) + ", not the total " + std::to_string(total_) +
                " — every run of a body, also one that is abandoned, must see a consistent "
                "snapshot");
  }

  settings settings_;
  std::vector<std::string> names_, paths_;
  std::int64_t total_ = 0;
};

/// `counter`: clients add 1 to one or two of a few counters per transaction, with
/// `tx.commute` (default) or `tx.alter`. Checked: each counter's final value is exactly its
/// committed increments, plus at most the increments whose commit outcome stayed unknown.
class counter : public workload_base {
 public:
  struct settings {
    int counters = 0;  ///< 0: 1 to 3, drawn from the setup generator
    bool commute = true;
  };

  counter(options o, settings s, rng setup) : workload_base(std::move(o)), settings_(s) {
    const int n =
        settings_.counters > 0 ? settings_.counters : static_cast<int>(setup.between(1, 3));
    for (int i = 0; i < n; ++i) {
      names_.push_back("c" + std::to_string(i));
      paths_.push_back(opts_.root + "/counter/c" + std::to_string(i));
    }
    ledger_.open(names_, std::vector<std::int64_t>(static_cast<std::size_t>(n), 0));
  }

  void setup(const std::shared_ptr<client>& c) { create_refs(c, paths_, ledger_.initial()); }

  void client_loop(const std::shared_ptr<client>& c, rng& r, int) {
    auto counters = connect_refs(c, paths_);
    const std::size_t n = counters.size();
    std::int64_t process = new_process();
    const auto inc = [](int v) { return v + 1; };
    while (take_op()) {
      std::vector<std::size_t> targets{r.below(n)};
      if (n > 1 && r.one_in(4)) targets.push_back((targets[0] + 1 + r.below(n - 1)) % n);
      std::string key;
      for (auto t : targets) key += (key.empty() ? "" : "+") + names_[t];
      const auto end = transact(
          process, "add", key, 1,
          [&] {
            dosync(c, [&](txn& tx) {
              for (auto t : targets) {
                if (settings_.commute)
                  tx.commute(counters[t], inc);
                else
                  tx.alter(counters[t], inc);
              }
            });
          },
          [] { return nlohmann::json(1); });
      std::vector<ledger::effect> effects;
      for (auto t : targets) effects.push_back({t, 1});
      ledger_.record(effects, end.outcome);
    }
  }

  void finish(const std::shared_ptr<client>& c, workload_result& r) {
    const auto final_values = read_final(c, paths_);
    ledger_.check(final_values, log_);
    conclude(final_values, r);
  }

 private:
  settings settings_;
  std::vector<std::string> names_, paths_;
};

/// `write-skew`: two refs x and y; a withdrawal reads both and, if x + y >= amount, subtracts
/// the amount from one of them (chosen at random), so x + y >= 0 is the constraint; a deposit
/// adds to one. Under `snapshot` isolation two withdrawals from different refs can both commit
/// from the same snapshot and break the constraint (write skew) unless the withdrawal
/// `ensure`s the ref it does not write (`options::ensure`); under `serializable` never.
/// Checked: every state a body sees (a committed one, by opacity) and the final state keep
/// x + y >= 0; the final values match the ledger.
class write_skew : public workload_base {
 public:
  struct settings {
    int initial = 5;  ///< x and y start here
    int max_amount = 5;
    int deposit_one_in = 3;
  };

  write_skew(options o, settings s, rng) : workload_base(std::move(o)), settings_(s) {
    names_ = {"x", "y"};
    paths_ = {opts_.root + "/write-skew/x", opts_.root + "/write-skew/y"};
    ledger_.open(names_, {settings_.initial, settings_.initial});
  }

  void setup(const std::shared_ptr<client>& c) { create_refs(c, paths_, ledger_.initial()); }

  void client_loop(const std::shared_ptr<client>& c, rng& r, int id) {
    auto refs = connect_refs(c, paths_);
    std::int64_t process = new_process();
    while (take_op()) {
      const std::size_t target = r.below(2);
      const int amount = static_cast<int>(r.between(1, settings_.max_amount));
      const auto sub = [amount](int v) { return v - amount; };
      if (r.one_in(static_cast<std::uint64_t>(settings_.deposit_one_in))) {
        const auto end = transact(
            process, "deposit", names_[target], amount,
            [&] {
              dosync(c, [&](txn& tx) {
                tx.alter(refs[target], [amount](int v) { return v + amount; });
              });
            },
            [&] { return nlohmann::json(amount); });
        ledger_.record({{target, amount}}, end.outcome);
        continue;
      }
      bool withdrew = false;  // what the last run of the body decided
      const auto end = transact(
          process, "withdraw", names_[target], amount,
          [&] {
            dosync(c, [&](txn& tx) {
              withdrew = false;
              const std::int64_t x = tx.deref(refs[0]);
              const std::int64_t y = tx.deref(refs[1]);
              observe(x, y, id);
              if (x + y < amount) return;
              if (opts_.ensure) tx.ensure(refs[1 - target]);
              tx.alter(refs[target], sub);
              withdrew = true;
            });
          },
          [&] { return withdrew ? nlohmann::json(amount) : nlohmann::json(0); });
      if (withdrew) ledger_.record({{target, -amount}}, end.outcome);
    }
  }

  void finish(const std::shared_ptr<client>& c, workload_result& r) {
    const auto v = read_final(c, paths_);
    if (v.size() == 2 && v[0] + v[1] < 0) {
      log_.report("write-skew: the final state x=" + std::to_string(v[0]) +
                  ", y=" + std::to_string(v[1]) + " breaks x + y >= 0" + skew_hint());
    }
    ledger_.check(v, log_);
    conclude(v, r);
  }

 private:
  void observe(std::int64_t x, std::int64_t y, int id) {
    count_body_run();
    if (x + y >= 0) return;
    {
      std::lock_guard lock(seen_mutex_);
      if (!seen_.insert({x, y}).second) return;  // one anomaly per bad state
    }
    log_.report("write-skew: client " + std::to_string(id) +
                " read the state x=" + std::to_string(x) + ", y=" + std::to_string(y) +
                ", which breaks x + y >= 0" + skew_hint());
  }
  std::string skew_hint() const {
    if (opts_.level == isolation::snapshot && !opts_.ensure) {
      return " (expected under snapshot isolation without ensure: two withdrawals from "
             "different refs committed from one snapshot)";
    }
    return " — write skew although every read was protected (serializable, or ensure)";
  }

  settings settings_;
  std::vector<std::string> names_, paths_;
  std::mutex seen_mutex_;
  std::set<std::pair<std::int64_t, std::int64_t>> seen_;
};

inline int int_param(const workload_config& cfg, const std::string& key, int fallback, int lo,
                     int hi) {
  const auto s = cfg.param(key);
  if (s.empty()) return fallback;
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || v < lo || v > hi) {
    throw std::invalid_argument(key + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got '" + s + "'");
  }
  return v;
}

/// The workload's options from a sim config (sleep and clock in virtual time).
inline options sim_options(world& w, const workload_config& cfg) {
  options o;
  o.ops = cfg.ops;
  o.level = cfg.isolation;
  o.ensure = cfg.ensure;
  o.record_history = cfg.record_history;
  o.sleep = [&w](std::int64_t ns) { w.sleep_for(ns); };
  o.clock = [&w] { return w.now(); };
  return o;
}

/// A client of `ens`, retried while the coordinator is unreachable.
inline std::shared_ptr<client> connect_sim(world& w, ensemble& ens, const client_options& o) {
  for (int attempt = 1;; ++attempt) {
    try {
      return connect_with([&ens] { return std::make_shared<coordinator>(ens); }, o);
    } catch (const coordinator_error& e) {
      if (!transient(e.code()) || attempt >= 100) throw;
    }
    w.sleep_for(50 * milliseconds);
  }
}

/// Virtual time the clients get to use up their operations. A healthy run under harsh faults
/// needs a few seconds; a run still going after this is a livelock (an anomaly).
inline constexpr std::int64_t client_budget_ns = 120 * seconds;

/// Runs `w` until its simulated threads are done (true) or virtual time reaches `until`
/// (false). Threads that nothing can wake throw `deadlock_error`, as `world::run` does.
inline bool run_until_done(world& w, std::int64_t until) {
  while (w.live_threads() > 0) {
    if (w.pending_events() == 0) {
      w.run();
      return true;
    }
    if (w.now() >= until) return false;
    w.run_until(std::min(until, w.now() + 100 * milliseconds));
  }
  return true;
}

/// Runs workload `wl` in `w`: an ensemble with the config's faults, a setup client, one
/// simulated thread (and `dstm::client`) per config client, then — faults stopped, replicas
/// compared — `finish` on a fresh client. Anomalies: the workload's, diverging replicas, and
/// clients still busy after `client_budget_ns` (they are then closed to end the run).
///
/// Parameters every STM workload takes: `loss-after=N` and `loss-before=N` (replies or requests
/// lost per million, overriding the preset's) and `schedule=TEXT`, a `fault_schedule` applied
/// from the moment the clients start (property tests generate these; see schedule.hpp).
template <class Workload>
workload_result run_in_sim(world& w, const workload_config& cfg, Workload& wl,
                           const std::string& name) {
  ensemble_options eo;
  eo.servers = cfg.servers;
  eo.faults = cfg.faults;
  eo.faults.loss_after_per_million = static_cast<std::uint32_t>(int_param(
      cfg, "loss-after", static_cast<int>(eo.faults.loss_after_per_million), 0, 1'000'000));
  eo.faults.loss_before_per_million = static_cast<std::uint32_t>(int_param(
      cfg, "loss-before", static_cast<int>(eo.faults.loss_before_per_million), 0, 1'000'000));
  const auto schedule = fault_schedule::parse(cfg.param("schedule"));
  ensemble ens(w, eo);
  const auto copts = sim_client_options(cfg.isolation);
  std::vector<std::weak_ptr<client>> clients;
  // Each client's current client, by number, for the schedule's client faults.
  std::vector<std::weak_ptr<client>> by_number(static_cast<std::size_t>(cfg.clients));
  ens.start_faults();
  w.spawn("setup", [&] {
    {
      auto c = connect_sim(w, ens, copts);
      wl.setup(c);
      c->close();
    }
    for (int i = 0; i < cfg.clients; ++i) {
      w.spawn("client/" + std::to_string(i), [&, i] {
        rng r = w.stream("workload/" + name + "/client/" + std::to_string(i));
        try {
          auto c = connect_sim(w, ens, copts);
          clients.push_back(c);
          by_number[static_cast<std::size_t>(i)] = c;
          wl.client_loop(c, r, i);
          wl.note_client(*c);
          c->close();
        } catch (const std::exception& e) {
          wl.client_stopped(i, e.what());
        }
      });
    }
    run_schedule(w, ens, schedule, cfg.clients, [&by_number](int i) -> std::int64_t {
      auto c = by_number[static_cast<std::size_t>(i)].lock();
      if (!c) return 0;
      try {
        return c->session()->session_id();
      } catch (const std::exception&) {
        return 0;  // closed meanwhile
      }
    });
  });
  if (!run_until_done(w, w.now() + client_budget_ns)) {
    wl.stop("livelock: " + std::to_string(w.live_threads()) +
            " simulated threads still running after " + std::to_string(client_budget_ns / seconds) +
            " virtual seconds, where a healthy run needs a few; their clients were closed");
    for (auto& weak : clients) {
      if (auto c = weak.lock()) c->close();
    }
    if (!run_until_done(w, w.now() + 30 * seconds)) {
      throw time_limit_error("dstm::sim: " + name +
                             " clients still running 30 s after they "
                             "were closed (livelock) at seed " +
                             std::to_string(cfg.seed));
    }
  }
  workload_result result;
  result.anomalies += settle_and_compare(w, ens, result);
  w.spawn("final", [&] {
    auto c = connect_sim(w, ens, copts);
    wl.finish(c, result);
    c->close();
  });
  w.run();
  return result;
}

inline bank::settings bank_settings(const workload_config& cfg) {
  bank::settings s;
  s.accounts = int_param(cfg, "bank.accounts", 0, 2, 64);
  return s;
}

inline counter::settings counter_settings(const workload_config& cfg) {
  counter::settings s;
  const auto op = cfg.param("counter.op", "commute");
  if (op != "commute" && op != "alter")
    throw std::invalid_argument("counter.op must be commute or alter, got '" + op + "'");
  s.commute = op == "commute";
  s.counters = int_param(cfg, "counter.refs", 0, 1, 64);
  return s;
}

inline write_skew::settings write_skew_settings(const workload_config& cfg) {
  write_skew::settings s;
  s.initial = int_param(cfg, "write-skew.initial", s.initial, 0, 1'000'000);
  return s;
}

}  // namespace stm

/// The `bank` workload in the simulation (see `stm::bank`). Parameter `bank.accounts=N`.
inline workload_result bank_workload(world& w, const workload_config& cfg) {
  stm::bank wl(stm::sim_options(w, cfg), stm::bank_settings(cfg), w.stream("workload/bank/setup"));
  return stm::run_in_sim(w, cfg, wl, "bank");
}

/// The `counter` workload (see `stm::counter`). Parameters `counter.op=commute|alter`,
/// `counter.refs=N`.
inline workload_result counter_workload(world& w, const workload_config& cfg) {
  stm::counter wl(stm::sim_options(w, cfg), stm::counter_settings(cfg),
                  w.stream("workload/counter/setup"));
  return stm::run_in_sim(w, cfg, wl, "counter");
}

/// The `write-skew` workload (see `stm::write_skew`); `--isolation` and `--ensure` choose the
/// protection. Parameter `write-skew.initial=N`.
inline workload_result write_skew_workload(world& w, const workload_config& cfg) {
  stm::write_skew wl(stm::sim_options(w, cfg), stm::write_skew_settings(cfg),
                     w.stream("workload/write-skew/setup"));
  return stm::run_in_sim(w, cfg, wl, "write-skew");
}

}  // namespace dstm::sim::workloads
