#pragma once
/// \file
/// The transaction dependency graph of the isolation checker: a compressed adjacency array with
/// one byte of edge kind per edge, Tarjan's strongly connected components over a subset of the
/// edge kinds, and a breadth-first search for the shortest cycle of a given shape.
///
/// Everything is flat vectors of 32-bit node ids: building a graph of n nodes and m edges
/// allocates O(n + m) once, never per edge.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace dstm::check {

/// Kinds of dependency edges, as bits so a search can allow a set of them.
enum edge_kind : std::uint8_t {
  edge_ww = 1,  ///< write-write: T2 installed the version after T1's
  edge_wr = 2,  ///< write-read: T2 read T1's version
  edge_rw = 4,  ///< read-write (anti-dependency): T1 read a version T2 overwrote
  edge_rt = 8,  ///< realtime: T1 completed before T2 was invoked
};

/// The short name of one edge kind ("ww", "wr", "rw", "realtime").
constexpr std::string_view edge_name(std::uint8_t kind) noexcept {
  switch (kind) {
    case edge_ww:
      return "ww";
    case edge_wr:
      return "wr";
    case edge_rw:
      return "rw";
    case edge_rt:
      return "realtime";
    default:
      return "?";
  }
}

namespace detail {

/// One edge before the graph is built.
struct raw_edge {
  std::uint32_t from;
  std::uint32_t to;
  std::uint8_t kind;
};

inline constexpr std::uint32_t npos32 = std::numeric_limits<std::uint32_t>::max();

/// A directed multigraph in compressed sparse row form; parallel edges of different kinds are
/// kept (a pair of transactions can be ww- and wr-dependent at once).
class dependency_graph {
 public:
  dependency_graph() = default;

  /// Builds from an edge list with a counting sort by source. Self-loops must not be present.
  dependency_graph(std::uint32_t nodes, const std::vector<raw_edge>& edges)
      : offsets_(static_cast<std::size_t>(nodes) + 1, 0),
        targets_(edges.size()),
        kinds_(edges.size()) {
    for (const raw_edge& e : edges) ++offsets_[e.from + 1];
    for (std::uint32_t v = 0; v < nodes; ++v) offsets_[v + 1] += offsets_[v];
    std::vector<std::uint32_t> cursor(offsets_.begin(), offsets_.end() - 1);
    for (const raw_edge& e : edges) {
      const std::uint32_t i = cursor[e.from]++;
      targets_[i] = e.to;
      kinds_[i] = e.kind;
    }
  }

  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(offsets_.size() - 1); }
  std::size_t edge_count() const noexcept { return targets_.size(); }
  std::uint32_t begin(std::uint32_t v) const noexcept { return offsets_[v]; }
  std::uint32_t end(std::uint32_t v) const noexcept { return offsets_[v + 1]; }
  std::uint32_t target(std::uint32_t e) const noexcept { return targets_[e]; }
  std::uint8_t kind(std::uint32_t e) const noexcept { return kinds_[e]; }

 private:
  std::vector<std::uint32_t> offsets_{0};
  std::vector<std::uint32_t> targets_;
  std::vector<std::uint8_t> kinds_;
};

/// Strongly connected components with more than one node. `component[v]` is the index of v's
/// component in `members` or `npos32` (trivial, or outside the searched subset).
struct scc_set {
  std::vector<std::uint32_t> component;
  std::vector<std::uint32_t> offsets{0};  ///< component c is members[offsets[c], offsets[c+1])
  std::vector<std::uint32_t> members;
  std::size_t count() const noexcept { return offsets.size() - 1; }
  std::span<const std::uint32_t> nodes(std::size_t c) const noexcept {
    return std::span<const std::uint32_t>(members).subspan(offsets[c], offsets[c + 1] - offsets[c]);
  }
};

/// Tarjan's algorithm, iterative (histories have millions of nodes; recursion would overflow).
/// Only edges whose kind intersects `mask` count; when `within` is given, only edges between two
/// nodes of the same `within` component count and only those components' nodes are visited.
inline scc_set strongly_connected(const dependency_graph& g, std::uint8_t mask,
                                  const scc_set* within = nullptr) {
  const std::uint32_t n = g.size();
  scc_set out;
  out.component.assign(n, npos32);
  std::vector<std::uint32_t> index(n, npos32);
  std::vector<std::uint32_t> low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<std::uint32_t> stack;
  struct frame {
    std::uint32_t node;
    std::uint32_t edge;
  };
  std::vector<frame> calls;
  std::uint32_t next_index = 0;

  auto allowed = [&](std::uint32_t from, std::uint32_t e) {
    if ((g.kind(e) & mask) == 0) return false;
    if (within == nullptr) return true;
    return within->component[from] == within->component[g.target(e)];
  };

  auto visit_root = [&](std::uint32_t root) {
    index[root] = low[root] = next_index++;
    stack.push_back(root);
    on_stack[root] = true;
    calls.push_back({root, g.begin(root)});
    while (!calls.empty()) {
      frame& f = calls.back();
      const std::uint32_t v = f.node;
      if (f.edge < g.end(v)) {
        const std::uint32_t e = f.edge++;
        if (!allowed(v, e)) continue;
        const std::uint32_t w = g.target(e);
        if (index[w] == npos32) {
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          on_stack[w] = true;
          calls.push_back({w, g.begin(w)});
        } else if (on_stack[w] && index[w] < low[v]) {
          low[v] = index[w];
        }
        continue;
      }
      calls.pop_back();
      if (!calls.empty()) {
        const std::uint32_t parent = calls.back().node;
        if (low[v] < low[parent]) low[parent] = low[v];
      }
      if (low[v] != index[v]) continue;
      // v roots a component: pop it; keep it only if it has more than one node.
      if (stack.back() == v) {
        stack.pop_back();
        on_stack[v] = false;
        continue;
      }
      const auto c = static_cast<std::uint32_t>(out.count());
      std::uint32_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        out.component[w] = c;
        out.members.push_back(w);
      } while (w != v);
      out.offsets.push_back(static_cast<std::uint32_t>(out.members.size()));
    }
  };

  if (within == nullptr) {
    for (std::uint32_t v = 0; v < n; ++v) {
      if (index[v] == npos32) visit_root(v);
    }
  } else {
    for (std::uint32_t v : within->members) {
      if (index[v] == npos32) visit_root(v);
    }
  }
  return out;
}

