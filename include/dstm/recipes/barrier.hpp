#pragma once
/// \file
/// Barriers (kazoo's Barrier and DoubleBarrier, Curator's DistributedBarrier and
/// DistributedDoubleBarrier).
///
/// \code
/// dstm::recipes::double_barrier round{zk, "/barriers/epoch", 3};
/// round.enter();     // returns once 3 participants are in
/// compute();
/// round.leave();     // returns once all 3 have left
/// \endcode

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"

namespace dstm::recipes {

/// A barrier that is up while its node exists: `raise` creates it, `lower` removes it, and
/// `wait` blocks while it is up.
template <coordinator C>
class barrier {
 public:
  using coordinator_type = C;

  barrier(std::shared_ptr<C> c, std::string path)
      : c_(std::move(c)), path_(std::move(path)), link_(c_) {}

  /// Raises the barrier (a persistent node; already up is fine).
  void raise() {
    auto& c = *c_;
    std::error_code ec;
    detail::ensure_path(c, parent_path(path_), forever, ec);
    if (!ec) {
      detail::retrying(c, forever, ec, [&](std::error_code& e) {
        c.create(path_, {}, create_mode::persistent, open_acl_unsafe(), nullptr, e);
        if (e == coordinator_errc::node_exists) e.clear();
        return 0;
      });
    }
    if (ec) detail::throw_failure(ec, "dstm: raise barrier " + path_);
  }

  /// Lowers it: true when this call removed the node, false when it was not up.
  bool lower() {
    auto& c = *c_;
    detail::backoff<C> b(c);
    bool retried = false;
    for (;;) {
      std::error_code ec;
      c.remove(path_, any_version, ec);
      if (!ec) return true;
      // After a lost reply, no_node may be our own removal: it is down either way.
      if (ec == coordinator_errc::no_node) return retried;
      if (!detail::transient(ec)) detail::throw_failure(ec, "dstm: lower barrier " + path_);
      retried = true;
      b.pause(forever);
    }
  }

  /// Blocks while the barrier is up; true once it is down, false on timeout or `stop`.
  bool wait(std::int64_t timeout_ns = -1, std::stop_token stop = {}) {
    auto& c = *c_;
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    for (;;) {
      typename detail::session_link<C>::slot slot(link_, stop);
      std::error_code ec;
      auto st = detail::retrying(
          c, deadline, ec, [&](std::error_code& e) { return c.exists(path_, slot.watch(), e); });
      if (ec) {
        if (detail::transient(ec) && !detail::session_gone(c.state())) return false;
        detail::throw_failure(ec, "dstm: barrier " + path_);
      }
      if (!st) return true;
      if (stop.stop_requested()) return false;
      if (!slot.wait(deadline) && c.now() >= deadline) return false;
      if (detail::session_gone(c.state())) detail::throw_session_expired("dstm: barrier " + path_);
    }
  }

  const std::string& path() const noexcept { return path_; }

 private:
  std::shared_ptr<C> c_;
  std::string path_;
  detail::session_link<C> link_;
};

template <class C>
barrier(std::shared_ptr<C>, std::string) -> barrier<C>;

/// A double barrier for `count` participants: `enter` returns once `count` have entered,
/// `leave` once every one of them has left. Reusable round after round on the same path.
///
/// **Protocol.** Each participant creates an ephemeral-sequential child "member-…". The one
/// that sees `count` members creates `ready` holding the highest member sequence it counted:
/// the members of this round are those up to it, and `enter` returns for them (and only for
/// them: a participant that comes later waits for the next round). Leaving removes one's own
/// member node; the participant that finds no member of the round left removes `ready`, which
/// releases every `leave`. A member whose session ends counts as left. `enter` never returns
/// before `count` participants were in at once.
///
/// Member nodes are protected like lock nodes (see `mutex`): a lost create reply is found again
/// by the node's unique name, a timeout or exception in `enter` removes the node, and removals
/// are retried through connection loss.
template <coordinator C>
class double_barrier {
 public:
  using coordinator_type = C;

