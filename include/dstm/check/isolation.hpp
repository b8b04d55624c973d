#pragma once
/// \file
/// An Elle-style isolation checker for list-append and rw-register transaction histories.
///
/// `check_isolation` infers each key's version order from the history, builds the dependency
/// graph of the committed transactions (ww, wr, rw, and realtime edges for strict
/// serializability), finds its strongly connected components with Tarjan's algorithm and in each
/// one searches breadth-first for the shortest cycle of every anomalous shape (G0, G1c, G-single,
/// G2-item and their -realtime variants). Non-cycle anomalies (G1a, G1b, lost update, duplicate
/// elements, internal inconsistency, incompatible order, garbage reads) are found directly.
/// Every reported anomaly comes with the transactions and, for cycles, the edges that prove it,
/// in words. Which anomaly violates which level is the table in <dstm/check/isolation/types.hpp>.
///
/// What is inferred, precisely:
/// - **list-append**: a key's version order is its longest read; every other read must be a
///   prefix of it (else incompatible-order, and that read yields no edges). Appends no read
///   observed, by transactions that committed (ok), follow the longest read in the order (their
///   relative order is unknown). ww: consecutive appends of different transactions in that
///   order; wr: from the writer of a read's last element to the reader; rw: from a reader to the
///   writer of the next element after its prefix (or to every unobserved committed appender of
///   the key, when it read the whole longest list).
/// - **rw-register**: written values are unique per key, so a read names its writer (wr). The
///   version order is the partial order implied by (1) the initial null preceding every write,
///   (2) a transaction that read k = v and then wrote k = w installing w after v, and (3) for
///   strict serializability only, realtime: a write whose transaction completed before another
///   writing transaction was invoked precedes it (strict serializability implies linearizable
///   keys, so this is sound exactly when checking it). ww follows the inferred pairs; rw goes
///   from a reader of v to the writers of v's known successors (of null: every write of the key
///   with no known predecessor). A transaction's reads after its own write of the key only check
///   internal consistency. Nothing else is assumed, so some anomalies are invisible to
///   rw-register where list-append would show them; Elle documents the same limits.
///
/// Committed (ok) and indeterminate (info) transactions are graph nodes; failed ones are not,
/// and reading their writes is G1a. Reads of info and failed transactions are unknown.

#include <algorithm>
#include <array>
#include <cstdint>
#include <dstm/check/isolation/graph.hpp>
#include <dstm/check/isolation/txn_history.hpp>
#include <dstm/check/isolation/types.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

namespace dstm::check {

/// The answer of a check: `unknown` only when the cycle search ran out of budget before finding
/// any anomaly the level forbids.
enum class isolation_verdict : std::uint8_t { valid, invalid, unknown };

/// How to check a history.
struct isolation_options {
  consistency_level level = consistency_level::serializable;
  /// Edge visits the cycle searches may spend in total (histories without cycles spend none:
  /// Tarjan's algorithm alone proves them acyclic). Past it, the result may be `unknown`.
  std::uint64_t search_budget = 500'000'000;
  /// Examples kept per anomaly kind (all are counted).
  std::size_t max_examples = 3;
};

/// One edge of a reported cycle, with the reason it exists.
struct dependency {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::uint8_t kind = 0;    ///< one `edge_kind` bit
  std::string key;          ///< the key that induces it (empty for realtime)
  std::string explanation;  ///< in words
};

/// One example of an anomaly.
struct anomaly_example {
  anomaly_kind kind = anomaly_kind::g0;
  std::string description;          ///< in words; for a cycle, its summary line
  std::vector<dependency> cycle;    ///< empty for non-cycle anomalies
  std::vector<std::uint32_t> txns;  ///< transactions involved (ids as in the text: T<id>)
};

/// Everything a check found.
struct isolation_result {
  isolation_verdict verdict = isolation_verdict::valid;
  consistency_level level = consistency_level::serializable;
  workload kind = workload::list_append;
  std::array<std::uint64_t, anomaly_kind_count> counts{};  ///< indexed by anomaly_kind
  std::vector<anomaly_example> examples;
  bool search_exhausted = false;  ///< the budget ran out; some cycles may be unreported
  std::uint64_t ok = 0, failed = 0, info = 0, keys = 0, edges = 0, skipped_events = 0;
  /// "T<id>: process P, invoke line L, ok line M: [micro-ops]" for every transaction named in
  /// an example.
  std::vector<std::pair<std::uint32_t, std::string>> txn_notes;

  std::uint64_t count(anomaly_kind k) const noexcept { return counts[static_cast<std::size_t>(k)]; }

  /// The anomalies found that the level forbids, in report order.
  std::vector<anomaly_kind> violations() const {
    std::vector<anomaly_kind> out;
    for (anomaly_kind k : all_anomaly_kinds) {
      if (count(k) > 0 && forbids(level, k)) out.push_back(k);
    }
    return out;
  }

  /// `valid`, `unknown`, or `invalid: <names>`: the last line of `dstm-check isolation`.
  std::string verdict_line() const {
    if (verdict == isolation_verdict::valid) return "valid";
    if (verdict == isolation_verdict::unknown) return "unknown";
    std::string s = "invalid: ";
    bool first = true;
    for (anomaly_kind k : violations()) {
      if (!first) s += ", ";
      s += name(k);
      first = false;
    }
    return s;
  }

  /// The full report in words, ending with `verdict_line()` and a newline.
  std::string report() const {
    std::string out = std::string(name(kind)) + " history: " + std::to_string(ok + failed + info) +
                      " transactions (" + std::to_string(ok) + " ok, " + std::to_string(failed) +
                      " fail, " + std::to_string(info) + " info), " + std::to_string(keys) +
                      " keys, " + std::to_string(edges) + " dependency edges";
    if (skipped_events > 0) {
      out += "; " + std::to_string(skipped_events) + " non-transaction events skipped";
    }
    out += "\nchecked against " + std::string(name(level)) + "\n";
    for (anomaly_kind k : all_anomaly_kinds) {
      if (count(k) == 0) continue;
      out += std::string(name(k)) + ": " + std::to_string(count(k)) + " found (" +
             (forbids(level, k) ? "forbidden" : "allowed") + " by " + std::string(name(level)) +
             ")\n";
      std::size_t n = 0;
      for (const anomaly_example& ex : examples) {
        if (ex.kind != k) continue;
        out += "  " + std::to_string(++n) + ". " + ex.description + "\n";
        for (const dependency& d : ex.cycle) {
          out += "     T" + std::to_string(d.from) + " -> T" + std::to_string(d.to) + " (" +
                 std::string(edge_name(d.kind)) + "): " + d.explanation + "\n";
        }
      }
    }
    if (search_exhausted) {
      out += "the cycle search ran out of budget: some cycles may be missing (raise --budget)\n";
    }
    if (!txn_notes.empty()) {
      out += "transactions:\n";
      for (const auto& [id, note] : txn_notes) out += "  " + note + "\n";
    }
    return out + verdict_line() + "\n";
  }

