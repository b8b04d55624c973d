#pragma once
/// \file
/// The contention policy that guarantees progress: escalation through a gate.
///
/// Optimistic commits alone can starve a transaction: a long body that reads a hot ref loses
/// every race to short ones. So a transaction that conflicted `client_options::escalate_after`
/// times stops racing and queues (as Curator's DistributedAtomicLong promotes a failing
/// optimistic update to a lock):
///
///  1. It joins a fair queue: an ephemeral-sequential node under `<root>/escalation`, waiting
///     only on its predecessor (no herd).
///  2. First in line, it closes the gate: `<root>/gate` is a znode whose data is empty while
///     the gate is open and names the holder's queue node while it is closed. Every write
///     commit's `multi` checks the gate's version (read from the watch-invalidated cache: no
///     extra round trip), so closing it fails every commit prepared before, and committers
///     that see it closed wait instead of committing.
///  3. Nobody else can commit now, so the holder's next run commits; its `multi` reopens the
///     gate (a versioned set) atomically with its writes. Then it leaves the queue.
///
/// A holder that dies leaves its gate closed only until a waiter notices that the holder's
/// ephemeral queue node is gone; the waiter reopens the gate with a versioned set. A holder
/// whose gate was reopened that way (its session expired) queues again.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include "dstm/client.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"

namespace dstm::detail {

/// Waits after a commit found the gate closed: a backoff, and every few waits a check that the
/// holder still lives (its queue node exists); a dead holder's gate is reopened.
inline void wait_for_gate(client& c, int waits) {
  auto s = c.session();
  s->sleep_for(c.backoff_ns(std::min(waits, 6)));
  if (waits % 4 != 0) return;
  auto gate = c.fetch(c.gate_path());
  const std::string holder = gate->data();
  if (holder.empty()) return;
  std::error_code ec;
  ++c.counters().round_trips;
  auto alive = s->exists(holder, {}, ec);
  if (ec || alive) return;
  ++c.counters().round_trips;
  s->set(c.gate_path(), "", gate->stat().version, ec);  // a lost race is fine: it moved on
}

/// One escalated transaction's place in the queue and hold on the gate (see the file comment).
/// Constructed when `dosync` escalates; the destructor gives everything back.
class escalation {
 public:
  explicit escalation(client& c) : c_(c) {
    try {
      acquire();
    } catch (...) {
      release();  // no destructor runs for a constructor that throws
      throw;
    }
  }
  ~escalation() { release(); }
  escalation(const escalation&) = delete;
  escalation& operator=(const escalation&) = delete;

  /// The gate's version while this transaction holds it closed: its commit reopens it with it.
  std::int32_t gate_version() const noexcept { return gate_version_; }

  /// Before each run: re-queues if the gate was taken away (the holder's session ended and a
  /// waiter reopened it).
  void hold() {
    auto gate = c_.read(c_.gate_path());
    if (gate->data() == node_ && gate->stat().version == gate_version_) return;
    release();
    acquire();
  }

