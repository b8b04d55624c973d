#pragma once
/// \file
/// A linearizability checker for histories of operations on registers, counters, sets and
/// mutexes: Wing & Gong's search with Lowe's memoisation, run separately on each key
/// (P-compositionality: a history is linearizable iff every key's subhistory is).
///
/// Operations with an unknown outcome (`info`, or never completed) may take effect at any
/// point after their invoke, or never. A `fail` means no effect; a model may still learn from
/// it (a failed cas says the register did not hold the expected value at some point during
/// the operation). The search can be bounded: it polls a caller-supplied `out_of_time`
/// predicate and answers `unknown` when it says so — the checker itself reads no clock.
///
/// Example: `examples/` and docs/linearizability.md; the CLI is `dstm-check linearizable`.

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dstm/check/detail/linearizability_search.hpp"
#include "dstm/check/detail/value_interner.hpp"
#include "dstm/check/history.hpp"

namespace dstm::check {

/// A checker's answer.
enum class verdict {
  valid,    ///< linearizable
  invalid,  ///< no linearization exists
  unknown,  ///< the time budget ran out first
};

constexpr std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::valid: return "valid";
    case verdict::invalid: return "invalid";
    case verdict::unknown: return "unknown";
  }
  return "?";
}

/// One operation as a model sees it: its invoke and, if it completed, its completion.
struct operation_view {
  const event* invoke = nullptr;
  const event* completion = nullptr;  ///< nullptr: never completed (outcome unknown)

  std::int64_t process() const noexcept { return invoke->process; }
  const std::string& f() const noexcept { return invoke->f; }
  /// ok, fail, or info (also for an operation that never completed).
  event_type outcome() const noexcept {
    return completion != nullptr ? completion->type : event_type::info;
  }
  /// The invoke's value: the operation's argument.
  const nlohmann::json& input() const noexcept { return invoke->value; }
  /// The completion's value (a read's result); null when the operation never completed.
  const nlohmann::json& output() const noexcept {
    static const nlohmann::json none;
    return completion != nullptr ? completion->value : none;
  }
};

/// Thrown by a model's `prepare` for an operation it cannot interpret (an unknown `f`, a value
/// of the wrong shape). The checker turns it into a `history_error` naming the invoke's line.
class operation_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A sequential specification the checker can search with.
///
/// Requirements, for a model `M` with an object `m`:
/// 1. `M::state` — the object's state; equality-comparable and copyable. Keep it small: every
///    explored configuration stores one.
/// 2. `M::op` — an operation compiled for `step`.
/// 3. `m.name()` — the model's name, for messages.
/// 4. `m.initial()` — the state before any operation.
/// 5. `m.prepare(view)` — compiles one operation, called once per operation of a key, in
///    invoke order, on a fresh copy of the prototype model per key (so a model may intern
///    values). Returns `std::nullopt` for an operation that constrains nothing (a failed
///    write, a read whose result is unknown). Throws `operation_error` for operations it does
///    not know.
/// 6. `m.step(state, op)` — the state after `op`, or `std::nullopt` when `op` cannot take
///    effect in `state` with the outcome it had. For an operation with an unknown outcome,
///    answer the state if it can take effect successfully, else `std::nullopt` (it then simply
///    did not take effect). Must be a pure function.
/// 7. `m.hash(state)` — a hash consistent with equality.
/// 8. `m.describe(op)`, `m.describe(state)` — short words for explanations ("cas 1 -> 4",
///    "the register holds 3").
///
/// Models: `cas_register_model`, `counter_model`, `set_model`, `mutex_model`.
template <class M>
concept linearizability_model =
    std::copy_constructible<M> && std::copyable<typename M::state> &&
    std::equality_comparable<typename M::state> && std::copyable<typename M::op> &&
    requires(M& m, const M& cm, const typename M::state& s, const typename M::op& op,
             const operation_view& view) {
      { cm.name() } -> std::convertible_to<std::string_view>;
      { cm.initial() } -> std::same_as<typename M::state>;
      { m.prepare(view) } -> std::same_as<std::optional<typename M::op>>;
      { cm.step(s, op) } -> std::same_as<std::optional<typename M::state>>;
      { cm.hash(s) } -> std::convertible_to<std::size_t>;
      { cm.describe(op) } -> std::convertible_to<std::string>;
      { cm.describe(s) } -> std::convertible_to<std::string>;
    };