  /// The cycles of the examples as a Graphviz digraph: one cluster per cycle, the anomalies the
  /// level forbids first (all cycles if none is forbidden).
  std::string dot() const {
    std::string out = "digraph isolation {\n  node [shape=box, fontname=\"monospace\"];\n";
    std::size_t cluster = 0;
    auto note_of = [&](std::uint32_t id) -> std::string {
      for (const auto& [t, note] : txn_notes) {
        if (t == id) return note;
      }
      return "T" + std::to_string(id);
    };
    auto emit = [&](bool forbidden_pass) {
      for (const anomaly_example& ex : examples) {
        if (ex.cycle.empty() || forbids(level, ex.kind) != forbidden_pass) continue;
        const std::string prefix = "c" + std::to_string(cluster) + "_";
        out += "  subgraph cluster_" + std::to_string(cluster++) + " {\n    label=\"" +
               escape(std::string(name(ex.kind))) + "\";\n";
        for (const dependency& d : ex.cycle) {
          out += "    " + prefix + "T" + std::to_string(d.from) + " [label=\"" +
                 escape(note_of(d.from)) + "\"];\n";
        }
        for (const dependency& d : ex.cycle) {
          out += "    " + prefix + "T" + std::to_string(d.from) + " -> " + prefix + "T" +
                 std::to_string(d.to) + " [label=\"" + std::string(edge_name(d.kind)) +
                 (d.key.empty() ? "" : " " + escape(d.key)) + "\", tooltip=\"" +
                 escape(d.explanation) + "\"" + (d.kind == edge_rw ? ", style=dashed" : "") +
                 "];\n";
        }
        out += "  }\n";
      }
    };
    emit(true);
    if (cluster == 0) emit(false);
    return out + "}\n";
  }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c == '\n' ? ' ' : c);
    }
    return out;
  }
};

namespace detail {

/// A read list as the reports print it: `[1, 2, 3]`, or, beyond 12 elements, the first three,
/// `<ellipsis> N more <ellipsis>` and the last four.
inline std::string list_text(std::span<const std::int64_t> xs, std::string_view ellipsis = "...") {
  std::string s = "[";
  auto item = [&](std::size_t i) {
    if (i > 0) s += ", ";
    s += std::to_string(xs[i]);
  };
  if (xs.size() <= 12) {
    for (std::size_t i = 0; i < xs.size(); ++i) item(i);
  } else {
    for (std::size_t i = 0; i < 3; ++i) item(i);
    s += ", ";
    s += ellipsis;
    s += " " + std::to_string(xs.size() - 7) + " more ";
    s += ellipsis;
    for (std::size_t i = xs.size() - 4; i < xs.size(); ++i) item(i);
  }
  return s + "]";
}

/// Histories of fewer transactions have their reads checked on the calling thread alone: below
/// this a second thread costs more than it saves. Tests set it to 0 to force the two-thread
/// path on small histories.
inline std::uint32_t parallel_read_pass_min = 65536;

/// The work of one check. Holds the inferred version orders so that edges can be explained in
/// words after the cycle search, without storing a reason per edge.
class isolation_analysis {
 public:
  isolation_analysis(const transaction_history& h, const isolation_options& opts)
      : h_(h), opts_(opts), realtime_(opts.level == consistency_level::strict_serializable) {
    result_.level = opts.level;
    result_.kind = h.kind();
  }

  isolation_result run() {
    for (const txn_record& t : h_.txns()) {
      if (t.status == txn_status::ok)
        ++result_.ok;
      else if (t.status == txn_status::fail)
        ++result_.failed;
      else
        ++result_.info;
    }
    result_.keys = h_.key_count();
    result_.skipped_events = h_.skipped_events();
    // About one and a half edges per micro-op in Elle-style histories; reserving avoids copying
    // tens of megabytes of edges as the vector doubles.
    edges_.reserve(h_.ops().size() * 3 / 2 + 16);
    if (h_.kind() == workload::list_append) {
      analyze_list_append();
    } else {
      analyze_rw_register();
    }
    if (realtime_) add_realtime_edges();
    result_.edges = edges_.size();
    graph_ = dependency_graph(static_cast<std::uint32_t>(h_.txns().size()), edges_);
    std::vector<raw_edge>().swap(edges_);
    search_cycles();
    decide();
    write_notes();
    return std::move(result_);
  }

 private:
  static constexpr std::uint32_t none = npos32;

  // ---- shared helpers ----

  bool node(std::uint32_t txn) const noexcept { return h_.txns()[txn].status != txn_status::fail; }

  void add_edge(std::uint32_t from, std::uint32_t to, std::uint8_t kind) {
    add_edge(edges_, from, to, kind);
  }
  /// To `edges` (the read pass's second thread collects its own).
  void add_edge(std::vector<raw_edge>& edges, std::uint32_t from, std::uint32_t to,
                std::uint8_t kind) const {
    if (from != to && node(from) && node(to)) edges.push_back({from, to, kind});
  }

  std::string t(std::uint32_t txn) const { return "T" + std::to_string(txn); }

  static std::string list_text(std::span<const std::int64_t> xs) { return detail::list_text(xs); }

  std::string read_text(const micro_op& op) const {
    if (h_.kind() == workload::list_append) return list_text(h_.read_list(op));
    return op.nil ? "null" : std::to_string(op.value);
  }

  std::string key(std::uint32_t k) const { return h_.key_name(k); }

  bool want_example(anomaly_kind k) {
    return ++result_.counts[static_cast<std::size_t>(k)] <= opts_.max_examples;
  }

  void example(anomaly_kind k, std::string description, std::vector<std::uint32_t> txns) {
    anomaly_example ex;
    ex.kind = k;
    ex.description = std::move(description);
    ex.txns = std::move(txns);
    result_.examples.push_back(std::move(ex));
  }

  // The transaction's own writes of `key` before its op `index`, in order.
  void own_writes_before(std::uint32_t txn, std::uint32_t index, std::uint32_t key,
                         std::vector<std::int64_t>& out) const {
    out.clear();
    const auto ops = h_.ops(txn);
    for (std::uint32_t i = 0; i < index; ++i) {
      if (ops[i].kind != op_kind::read && ops[i].key == key) out.push_back(ops[i].value);
    }
  }

  bool writes_after(std::uint32_t txn, std::uint32_t index, std::uint32_t key) const {
    const auto ops = h_.ops(txn);
    for (std::uint32_t i = index + 1; i < ops.size(); ++i) {
      if (ops[i].kind != op_kind::read && ops[i].key == key) return true;
    }
    return false;
  }

  // ---- list-append ----

  std::uint32_t writer_of(std::uint32_t key, std::int64_t value) const {
    const std::uint32_t w = h_.find_write(key, value);
    return w == transaction_history::no_write ? none : h_.writes()[w].txn;
  }

