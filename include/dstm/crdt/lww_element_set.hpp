#pragma once
/// \file
/// `dstm::crdt::lww_element_set<T, Bias, Clock>`: a last-writer-wins element set, a
/// state-based CRDT (Shapiro et al., "A comprehensive study of CRDTs", 2011, §3.3.3).
///
/// **What it is.** A value type holding an add set and a remove set of (element, timestamp).
/// An element is a member when it was added later than it was removed; when the add and the
/// remove carry the same timestamp the `Bias` decides (`add_wins` or `remove_wins`). Replicas
/// change independently and converge by `merge`, the union of both sets — no coordination.
/// Only the latest timestamp per element and set is kept (an older one can never decide
/// anything), so the state is two maps `element -> timestamp`; removed elements stay as
/// tombstones.
///
/// **Laws** (tests/crdt/laws_test.cpp checks them with RapidCheck): `merge` is commutative,
/// associative and idempotent, so replicas that received the same updates — in any order and
/// grouping, any number of times — hold equal states and the same members; and delta sync:
/// for a receiver that holds every entry of `s` stamped at or before `t`,
/// `r.merge(s.updates_since(t)) == r.merge(s)`.
///
/// **Timestamps** come from a `Clock` (<dstm/crdt/clock.hpp>): a hybrid logical clock by
/// default. Observe the `latest()` stamp of what you merge or read (`clock.observe`) before
/// writing, and a later write is stamped later, also when the wall clocks disagree.
///
/// **In a ref.** Both dstm serializers support the set (an adapter below), so
/// `dstm::ref<lww_element_set<std::string>>` just works; merge deltas into it with
/// `dstm::crdt::merge(tx, ref, delta)` (<dstm/crdt/commute.hpp>), which goes through
/// `tx.commute`: concurrent writers never re-run their bodies.
///
/// **Example.** examples/lww_node; docs/crdt.md.

#include <algorithm>
#include <boost/hana/define_struct.hpp>
#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dstm/crdt/clock.hpp"
#include "dstm/error.hpp"
#include "dstm/serial/detail/shape.hpp"

namespace dstm::crdt {

/// Bias: an add and a remove with the same timestamp leave the element in the set.
struct add_wins {
  static constexpr bool adds_win_ties = true;
  static constexpr std::string_view name = "add_wins";
};
/// Bias: an add and a remove with the same timestamp take the element out of the set.
struct remove_wins {
  static constexpr bool adds_win_ties = false;
  static constexpr std::string_view name = "remove_wins";
};

/// A tie-break policy of `lww_element_set`: `adds_win_ties` (bool) and a `name` (stored in the
/// serialized form, so a set is never decoded as one with the other bias).
template <class B>
concept bias = requires {
                 { B::adds_win_ties } -> std::convertible_to<bool>;
                 { B::name } -> std::convertible_to<std::string_view>;
               };

namespace detail {

/// The serialized form: the bias's name and both maps (JSON: `{"adds": ..., "bias":
/// "add_wins", "removes": ...}`, an object keyed by element when elements are strings).
template <class T, class TS>
struct lww_wire {
  using entries = std::map<T, TS>;
  BOOST_HANA_DEFINE_STRUCT(lww_wire, (std::string, bias), (entries, adds), (entries, removes));
};

}  // namespace detail

template <class T, class Bias = add_wins, class Clock = hlc>
class lww_element_set {
  static_assert(std::totally_ordered<T> && std::copy_constructible<T>,
                "dstm::crdt::lww_element_set<T>: T must be copyable and totally ordered (it keys "
                "a std::map); give it operator<=> or use a std::string key");
  static_assert(bias<Bias>,
                "dstm::crdt::lww_element_set: Bias must be dstm::crdt::add_wins, "
                "dstm::crdt::remove_wins, or a type with static members adds_win_ties and name");
  static_assert(clock<Clock>,
                "dstm::crdt::lww_element_set: Clock must model dstm::crdt::clock (a "
                "timestamp_type, now() and observe(t)); see include/dstm/crdt/clock.hpp");

 public:
  using value_type = T;
  using bias_type = Bias;
  using clock_type = Clock;
  using timestamp_type = typename Clock::timestamp_type;
  /// Element -> the latest timestamp it was added (or removed) at.
  using entry_map = std::map<T, timestamp_type>;

  lww_element_set() = default;
  /// A set with exactly these entries (e.g. read back from elsewhere).
  lww_element_set(entry_map adds, entry_map removes)
      : adds_(std::move(adds)), removes_(std::move(removes)) {}

  /// Records that `x` was added at `t`. Returns true when that changed the state (`t` is later
  /// than the add already recorded for `x`).
  bool insert(const T& x, const timestamp_type& t) { return record(adds_, x, t); }
  /// Adds `x` now, stamped by `clock` (any clock issuing `timestamp_type`). Returns the stamp.
  template <clock_of<timestamp_type> C>
  timestamp_type insert(const T& x, C& clock) {
    const auto t = clock.now();
    insert(x, t);
    return t;
  }

