#pragma once
/// \file
/// Pieces the built-in workloads share: error classification for histories, a coordinator
/// that is replaced when its session ends, and the replica convergence check.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/error.hpp"
#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/random.hpp"
#include "dstm/sim/workload.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim::workloads {

/// The history outcome of a write that failed with `ec`: `info` when it may have been applied
/// (connection loss, timeout, or the session ended while it was in flight), `fail` otherwise.
inline check::event_type write_outcome(std::error_code ec) {
  if (outcome_unknown(ec) || ec == coordinator_errc::session_expired ||
      ec == coordinator_errc::closing) {
    return check::event_type::info;
  }
  return check::event_type::fail;
}

/// Builds a history in the order events happen (one simulated thread runs at a time, so that is
/// real-time order) and can retract an operation that provably had no effect and observed
/// nothing — e.g. a cas whose read failed before it compared anything — which keeps the
/// checker's search small without weakening what it checks.
class history_builder {
 public:
  /// Records an invoke; returns its index for `complete` / `retract`.
  std::size_t invoke(std::int64_t process, std::string f, std::string key, nlohmann::json value,
                     std::int64_t time) {
    events_.push_back(check::event{process, check::event_type::invoke, std::move(f), std::move(key),
                                   std::move(value), time});
    return events_.size() - 1;
  }
  void complete(std::size_t invoke_index, check::event_type type, nlohmann::json value,
                std::int64_t time) {
    const auto& i = events_.at(invoke_index);
    events_.push_back(check::event{i.process, type, i.f, i.key, std::move(value), time});
  }
  /// Removes an operation that has not completed (its invoke) from the history.
  void retract(std::size_t invoke_index) { retracted_.push_back(invoke_index); }

  std::size_t invocations() const noexcept { return events_.size(); }
  check::history take() {
    std::sort(retracted_.begin(), retracted_.end());
    check::history out;
    out.reserve(events_.size());
    std::size_t r = 0;
    for (std::size_t i = 0; i < events_.size(); ++i) {
      if (r < retracted_.size() && retracted_[r] == i) {
        ++r;
        continue;
      }
      out.push_back(std::move(events_[i]));
    }
    events_.clear();
    retracted_.clear();
    return out;
  }

 private:
  check::history events_;
  std::vector<std::size_t> retracted_;
};

/// Pauses a client after an error, as a real client backs off instead of spinning while the
/// ensemble is unreachable.
inline void back_off(world& w, rng& r) { w.sleep_for(r.between(5, 50) * milliseconds); }

/// A client's session that is replaced by a fresh one once it expired (a new ZooKeeper handle,
/// as an application would open).
class session_holder {
 public:
  explicit session_holder(ensemble& ens) : ens_(ens) { renew(); }
  coordinator& get() {
    const auto s = c_->state();
    if (s == session_state::expired || s == session_state::closed) renew();
    return *c_;
  }
  void close() { c_->close(); }

 private:
  void renew() {
    c_.reset();
    c_ = std::make_unique<coordinator>(ens_);
  }
  ensemble& ens_;
  std::unique_ptr<coordinator> c_;
};

/// Stops the faults, lets the ensemble settle, and checks that every server's replica equals
/// the leader's. Returns the number of diverging servers (each one an anomaly) and writes
/// the final digest.
inline std::uint64_t settle_and_compare(world& w, ensemble& ens, workload_result& result) {
  ens.stop_faults();
  for (int round = 0; round < 200; ++round) {
    w.run_for(50 * milliseconds);
    bool caught_up = ens.leader() >= 0;
    for (int s = 0; caught_up && s < ens.server_count(); ++s) {
      caught_up = ens.applied(s) == ens.log_size();
    }
    if (caught_up) break;
  }
  result.digest = ens.digest();
  std::uint64_t diverged = 0;
  for (int s = 0; s < ens.server_count(); ++s) {
    if (ens.applied(s) != ens.log_size() || ens.replica(s).digest() != result.digest) {
      ++diverged;
      result.explanations.push_back(
          "replica divergence: server " + std::to_string(s) + " applied " +
          std::to_string(ens.applied(s)) + " of " + std::to_string(ens.log_size()) +
          " log entries after the faults stopped, digest differs from the leader's");
    }
  }
  return diverged;
}

}  // namespace dstm::sim::workloads