  std::span<const std::int64_t> main_list(std::uint32_t key) const {
    const std::uint32_t b = main_[key];
    if (b == none) return {};
    return h_.branches()[b].elements;
  }

  // Per branch element: its writer's transaction id, with `intermediate_bit` set when that was
  // not the writer's last append to the key; `no_writer` for values nobody appended.
  static constexpr std::uint32_t intermediate_bit = 0x80000000u;
  static constexpr std::uint32_t no_writer = 0x7FFFFFFFu;

  std::span<const std::uint32_t> element_writers(std::uint32_t branch) const {
    return std::span<const std::uint32_t>(element_writers_)
        .subspan(element_offsets_[branch], element_offsets_[branch + 1] - element_offsets_[branch]);
  }

  // The transaction that appended main[i] to key, or none.
  std::uint32_t main_writer(std::uint32_t key, std::size_t i) const {
    const std::uint32_t w = element_writers(main_[key])[i] & ~intermediate_bit;
    return w == no_writer ? none : w;
  }

  // The first position >= from in key's main list whose writer is a graph node, or size.
  std::size_t next_node_pos(std::uint32_t key, std::size_t from) const {
    const std::size_t n = main_list(key).size();
    for (std::size_t i = from; i < n; ++i) {
      const std::uint32_t w = main_writer(key, i);
      if (w != none && node(w)) return i;
    }
    return n;
  }

  // The last position < before in key's main list whose writer is a graph node, or npos.
  std::size_t prev_node_pos(std::uint32_t key, std::size_t before) const {
    for (std::size_t i = before; i-- > 0;) {
      const std::uint32_t w = main_writer(key, i);
      if (w != none && node(w)) return i;
    }
    return static_cast<std::size_t>(-1);
  }

  std::span<const std::uint32_t> unobserved(std::uint32_t key) const {
    return std::span<const std::uint32_t>(unobserved_txns_)
        .subspan(unobserved_offsets_[key], unobserved_offsets_[key + 1] - unobserved_offsets_[key]);
  }

  void analyze_list_append() {
    const std::size_t nkeys = h_.key_count();
    const auto branches = h_.branches();
    const auto writes = h_.writes();
    main_.assign(nkeys, none);
    lcp_.assign(branches.size(), 0);
    first_failed_.assign(branches.size(), none);
    first_garbage_.assign(branches.size(), none);
    duplicate_at_.assign(branches.size(), none);
    write_pos_.assign(writes.size(), -1);
    element_offsets_.assign(branches.size() + 1, 0);
    for (std::size_t b = 0; b < branches.size(); ++b) {
      element_offsets_[b + 1] = element_offsets_[b] + branches[b].elements.size();
    }
    element_writers_.assign(element_offsets_.back(), no_writer);
    if (h_.txns().size() >= no_writer) {
      throw isolation_input_error(0, "more than 2^31 transactions: too many to check");
    }

    // Version orders: each key's longest branch; the others are incompatible reads.
    for (std::uint32_t k = 0; k < nkeys; ++k) {
      std::uint32_t best = none;
      for (std::uint32_t b = h_.first_branch(k); b != transaction_history::no_branch;
           b = branches[b].next_of_key) {
        if (best == none || branches[b].elements.size() > branches[best].elements.size()) best = b;
      }
      main_[k] = best;
      if (best == none) continue;
      const auto& m = branches[best].elements;
      lcp_[best] = static_cast<std::uint32_t>(m.size());
      walk_branch(best, true);
      for (std::uint32_t b = h_.first_branch(k); b != transaction_history::no_branch;
           b = branches[b].next_of_key) {
        if (b == best) continue;
        const auto& e = branches[b].elements;
        const std::size_t n = std::min(e.size(), m.size());
        lcp_[b] = static_cast<std::uint32_t>(
            std::mismatch(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(n), m.begin()).first -
            e.begin());
        walk_branch(b, false);
        if (want_example(anomaly_kind::incompatible_order)) {
          example(anomaly_kind::incompatible_order,
                  t(branches[b].witness) + " read " + key(k) + " = " + list_text(e) + " but " +
                      t(branches[best].witness) + " read " + key(k) + " = " + list_text(m) +
                      ": neither is a prefix of the other (they differ at position " +
                      std::to_string(lcp_[b]) + ")",
                  {branches[b].witness, branches[best].witness});
        }
      }
    }

    // Committed appends no read observed: they follow the key's longest read.
    unobserved_offsets_.assign(nkeys + 1, 0);
    for (std::uint32_t w = 0; w < writes.size(); ++w) {
      if (write_pos_[w] == -1 && h_.txns()[writes[w].txn].status == txn_status::ok) {
        ++unobserved_offsets_[writes[w].key + 1];
      }
    }
    for (std::size_t k = 0; k < nkeys; ++k) unobserved_offsets_[k + 1] += unobserved_offsets_[k];
    unobserved_txns_.assign(unobserved_offsets_[nkeys], none);
    {
      std::vector<std::uint32_t> cursor(unobserved_offsets_.begin(), unobserved_offsets_.end() - 1);
      for (std::uint32_t w = 0; w < writes.size(); ++w) {
        if (write_pos_[w] == -1 && h_.txns()[writes[w].txn].status == txn_status::ok) {
          const std::uint32_t k = writes[w].key;
          const std::uint32_t at = cursor[k];
          // A transaction appending twice to k is listed once (its appends are adjacent).
          if (at > unobserved_offsets_[k] && unobserved_txns_[at - 1] == writes[w].txn) continue;
          unobserved_txns_[cursor[k]++] = writes[w].txn;
        }
      }
      // Compact the holes left by skipped duplicates.
      std::vector<std::uint32_t> offsets(nkeys + 1, 0);
      std::vector<std::uint32_t> compact;
      compact.reserve(unobserved_txns_.size());
      for (std::size_t k = 0; k < nkeys; ++k) {
        offsets[k] = static_cast<std::uint32_t>(compact.size());
        for (std::uint32_t i = unobserved_offsets_[k]; i < cursor[k]; ++i) {
          compact.push_back(unobserved_txns_[i]);
        }
      }
      offsets[nkeys] = static_cast<std::uint32_t>(compact.size());
      unobserved_offsets_.swap(offsets);
      unobserved_txns_.swap(compact);
    }

    // ww: consecutive appends in each version order; the last one precedes unobserved appends.
    for (std::uint32_t k = 0; k < nkeys; ++k) {
      const std::size_t n = main_list(k).size();
      std::uint32_t prev = none;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t w = main_writer(k, i);
        if (w == none || !node(w)) continue;
        if (prev != none) add_edge(prev, w, edge_ww);
        prev = w;
      }
      if (prev != none) {
        for (std::uint32_t u : unobserved(k)) add_edge(prev, u, edge_ww);
      }
    }