  /// Records that `x` was removed at `t` (also when `x` was never added here: the remove then
  /// wins over an earlier add that arrives later). Returns true when that changed the state.
  bool erase(const T& x, const timestamp_type& t) { return record(removes_, x, t); }
  /// Removes `x` now, stamped by `clock`. Returns the stamp.
  template <clock_of<timestamp_type> C>
  timestamp_type erase(const T& x, C& clock) {
    const auto t = clock.now();
    erase(x, t);
    return t;
  }

  /// Whether `x` is a member: added, and not removed later (ties: `Bias`).
  bool contains(const T& x) const {
    const auto a = adds_.find(x);
    return a != adds_.end() && wins(a->second, removes_.find(x));
  }

  /// The members, in ascending order.
  std::vector<T> members() const {
    std::vector<T> out;
    for (auto a = adds_.begin(); a != adds_.end(); ++a) {
      if (wins(a->second, removes_.find(a->first))) out.push_back(a->first);
    }
    return out;
  }

  /// How many members there are (linear time).
  std::size_t size() const {
    std::size_t n = 0;
    for (auto a = adds_.begin(); a != adds_.end(); ++a)
      n += wins(a->second, removes_.find(a->first));
    return n;
  }

  /// Joins `other` into this set: per element and per set, the later timestamp. Commutative,
  /// associative and idempotent. Returns `*this`.
  lww_element_set& merge(const lww_element_set& other) {
    join(adds_, other.adds_);
    join(removes_, other.removes_);
    return *this;
  }
  /// The join of `a` and `b`.
  friend lww_element_set merge(lww_element_set a, const lww_element_set& b) {
    a.merge(b);
    return a;
  }

  /// The delta since `t`: the entries of both sets stamped later than `t`. A replica that
  /// already holds everything stamped up to `t` (e.g. it merged this set's state when
  /// `latest()` was `t`) catches up exactly by merging it.
  lww_element_set updates_since(const timestamp_type& t) const {
    lww_element_set d;
    for (const auto& [x, s] : adds_)
      if (s > t) d.adds_.emplace_hint(d.adds_.end(), x, s);
    for (const auto& [x, s] : removes_)
      if (s > t) d.removes_.emplace_hint(d.removes_.end(), x, s);
    return d;
  }

  /// The latest timestamp in either set (nullopt when both are empty): what a clock should
  /// `observe` after reading this state, and the `t` of a later `updates_since(t)`.
  std::optional<timestamp_type> latest() const {
    std::optional<timestamp_type> m;
    for (const auto* entries : {&adds_, &removes_}) {
      for (const auto& [x, s] : *entries)
        if (!m || *m < s) m = s;
    }
    return m;
  }

  /// When `x` was last added / removed, if ever.
  std::optional<timestamp_type> added_at(const T& x) const { return at(adds_, x); }
  std::optional<timestamp_type> removed_at(const T& x) const { return at(removes_, x); }

  const entry_map& adds() const noexcept { return adds_; }
  const entry_map& removes() const noexcept { return removes_; }
  /// No entries at all (no members and no tombstones).
  bool empty() const noexcept { return adds_.empty() && removes_.empty(); }

  /// Equal states (hence equal members; equal members do not imply equal states).
  friend bool operator==(const lww_element_set&, const lww_element_set&) = default;

 private:
  bool wins(const timestamp_type& added, typename entry_map::const_iterator removed) const {
    if (removed == removes_.end()) return true;
    if constexpr (Bias::adds_win_ties) {
      return !(added < removed->second);
    } else {
      return removed->second < added;
    }
  }

  static bool record(entry_map& m, const T& x, const timestamp_type& t) {
    auto [it, fresh] = m.try_emplace(x, t);
    if (fresh) return true;
    if (!(it->second < t)) return false;
    it->second = t;
    return true;
  }

  static void join(entry_map& into, const entry_map& from) {
    for (const auto& [x, t] : from) {
      auto hint = into.lower_bound(x);
      if (hint != into.end() && !(x < hint->first)) {
        if (hint->second < t) hint->second = t;
      } else {
        into.emplace_hint(hint, x, t);
      }
    }
  }

  static std::optional<timestamp_type> at(const entry_map& m, const T& x) {
    const auto it = m.find(x);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }

  entry_map adds_;
  entry_map removes_;
};

}  // namespace dstm::crdt

namespace dstm::serial {

/// Both dstm serializers write an `lww_element_set` as its bias's name and its two maps, and
/// refuse (serialization_error) bytes written for the other bias.
template <class T, class Bias, class Clock>
struct adapter<crdt::lww_element_set<T, Bias, Clock>> {
  using set_type = crdt::lww_element_set<T, Bias, Clock>;
  using representation = crdt::detail::lww_wire<T, typename set_type::timestamp_type>;

  static representation to(const set_type& s) {
    representation r;
    r.bias = std::string(Bias::name);
    r.adds = s.adds();
    r.removes = s.removes();
    return r;
  }
  static set_type from(representation&& r) {
    if (r.bias != Bias::name) {
      throw serialization_error("an lww_element_set with bias '" + r.bias +
                                "' cannot be read as one with bias '" + std::string(Bias::name) +
                                "'");
    }
    return set_type(std::move(r.adds), std::move(r.removes));
  }
};

}  // namespace dstm::serial