namespace detail::lin {

inline std::string show(const nlohmann::json& v) {
  std::string out;
  hist::write_json_value(out, v);
  return out;
}

[[noreturn]] inline void unknown_operation(std::string_view model, const operation_view& v,
                                           std::string_view known) {
  throw operation_error("the " + std::string(model) + " model knows " + std::string(known) +
                        ", not \"" + v.f() + "\" (choose another model)");
}

}  // namespace detail::lin

/// A register with read, write and compare-and-set, the model of Jepsen's and Porcupine's etcd
/// tests. Values are any JSON; `null` is the value of a register never written.
///
/// - `read`: its `ok` value is the value read. A read that failed or whose outcome is unknown
///   constrains nothing and is skipped.
/// - `write` (value v): sets v. A failed write is skipped; an unknown one may take effect.
/// - `cas` (value [from, to]): sets `to` if the register holds `from`. A failed cas is kept as
///   an observation: the register did not hold `from` at its linearization point.
class cas_register_model {
 public:
  using state = std::int32_t;  ///< interned value; 0 is null
  enum class kind : std::uint8_t { read, write, cas, cas_failed };
  struct op {
    kind k = kind::read;
    std::int32_t a = 0;  ///< read: value read; write: value; cas: from
    std::int32_t b = 0;  ///< cas: to
    friend bool operator==(const op&, const op&) = default;
  };

  /// A register that starts at `initial` (null: never written).
  explicit cas_register_model(const nlohmann::json& initial = nullptr)
      : initial_(interner_.id(initial)) {}

  std::string_view name() const noexcept { return "cas-register"; }
  state initial() const noexcept { return initial_; }

  std::optional<op> prepare(const operation_view& v) {
    const std::string& f = v.f();
    const event_type outcome = v.outcome();
    if (f == "read") {
      if (outcome != event_type::ok) return std::nullopt;
      return op{kind::read, interner_.id(v.output()), 0};
    }
    if (f == "write") {
      if (outcome == event_type::fail) return std::nullopt;
      return op{kind::write, interner_.id(v.input()), 0};
    }
    if (f == "cas") {
      const auto& in = v.input();
      if (!in.is_array() || in.size() != 2)
        throw operation_error("cas needs the value [from, to], found " + detail::lin::show(in));
      const std::int32_t from = interner_.id(in[0]), to = interner_.id(in[1]);
      return op{outcome == event_type::fail ? kind::cas_failed : kind::cas, from, to};
    }
    detail::lin::unknown_operation(name(), v, "read, write and cas");
  }

  std::optional<state> step(state s, const op& o) const noexcept {
    switch (o.k) {
      case kind::read: return s == o.a ? std::optional<state>(s) : std::nullopt;
      case kind::write: return o.a;
      case kind::cas: return s == o.a ? std::optional<state>(o.b) : std::nullopt;
      case kind::cas_failed: return s != o.a ? std::optional<state>(s) : std::nullopt;
    }
    return std::nullopt;
  }

  std::size_t hash(state s) const noexcept { return static_cast<std::size_t>(s); }

  std::string describe(const op& o) const {
    switch (o.k) {
      case kind::read: return "read -> " + value(o.a);
      case kind::write: return "write " + value(o.a);
      case kind::cas: return "cas " + value(o.a) + " -> " + value(o.b);
      case kind::cas_failed:
        return "cas " + value(o.a) + " -> " + value(o.b) + " failed (the register was not " +
               value(o.a) + ")";
    }
    return "?";
  }
  std::string describe(state s) const {
    return s == detail::lin::value_interner::null_id ? "the register never written (null)"
                                                : "the register holding " + value(s);
  }