    // Reads: per-read anomalies, wr and rw edges, and candidates for lost updates.
    std::vector<rmw> rmws;
    read_pass_in_parallel(rmws);
    lost_updates(rmws, [&](const rmw& r) {
      return t(r.txn) + " read " + key(r.key) + " = " +
             (r.branch == none
                  ? std::string("[]")
                  : list_text(std::span<const std::int64_t>(h_.branches()[r.branch].elements)
                                  .first(r.length))) +
             " and then appended to it";
    });
  }

  // A read of a key the transaction then appends to, by the version it read: lost-update
  // candidates.
  struct rmw {
    std::uint32_t key, branch, length, txn;
  };

  // The reads of list-append transactions [0, n): their edges go to edges_ and candidates for
  // lost updates to `rmws`, in transaction order.
  //
  // Why two threads: on the 1M-transaction benchmark history this pass is the largest part of
  // the check (~150 ms of ~380 ms of CPU), and each read only looks up what the passes before
  // it built. The second half of the transactions is done on a second thread, speculatively:
  // it gives up at the first read with an anomaly, whose example, count and order depend on
  // the reads before it; then the calling thread does that half again after the first. Its
  // edges and candidates are appended after the first half's, so the graph is the one a single
  // thread builds, edge for edge.
  void read_pass_in_parallel(std::vector<rmw>& rmws) {
    const auto n = static_cast<std::uint32_t>(h_.txns().size());
    std::vector<bool> duplicate_reported(h_.branches().size(), false);
    if (n < parallel_read_pass_min) {
      read_pass<false>(0, n, edges_, rmws, duplicate_reported);
      return;
    }
    const std::uint32_t mid = n / 2;
    const std::size_t room = (edges_.capacity() - edges_.size()) / 2;
    std::vector<raw_edge> later_edges;
    std::vector<rmw> later_rmws;
    bool later_done = false;
    std::thread later([&] {
      try {
        later_edges.reserve(room);
        later_done = read_pass<true>(mid, n, later_edges, later_rmws, duplicate_reported);
      } catch (...) {
        later_done = false;  // done again below, where an exception is the caller's
      }
    });
    struct joiner {
      std::thread& t;
      ~joiner() { t.join(); }
    };
    {
      joiner j{later};
      read_pass<false>(0, mid, edges_, rmws, duplicate_reported);
    }
    if (later_done) {
      edges_.insert(edges_.end(), later_edges.begin(), later_edges.end());
      rmws.insert(rmws.end(), later_rmws.begin(), later_rmws.end());
    } else {
      read_pass<false>(mid, n, edges_, rmws, duplicate_reported);
    }
  }

  // The reads of transactions [from, to). `Speculative`: touches nothing shared and returns
  // false at the first read with an anomaly; otherwise records examples and returns true.
  template <bool Speculative>
  bool read_pass(std::uint32_t from, std::uint32_t to, std::vector<raw_edge>& edges,
                 std::vector<rmw>& rmws, std::vector<bool>& duplicate_reported) {
    std::vector<std::int64_t> own;
    const auto txns = h_.txns();
    for (std::uint32_t tx = from; tx < to; ++tx) {
      if (txns[tx].status != txn_status::ok) continue;
      const auto ops = h_.ops(tx);
      for (std::uint32_t i = 0; i < ops.size(); ++i) {
        const micro_op& op = ops[i];
        if (op.kind != op_kind::read || !op.known) continue;
        const std::uint32_t k = op.key;
        const std::uint32_t b = transaction_history::read_branch(op);
        const std::uint32_t len = transaction_history::read_length(op);
        const auto list = h_.read_list(op);
        if (b != transaction_history::no_branch) {
          const std::uint32_t lw = element_writers(b)[len - 1];
          const bool g1b = (lw & intermediate_bit) != 0 && (lw & ~intermediate_bit) != tx;
          if constexpr (Speculative) {
            if (first_failed_[b] < len || first_garbage_[b] < len || duplicate_at_[b] < len ||
                g1b) {
              return false;
            }
          } else {
            if (first_failed_[b] < len && want_example(anomaly_kind::g1a)) {
              const std::int64_t e = list[first_failed_[b]];
              const std::uint32_t w = writer_of(k, e);
              example(anomaly_kind::g1a,
                      t(tx) + " read " + key(k) + " = " + list_text(list) + ", which includes " +
                          std::to_string(e) + ", appended by " + t(w) +
                          ", which failed (aborted read)",
                      {tx, w});
            }
            if (first_garbage_[b] < len && want_example(anomaly_kind::garbage_read)) {
              example(anomaly_kind::garbage_read,
                      t(tx) + " read " + key(k) + " = " + list_text(list) + ", which includes " +
                          std::to_string(list[first_garbage_[b]]) +
                          ", which no transaction appended to " + key(k),
                      {tx});
            }
            if (duplicate_at_[b] < len && !duplicate_reported[b]) {
              duplicate_reported[b] = true;
              if (want_example(anomaly_kind::duplicate_elements)) {
                const std::int64_t e = list[duplicate_at_[b]];
                example(anomaly_kind::duplicate_elements,
                        t(tx) + " read " + key(k) + " = " + list_text(list) + ", in which " +
                            std::to_string(e) + " appears more than once (again at position " +
                            std::to_string(duplicate_at_[b]) + ")",
                        {tx});
              }
            }
            if (g1b && want_example(anomaly_kind::g1b)) {
              const std::int64_t last = list[len - 1];
              const std::uint32_t w = lw & ~intermediate_bit;
              example(anomaly_kind::g1b,
                      t(tx) + " read " + key(k) + " = " + list_text(list) + ", ending in " +
                          std::to_string(last) + ", an intermediate append of " + t(w) + " (" +
                          t(w) + " appended to " + key(k) + " again later in the transaction)",
                      {tx, w});
            }
          }
        }
        own_writes_before(tx, i, k, own);
        if (!own.empty()) {
          const bool ends_with_own =
              list.size() >= own.size() &&
              std::equal(own.begin(), own.end(),
                         list.end() - static_cast<std::ptrdiff_t>(own.size()));
          if constexpr (Speculative) {
            if (!ends_with_own) return false;
          } else if (!ends_with_own && want_example(anomaly_kind::internal)) {
            example(anomaly_kind::internal,
                    t(tx) + " appended " + list_text(own) + " to " + key(k) + " and then read " +
                        key(k) + " = " + list_text(list) +
                        ", which does not end with its own appends",
                    {tx});
          }
        }
        const bool compatible =
            b == transaction_history::no_branch || b == main_[k] || len <= lcp_[b];
        if (own.empty() && writes_after(tx, i, k)) {
          rmws.push_back({k, compatible ? main_[k] : b, len, tx});
        }
        if (!compatible) continue;
        const std::size_t main_size = main_list(k).size();
        if (len > 0) {
          const std::uint32_t w = main_writer(k, len - 1);
          if (w != none) add_edge(edges, w, tx, edge_wr);
        }
        const std::size_t next = next_node_pos(k, len);
        if (next < main_size) {
          add_edge(edges, tx, main_writer(k, next), edge_rw);
        } else {
          for (std::uint32_t u : unobserved(k)) add_edge(edges, tx, u, edge_rw);
        }
      }
    }
    return true;
  }

