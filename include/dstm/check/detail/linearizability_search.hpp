#pragma once
/// \file
/// The search behind `dstm::check::check_linearizable`: Wing & Gong's backtracking over the
/// operations that may take effect next, with Lowe's memoisation of every configuration
/// (set of linearized operations, model state) already explored, for one key's operations.
///
/// The history is a doubly linked list of call and return entries in real-time order. An
/// operation may be linearized only while its call precedes the first remaining return: that
/// return's operation must take effect before it returned. Linearizing an operation lifts its
/// call and return out of the list; backtracking puts them back (dancing links). Operations
/// with an unknown outcome have no return entry: they may be linearized at any point after
/// their call, or never, and the search succeeds once every operation with a return entry is
/// linearized.

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace dstm::check::detail::lin {

/// `return_pos` of an operation whose outcome is unknown.
inline constexpr std::size_t no_return = std::numeric_limits<std::size_t>::max();

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class search_verdict { valid, invalid, unknown };

template <class State>
struct search_outcome {
  search_verdict verdict = search_verdict::valid;
  /// valid: a linearization of every operation that took effect (indices into the ops);
  /// otherwise: the longest linearizable prefix found, the one that got furthest in real time.
  std::vector<std::size_t> order;
  /// Not valid: the operation whose return the search could not get past (`no_return` when the
  /// search ran out of time before it got stuck anywhere).
  std::size_t blocked = no_return;
  /// The model's state after `order`.
  State state{};
  std::uint64_t steps = 0;        ///< configurations visited
  std::size_t memo_entries = 0;   ///< distinct configurations stored
};

/// Set of explored configurations: a hash table over (bitset of linearized operations, state),
/// the bitsets packed in one arena. The bitset's hash is kept incrementally by the caller
/// (Zobrist: one random word per operation, xor-ed in and out).
template <class State, class Hash>
class configuration_set {
 public:
  configuration_set(std::size_t words, Hash hash) : words_(words), hash_(std::move(hash)) {
    table_.assign(1024, 0);
  }

  /// Adds the configuration; false if it was there already.
  bool insert(const std::uint64_t* bits, std::uint64_t bits_hash, const State& state) {
    const std::uint64_t h = bits_hash ^ mix64(static_cast<std::uint64_t>(hash_(state)));
    std::size_t mask = table_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint32_t slot = table_[i];
      if (slot == 0) break;
      const std::size_t e = slot - 1;
      if (hashes_[e] == h && states_[e] == state &&
          std::memcmp(&arena_[e * words_], bits, words_ * sizeof(std::uint64_t)) == 0)
        return false;
    }
    const std::size_t e = states_.size();
    hashes_.push_back(h);
    states_.push_back(state);
    arena_.insert(arena_.end(), bits, bits + words_);
    if ((e + 1) * 2 > table_.size()) {
      grow();
    } else {
      place(e, h);
    }
    return true;
  }

  std::size_t size() const noexcept { return states_.size(); }

 private:
  void place(std::size_t e, std::uint64_t h) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = h & mask;
    while (table_[i] != 0) i = (i + 1) & mask;
    table_[i] = static_cast<std::uint32_t>(e + 1);
  }
  void grow() {
    table_.assign(table_.size() * 2, 0);
    for (std::size_t e = 0; e < hashes_.size(); ++e) place(e, hashes_[e]);
  }

  std::size_t words_;
  Hash hash_;
  std::vector<std::uint32_t> table_;  // 0: empty, else entry + 1
  std::vector<std::uint64_t> hashes_;
  std::vector<State> states_;
  std::vector<std::uint64_t> arena_;
};

/// One key's search. `Model` provides `state`, `op`, `initial()`, `step(state, op)` returning
/// `std::optional<state>`, and `hash(state)`. `call_pos`/`return_pos` are the operations'
/// positions in the history (distinct; `no_return` for an unknown outcome). `out_of_time` (may
/// be empty) is polled every 1024 steps; when it answers true the search stops: unknown.
///
/// `twin` (empty, or one entry per operation) breaks the symmetry between operations with an
/// unknown outcome that are identical: `twin[i]` names an identical one with an earlier call,
/// or is `no_return`. Such an operation may be linearized only after its twin: the twin can
/// take effect wherever it can (it was invoked earlier and neither ever returns), so swapping
/// the two turns any linearization into one that obeys the rule. Histories with crashed
/// writers of few distinct values search exponentially fewer configurations.
template <class Model>
class linearizability_search {
 public:
  using state_type = typename Model::state;
  using op_type = typename Model::op;

  linearizability_search(const Model& model, std::span<const op_type> ops,
                         std::span<const std::size_t> call_pos,
                         std::span<const std::size_t> return_pos,
                         std::span<const std::size_t> twin,
                         const std::function<bool()>& out_of_time)
      : model_(model),
        ops_(ops),
        return_pos_(return_pos),
        twin_(twin),
        out_of_time_(out_of_time),
        n_(ops.size()),
        words_((n_ + 63) / 64) {
    build_list(call_pos);
  }