  double_barrier(std::shared_ptr<C> c, std::string path, int count, std::string identifier = {})
      : c_(std::move(c)),
        path_(std::move(path)),
        ready_(path_ + "/ready"),
        count_(count),
        identifier_(std::move(identifier)),
        instance_(detail::next_instance()),
        link_(c_) {
    if (count_ < 1) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: a double barrier needs at least one participant");
    }
  }

  /// Enters; blocks until `count` participants are in. False on timeout or `stop` (nothing is
  /// left behind). Throws `errc::session_expired`, `coordinator_error`, or
  /// `errc::invalid_argument` when already participating.
  bool enter(std::int64_t timeout_ns = -1, std::stop_token stop = {}) {
    if (!node_.empty()) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: already in the double barrier " + path_);
    }
    auto& c = *c_;
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    pending_.flush(c, detail::deadline_after(c.now(), 0));
    std::error_code ec;
    detail::ensure_path(c, path_, deadline, ec);
    if (ec) {
      if (detail::transient(ec) && !detail::session_gone(c.state())) return false;
      detail::throw_failure(ec, "dstm: double barrier " + path_);
    }
    prefix_ = detail::owned_prefix("member-", c.session_id(), instance_, ++numbers_);
    bool uncertain = false;
    try {
      auto node =
          detail::protected_create(c, path_, prefix_, identifier_,
                                   create_mode::ephemeral_sequential, deadline, &uncertain, ec);
      if (!node) {
        give_up(uncertain);
        return false;
      }
      node_ = node->path;
      const auto mine = detail::sequence_of(node_);
      for (;;) {
        detail::require_current_owner(c, node->stat.ephemeral_owner, node_);
        typename detail::session_link<C>::slot slot(link_, stop);
        auto r = read_ready(slot, deadline, ec);
        if (ec) break;
        if (r) {
          if (mine <= r->last) {
            ready_czxid_ = r->czxid;
            uncertain_ = uncertain;
            return true;
          }
          // A previous round is still leaving: wait for its `ready` to go.
        } else {
          auto kids = detail::retrying(
              c, deadline, ec, [&](std::error_code& e) { return c.children(path_, {}, e); });
          if (ec) break;
          std::int64_t last = -1;
          int members = 0;
          for (const auto& k : detail::by_sequence(kids.names)) {
            if (k.name.starts_with("member-")) {
              ++members;
              last = k.seq;
            }
          }
          if (members >= count_) {
            detail::retrying(c, deadline, ec, [&](std::error_code& e) {
              c.create(ready_, std::to_string(last), create_mode::persistent, open_acl_unsafe(),
                       nullptr, e);
              if (e == coordinator_errc::node_exists) e.clear();
              return 0;
            });
            if (ec) break;
            continue;
          }
        }
        if (stop.stop_requested()) break;
        if (!slot.wait(deadline) && c.now() >= deadline) break;
        if (detail::session_gone(c.state())) {
          detail::throw_session_expired("dstm: double barrier " + path_);
        }
      }
      if (ec && !(detail::transient(ec) && !detail::session_gone(c.state()))) {
        detail::throw_failure(ec, "dstm: double barrier " + path_);
      }
      give_up(uncertain);
      return false;
    } catch (...) {
      give_up(uncertain);
      throw;
    }
  }

  /// Leaves; blocks until every participant of the round has left. False on timeout or `stop`
  /// (this participant has left anyway). Throws `errc::invalid_argument` when not in.
  bool leave(std::int64_t timeout_ns = -1, std::stop_token stop = {}) {
    if (node_.empty()) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: not in the double barrier " + path_);
    }
    auto& c = *c_;
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    const auto czxid = ready_czxid_;
    give_up(uncertain_);
    for (;;) {
      if (detail::session_gone(c.state())) {
        detail::throw_session_expired("dstm: double barrier " + path_);
      }
      typename detail::session_link<C>::slot slot(link_, stop);
      std::error_code ec;
      auto r = read_ready(slot, deadline, ec);
      if (ec) {
        if (detail::transient(ec)) return false;
        detail::throw_failure(ec, "dstm: double barrier " + path_);
      }
      if (!r || r->czxid != czxid) return true;  // our round's `ready` is gone: all left
      auto kids = detail::retrying(
          c, deadline, ec, [&](std::error_code& e) { return c.children(path_, slot.watch(), e); });
      if (ec) {
        if (detail::transient(ec)) return false;
        detail::throw_failure(ec, "dstm: double barrier " + path_);
      }
      bool left = true;
      for (const auto& k : detail::by_sequence(kids.names)) {
        if (k.name.starts_with("member-") && k.seq <= r->last) left = false;
      }
      if (left) {
        // Only our round's `ready`: a later round may have made a new one meanwhile.
        std::error_code rec;
        c.remove(ready_, r->version, rec);
        if (!rec || rec == coordinator_errc::no_node || rec == coordinator_errc::bad_version) {
          continue;  // look again: gone, or not ours
        }
        if (!detail::transient(rec)) detail::throw_failure(rec, "dstm: remove " + ready_);
        continue;
      }
      if (stop.stop_requested()) return false;
      if (!slot.wait(deadline) && c.now() >= deadline) return false;
    }
  }

  /// Entered and not yet left (and the session has not ended).
  bool participating() const { return !node_.empty() && !detail::session_gone(c_->state()); }
  const std::string& path() const noexcept { return path_; }

 private:
  struct ready_info {
    std::int64_t last = -1;  ///< the highest member sequence of its round
    std::int64_t czxid = 0;  ///< identifies the round
    std::int32_t version = 0;
  };

  /// Reads `ready` with a watch (a creation watch when it does not exist).
  std::optional<ready_info> read_ready(typename detail::session_link<C>::slot& slot,
                                       std::int64_t deadline, std::error_code& ec) {
    auto& c = *c_;
    for (;;) {
      auto n = detail::retrying(c, deadline, ec,
                                [&](std::error_code& e) { return c.get(ready_, slot.watch(), e); });
      if (!ec) {
        ready_info r;
        const auto* b = n.data.data();
        std::from_chars(b, b + n.data.size(), r.last);
        r.czxid = n.stat.czxid;
        r.version = n.stat.version;
        return r;
      }
      if (ec != coordinator_errc::no_node) return std::nullopt;
      auto st = detail::retrying(
          c, deadline, ec, [&](std::error_code& e) { return c.exists(ready_, slot.watch(), e); });
      if (ec) return std::nullopt;
      if (!st) return std::nullopt;
      // Created between the two reads: read it again.
    }
  }

  /// Removes our member node (retried; in the background when it takes too long).
  void give_up(bool uncertain) {
    auto& c = *c_;
    const std::string node = std::exchange(node_, std::string{});
    if (detail::session_gone(c.state())) return;
    const auto deadline = detail::deadline_after(c.now(), 10'000'000'000);
    try {
      const bool done = uncertain || node.empty()
                            ? detail::remove_prefixed(c, path_, prefix_, deadline)
                            : detail::remove_node(c, node, deadline);
      if (!done) pending_.add(path_, prefix_);
    } catch (...) {
      pending_.add(path_, prefix_);
    }
  }

  std::shared_ptr<C> c_;
  std::string path_, ready_;
  int count_;
  std::string identifier_;
  std::uint64_t instance_;
  std::uint64_t numbers_ = 0;
  std::string node_, prefix_;
  bool uncertain_ = false;
  std::int64_t ready_czxid_ = 0;
  detail::pending_removals pending_;
  detail::session_link<C> link_;
};

template <class C>
double_barrier(std::shared_ptr<C>, std::string, int, std::string = {}) -> double_barrier<C>;

}  // namespace dstm::recipes