  // Marks element positions (main branch), and the first failed, garbage and duplicate
  // positions of a branch.
  void walk_branch(std::uint32_t b, bool is_main) {
    const list_branch& br = h_.branches()[b];
    std::uint32_t* writers = element_writers_.data() + element_offsets_[b];
    std::unordered_set<std::int64_t> seen_elsewhere;  // garbage values, and non-main branches
    for (std::size_t i = 0; i < br.elements.size(); ++i) {
      const std::int64_t e = br.elements[i];
      const std::uint32_t w = h_.find_write(br.key, e);
      bool duplicate = false;
      if (w != transaction_history::no_write) {
        const write_record& rec = h_.writes()[w];
        writers[i] = rec.txn | (rec.final_write ? 0 : intermediate_bit);
      }
      if (w == transaction_history::no_write) {
        if (first_garbage_[b] == none) first_garbage_[b] = static_cast<std::uint32_t>(i);
        duplicate = !seen_elsewhere.insert(e).second;
      } else {
        if (first_failed_[b] == none && h_.txns()[h_.writes()[w].txn].status == txn_status::fail) {
          first_failed_[b] = static_cast<std::uint32_t>(i);
        }
        if (is_main) {
          if (write_pos_[w] >= 0)
            duplicate = true;
          else
            write_pos_[w] = static_cast<std::int64_t>(i);
        } else {
          if (write_pos_[w] == -1) write_pos_[w] = -2;  // observed, but not in the main order
          duplicate = !seen_elsewhere.insert(e).second;
        }
      }
      if (duplicate && duplicate_at_[b] == none) duplicate_at_[b] = static_cast<std::uint32_t>(i);
    }
  }

  template <class Rmw, class Describe>
  void lost_updates(std::vector<Rmw>& rmws, Describe describe) {
    std::sort(rmws.begin(), rmws.end(), [](const Rmw& a, const Rmw& b) {
      return std::tie(a.key, a.branch, a.length, a.txn) <
             std::tie(b.key, b.branch, b.length, b.txn);
    });
    // A transaction reading the key twice before writing it is one reader, not two.
    rmws.erase(std::unique(rmws.begin(), rmws.end(),
                           [](const Rmw& a, const Rmw& b) {
                             return a.key == b.key && a.branch == b.branch &&
                                    a.length == b.length && a.txn == b.txn;
                           }),
               rmws.end());
    for (std::size_t i = 0; i < rmws.size();) {
      std::size_t j = i + 1;
      while (j < rmws.size() && rmws[j].key == rmws[i].key && rmws[j].branch == rmws[i].branch &&
             rmws[j].length == rmws[i].length) {
        ++j;
      }
      if (j - i > 1 && want_example(anomaly_kind::lost_update)) {
        std::string text = "transactions read the same version of " + key(rmws[i].key) +
                           " and then all wrote it, so all but one update is lost: ";
        std::vector<std::uint32_t> txns;
        for (std::size_t x = i; x < j && x < i + 4; ++x) {
          if (x > i) text += "; ";
          text += describe(rmws[x]);
          txns.push_back(rmws[x].txn);
        }
        if (j - i > 4) text += "; and " + std::to_string(j - i - 4) + " more";
        example(anomaly_kind::lost_update, text, txns);
      }
      i = j;
    }
  }

  // ---- rw-register ----

  struct version_edge {
    std::uint32_t from;  // write ids
    std::uint32_t to;
    std::uint8_t reason;  // 0: read before write in one transaction; 1: realtime
  };

  // The final write id of txn to key, or no_write.
  std::uint32_t final_write(std::uint32_t txn, std::uint32_t key) const {
    const auto ops = h_.ops(txn);
    for (std::size_t i = ops.size(); i-- > 0;) {
      if (ops[i].kind == op_kind::write && ops[i].key == key) {
        return h_.find_write(key, ops[i].value);
      }
    }
    return transaction_history::no_write;
  }

  std::span<const version_edge> successors(std::uint32_t w) const {
    return std::span<const version_edge>(versions_).subspan(
        version_offsets_[w], version_offsets_[w + 1] - version_offsets_[w]);
  }

  std::span<const std::uint32_t> initial_successors(std::uint32_t key) const {
    return std::span<const std::uint32_t>(initial_succ_)
        .subspan(initial_offsets_[key], initial_offsets_[key + 1] - initial_offsets_[key]);
  }

