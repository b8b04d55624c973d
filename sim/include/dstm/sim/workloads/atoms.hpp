#pragma once
/// \file
/// `atoms`: clients read (`deref_latest`), reset and compare-and-set a few `dstm::atom<int>`s;
/// the history is checked for linearizability per atom with the cas-register model. Atoms
/// promise it: an update or reset is one versioned commit, a successful compare_and_set too, a
/// failed one is confirmed against the latest value, and `deref_latest` syncs before it reads.
/// (`deref()` serves the client's cached view — consistent, not linearizable — so it is not
/// used here.) An operation ended by `retry_limit_exceeded` or a transient coordinator error
/// had no effect and observed nothing: it is left out of the history; one ended by
/// `commit_outcome_unknown` is `info`.

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dstm/atom.hpp"
#include "dstm/check/history.hpp"
#include "dstm/sim/workloads/register.hpp"
#include "dstm/sim/workloads/stm.hpp"

namespace dstm::sim::workloads::stm {

class atoms : public workload_base {
  template <class Fn>
  auto locked(Fn&& fn) {
    std::lock_guard lock(events_mutex_);
    return fn();
  }

 public:
  struct settings {
    int atoms = 0;  ///< 0: 1 to 3, drawn from the setup generator
  };

  atoms(options o, settings s, rng setup) : workload_base(std::move(o)) {
    const int n = s.atoms > 0 ? s.atoms : static_cast<int>(setup.between(1, 3));
    for (int i = 0; i < n; ++i) {
      names_.push_back("x" + std::to_string(i));
      paths_.push_back(opts_.root + "/atoms/x" + std::to_string(i));
    }
  }

  void setup(const std::shared_ptr<client>& c) {
    // The atoms start at 0: in the history, a write of 0 before every client's operation.
    const std::int64_t process = new_process();
    for (std::size_t i = 0; i < paths_.size(); ++i) {
      const auto op = locked([&] { return events_.invoke(process, "write", names_[i], 0, now()); });
      with_retries([&] { (void)atom<int>(c, paths_[i], 0); });
      locked([&] { events_.complete(op, check::event_type::ok, 0, now()); });
    }
  }

  void client_loop(const std::shared_ptr<client>& c, rng& r, int) {
    std::vector<atom<int>> xs;
    for (const auto& p : paths_) xs.push_back(with_retries([&] { return atom<int>(c, p); }));
    std::int64_t process = new_process();
    while (take_op()) {
      const auto k = r.below(xs.size());
      auto& x = xs[k];
      const auto choice = r.below(3);
      const int a = static_cast<int>(r.below(4)), b = static_cast<int>(r.below(4));
      if (choice == 0) {
        int seen = 0;
        record(
            process, "read", names_[k], nullptr, [&] { seen = x.deref_latest(); },
            [&] { return nlohmann::json(seen); });
      } else if (choice == 1) {
        record(
            process, "write", names_[k], a, [&] { x.reset(a); }, [&] { return nlohmann::json(a); });
      } else {
        bool set = false;
        record(
            process, "cas", names_[k], nlohmann::json{a, b}, [&] { set = x.compare_and_set(a, b); },
            [&]() -> std::optional<nlohmann::json> {
              if (!set) return std::nullopt;  // the compare did not match: fail
              return nlohmann::json{a, b};
            });
      }
    }
  }

  void finish(const std::shared_ptr<client>& c, workload_result& r) {
    std::vector<std::int64_t> final_values;
    for (const auto& p : paths_) {
      final_values.push_back(with_retries([&] { return atom<int>(c, p).deref_latest(); }));
    }
    const auto h = locked([&] { return events_.take(); });
    r.anomalies += detail::check_registers(h, r);
    conclude(final_values, r);
    r.history = h;
  }

 private:
  /// Runs `fn` as operation `f` and records it; `ok_value` gives the completion's value, or
  /// nullopt for a `fail` (a compare that did not match).
  template <class Fn, class OkValue>
  void record(std::int64_t& process, const std::string& f, const std::string& key,
              const nlohmann::json& value, Fn&& fn, OkValue&& ok_value) {
    const auto op = locked([&] { return events_.invoke(process, f, key, value, now()); });
    const auto end = run_dosync(std::forward<Fn>(fn));
    count(end);
    if (end.outcome == txn_outcome::aborted) {
      // No effect, and nothing observed (a compare that never ran is no `fail`): as if it had
      // never been invoked, as the register workload does.
      locked([&] { events_.retract(op); });
      sleep(5 * milliseconds);
      return;
    }
    check::event_type type = check::event_type::info;
    nlohmann::json out = value;
    if (end.outcome == txn_outcome::committed) {
      std::optional<nlohmann::json> v = ok_value();
      type = v ? check::event_type::ok : check::event_type::fail;
      if (v) out = std::move(*v);
    } else if (end.outcome == txn_outcome::failed) {
      log_.report(f + " on atom " + key + " threw outside its contract: " + end.error);
    }
    locked([&] { events_.complete(op, type, std::move(out), now()); });
    if (type == check::event_type::info) process = new_process();
    if (end.outcome != txn_outcome::committed) sleep(5 * milliseconds);
  }

  std::vector<std::string> names_, paths_;
  std::mutex events_mutex_;
  history_builder events_;
};

}  // namespace dstm::sim::workloads::stm

namespace dstm::sim::workloads {

/// `dstm-sim --workload atoms`: parameter `atoms.count`.
inline workload_result atoms_workload(world& w, const workload_config& cfg) {
  stm::atoms::settings s;
  s.atoms = stm::int_param(cfg, "atoms.count", 0, 0, 16);
  auto o = stm::sim_options(w, cfg);
  const bool keep = o.record_history;
  o.record_history = false;  // the workload records its own operation history
  stm::atoms wl(std::move(o), s, w.stream("workload/atoms/setup"));
  auto r = stm::run_in_sim(w, cfg, wl, "atoms");
  if (!keep) r.history.clear();
  return r;
}

}  // namespace dstm::sim::workloads
