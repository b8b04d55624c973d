#pragma once
/// \file
/// The `register` workload: clients read, write and compare-and-set a few znodes holding small
/// integers; the history is checked for linearizability per key (cas-register model).
///
/// How each operation maps to ZooKeeper, and why it is linearizable there:
///  - `read`: `sync` then `get`. ZooKeeper's plain reads are served by the session's server and
///    may be stale (followers lag), so they are not linearizable; a read after `sync` sees at
///    least the leader's state at the time of the sync, which lies inside the operation.
///    A failed read has no effect: `fail`.
///  - `write`: an unconditional `set`. connection_loss or a session that ended meanwhile: `info`.
///  - `cas [from, to]`: `sync`, `get`; if the value is not `from`, `fail` (the compare did not
///    match at the get); else `set` with the version read. `bad_version` means someone wrote in
///    between: read again (the cas has had no effect yet). An error before the `set` wrote
///    nothing and compared nothing, so the operation is left out of the history (a `fail`
///    would claim a compare that never happened; `info` would only slow the checker).
/// Parameter `register.reads=plain` plants a bug: reads skip the `sync`, so a lagging
/// follower's stale value shows up as a non-linearizable read (proof the check can fail).
/// A process whose operation ended `info` continues under a fresh process id (Jepsen's rule);
/// after any error a client backs off for 5-50 ms, as a real one would.
/// Keys start out holding empty data, which reads as null (never written).

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/check/linearizability.hpp"
#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/workload.hpp"
#include "dstm/sim/workloads/common.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim::workloads {

namespace detail {

inline nlohmann::json decode_register(const std::string& data) {
  if (data.empty()) return nullptr;
  return std::stoll(data);
}

/// Search steps (in units of the checker's 1024-step polls) after which a key is `unknown`.
/// Deterministic, unlike a wall-clock budget; generous for the histories this workload makes.
inline constexpr std::uint64_t check_budget_polls = 20'000;

/// The linearizability verdict for a register history; the one place the checker is called.
/// Keys that are not linearizable count as anomalies, and so do keys the checker could not
/// decide within its budget (a run that cannot be verified is not clean).
inline std::uint64_t check_registers(const check::history& h, workload_result& result) {
  check::linearizability_options options;
  std::uint64_t polls = 0;
  options.out_of_time = [&polls] { return ++polls > check_budget_polls; };
  const auto report = check::check_linearizable(h, check::cas_register_model{}, options);
  std::uint64_t bad = 0;
  for (const auto& k : report.keys) bad += k.result == check::verdict::valid ? 0 : 1;
  if (bad > 0) result.explanations.push_back(report.explanation);
  return bad;
}

}  // namespace detail

/// Runs the register workload (see the file comment). Anomalies: keys whose history is not
/// linearizable, plus servers whose replica diverged from the leader's after the run.
inline workload_result register_workload(world& w, const workload_config& cfg) {
  ensemble_options eo;
  eo.servers = cfg.servers;
  eo.faults = cfg.faults;
  ensemble ens(w, eo);
  history_builder hist;
  constexpr int keys = 3;
  const std::string root = "/register";
  auto key_path = [&](int k) { return root + "/x" + std::to_string(k); };
  auto key_name = [](int k) { return "x" + std::to_string(k); };
  int remaining = cfg.ops;
  std::uint64_t invoked = 0;
  const std::string reads = cfg.param("register.reads", "sync");
  if (reads != "sync" && reads != "plain") {
    throw std::invalid_argument("register.reads must be sync or plain, got '" + reads + "'");
  }
  const bool sync_reads = reads == "sync";
  std::int64_t next_process = 0;

  auto client = [&](int id) {
    rng r = w.stream("workload/register/client/" + std::to_string(id));
    session_holder session(ens);
    std::int64_t process = next_process++;
    while (remaining > 0) {
      --remaining;
      ++invoked;
      coordinator& c = session.get();
      const int k = static_cast<int>(r.below(keys));
      const std::string path = key_path(k), key = key_name(k);
      const auto choice = r.below(3);
      check::event_type outcome = check::event_type::ok;
      if (choice == 0) {
        const auto op = hist.invoke(process, "read", key, nullptr, w.now());
        std::error_code ec;
        if (sync_reads) c.sync(path, ec);
        node n;
        if (!ec) n = c.get(path, {}, ec);
        if (ec) {
          outcome = check::event_type::fail;
          hist.complete(op, outcome, nullptr, w.now());
        } else {
          hist.complete(op, outcome, detail::decode_register(n.data), w.now());
        }
      } else if (choice == 1) {
        const auto v = static_cast<std::int64_t>(r.below(5));
        const auto op = hist.invoke(process, "write", key, v, w.now());
        std::error_code ec;
        c.set(path, std::to_string(v), any_version, ec);
        outcome = ec ? write_outcome(ec) : check::event_type::ok;
        hist.complete(op, outcome, v, w.now());
      } else {
        const auto from = static_cast<std::int64_t>(r.below(5));
        const auto to = static_cast<std::int64_t>(r.below(5));
        const nlohmann::json value = {from, to};
        const auto op = hist.invoke(process, "cas", key, value, w.now());
        std::optional<check::event_type> result;
        for (int attempt = 0; attempt < 8 && !result; ++attempt) {
          std::error_code ec;
          c.sync(path, ec);
          node n;
          if (!ec) n = c.get(path, {}, ec);
          if (ec) break;  // nothing written and nothing compared
          if (detail::decode_register(n.data) != nlohmann::json(from)) {
            result = check::event_type::fail;
            break;
          }
          c.set(path, std::to_string(to), n.stat.version, ec);
          if (ec == coordinator_errc::bad_version) continue;  // no effect yet: compare again
          result = ec ? write_outcome(ec) : check::event_type::ok;
        }
        if (result) {
          outcome = *result;
          hist.complete(op, outcome, value, w.now());
        } else {
          // It wrote nothing and observed nothing: as if it had never been invoked.
          hist.retract(op);
          outcome = check::event_type::fail;
        }
      }
      if (outcome == check::event_type::info) process = next_process++;
      if (outcome != check::event_type::ok) back_off(w, r);
    }
    session.close();
  };

  ens.start_faults();
  w.spawn("setup", [&] {
    session_holder session(ens);
    auto ensure = [&](const std::string& path) {
      for (;;) {
        std::error_code ec;
        session.get().create(path, "", create_mode::persistent, ec);
        if (!ec || ec == coordinator_errc::node_exists) return;
        w.sleep_for(10 * milliseconds);
      }
    };
    ensure(root);
    for (int k = 0; k < keys; ++k) ensure(key_path(k));
    session.close();
    for (int i = 0; i < cfg.clients; ++i) {
      w.spawn("client/" + std::to_string(i), [&client, i] { client(i); });
    }
  });
  w.run();

  workload_result result;
  result.ops = invoked;
  result.anomalies += settle_and_compare(w, ens, result);
  result.history = hist.take();
  result.anomalies += detail::check_registers(result.history, result);
  if (!cfg.record_history) result.history.clear();
  return result;
}

}  // namespace dstm::sim::workloads