  void analyze_rw_register() {
    const auto txns = h_.txns();
    const auto writes = h_.writes();
    const std::size_t nkeys = h_.key_count();

    // Version order (1): a transaction read k = v and later wrote k.
    for (std::uint32_t tx = 0; tx < txns.size(); ++tx) {
      if (txns[tx].status != txn_status::ok) continue;
      const auto ops = h_.ops(tx);
      for (std::uint32_t i = 0; i < ops.size(); ++i) {
        const micro_op& op = ops[i];
        if (op.kind != op_kind::read || !op.known || op.nil) continue;
        if (has_own_write_before(tx, i, op.key) || !writes_after(tx, i, op.key)) continue;
        const std::uint32_t from = h_.find_write(op.key, op.value);
        const std::uint32_t to = final_write(tx, op.key);
        if (from == transaction_history::no_write || to == transaction_history::no_write) continue;
        const write_record& fw = writes[from];
        if (fw.txn == tx || !fw.final_write || txns[fw.txn].status == txn_status::fail) continue;
        versions_.push_back({from, to, 0});
      }
    }
    // Version order (2), strict serializability only: realtime order of writers of a key.
    if (realtime_) realtime_versions();

    std::sort(versions_.begin(), versions_.end(), [](const version_edge& a, const version_edge& b) {
      return std::tie(a.from, a.to, a.reason) < std::tie(b.from, b.to, b.reason);
    });
    versions_.erase(std::unique(versions_.begin(), versions_.end(),
                                [](const version_edge& a, const version_edge& b) {
                                  return a.from == b.from && a.to == b.to;
                                }),
                    versions_.end());
    version_offsets_.assign(writes.size() + 1, 0);
    std::vector<bool> has_pred(writes.size(), false);
    for (const version_edge& e : versions_) {
      ++version_offsets_[e.from + 1];
      has_pred[e.to] = true;
      add_edge(writes[e.from].txn, writes[e.to].txn, edge_ww);
    }
    for (std::size_t w = 0; w < writes.size(); ++w) version_offsets_[w + 1] += version_offsets_[w];
    // Initial null precedes every version; its known successors are those with no other.
    initial_offsets_.assign(nkeys + 1, 0);
    auto is_version = [&](std::uint32_t w) {
      return writes[w].final_write && txns[writes[w].txn].status != txn_status::fail;
    };
    for (std::uint32_t w = 0; w < writes.size(); ++w) {
      if (is_version(w) && !has_pred[w]) ++initial_offsets_[writes[w].key + 1];
    }
    for (std::size_t k = 0; k < nkeys; ++k) initial_offsets_[k + 1] += initial_offsets_[k];
    initial_succ_.assign(initial_offsets_[nkeys], 0);
    {
      std::vector<std::uint32_t> cursor(initial_offsets_.begin(), initial_offsets_.end() - 1);
      for (std::uint32_t w = 0; w < writes.size(); ++w) {
        if (is_version(w) && !has_pred[w]) initial_succ_[cursor[writes[w].key]++] = w;
      }
    }

    struct rmw {
      std::uint32_t key, branch, length, txn;  // branch: write id read + 1 (0: null)
    };
    std::vector<rmw> rmws;
    for (std::uint32_t tx = 0; tx < txns.size(); ++tx) {
      if (txns[tx].status != txn_status::ok) continue;
      const auto ops = h_.ops(tx);
      for (std::uint32_t i = 0; i < ops.size(); ++i) {
        const micro_op& op = ops[i];
        if (op.kind != op_kind::read || !op.known) continue;
        const std::uint32_t k = op.key;
        std::vector<std::int64_t>& own = scratch_;
        own_writes_before(tx, i, k, own);
        if (!own.empty()) {
          if ((op.nil || op.value != own.back()) && want_example(anomaly_kind::internal)) {
            example(anomaly_kind::internal,
                    t(tx) + " wrote " + key(k) + " = " + std::to_string(own.back()) +
                        " and then read " + key(k) + " = " + read_text(op),
                    {tx});
          }
          continue;
        }
        const bool rmw_read = writes_after(tx, i, k);
        if (op.nil) {
          if (rmw_read) rmws.push_back({k, 0, 0, tx});
          for (std::uint32_t s : initial_successors(k)) add_edge(tx, writes[s].txn, edge_rw);
          continue;
        }
        const std::uint32_t w = h_.find_write(k, op.value);
        if (w == transaction_history::no_write) {
          if (want_example(anomaly_kind::garbage_read)) {
            example(anomaly_kind::garbage_read,
                    t(tx) + " read " + key(k) + " = " + std::to_string(op.value) +
                        ", which no transaction wrote to " + key(k),
                    {tx});
          }
          continue;
        }
        const write_record& wr = writes[w];
        if (wr.txn == tx) {
          if (want_example(anomaly_kind::internal)) {
            example(anomaly_kind::internal,
                    t(tx) + " read " + key(k) + " = " + std::to_string(op.value) +
                        " before writing that value itself",
                    {tx});
          }
          continue;
        }
        if (txns[wr.txn].status == txn_status::fail) {
          if (want_example(anomaly_kind::g1a)) {
            example(anomaly_kind::g1a,
                    t(tx) + " read " + key(k) + " = " + std::to_string(op.value) + ", written by " +
                        t(wr.txn) + ", which failed (aborted read)",
                    {tx, wr.txn});
          }
          continue;
        }
        if (!wr.final_write) {
          if (want_example(anomaly_kind::g1b)) {
            example(anomaly_kind::g1b,
                    t(tx) + " read " + key(k) + " = " + std::to_string(op.value) +
                        ", an intermediate write of " + t(wr.txn) + " (" + t(wr.txn) + " wrote " +
                        key(k) + " again later in the transaction)",
                    {tx, wr.txn});
          }
          continue;
        }
        if (rmw_read) rmws.push_back({k, w + 1, 0, tx});
        add_edge(wr.txn, tx, edge_wr);
        for (const version_edge& s : successors(w)) add_edge(tx, writes[s.to].txn, edge_rw);
      }
    }
    lost_updates(rmws, [&](const rmw& r) {
      return t(r.txn) + " read " + key(r.key) + " = " +
             (r.branch == 0 ? std::string("null") : std::to_string(writes[r.branch - 1].value)) +
             " and then wrote it";
    });
  }

  bool has_own_write_before(std::uint32_t txn, std::uint32_t index, std::uint32_t key) const {
    const auto ops = h_.ops(txn);
    for (std::uint32_t i = 0; i < index; ++i) {
      if (ops[i].kind != op_kind::read && ops[i].key == key) return true;
    }
    return false;
  }

  // Walks invokes and ok completions in line order, calling on_invoke(txn) / on_complete(txn).
  template <class OnInvoke, class OnComplete>
  void in_realtime_order(OnInvoke on_invoke, OnComplete on_complete) const {
    const auto txns = h_.txns();
    const auto done = h_.completion_order();
    std::size_t c = 0;
    for (std::uint32_t tx = 0; tx < txns.size(); ++tx) {
      while (c < done.size() && txns[done[c]].complete_line < txns[tx].invoke_line) {
        on_complete(done[c++]);
      }
      on_invoke(tx);
    }
    while (c < done.size()) on_complete(done[c++]);
  }

  // For each key, a frontier of the latest completed writes: a newly invoked writer follows each
  // of them. A completed writer replaces the frontier writes that completed before it began,
  // which keeps the edges a transitive reduction (frontiers stay as small as the concurrency).
  void realtime_versions() {
    const auto txns = h_.txns();
    std::vector<std::vector<std::uint32_t>> frontier(h_.key_count());
    in_realtime_order(
        [&](std::uint32_t tx) {
          if (txns[tx].status == txn_status::fail) return;
          for_each_final_write(tx, [&](std::uint32_t w) {
            for (std::uint32_t f : frontier[h_.writes()[w].key]) versions_.push_back({f, w, 1});
          });
        },
        [&](std::uint32_t tx) {
          const std::uint64_t began = txns[tx].invoke_line;
          for_each_final_write(tx, [&](std::uint32_t w) {
            auto& fr = frontier[h_.writes()[w].key];
            std::erase_if(fr, [&](std::uint32_t f) {
              return txns[h_.writes()[f].txn].complete_line < began;
            });
            fr.push_back(w);
          });
        });
  }

  template <class F>
  void for_each_final_write(std::uint32_t tx, F f) const {
    const auto ops = h_.ops(tx);
    for (const micro_op& op : ops) {
      if (op.kind == op_kind::read) continue;
      const std::uint32_t w = h_.find_write(op.key, op.value);
      if (w != transaction_history::no_write && h_.writes()[w].final_write &&
          h_.writes()[w].txn == tx) {
        f(w);
      }
    }
  }

  // ---- realtime edges between transactions ----

