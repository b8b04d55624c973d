#pragma once
/// \file
/// CRDTs in refs: coordination-free updates of a `dstm::ref` holding an `lww_element_set`.
///
/// - `merge(tx, ref, delta)` joins a delta (changes a replica made, stamped when it made them:
///   e.g. an offline client's buffered changes) into the ref through `tx.commute`. A merge
///   never conflicts in the CRDT sense, so a concurrent writer's commit only makes the engine
///   re-read the ref and re-apply the merge at commit time: the body never runs again, and
///   a merge that is retried after a failure (even one whose outcome was unknown) is harmless,
///   because merging is idempotent.
/// - `apply_at_commit(tx, ref, clock, changes)` / `apply(client, ref, clock, changes)` insert
///   and erase elements stamped *at commit time*, after the clock observed the latest stamp of
///   the value the commit applies to. Every stamp then exceeds every stamp already in the ref,
///   so stamps grow in the order commits apply: a reader that saw the ref with latest stamp `t`
///   catches up exactly with `updates_since(t)` of any later value (the `lww_node` service's
///   "updates since" endpoint relies on it). Merged deltas keep their own, older stamps and so
///   give no such guarantee.
/// - `client_time` is a physical source for `basic_hlc` that reads the coordinator's clock:
///   virtual, and skewed per client, in the simulation.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "dstm/client.hpp"
#include "dstm/crdt/clock.hpp"
#include "dstm/crdt/lww_element_set.hpp"
#include "dstm/ref.hpp"
#include "dstm/txn.hpp"

namespace dstm::crdt {

/// The clock of a dstm client's coordinator (`client::now()`, nanoseconds) as the physical
/// source of a `basic_hlc`: deterministic in the simulation, where each session's clock is
/// skewed and drifts as the fault configuration says.
class client_time {
 public:
  explicit client_time(std::shared_ptr<client> c) : client_(std::move(c)) {}
  std::int64_t operator()() const { return client_->now(); }

 private:
  std::shared_ptr<client> client_;
};

/// Joins `delta` into the set `r` holds, through `tx.commute`; returns the in-transaction value.
/// Conflicts with concurrent writers re-apply the merge at commit time to the then-latest value
/// without running the body again.
template <class T, class B, class C, class... P>
const lww_element_set<T, B, C>& merge(txn& tx, const ref<lww_element_set<T, B, C>, P...>& r,
                                      lww_element_set<T, B, C> delta) {
  return tx.commute(
      r,
      [](const lww_element_set<T, B, C>& current, const lww_element_set<T, B, C>& d) {
        return merge(current, d);
      },
      std::move(delta));
}

/// Elements to insert and to erase in one update. An element in both gets the same stamp for
/// both, so the set's bias decides.
template <class T>
struct changes {
  std::vector<T> inserts;
  std::vector<T> erases;
};

/// The timestamp an `apply_at_commit` update received, known once its transaction committed.
template <class TS>
class commit_stamp {
 public:
  commit_stamp() : slot_(std::make_shared<std::optional<TS>>()) {}
  /// The stamp of the committed update. Throws std::logic_error before the commit.
  TS get() const {
    if (!*slot_) throw std::logic_error("dstm::crdt::commit_stamp: the update did not commit");
    return **slot_;
  }
  /// Set by each application of the update; the last one before the commit is the committed
  /// one (the engine re-applies commutes until a commit succeeds).
  void set(const TS& t) const { *slot_ = t; }

 private:
  std::shared_ptr<std::optional<TS>> slot_;
};

/// Inserts and erases `ch` in the set `r` holds, stamped by `clock` at commit time (through
/// `tx.commute`, so conflicts never re-run the body): each application first lets `clock`
/// observe the latest stamp of the value it applies to, so the committed stamp exceeds every
/// stamp committed before it. `clock` must outlive the transaction. Returns the stamp's
/// ticket, valid once `dosync` returned. Throws what `clock.observe` throws (`clock_error`
/// for a stamp beyond the clock's max offset): the transaction then writes nothing.
template <class T, class B, class C, class... P, clock_of<typename C::timestamp_type> K>
commit_stamp<typename C::timestamp_type> apply_at_commit(
    txn& tx, const ref<lww_element_set<T, B, C>, P...>& r, K& clock, changes<T> ch) {
  using set_type = lww_element_set<T, B, C>;
  commit_stamp<typename C::timestamp_type> ticket;
  tx.commute(
      r,
      [k = &clock, ticket](const set_type& current, const changes<T>& c) {
        if (auto l = current.latest()) k->observe(*l);
        const auto t = k->now();
        set_type next = current;
        for (const auto& x : c.inserts) next.insert(x, t);
        for (const auto& x : c.erases) next.erase(x, t);
        ticket.set(t);
        return next;
      },
      std::move(ch));
  return ticket;
}

/// `apply_at_commit` in its own transaction on client `c`; returns the committed stamp.
/// Throws what `dosync` throws.
template <class T, class B, class C, class... P, clock_of<typename C::timestamp_type> K>
typename C::timestamp_type apply(const std::shared_ptr<client>& c,
                                 const ref<lww_element_set<T, B, C>, P...>& r, K& clock,
                                 changes<T> ch, txn_options options = {}) {
  commit_stamp<typename C::timestamp_type> ticket;
  dosync(
      c, [&](txn& tx) { ticket = apply_at_commit(tx, r, clock, ch); }, options);
  return ticket.get();
}

}  // namespace dstm::crdt