 private:
  void acquire() {
    ++c_.counters().escalations;
    const std::string dir = c_.escalation_dir();
    // A prefix unique to this attempt finds our node again after a lost create reply.
    prefix_ = c_.record_name() + "-" + std::to_string(c_.next_sequence()) + "-";
    c_.escalation_started(prefix_);
    const std::string& prefix = prefix_;
    bool maybe_created = false;  // a create whose reply was lost: look before creating again
    for (int attempt = 1;; ++attempt) {
      if (attempt > c_.options().outcome_attempts) {
        throw error(make_error_code(errc::timeout), "escalation: could not join the queue");
      }
      auto s = c_.session();
      std::error_code ec;
      if (node_.empty() && !maybe_created) {
        ++c_.counters().round_trips;
        node_ = s->create(dir + "/" + prefix, "", create_mode::ephemeral_sequential,
                          open_acl_unsafe(), nullptr, ec);
        if (ec == coordinator_errc::no_node) {
          c_.ensure_path(dir);
          node_.clear();
          continue;
        }
        if (ec) node_.clear();
        maybe_created = outcome_unknown(ec);
        if (ec && !c_.session_lost(s, ec) && !outcome_unknown(ec)) {
          throw coordinator_error(ec, "escalation: join the queue");
        }
      }
      ++c_.counters().round_trips;
      auto queue = s->children(dir, {}, ec);
      if (ec == coordinator_errc::no_node) {
        c_.ensure_path(dir);  // no queue yet, so no node of ours either
        maybe_created = false;
        node_.clear();
        continue;
      }
      if (ec) {
        if (!c_.session_lost(s, ec)) s->sleep_for(c_.backoff_ns(std::min(attempt, 6)));
        continue;
      }
      std::sort(queue.names.begin(), queue.names.end(),
                [](const auto& a, const auto& b) { return sequence_of(a) < sequence_of(b); });
      auto mine = std::find_if(queue.names.begin(), queue.names.end(),
                               [&](const std::string& n) { return n.starts_with(prefix); });
      maybe_created = false;  // the listing answers it
      if (mine == queue.names.end()) {
        node_.clear();  // never created, or gone with an expired session: join again
        continue;
      }
      node_ = dir + "/" + *mine;
      if (mine != queue.names.begin()) {
        // Wait for the predecessor only: when it leaves, look again.
        const std::string before = dir + "/" + *std::prev(mine);
        ++c_.counters().round_trips;
        const auto st = s->exists(before, {}, ec);
        if (!ec && st && orphan(*std::prev(mine))) {
          // A node of this client that no escalation of it holds: a second node of this very
          // attempt (a create whose reply was lost, then made again), or one left by an
          // abandoned session. It would block us, and every later waiter, while it lives.
          ++c_.counters().round_trips;
          s->remove(before, any_version, ec);
          attempt = 0;
          continue;
        }
        if (st || ec) s->sleep_for(c_.backoff_ns(std::min(attempt, 6)));
        attempt = 0;  // waiting in line is not a failure
        continue;
      }
      if (close_gate()) return;
    }
  }

  /// First in line: closes the gate (versioned, so a concurrent reopen is not overwritten).
  bool close_gate() {
    for (int attempt = 1; attempt <= c_.options().outcome_attempts; ++attempt) {
      auto gate = c_.fetch(c_.gate_path());
      auto s = c_.session();
      std::error_code ec;
      ++c_.counters().round_trips;
      auto st = s->set(c_.gate_path(), node_, gate->stat().version, ec);
      if (!ec) {
        gate_version_ = st.version;
        return true;
      }
      if (outcome_unknown(ec)) continue;  // re-read: the data says whether it took
      if (ec == coordinator_errc::bad_version) continue;
      if (c_.session_lost(s, ec)) return false;  // our queue node is gone: queue again
      throw coordinator_error(ec, "escalation: close the gate");
    }
    return false;
  }

  /// Reopens the gate if the commit did not, and leaves the queue. Best effort: a failure
  /// here is repaired by waiters (a closed gate with a vanished holder is reopened).
  void release() noexcept {
    if (prefix_.empty()) return;
    try {
      auto s = c_.session();
      std::error_code ec;
      if (!node_.empty()) {
        auto gate = c_.fetch(c_.gate_path());
        if (gate->data() == node_) {
          ++c_.counters().round_trips;
          s->set(c_.gate_path(), "", gate->stat().version, ec);
        }
      }
      // Every node of this attempt, also one a lost create reply hid from us: left behind, it
      // would block every later waiter while our session lives.
      ++c_.counters().round_trips;
      auto queue = s->children(c_.escalation_dir(), {}, ec);
      for (const auto& name : queue.names) {
        if (!name.starts_with(prefix_)) continue;
        ++c_.counters().round_trips;
        s->remove(c_.escalation_dir() + "/" + name, any_version, ec);
      }
    } catch (...) {
    }
    c_.escalation_ended(prefix_);
    node_.clear();
    prefix_.clear();
  }

  /// True for a queue node named by this client but held by none of its escalations.
  bool orphan(const std::string& name) const {
    const std::string mine = c_.record_name() + "-";
    if (!name.starts_with(mine)) return false;
    if (name.starts_with(prefix_)) return true;  // ours is `mine` (the latest); this is a twin
    const auto end = name.find('-', mine.size());
    return end != std::string::npos && !c_.escalation_active(name.substr(0, end + 1));
  }

  static std::uint64_t sequence_of(std::string_view name) noexcept {
    return client::parse_sequence(name.substr(name.size() >= 10 ? name.size() - 10 : 0));
  }

  client& c_;
  std::string prefix_;  ///< names this attempt's queue node: `<client>-<number>-`
  std::string node_;
  std::int32_t gate_version_ = -1;
};

}  // namespace dstm::detail