  void add_realtime_edges() {
    const auto txns = h_.txns();
    std::vector<std::uint32_t> frontier;
    in_realtime_order(
        [&](std::uint32_t tx) {
          if (!node(tx)) return;
          for (std::uint32_t f : frontier) add_edge(f, tx, edge_rt);
        },
        [&](std::uint32_t tx) {
          const std::uint64_t began = txns[tx].invoke_line;
          std::erase_if(frontier, [&](std::uint32_t f) { return txns[f].complete_line < began; });
          frontier.push_back(tx);
        });
  }

  // ---- cycles ----

  struct family {
    anomaly_kind kind;
    cycle_shape shape;
  };

  void search_cycles() {
    std::uint8_t present = edge_ww | edge_wr | edge_rw | (realtime_ ? edge_rt : 0);
    const scc_set all = strongly_connected(graph_, present);
    if (all.count() == 0) return;

    const std::uint8_t non_rw = edge_ww | edge_wr;
    std::vector<family> families = {
        {anomaly_kind::g0, {edge_ww, edge_ww, edge_ww, 0}},
        {anomaly_kind::g1c, {non_rw, edge_wr, non_rw, 0}},
        {anomaly_kind::g_single, {non_rw | edge_rw, edge_rw, non_rw, 0}},
        {anomaly_kind::g2_item, {non_rw | edge_rw, edge_rw, non_rw | edge_rw, edge_rw}},
    };
    if (realtime_) {
      const std::uint8_t every = non_rw | edge_rw | edge_rt;
      families.push_back(
          {anomaly_kind::g0_realtime, {edge_ww | edge_rt, edge_rt, edge_ww | edge_rt, 0}});
      families.push_back(
          {anomaly_kind::g1c_realtime, {non_rw | edge_rt, edge_wr, non_rw | edge_rt, edge_rt}});
      families.push_back(
          {anomaly_kind::g_single_realtime, {every, edge_rw, non_rw | edge_rt, edge_rt}});
      families.push_back({anomaly_kind::g2_item_realtime,
                          {every, edge_rw, every, static_cast<std::uint8_t>(edge_rw | edge_rt)}});
    }
    // Forbidden shapes first, so a budget spent on allowed ones cannot hide a violation.
    std::stable_partition(families.begin(), families.end(),
                          [&](const family& f) { return forbids(opts_.level, f.kind); });

    cycle_finder finder(graph_);
    std::uint64_t budget = opts_.search_budget;
    std::vector<std::uint8_t> is_start(graph_.size(), 0);
    for (const family& fam : families) {
      const scc_set sccs = strongly_connected(graph_, fam.shape.allowed, &all);
      for (std::uint32_t c = 0; c < sccs.count(); ++c) {
        const auto members = sccs.nodes(c);
        // Only nodes entered by an anchor edge inside the component can close such a cycle.
        for (std::uint32_t v : members) {
          for (std::uint32_t e = graph_.begin(v); e < graph_.end(v); ++e) {
            const std::uint32_t w = graph_.target(e);
            if ((graph_.kind(e) & fam.shape.anchor) != 0 && sccs.component[w] == c) is_start[w] = 1;
          }
        }
        bool found = false;
        for (std::uint32_t v : members) {
          if (!is_start[v] || found || exhausted_) continue;
          auto cycle = finder.shortest_through(v, fam.shape, sccs, c, budget, exhausted_);
          if (cycle) {
            found = true;
            record_cycle(fam.kind, *cycle);
          }
        }
        for (std::uint32_t v : members) is_start[v] = 0;
        if (exhausted_) {
          if (forbids(opts_.level, fam.kind)) unfinished_forbidden_ = true;
          result_.search_exhausted = true;
          return;
        }
      }
    }
  }

  void record_cycle(anomaly_kind kind, const std::vector<cycle_edge>& cycle) {
    if (!want_example(kind)) return;
    anomaly_example ex;
    ex.kind = kind;
    std::size_t rw = 0;
    for (const cycle_edge& e : cycle) {
      if (e.kind == edge_rw) ++rw;
      ex.txns.push_back(e.from);
      dependency d;
      d.from = e.from;
      d.to = e.to;
      d.kind = e.kind;
      explain(d);
      ex.cycle.push_back(std::move(d));
    }
    ex.description = "a cycle of " + std::to_string(cycle.size()) + " transactions with " +
                     (rw == 0   ? std::string("no rw edges")
                      : rw == 1 ? std::string("one rw edge")
                                : std::to_string(rw) + " rw edges") +
                     ":";
    result_.examples.push_back(std::move(ex));
  }

  // ---- explanations (only for edges of reported cycles) ----

  void explain(dependency& d) const {
    const std::uint32_t a = d.from;
    const std::uint32_t b = d.to;
    if (d.kind == edge_rt) {
      d.explanation = t(a) + " completed (line " + std::to_string(h_.txns()[a].complete_line) +
                      ") before " + t(b) + " was invoked (line " +
                      std::to_string(h_.txns()[b].invoke_line) + ")";
      return;
    }
    if (h_.kind() == workload::list_append) {
      explain_list_append(d);
    } else {
      explain_rw_register(d);
    }
    if (d.explanation.empty()) d.explanation = "(dependency inferred from the version order)";
  }

  void explain_list_append(dependency& d) const {
    const std::uint32_t a = d.from;
    const std::uint32_t b = d.to;
    if (d.kind == edge_ww) {
      for (const micro_op& op : h_.ops(b)) {
        if (op.kind != op_kind::append) continue;
        const std::uint32_t k = op.key;
        const std::uint32_t w = h_.find_write(k, op.value);
        const auto main = main_list(k);
        if (write_pos_[w] >= 0) {
          const std::size_t p = prev_node_pos(k, static_cast<std::size_t>(write_pos_[w]));
          if (p != static_cast<std::size_t>(-1) && main_writer(k, p) == a) {
            d.key = key(k);
            d.explanation = t(b) + " appended " + std::to_string(op.value) + " to " + key(k) +
                            " after " + t(a) + " appended " + std::to_string(main[p]) + " (" +
                            key(k) + "'s longest read: " + list_text(main) + ")";
            return;
          }
        } else if (write_pos_[w] == -1) {
          const std::size_t p = prev_node_pos(k, main.size());
          if (p != static_cast<std::size_t>(-1) && main_writer(k, p) == a) {
            d.key = key(k);
            d.explanation = t(b) + " appended " + std::to_string(op.value) + " to " + key(k) +
                            ", which no read observed, so after " + t(a) + "'s " +
                            std::to_string(main[p]) + ", the last element of " + key(k) +
                            "'s longest read " + list_text(main);
            return;
          }
        }
      }
      return;
    }
    const std::uint32_t reader = d.kind == edge_wr ? b : a;
    for (const micro_op& op : h_.ops(reader)) {
      if (op.kind != op_kind::read || !op.known) continue;
      const std::uint32_t k = op.key;
      const auto list = h_.read_list(op);
      const std::uint32_t bb = transaction_history::read_branch(op);
      if (bb != transaction_history::no_branch && bb != main_[k] && list.size() > lcp_[bb])
        continue;
      const auto main = main_list(k);
      if (d.kind == edge_wr) {
        if (!list.empty() && writer_of(k, list.back()) == a) {
          d.key = key(k);
          d.explanation = t(b) + " read " + key(k) + " = " + list_text(list) + ", observing " +
                          t(a) + "'s append of " + std::to_string(list.back());
          return;
        }
        continue;
      }
      const std::size_t next = next_node_pos(k, list.size());
      if (next < main.size()) {
        if (main_writer(k, next) == b) {
          d.key = key(k);
          d.explanation = t(a) + " read " + key(k) + " = " + list_text(list) +
                          ", which did not include " + t(b) + "'s append of " +
                          std::to_string(main[next]) + " (next in " + key(k) + "'s version order " +
                          list_text(main) + ")";
          return;
        }
      } else {
        for (std::uint32_t u : unobserved(k)) {
          if (u != b) continue;
          d.key = key(k);
          d.explanation = t(a) + " read " + key(k) + " = " + list_text(list) +
                          ", which did not include " + t(b) + "'s append to " + key(k) +
                          " (which no read observed, so it comes later)";
          return;
        }
      }
    }
  }

