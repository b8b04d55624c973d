#pragma once
/// \file
/// The blamed operations of a linearizability check as a Graphviz digraph, and the operation
/// labels that the HTML timeline (<dstm/check/html.hpp>) shares.
///
/// Isolation cycles have their own writer, `isolation_result::dot()`.
/// `dstm-check linearizable FILE --dot OUT.dot` writes this graph.

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "dstm/check/history.hpp"
#include "dstm/check/linearizability.hpp"

namespace dstm::check {

namespace detail::pictures {

/// At most `limit` bytes of `s`, cut at a character boundary, with an ellipsis when cut.
inline std::string clip(std::string s, std::size_t limit) {
  if (s.size() <= limit) return s;
  std::size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s + "\u2026";
}

inline std::string show(const nlohmann::json& v) {
  std::string out;
  hist::write_json_value(out, v);
  return out;
}

/// "cas x [1, 4]", "read x → 3", "write 2": `f`, the key, the argument, and the result when
/// it says more than the argument. `out` is the completion, or nullptr.
inline std::string operation_label(const event& in, const event* out) {
  const bool show_result =
      out != nullptr && out->type == event_type::ok &&
      (in.value.is_null() || (out->value != in.value && !out->value.is_null()));
  std::string label = in.f;
  if (!in.key.empty()) label += " " + clip(in.key, 40);
  if (!in.value.is_null()) label += " " + clip(show(in.value), 60);
  if (show_result) label += " \u2192 " + clip(show(out->value), 60);
  return label;
}

/// The index of the completion of the operation invoked at `invoke`, or `h.size()`.
inline std::size_t completion_of(const history& h, std::size_t invoke) {
  for (std::size_t i = invoke + 1; i < h.size(); ++i)
    if (h[i].process == h[invoke].process) return h[i].type == event_type::invoke ? h.size() : i;
  return h.size();
}

/// "process 3, lines 12–15" / "process 3, line 12 (info on line 20, outcome unknown)".
inline std::string where(const history& h, std::size_t invoke) {
  const std::size_t c = completion_of(h, invoke);
  std::string s = "process " + std::to_string(h[invoke].process) + ", ";
  if (c == h.size())
    return s + "line " + std::to_string(invoke + 1) + " (never completed, outcome unknown)";
  if (h[c].type == event_type::info)
    return s + "line " + std::to_string(invoke + 1) + " (info on line " + std::to_string(c + 1) +
           ", outcome unknown)";
  return s + "lines " + std::to_string(invoke + 1) + "\u2013" + std::to_string(c + 1);
}

inline std::string dot_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c == '\n' ? ' ' : c);
  }
  return out;
}

}  // namespace detail::pictures

/// The blamed operations of `result` (from `check_linearizable(h, ...)`) as a Graphviz digraph:
/// for each key that is not linearizable, one cluster with the last `max_listed` operations of
/// the longest linearizable prefix as a chain in their linearization order, the blamed
/// operation (red) and the other operations that could have come next (dashed), each reached
/// by a dashed edge from the prefix's end: none of them can follow it. A valid result gives an
/// empty graph.
///
/// Throws `std::out_of_range` when `result` names events `h` does not have.
inline std::string linearizability_dot(const history& h, const linearizability_result& result,
                                       std::size_t max_listed = 10) {
  namespace d = detail::pictures;
  std::string out =
      "digraph linearizability {\n  rankdir=LR;\n"
      "  node [shape=box, style=rounded, fontname=\"monospace\"];\n";
  std::size_t cluster = 0;
  for (const key_report& k : result.keys) {
    if (k.result != verdict::invalid || !k.blocked) continue;
    const std::string prefix = "k" + std::to_string(cluster) + "_";
    auto node = [&](std::size_t invoke) {
      if (invoke >= h.size() || h[invoke].type != event_type::invoke)
        throw std::out_of_range("linearizability_dot: the result names event " +
                                std::to_string(invoke) + ", not an invoke of this history");
      const std::size_t c = d::completion_of(h, invoke);
      const event* out = c == h.size() ? nullptr : &h[c];
      return d::dot_escape(d::operation_label(h[invoke], out) +
                           (out != nullptr && out->type == event_type::fail ? " (fail)" : "")) +
             "\\n" + d::dot_escape(d::where(h, invoke));
    };
    out += "  subgraph cluster_" + std::to_string(cluster++) + " {\n    label=\"" +
           d::dot_escape(k.key.empty() ? std::string("the history") : "key " + k.key) +
           ": not linearizable\";\n";
    const std::size_t n = k.order.size(), shown = std::min(n, max_listed);
    std::string last = prefix + "start";
    if (n == shown) {
      out += "    " + last + " [label=\"initial state\", shape=plaintext];\n";
    } else {
      out += "    " + last + " [label=\"" + std::to_string(n - shown) +
             " earlier operations\", shape=plaintext];\n";
    }
    for (std::size_t i = n - shown; i < n; ++i) {
      const std::string id = prefix + "p" + std::to_string(i);
      out += "    " + id + " [label=\"#" + std::to_string(i + 1) + " " + node(k.order[i]) +
             "\", color=\"#1d9a50\"];\n";
      out += "    " + last + " -> " + id + ";\n";
      last = id;
    }
    for (std::size_t c : k.candidates) {
      const bool blamed = c == *k.blocked;
      const std::string id = prefix + "c" + std::to_string(c);
      out += "    " + id + " [label=\"" + node(c) + "\", " +
             (blamed ? "color=\"#d11a2a\", penwidth=2.5"
                     : "color=\"#7a3fc0\", style=\"rounded,dashed\"") +
             "];\n";
      out += "    " + last + " -> " + id + " [style=dashed, color=\"#d11a2a\", label=\"" +
             (blamed ? "blamed: must come next, cannot" : "cannot come next") + "\"];\n";
    }
    out += "  }\n";
  }
  return out + "}\n";
}

}  // namespace dstm::check