 private:
  std::string value(std::int32_t id) const { return detail::lin::show(interner_.value(id)); }

  detail::lin::value_interner interner_;
  state initial_;
};

/// A counter starting at 0 (or a given value): `add` (value: an integer delta) and `read` (its
/// `ok` value: the integer read). Failed adds and reads without a result are skipped; an add
/// with an unknown outcome may take effect.
class counter_model {
 public:
  using state = std::int64_t;
  struct op {
    bool is_read = false;
    std::int64_t v = 0;  ///< add: delta; read: value read
    friend bool operator==(const op&, const op&) = default;
  };

  explicit counter_model(std::int64_t initial = 0) noexcept : initial_(initial) {}

  std::string_view name() const noexcept { return "counter"; }
  state initial() const noexcept { return initial_; }

  std::optional<op> prepare(const operation_view& v) {
    if (v.f() == "add") {
      if (v.outcome() == event_type::fail) return std::nullopt;
      return op{false, integer(v.input(), "add needs an integer value")};
    }
    if (v.f() == "read") {
      if (v.outcome() != event_type::ok) return std::nullopt;
      return op{true, integer(v.output(), "a counter read must return an integer")};
    }
    detail::lin::unknown_operation(name(), v, "add and read");
  }

  std::optional<state> step(state s, const op& o) const noexcept {
    if (o.is_read) return s == o.v ? std::optional<state>(s) : std::nullopt;
    // Wrapping addition: overflow is the system's bug to show, not undefined behaviour here.
    return static_cast<state>(static_cast<std::uint64_t>(s) + static_cast<std::uint64_t>(o.v));
  }

  std::size_t hash(state s) const noexcept { return static_cast<std::size_t>(s); }
  std::string describe(const op& o) const {
    return (o.is_read ? "read -> " : "add ") + std::to_string(o.v);
  }
  std::string describe(state s) const { return "the counter at " + std::to_string(s); }