  search_outcome<state_type> run() {
    search_outcome<state_type> out;
    auto hash = [this](const state_type& s) { return model_.hash(s); };
    configuration_set<state_type, decltype(hash)> seen(words_, hash);
    std::vector<std::uint64_t> bits(words_, 0);
    std::uint64_t bits_hash = 0;
    std::vector<std::uint64_t> zobrist(n_);
    for (std::size_t i = 0; i < n_; ++i) zobrist[i] = mix64(i * 0x2545f4914f6cdd1dULL + 1);

    struct frame {
      std::size_t op;
      state_type saved;
    };
    std::vector<frame> stack;
    stack.reserve(n_);
    state_type state = model_.initial();
    std::size_t remaining = 0;
    for (std::size_t i = 0; i < n_; ++i) remaining += return_pos_[i] != no_return ? 1 : 0;

    // The longest prefix so far, kept in step with the stack lazily: `synced` is how much of
    // `best` still equals the bottom of the stack, so each push is copied at most once.
    std::vector<std::size_t> best;
    std::size_t synced = 0;
    std::size_t best_pos = 0;
    bool have_best = false;
    state_type best_state = state;

    auto finish = [&](search_verdict v) {
      out.verdict = v;
      out.memo_entries = seen.size();
      if (v == search_verdict::valid) {
        out.blocked = no_return;
        out.order.reserve(stack.size());
        for (const auto& f : stack) out.order.push_back(f.op);
        out.state = std::move(state);
      } else if (have_best) {
        out.order = std::move(best);
        out.state = std::move(best_state);
      } else {
        out.state = std::move(state);
      }
      return out;
    };

    if (remaining == 0) return finish(search_verdict::valid);
    std::int32_t node = next_[head];
    for (;;) {
      if ((++out.steps & 1023) == 0 && out_of_time_ && out_of_time_())
        return finish(search_verdict::unknown);
      assert(node != end);
      const std::size_t u = static_cast<std::size_t>(node);
      if (u <= n_) {  // a call entry: try to linearize its operation here
        const std::size_t op = u - 1;
        const bool twin_waits = !twin_.empty() && twin_[op] != no_return &&
                                (bits[twin_[op] >> 6] & (std::uint64_t{1} << (twin_[op] & 63))) == 0;
        if (twin_waits) {
          node = next_[u];
          continue;
        }
        if (auto next = model_.step(state, ops_[op])) {
          bits[op >> 6] |= std::uint64_t{1} << (op & 63);
          bits_hash ^= zobrist[op];
          if (seen.insert(bits.data(), bits_hash, *next)) {
            stack.push_back(frame{op, std::move(state)});
            state = std::move(*next);
            lift(op);
            if (return_pos_[op] != no_return && --remaining == 0)
              return finish(search_verdict::valid);
            node = next_[head];
            continue;
          }
          bits[op >> 6] &= ~(std::uint64_t{1} << (op & 63));
          bits_hash ^= zobrist[op];
        }
        node = next_[u];
        continue;
      }
      // The first remaining return: every operation that may precede it has been tried.
      const std::size_t blocked = u - 1 - n_;
      if (!have_best || return_pos_[blocked] > best_pos) {
        have_best = true;
        best_pos = return_pos_[blocked];
        out.blocked = blocked;
        best.resize(synced);
        for (std::size_t i = synced; i < stack.size(); ++i) best.push_back(stack[i].op);
        synced = stack.size();
        best_state = state;
      }
      if (stack.empty()) return finish(search_verdict::invalid);
      frame f = std::move(stack.back());
      stack.pop_back();
      synced = std::min(synced, stack.size());
      state = std::move(f.saved);
      bits[f.op >> 6] &= ~(std::uint64_t{1} << (f.op & 63));
      bits_hash ^= zobrist[f.op];
      unlift(f.op);
      if (return_pos_[f.op] != no_return) ++remaining;
      node = next_[call_node(f.op)];
    }
  }

 private:
  static constexpr std::int32_t head = 0;
  static constexpr std::int32_t end = -1;

  // Node ids: 0 the head, 1..n the calls, n+1..2n the returns (of operation id - 1 - n).
  std::size_t call_node(std::size_t op) const noexcept { return op + 1; }
  std::size_t return_node(std::size_t op) const noexcept { return op + 1 + n_; }

  void build_list(std::span<const std::size_t> call_pos) {
    std::vector<std::pair<std::size_t, std::int32_t>> order;
    order.reserve(2 * n_);
    for (std::size_t i = 0; i < n_; ++i) {
      order.emplace_back(call_pos[i], static_cast<std::int32_t>(call_node(i)));
      if (return_pos_[i] != no_return)
        order.emplace_back(return_pos_[i], static_cast<std::int32_t>(return_node(i)));
    }
    std::sort(order.begin(), order.end());
    next_.assign(2 * n_ + 1, end);
    prev_.assign(2 * n_ + 1, end);
    std::int32_t last = head;
    for (const auto& [pos, node] : order) {
      next_[static_cast<std::size_t>(last)] = node;
      prev_[static_cast<std::size_t>(node)] = last;
      last = node;
    }
  }

  void unlink(std::size_t node) noexcept {
    const std::int32_t p = prev_[node], nx = next_[node];
    next_[static_cast<std::size_t>(p)] = nx;
    if (nx != end) prev_[static_cast<std::size_t>(nx)] = p;
  }
  void relink(std::size_t node) noexcept {
    const std::int32_t p = prev_[node], nx = next_[node];
    next_[static_cast<std::size_t>(p)] = static_cast<std::int32_t>(node);
    if (nx != end) prev_[static_cast<std::size_t>(nx)] = static_cast<std::int32_t>(node);
  }
  void lift(std::size_t op) noexcept {
    unlink(call_node(op));
    if (return_pos_[op] != no_return) unlink(return_node(op));
  }
  void unlift(std::size_t op) noexcept {
    if (return_pos_[op] != no_return) relink(return_node(op));
    relink(call_node(op));
  }

  const Model& model_;
  std::span<const op_type> ops_;
  std::span<const std::size_t> return_pos_;
  std::span<const std::size_t> twin_;
  const std::function<bool()>& out_of_time_;
  std::size_t n_;
  std::size_t words_;
  std::vector<std::int32_t> next_;
  std::vector<std::int32_t> prev_;
};

}  // namespace dstm::check::detail::lin