  void explain_rw_register(dependency& d) const {
    const std::uint32_t a = d.from;
    const std::uint32_t b = d.to;
    const auto writes = h_.writes();
    if (d.kind == edge_ww) {
      for (const micro_op& op : h_.ops(a)) {
        if (op.kind != op_kind::write) continue;
        const std::uint32_t w = h_.find_write(op.key, op.value);
        if (!writes[w].final_write) continue;
        for (const version_edge& s : successors(w)) {
          if (writes[s.to].txn != b) continue;
          d.key = key(op.key);
          d.explanation =
              t(b) + " wrote " + key(op.key) + " = " + std::to_string(writes[s.to].value) +
              " after " + t(a) + " wrote " + key(op.key) + " = " + std::to_string(op.value) +
              (s.reason == 0
                   ? " (" + t(b) + " read " + std::to_string(op.value) + " before writing)"
                   : " (" + t(a) + " completed before " + t(b) + " was invoked)");
          return;
        }
      }
      return;
    }
    const std::uint32_t reader = d.kind == edge_wr ? b : a;
    const auto ops = h_.ops(reader);
    for (std::uint32_t i = 0; i < ops.size(); ++i) {
      const micro_op& op = ops[i];
      if (op.kind != op_kind::read || !op.known || has_own_write_before(reader, i, op.key))
        continue;
      const std::uint32_t k = op.key;
      if (d.kind == edge_wr) {
        if (!op.nil && writer_of(k, op.value) == a) {
          d.key = key(k);
          d.explanation =
              t(b) + " read " + key(k) + " = " + std::to_string(op.value) + ", written by " + t(a);
          return;
        }
        continue;
      }
      auto overwritten_by_b = [&](std::uint32_t next) {
        if (writes[next].txn != b) return false;
        d.key = key(k);
        d.explanation = t(a) + " read " + key(k) + " = " + read_text(op) + ", and " + t(b) +
                        " wrote the next version " + std::to_string(writes[next].value);
        return true;
      };
      if (op.nil) {
        for (std::uint32_t s : initial_successors(k)) {
          if (overwritten_by_b(s)) return;
        }
      } else if (const std::uint32_t w = h_.find_write(k, op.value);
                 w != transaction_history::no_write) {
        for (const version_edge& s : successors(w)) {
          if (overwritten_by_b(s.to)) return;
        }
      }
    }
  }

  // ---- verdict and notes ----

  void decide() {
    if (!result_.violations().empty()) {
      result_.verdict = isolation_verdict::invalid;
    } else if (unfinished_forbidden_) {
      result_.verdict = isolation_verdict::unknown;
    } else {
      result_.verdict = isolation_verdict::valid;
    }
  }

  std::string op_text(const micro_op& op) const {
    std::string s = "[";
    s += op.kind == op_kind::append ? "append " : op.kind == op_kind::write ? "w " : "r ";
    s += key(op.key) + " ";
    if (op.kind != op_kind::read) return s + std::to_string(op.value) + "]";
    if (!op.known) return s + "?]";
    return s + read_text(op) + "]";
  }

  void write_notes() {
    std::vector<std::uint32_t> ids;
    for (const anomaly_example& ex : result_.examples)
      ids.insert(ids.end(), ex.txns.begin(), ex.txns.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (std::uint32_t id : ids) {
      const txn_record& r = h_.txns()[id];
      std::string s = t(id) + ": process " + std::to_string(r.process) + ", invoke line " +
                      std::to_string(r.invoke_line);
      if (r.complete_line != 0) {
        s += r.status == txn_status::ok     ? ", ok line "
             : r.status == txn_status::fail ? ", fail line "
                                            : ", info line ";
        s += std::to_string(r.complete_line);
      } else {
        s += ", never completed";
      }
      s += ":";
      for (const micro_op& op : h_.ops(id)) s += " " + op_text(op);
      result_.txn_notes.emplace_back(id, std::move(s));
    }
  }

  const transaction_history& h_;
  const isolation_options& opts_;
  const bool realtime_;
  isolation_result result_;
  std::vector<raw_edge> edges_;
  dependency_graph graph_;
  bool exhausted_ = false;
  bool unfinished_forbidden_ = false;
  std::vector<std::int64_t> scratch_;

  // list-append
  std::vector<std::uint32_t> main_;           // per key: its longest branch
  std::vector<std::uint32_t> lcp_;            // per branch: common prefix with its key's main
  std::vector<std::uint32_t> first_failed_;   // per branch: first element a failed txn wrote
  std::vector<std::uint32_t> first_garbage_;  // per branch: first element nobody wrote
  std::vector<std::uint32_t> duplicate_at_;   // per branch: first repeated element
  std::vector<std::int64_t> write_pos_;  // per write: position in main; -1 unseen; -2 elsewhere
  std::vector<std::size_t> element_offsets_;    // per branch, into element_writers_
  std::vector<std::uint32_t> element_writers_;  // per branch element, see intermediate_bit
  std::vector<std::uint32_t> unobserved_offsets_;
  std::vector<std::uint32_t> unobserved_txns_;

  // rw-register
  std::vector<version_edge> versions_;
  std::vector<std::uint32_t> version_offsets_;
  std::vector<std::uint32_t> initial_offsets_;
  std::vector<std::uint32_t> initial_succ_;
};

}  // namespace detail

/// Checks `history` against `options.level`; see the file comment for what is inferred.
/// Never throws for anomalies (they are the result); allocates O(transactions + micro-ops).
inline isolation_result check_isolation(const transaction_history& history,
                                        const isolation_options& options = {}) {
  return detail::isolation_analysis(history, options).run();
}

}  // namespace dstm::check