 private:
  static std::int64_t integer(const nlohmann::json& j, const char* what) {
    if (j.is_number_integer() &&
        !(j.is_number_unsigned() &&
          j.get<std::uint64_t>() >
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
      return j.get<std::int64_t>();
    throw operation_error(std::string(what) + ", found " + detail::lin::show(j));
  }

  state initial_;
};

/// A grow-only set, Jepsen's set workload: `add` (value: an element, any JSON) and `read` (its
/// `ok` value: the list of elements present, in any order). Failed adds and reads without a
/// result are skipped; an add with an unknown outcome may take effect.
class set_model {
 public:
  using state = std::vector<std::int32_t>;  ///< sorted interned elements
  struct op {
    bool is_read = false;
    std::int32_t element = 0;            ///< add
    std::vector<std::int32_t> contents;  ///< read: sorted, without duplicates
    friend bool operator==(const op&, const op&) = default;
  };

  std::string_view name() const noexcept { return "set"; }
  state initial() const { return {}; }

  std::optional<op> prepare(const operation_view& v) {
    if (v.f() == "add") {
      if (v.outcome() == event_type::fail) return std::nullopt;
      return op{false, interner_.id(v.input()), {}};
    }
    if (v.f() == "read") {
      if (v.outcome() != event_type::ok) return std::nullopt;
      const auto& out = v.output();
      if (!out.is_array())
        throw operation_error("a set read must return a list, found " + detail::lin::show(out));
      op o{true, 0, {}};
      o.contents.reserve(out.size());
      for (const auto& e : out) o.contents.push_back(interner_.id(e));
      std::sort(o.contents.begin(), o.contents.end());
      o.contents.erase(std::unique(o.contents.begin(), o.contents.end()), o.contents.end());
      return o;
    }
    detail::lin::unknown_operation(name(), v, "add and read");
  }

  std::optional<state> step(const state& s, const op& o) const {
    if (o.is_read) return s == o.contents ? std::optional<state>(s) : std::nullopt;
    auto at = std::lower_bound(s.begin(), s.end(), o.element);
    if (at != s.end() && *at == o.element) return s;
    state next;
    next.reserve(s.size() + 1);
    next.insert(next.end(), s.begin(), at);
    next.push_back(o.element);
    next.insert(next.end(), at, s.end());
    return next;
  }

  std::size_t hash(const state& s) const noexcept {
    std::uint64_t h = s.size();
    for (auto e : s) h = detail::lin::mix64(h ^ static_cast<std::uint64_t>(e));
    return static_cast<std::size_t>(h);
  }

  std::string describe(const op& o) const {
    if (!o.is_read) return "add " + detail::lin::show(interner_.value(o.element));
    return "read -> " + list(o.contents);
  }
  std::string describe(const state& s) const { return "the set holding " + list(s); }

 private:
  std::string list(const std::vector<std::int32_t>& ids) const {
    nlohmann::json l = nlohmann::json::array();
    for (auto id : ids) l.push_back(interner_.value(id));
    return detail::lin::show(l);
  }

  detail::lin::value_interner interner_;
};

/// A lock: `acquire` and `release`. By default it tracks the owner: only the process holding
/// the lock may release it (give a crashed client's successor the same process id, or turn
/// `track_owner` off for Knossos' ownerless mutex). Failed operations are skipped (a failed
/// acquire may be a timeout, which says nothing about the lock); operations with an unknown
/// outcome may take effect.
class mutex_model {
 public:
  struct state {
    bool held = false;
    std::int64_t owner = 0;  ///< meaningful when held and tracking owners
    friend bool operator==(const state&, const state&) = default;
  };
  struct op {
    bool acquire = true;
    std::int64_t process = 0;
    friend bool operator==(const op&, const op&) = default;
  };

  explicit mutex_model(bool track_owner = true) noexcept : track_owner_(track_owner) {}

  std::string_view name() const noexcept { return "mutex"; }
  state initial() const noexcept { return {}; }

  std::optional<op> prepare(const operation_view& v) {
    const bool acquire = v.f() == "acquire";
    if (!acquire && v.f() != "release") detail::lin::unknown_operation(name(), v, "acquire and release");
    if (v.outcome() == event_type::fail) return std::nullopt;
    return op{acquire, track_owner_ ? v.process() : 0};
  }

  std::optional<state> step(const state& s, const op& o) const noexcept {
    if (o.acquire) return s.held ? std::nullopt : std::optional<state>(state{true, o.process});
    if (!s.held || s.owner != o.process) return std::nullopt;
    return state{};
  }

  std::size_t hash(const state& s) const noexcept {
    return s.held ? static_cast<std::size_t>(detail::lin::mix64(static_cast<std::uint64_t>(s.owner)))
                  : 0;
  }
  std::string describe(const op& o) const { return o.acquire ? "acquire" : "release"; }
  std::string describe(const state& s) const {
    if (!s.held) return "the lock free";
    if (!track_owner_) return "the lock held";
    return "the lock held by process " + std::to_string(s.owner);
  }

 private:
  bool track_owner_;
};

/// The names `check_linearizable(history, name)` and `dstm-check --model` accept.
inline constexpr std::array<std::string_view, 4> model_names{"cas-register", "counter", "set",
                                                             "mutex"};

/// How to run a check.
struct linearizability_options {
  /// Polled every 1024 search steps (may be empty: no limit). Once it answers true, the key
  /// being searched and every key not yet searched are `unknown`. Called from the checking
  /// thread only. dstm-check supplies a deadline on a steady clock.
  std::function<bool()> out_of_time;
  /// At most this many operations are listed per part of an explanation.
  std::size_t max_listed = 10;
};

/// The verdict for one key.
struct key_report {
  std::string key;                  ///< empty: the history's single, unnamed object
  verdict result = verdict::valid;
  std::size_t operations = 0;       ///< operations searched
  std::size_t skipped = 0;          ///< operations that constrain nothing (e.g. failed writes)
  /// Invoke event indices. Valid: a linearization of the operations that took effect (those
  /// with an unknown outcome that are absent never took effect). Otherwise: the longest
  /// linearizable prefix (the one that reaches furthest in real time).
  std::vector<std::size_t> order;
  /// Invalid: the invoke index of the operation that cannot take effect before it returned,
  /// whatever the order of the operations before it.
  std::optional<std::size_t> blocked;
  /// Invalid: invoke indices of the operations that could come next after `order` (the ones
  /// invoked before `blocked` returned, not in `order`), `blocked` included.
  std::vector<std::size_t> candidates;
  std::uint64_t steps = 0;          ///< search steps taken
  std::size_t configurations = 0;   ///< distinct (linearized set, state) pairs explored
  std::string explanation;          ///< empty when valid
};

/// The verdict for a history.
struct linearizability_result {
  verdict result = verdict::valid;  ///< invalid if any key is; else unknown if any key is
  std::string model;                ///< the model's name
  std::vector<key_report> keys;     ///< in order of first appearance in the history
  /// Readable account: a summary line, then every key that is not valid, with its longest
  /// linearizable prefix and the operations that cannot follow it.
  std::string explanation;
};

namespace detail::lin {

struct raw_operation {
  std::size_t invoke = 0;
  std::size_t completion = no_return;  // no_return: never completed
};

struct partition {
  std::string_view key;
  std::vector<raw_operation> operations;
};

/// Splits `h` by key, pairing every invoke with its completion; validates pairing on the way.
inline std::vector<partition> partition_by_key(const history& h) {
  std::vector<partition> parts;
  std::unordered_map<std::string_view, std::size_t> index;
  std::unordered_map<std::int64_t, std::pair<std::size_t, std::size_t>> pending;
  hist::pairing_validator validator;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const event& e = h[i];
    validator.next(e, i + 1);
    if (e.type == event_type::invoke) {
      auto [it, fresh] = index.try_emplace(e.key, parts.size());
      if (fresh) parts.push_back(partition{e.key, {}});
      auto& ops = parts[it->second].operations;
      pending[e.process] = {it->second, ops.size()};
      ops.push_back(raw_operation{i, no_return});
    } else {
      auto it = pending.find(e.process);
      auto [part, op] = it->second;
      parts[part].operations[op].completion = i;
      pending.erase(it);
    }
  }
  return parts;
}

inline std::string key_title(std::string_view key, std::size_t operations) {
  const std::string count =
      std::to_string(operations) + (operations == 1 ? " operation" : " operations");
  if (key.empty()) return "The history (no key, " + count + ")";
  return "Key " + nlohmann::json(key).dump() + " (" + count + ")";
}

/// "process 3, lines 12-15" / "process 3, line 12 (info on line 20, outcome unknown)".
inline std::string where(const history& h, const raw_operation& r) {
  std::string s = "process " + std::to_string(h[r.invoke].process) + ", ";
  if (r.completion == no_return)
    return s + "line " + std::to_string(r.invoke + 1) + " (never completed, outcome unknown)";
  if (h[r.completion].type == event_type::info)
    return s + "line " + std::to_string(r.invoke + 1) + " (info on line " +
           std::to_string(r.completion + 1) + ", outcome unknown)";
  return s + "lines " + std::to_string(r.invoke + 1) + "-" + std::to_string(r.completion + 1);
}

template <class M>
key_report check_key(const history& h, const partition& part, const M& prototype,
                     const linearizability_options& options, bool& out_of_time) {
  key_report report;
  report.key = std::string(part.key);
  M model = prototype;
  std::vector<typename M::op> ops;
  std::vector<std::size_t> call_pos, return_pos, source;
  ops.reserve(part.operations.size());
  for (std::size_t i = 0; i < part.operations.size(); ++i) {
    const raw_operation& r = part.operations[i];
    operation_view view{&h[r.invoke], r.completion == no_return ? nullptr : &h[r.completion]};
    std::optional<typename M::op> op;
    try {
      op = model.prepare(view);
    } catch (const operation_error& e) {
      throw history_error(r.invoke + 1, e.what());
    }
    if (!op) {
      ++report.skipped;
      continue;
    }
    ops.push_back(std::move(*op));
    call_pos.push_back(r.invoke);
    const bool returned = r.completion != no_return && h[r.completion].type != event_type::info;
    return_pos.push_back(returned ? r.completion : no_return);
    source.push_back(i);
  }
  report.operations = ops.size();
  const std::string header = key_title(part.key, ops.size());
  if (out_of_time) {
    report.result = verdict::unknown;
    report.explanation = header + ": unknown, not searched: the time budget ran out before.\n";
    return report;
  }

  // Identical operations with unknown outcomes are interchangeable; the search tries only one
  // order of them (see linearizability_search). Models whose ops lack == skip this.
  std::vector<std::size_t> twin;
  if constexpr (std::equality_comparable<typename M::op>) {
    constexpr std::size_t lookback = 256;  // bounds the quadratic scan; any twin found is sound
    std::vector<std::size_t> unknown;
    twin.assign(ops.size(), no_return);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (return_pos[i] != no_return) continue;
      for (std::size_t k = unknown.size(), seen = 0; k-- > 0 && seen < lookback; ++seen) {
        if (ops[unknown[k]] == ops[i]) {
          twin[i] = unknown[k];
          break;
        }
      }
      unknown.push_back(i);
    }
  }
  linearizability_search<M> search(model, ops, call_pos, return_pos, twin, options.out_of_time);
  auto outcome = search.run();
  report.steps = outcome.steps;
  report.configurations = outcome.memo_entries;
  for (auto i : outcome.order) report.order.push_back(call_pos[i]);
  auto op_words = [&](std::size_t i) {
    return where(h, part.operations[source[i]]) + ": " + model.describe(ops[i]);
  };
  auto list_prefix = [&](std::string& text) {
    const std::size_t n = outcome.order.size(), shown = std::min(n, options.max_listed);
    if (n == 0) return;
    text += n == shown ? "  It is:\n" : "  Its last " + std::to_string(shown) + ":\n";
    for (std::size_t k = n - shown; k < n; ++k) text += "    " + op_words(outcome.order[k]) + "\n";
  };

  if (outcome.verdict == search_verdict::valid) return report;
  if (outcome.verdict == search_verdict::unknown) {
    out_of_time = true;
    report.result = verdict::unknown;
    std::string& text = report.explanation;
    text = header + ": unknown: the time budget ran out after " + std::to_string(outcome.steps) +
           " search steps (" + std::to_string(outcome.memo_entries) + " configurations).\n";
    if (outcome.blocked != no_return) {
      text += "  The longest linearizable prefix found so far has " +
              std::to_string(outcome.order.size()) + " operations, leaving " +
              std::string(model.describe(outcome.state)) + ".\n";
      list_prefix(text);
    }
    return report;
  }

  report.result = verdict::invalid;
  const std::size_t blocked = outcome.blocked;
  report.blocked = call_pos[blocked];
  std::vector<bool> in_prefix(ops.size(), false);
  for (auto i : outcome.order) in_prefix[i] = true;
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (!in_prefix[i] && call_pos[i] < return_pos[blocked]) candidates.push_back(i);
  for (auto i : candidates) report.candidates.push_back(call_pos[i]);

  std::string& text = report.explanation;
  text = header + ": not linearizable.\n";
  if (outcome.order.empty())
    text += "  No operation can be linearized first, starting from " +
            std::string(model.describe(outcome.state)) + ".\n";
  else
    text += "  The longest linearizable prefix has " + std::to_string(outcome.order.size()) +
            (outcome.order.size() == 1 ? " operation" : " operations") + " and leaves " +
            std::string(model.describe(outcome.state)) + ".\n";
  list_prefix(text);
  const raw_operation& stuck = part.operations[source[blocked]];
  text += "  Then the " + model.describe(ops[blocked]) + " of " + where(h, stuck) +
          " must take effect before it returns on line " + std::to_string(stuck.completion + 1) +
          ", but no operation that could come next leads to a linearization:\n";
  std::size_t listed = 0;
  for (auto i : candidates) {
    if (listed++ == options.max_listed) {
      text += "    ... and " + std::to_string(candidates.size() - options.max_listed) +
              " more\n";
      break;
    }
    const bool possible = model.step(outcome.state, ops[i]).has_value();
    text += "    " + op_words(i) +
            (possible ? "\n        possible here, but every order that continues with it fails\n"
                      : "\n        impossible from " + std::string(model.describe(outcome.state)) +
                            "\n");
  }
  return report;
}

}  // namespace detail::lin