/// One edge of a cycle.
struct cycle_edge {
  std::uint32_t from;
  std::uint32_t to;
  std::uint8_t kind;
};

/// The shape of a cycle to look for: every edge's kind is in `allowed`; the cycle's closing edge
/// (into the start node) is of a kind in `anchor`; the other edges contain at least one of each
/// kind in `need` (e.g. a second rw edge for G2-item, a realtime edge for the -realtime kinds).
struct cycle_shape {
  std::uint8_t allowed;
  std::uint8_t anchor;
  std::uint8_t rest;
  std::uint8_t need;
};

/// Breadth-first search for the shortest cycle of a shape through a given node, inside one
/// strongly connected component. The state is (node, which `need` kinds were used), so
/// requirements cost at most a factor of four. Buffers are reused across calls.
class cycle_finder {
 public:
  explicit cycle_finder(const dependency_graph& g) : g_(g) {}

  /// The shortest cycle start ⇝ a → start where a → start has an anchor kind, using only nodes
  /// of component `comp` in `sccs`; nullopt if there is none. Each scanned edge costs one unit
  /// of `budget`; when it runs out the search stops and sets `exhausted`.
  std::optional<std::vector<cycle_edge>> shortest_through(std::uint32_t start,
                                                          const cycle_shape& shape,
                                                          const scc_set& sccs, std::uint32_t comp,
                                                          std::uint64_t& budget, bool& exhausted) {
    const std::uint32_t n = g_.size();
    if (stamp_.size() != static_cast<std::size_t>(n) * 4) {
      stamp_.assign(static_cast<std::size_t>(n) * 4, 0);
      parent_.assign(static_cast<std::size_t>(n) * 4, 0);
      parent_kind_.assign(static_cast<std::size_t>(n) * 4, 0);
      generation_ = 0;
    }
    if (++generation_ == 0) {
      std::fill(stamp_.begin(), stamp_.end(), 0);
      generation_ = 1;
    }
    // Bits of `need`, compacted to two flag bits: bit 0 = first needed kind, bit 1 = second.
    std::uint8_t need_bits[2] = {0, 0};
    int needed = 0;
    for (std::uint8_t k : {edge_ww, edge_wr, edge_rw, edge_rt}) {
      if ((shape.need & k) != 0 && needed < 2) need_bits[needed++] = k;
    }
    const std::uint32_t full = (1u << needed) - 1;
    auto flags_after = [&](std::uint32_t flags, std::uint8_t kind) {
      for (int i = 0; i < needed; ++i) {
        if ((kind & need_bits[i]) != 0) flags |= 1u << i;
      }
      return flags;
    };

    queue_.clear();
    const std::uint32_t s0 = start * 4;
    stamp_[s0] = generation_;
    queue_.push_back(s0);
    for (std::size_t head = 0; head < queue_.size(); ++head) {
      const std::uint32_t s = queue_[head];
      const std::uint32_t v = s / 4;
      const std::uint32_t flags = s % 4;
      for (std::uint32_t e = g_.begin(v); e < g_.end(v); ++e) {
        if (budget == 0) {
          exhausted = true;
          return std::nullopt;
        }
        --budget;
        const std::uint32_t w = g_.target(e);
        const std::uint8_t kind = g_.kind(e);
        if (sccs.component[w] != comp || (kind & shape.allowed) == 0) continue;
        if (w == start && (kind & shape.anchor) != 0 && flags == full) {
          // Closing edge found: walk the parents back to the start.
          std::vector<cycle_edge> cycle;
          cycle.push_back({v, start, static_cast<std::uint8_t>(kind & shape.anchor)});
          for (std::uint32_t t = s; t != s0;) {
            const std::uint32_t p = parent_[t];
            cycle.push_back({p / 4, t / 4, parent_kind_[t]});
            t = p;
          }
          std::reverse(cycle.begin(), cycle.end());
          return cycle;
        }
        if ((kind & shape.rest) == 0 || w == start) continue;
        // Prefer reporting the kind that matters: a needed kind, else the weakest.
        const std::uint8_t used = pick_kind(kind & shape.rest, shape.need);
        const std::uint32_t t = w * 4 + flags_after(flags, used);
        if (stamp_[t] == generation_) continue;
        stamp_[t] = generation_;
        parent_[t] = s;
        parent_kind_[t] = used;
        queue_.push_back(t);
      }
    }
    return std::nullopt;
  }

 private:
  static std::uint8_t pick_kind(std::uint8_t kinds, std::uint8_t need) noexcept {
    for (std::uint8_t k : {edge_rw, edge_rt}) {
      if ((kinds & need & k) != 0) return k;
    }
    for (std::uint8_t k : {edge_ww, edge_wr, edge_rt, edge_rw}) {
      if ((kinds & k) != 0) return k;
    }
    return kinds;
  }

  const dependency_graph& g_;
  std::vector<std::uint32_t> stamp_;
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint8_t> parent_kind_;
  std::vector<std::uint32_t> queue_;
  std::uint32_t generation_ = 0;
};

}  // namespace detail
}  // namespace dstm::check