/// Checks that `h` is linearizable with respect to `model`, key by key.
///
/// Throws `history_error` (naming the line, i.e. the event index + 1) when the history breaks
/// the pairing rules or the model refuses an operation (an unknown `f`, a malformed value).
/// The search is exponential in the worst case; give `options.out_of_time` to bound it.
/// Deterministic: same history, same result (the budget aside).
template <linearizability_model M = cas_register_model>
linearizability_result check_linearizable(const history& h, M model = M{},
                                          const linearizability_options& options = {}) {
  linearizability_result result;
  result.model = std::string(model.name());
  bool out_of_time = false;
  std::size_t invalid = 0, unknown = 0, operations = 0;
  for (const auto& part : detail::lin::partition_by_key(h)) {
    result.keys.push_back(detail::lin::check_key(h, part, model, options, out_of_time));
    const auto& k = result.keys.back();
    operations += k.operations;
    if (k.result == verdict::invalid) ++invalid;
    if (k.result == verdict::unknown) ++unknown;
  }
  const std::size_t keys = result.keys.size();
  const std::string scope = std::to_string(operations) +
                            (operations == 1 ? " operation on " : " operations on ") +
                            std::to_string(keys) + (keys == 1 ? " key, " : " keys, ") +
                            result.model + " model";
  auto of_keys = [keys](std::size_t n) {
    return std::to_string(n) + " of " + std::to_string(keys) + " keys";
  };
  if (invalid > 0) {
    result.result = verdict::invalid;
    result.explanation = keys == 1 ? "Not linearizable: " + scope + ".\n"
                                   : "Not linearizable: " + of_keys(invalid) +
                                         " admit no linearization (" + scope + ").\n";
  } else if (unknown > 0) {
    result.result = verdict::unknown;
    result.explanation = "Unknown: the time budget ran out" +
                         (keys == 1 ? ": " + scope + ".\n"
                                    : " with " + of_keys(unknown) + " undecided (" + scope +
                                          ").\n");
  } else {
    result.explanation = "Linearizable: " + scope + ".\n";
  }
  for (const auto& k : result.keys)
    if (k.result == verdict::invalid) result.explanation += k.explanation;
  for (const auto& k : result.keys)
    if (k.result == verdict::unknown) result.explanation += k.explanation;
  return result;
}

/// `check_linearizable` with a model named at run time (one of `model_names`, default
/// configuration). Throws `std::invalid_argument` for another name.
inline linearizability_result check_linearizable(const history& h, std::string_view model_name,
                                                 const linearizability_options& options = {}) {
  if (model_name == "cas-register") return check_linearizable(h, cas_register_model{}, options);
  if (model_name == "counter") return check_linearizable(h, counter_model{}, options);
  if (model_name == "set") return check_linearizable(h, set_model{}, options);
  if (model_name == "mutex") return check_linearizable(h, mutex_model{}, options);
  std::string known;
  for (auto n : model_names) known += (known.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument("unknown model \"" + std::string(model_name) + "\" (known: " +
                              known + ")");
}

}  // namespace dstm::check
