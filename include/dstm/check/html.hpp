#pragma once
/// \file
/// Pictures of a history: a self-contained HTML page with a timeline of the operations and the
/// checker's verdict drawn on it.
///
/// `html_timeline(history, result)` takes a history and the result of checking it
/// (`check_linearizable` or `check_isolation`) and returns one HTML document. It needs no
/// network: the styles, the script and the data are inline, and the page names no URL. A
/// browser opens it from a file.
///
/// What the page shows:
/// - one lane per process, one bar per operation (or transaction) from its invoke to its
///   completion, colored by outcome: ok blue, fail pink, info amber. An `info` or never
///   completed operation may take effect at any time after its invoke, so its bar fades out
///   to the end of the history;
/// - the label of each bar (`f`, key and values; a transaction's micro-ops), and everything
///   about it on hover (process, lines, times, its role in the verdict); a click pins it;
/// - linearizability: the operation the checker blames (the one that cannot take effect
///   before it returns, whatever the order before it) circled in red, the operations that
///   could have come next after the longest linearizable prefix dashed purple, the prefix's
///   operations underlined green, and the boundary: the line by which the blamed operation
///   had to take effect;
/// - isolation: every anomaly example, listed with the checker's words; the selected one's
///   transactions outlined in red and its cycle's edges drawn as arrows between their bars
///   (ww, wr, rw dashed, realtime dotted).
///
/// The horizontal axis is the order of the history's lines (the checkers' real-time order),
/// not the `time` field, which only appears on hover. Every string from the history is
/// escaped. Large histories are cut to `html_options::max_operations` bars: the ones nearest
/// the anomaly in the history's order, always including the blamed operations or the
/// anomaly's transactions; hatched bands mark where omitted operations were, and the page
/// says how many there are.
///
/// `dstm-check linearizable FILE --html OUT` and `dstm-check isolation FILE --html OUT` write
/// these pages; see README "Pictures of a failure".

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dstm/check/dot.hpp"
#include "dstm/check/history.hpp"
#include "dstm/check/isolation.hpp"
#include "dstm/check/linearizability.hpp"

namespace dstm::check {

/// How `html_timeline` draws a page.
struct html_options {
  /// Named in the page's title and heading, e.g. the history's file name. May be empty.
  std::string source{};
  /// At most this many bars are drawn; 0 draws every operation. Past it, the operations
  /// nearest the anomaly are kept (see the file comment). Browsers stay responsive with 10,000.
  std::size_t max_operations = 10'000;
};

namespace detail::html {

/// `s` with &, <, >, " and ' replaced by entities: safe as element text and attribute values.
inline std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// JSON text safe inside a `<script>` element: no `<` (so no `</script>` and no `<!--`), `>`
/// or `&` outside escapes. Invalid UTF-8 from a history built in C++ is replaced, not thrown.
inline std::string script_json(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 64);
  for (char c : text) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

using pictures::clip;
using pictures::show;

// Bits of `bar::marks` (the page reads them as data-* attributes).
inline constexpr unsigned mark_blamed = 1;     // lin: cannot take effect before it returns
inline constexpr unsigned mark_candidate = 2;  // lin: could come next after the prefix
inline constexpr unsigned mark_prefix = 4;     // lin: in the longest prefix / linearization
inline constexpr unsigned mark_anomaly = 8;    // iso: in some anomaly example

/// One operation or transaction, as drawn.
struct bar {
  std::int64_t process = 0;
  std::uint64_t invoke_line = 0;
  std::uint64_t completion_line = 0;  // 0: never completed
  std::string_view type = "info";     // ok, fail or info
  std::string label;
  std::vector<std::string> tip;  // hover lines
  unsigned marks = 0;
  std::vector<std::size_t> examples;  // iso: anomaly examples it is part of
  std::int64_t order = -1;            // lin: position in the prefix or linearization
  bool described = false;             // label and the first tip lines filled in
};

/// An arrow between two bars (indices into the bars), for isolation cycles.
struct arrow {
  std::size_t from = 0, to = 0;
  std::string kind;  // ww, wr, rw, realtime
  std::string label;
  std::string text;
  std::size_t example = 0;
};

/// A vertical line at a history line.
struct boundary {
  std::uint64_t line = 0;
  std::string label;
  std::string text;
};

/// Everything one page shows; the two checkers fill it, `render` writes it.
struct page {
  std::string kind;           // "linearizability" or "isolation"
  std::string verdict;        // valid, invalid, unknown
  std::string verdict_words;  // the last line of dstm-check
  std::string summary;        // one sentence
  std::string findings_html;  // the anomaly panel, already escaped
  std::string report;         // the checker's full text
  std::vector<bar> bars;
  std::vector<arrow> arrows;
  std::vector<boundary> boundaries;
  std::vector<nlohmann::json> examples;  // iso: {name, forbidden}
  std::vector<std::size_t> focus;        // bars the anomaly is about
  std::int64_t selected_example = -1;
  std::vector<std::string> legend;  // extra legend entries, by class name
  /// Fills bar i's label and puts its first tip lines before the ones about its role. Only the
  /// bars drawn are described: a million-operation history spends nothing on the others.
  std::function<void(bar&, std::size_t)> describe;

  bar& described(std::size_t i) {
    bar& b = bars[i];
    if (!b.described && describe) describe(b, i);
    b.described = true;
    return b;
  }
};

/// Chooses which bars to draw: all of them, or `cap` of them: the focus bars first, then the
/// ones whose invoke is nearest to a focus bar's invoke (the first ones when there is no focus).
inline std::vector<std::size_t> select(const std::vector<bar>& bars,
                                       const std::vector<std::size_t>& focus, std::size_t cap) {
  std::vector<std::size_t> all(bars.size());
  for (std::size_t i = 0; i < bars.size(); ++i) all[i] = i;
  if (cap == 0 || bars.size() <= cap) return all;
  std::vector<std::uint64_t> focus_lines;
  std::vector<bool> forced(bars.size(), false);
  for (std::size_t f : focus) {
    focus_lines.push_back(bars[f].invoke_line);
    forced[f] = true;
  }
  std::sort(focus_lines.begin(), focus_lines.end());
  auto distance = [&](std::size_t i) -> std::uint64_t {
    if (forced[i]) return 0;
    const std::uint64_t l = bars[i].invoke_line;
    if (focus_lines.empty()) return l + 1;
    auto at = std::lower_bound(focus_lines.begin(), focus_lines.end(), l);
    std::uint64_t d = UINT64_MAX;
    if (at != focus_lines.end()) d = *at - l;
    if (at != focus_lines.begin()) d = std::min(d, l - *(at - 1));
    return d + 1;
  };
  std::vector<std::pair<std::uint64_t, std::size_t>> ranked(bars.size());
  for (std::size_t i = 0; i < bars.size(); ++i) ranked[i] = {distance(i), i};
  std::nth_element(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(cap - 1),
                   ranked.end());
  std::vector<std::size_t> kept;
  kept.reserve(cap);
  for (std::size_t k = 0; k < cap; ++k) kept.push_back(ranked[k].second);
  std::sort(kept.begin(), kept.end());
  return kept;
}

inline std::string_view page_css();
inline std::string_view page_script();

inline std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

/// Writes the page: the static part (heading, verdict, findings, legend, report) escaped in
/// HTML, the bars as JSON for the script that draws the timeline.
inline std::string render(page& p, const html_options& options) {
  const std::vector<std::size_t> kept = select(p.bars, p.focus, options.max_operations);
  for (std::size_t i : kept) p.described(i);
  std::vector<std::size_t> new_index(p.bars.size(), SIZE_MAX);
  for (std::size_t k = 0; k < kept.size(); ++k) new_index[kept[k]] = k;

  // Positions: the distinct lines of the drawn bars' events, in order.
  std::vector<std::uint64_t> lines;
  lines.reserve(kept.size() * 2);
  for (std::size_t i : kept) {
    lines.push_back(p.bars[i].invoke_line);
    if (p.bars[i].completion_line != 0) lines.push_back(p.bars[i].completion_line);
  }
  for (const boundary& b : p.boundaries) lines.push_back(b.line);
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  auto pos = [&](std::uint64_t line) {
    return static_cast<std::int64_t>(std::lower_bound(lines.begin(), lines.end(), line) -
                                     lines.begin());
  };

  // Lanes: processes in numeric order.
  std::vector<std::int64_t> processes;
  for (std::size_t i : kept) processes.push_back(p.bars[i].process);
  std::sort(processes.begin(), processes.end());
  processes.erase(std::unique(processes.begin(), processes.end()), processes.end());
  auto lane = [&](std::int64_t process) {
    return std::lower_bound(processes.begin(), processes.end(), process) - processes.begin();
  };

  const std::size_t omitted = p.bars.size() - kept.size();
  nlohmann::json gaps = nlohmann::json::array();
  if (omitted > 0) {
    std::vector<std::uint64_t> hidden;  // event lines of the omitted bars
    for (std::size_t i = 0; i < p.bars.size(); ++i) {
      if (new_index[i] != SIZE_MAX) continue;
      hidden.push_back(p.bars[i].invoke_line);
      if (p.bars[i].completion_line != 0) hidden.push_back(p.bars[i].completion_line);
    }
    std::sort(hidden.begin(), hidden.end());
    auto between = [&](std::uint64_t lo, std::uint64_t hi) {  // events in (lo, hi)
      return std::lower_bound(hidden.begin(), hidden.end(), hi) -
             std::upper_bound(hidden.begin(), hidden.end(), lo);
    };
    for (std::size_t k = 0; k + 1 < lines.size(); ++k) {
      const auto n = between(lines[k], lines[k + 1]);
      if (n > 0) gaps.push_back({{"after", k}, {"events", n}});
    }
  }

  nlohmann::json data;
  data["kind"] = p.kind;
  data["lines"] = lines;
  nlohmann::json lanes = nlohmann::json::array();
  for (std::int64_t pr : processes) lanes.push_back("process " + std::to_string(pr));
  data["lanes"] = std::move(lanes);
  data["gaps"] = std::move(gaps);
  nlohmann::json ops = nlohmann::json::array();
  for (std::size_t i : kept) {
    const bar& b = p.bars[i];
    nlohmann::json o;
    o["lane"] = lane(b.process);
    o["s"] = pos(b.invoke_line);
    o["c"] = b.completion_line == 0 ? -1 : pos(b.completion_line);
    o["t"] = b.type;
    o["label"] = b.label;
    o["tip"] = b.tip;
    o["m"] = b.marks;
    o["line"] = b.invoke_line;
    o["ref"] = i;
    if (!b.examples.empty()) o["g"] = b.examples;
    if (b.order >= 0) o["order"] = b.order;
    ops.push_back(std::move(o));
  }
  data["ops"] = std::move(ops);
  nlohmann::json arrows = nlohmann::json::array();
  for (const arrow& a : p.arrows) {
    if (new_index[a.from] == SIZE_MAX || new_index[a.to] == SIZE_MAX) continue;
    arrows.push_back({{"a", new_index[a.from]},
                      {"b", new_index[a.to]},
                      {"k", a.kind},
                      {"label", a.label},
                      {"text", a.text},
                      {"g", a.example}});
  }
  data["edges"] = std::move(arrows);
  nlohmann::json marks = nlohmann::json::array();
  for (const boundary& b : p.boundaries)
    marks.push_back({{"pos", pos(b.line)}, {"label", b.label}, {"text", b.text}});
  data["boundaries"] = std::move(marks);
  nlohmann::json focus = nlohmann::json::array();
  for (std::size_t f : p.focus)
    if (new_index[f] != SIZE_MAX) focus.push_back(new_index[f]);
  data["focus"] = std::move(focus);
  data["examples"] = p.examples;
  data["selected"] = p.selected_example;

  const std::string title = "dstm-check " + p.kind + (options.source.empty() ? "" : ": ") +
                            options.source + " \u2014 " + p.verdict;
  std::string out;
  out.reserve(4096 + kept.size() * 200);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + escape(title) + "</title>\n<style>\n";
  out += page_css();
  out += "</style>\n</head>\n<body class=\"kind-" + p.kind + "\">\n<header>\n<h1>";
  out += p.kind == "isolation" ? "Isolation" : "Linearizability";
  if (!options.source.empty()) out += " of <code>" + escape(options.source) + "</code>";
  out += " <span class=\"verdict verdict-" + escape(p.verdict) + "\" id=\"verdict\">" +
         escape(p.verdict_words) + "</span></h1>\n";
  out += "<p class=\"summary\">" + escape(p.summary) + "</p>\n</header>\n";
  out += "<main>\n";
  if (!p.findings_html.empty())
    out += "<section class=\"findings\" id=\"findings\">\n" + p.findings_html + "</section>\n";

  out += "<section class=\"timeline\">\n<div class=\"toolbar\">\n<h2>Timeline</h2>\n";
  out += "<span class=\"count\" id=\"count\">" + plural(kept.size(), "bar", "bars") + ", " +
         plural(processes.size(), "process", "processes") + "</span>\n";
  out +=
      "<button type=\"button\" id=\"zoom-out\" title=\"zoom out\">\u2212</button>"
      "<button type=\"button\" id=\"zoom-in\" title=\"zoom in\">+</button>"
      "<button type=\"button\" id=\"zoom-fit\">fit</button>";
  if (!p.focus.empty())
    out += "<button type=\"button\" id=\"zoom-focus\">show the anomaly</button>";
  out += "\n</div>\n<div class=\"legend\">";
  auto swatch = [&](std::string_view cls, std::string_view words) {
    out += "<span class=\"key\"><span class=\"sw " + std::string(cls) + "\"></span>" +
           std::string(words) + "</span>";
  };
  swatch("sw-ok", "ok");
  swatch("sw-fail", "fail (no effect)");
  swatch("sw-info", "info / never completed (may take effect until the end)");
  for (const std::string& l : p.legend) {
    if (l == "blamed") swatch("sw-blamed", "blamed: cannot take effect before it returns");
    if (l == "candidate") swatch("sw-candidate", "could come next; no order works");
    if (l == "prefix") swatch("sw-prefix", "in the longest linearizable prefix");
    if (l == "linearized") swatch("sw-prefix", "linearized (hover: its place)");
    if (l == "boundary") swatch("sw-boundary", "prefix boundary: the blamed op returns");
    if (l == "anomaly") swatch("sw-anomaly", "transaction of the selected anomaly");
    if (l == "edges")
      out +=
          "<span class=\"key\"><span class=\"ln ln-ww\"></span>ww</span>"
          "<span class=\"key\"><span class=\"ln ln-wr\"></span>wr</span>"
          "<span class=\"key\"><span class=\"ln ln-rw\"></span>rw</span>"
          "<span class=\"key\"><span class=\"ln ln-realtime\"></span>realtime</span>";
  }
  if (omitted > 0) swatch("sw-gap", "omitted operations");
  out += "</div>\n";
  if (omitted > 0)
    out += "<p class=\"note\" id=\"cap-note\">Drawing " + std::to_string(kept.size()) + " of " +
           plural(p.bars.size(), "operation", "operations") + ": the " + std::to_string(omitted) +
           " farthest from the anomaly in the history's order are omitted "
           "(html_options::max_operations). Hatched bands mark where their events were.</p>\n";
  out +=
      "<div class=\"chart\"><div class=\"scroll\" id=\"scroll\"><div class=\"lanes\" "
      "id=\"lanes\"></div><svg id=\"tl\" role=\"img\" aria-label=\"timeline\"></svg></div>"
      "</div>\n";
  out +=
      "<noscript><p class=\"note\">The timeline is drawn by the page's script; the findings "
      "and the report are complete without it.</p></noscript>\n";
  out +=
      "<p class=\"axis-note\">Left to right: the order of the history's lines (real time), "
      "one column per event. Hover a bar to read it; click to pin it below.</p>\n";
  out += "<div class=\"pinned\" id=\"pinned\" hidden></div>\n</section>\n";
  out += "<details class=\"report\"><summary>The checker's report</summary><pre>" +
         escape(p.report) + "</pre></details>\n</main>\n";
  out += "<div class=\"tip\" id=\"tip\" hidden></div>\n";
  out += "<script type=\"application/json\" id=\"dstm-data\">" + script_json(data) +
         "</script>\n<script>\n";
  out += page_script();
  out += "</script>\n</body>\n</html>\n";
  return out;
}

/// "process 3, lines 12-15" and friends, as the linearizability checker words them.
inline std::string where(std::int64_t process, std::uint64_t invoke_line,
                         std::uint64_t completion_line, std::string_view type) {
  std::string s = "process " + std::to_string(process) + ", ";
  if (completion_line == 0)
    return s + "line " + std::to_string(invoke_line) + " (never completed, outcome unknown)";
  if (type == "info")
    return s + "line " + std::to_string(invoke_line) + " (info on line " +
           std::to_string(completion_line) + ", outcome unknown)";
  return s + "lines " + std::to_string(invoke_line) + "\u2013" + std::to_string(completion_line);
}

}  // namespace detail::html

/// A self-contained HTML page drawing history `h` and the verdict `result` of
/// `check_linearizable(h, ...)` on it (see the file comment for what it shows).
///
/// `result` must come from checking `h` itself: its operations are found by their event
/// indices. Throws `std::invalid_argument` when an index is out of range or not an invoke, and
/// `history_error` when `h` breaks the pairing rules (a history the checker accepted never
/// does).
inline std::string html_timeline(const history& h, const linearizability_result& result,
                                 const html_options& options = {}) {
  namespace d = detail::html;
  d::page p;
  p.kind = "linearizability";
  p.verdict = std::string(to_string(result.result));
  p.verdict_words = p.verdict;
  p.report = result.explanation + std::string(to_string(result.result)) + "\n";
  {
    const std::size_t nl = result.explanation.find('\n');
    p.summary = result.explanation.substr(0, nl);
  }

  // Pair invokes with completions; bar k is the k-th invoke.
  std::vector<std::size_t> bar_of(h.size(), SIZE_MAX);
  std::vector<std::size_t> completion_of;
  {
    detail::hist::pairing_validator validator;
    std::unordered_map<std::int64_t, std::size_t> pending;
    for (std::size_t i = 0; i < h.size(); ++i) {
      validator.next(h[i], i + 1);
      if (h[i].type == event_type::invoke) {
        bar_of[i] = completion_of.size();
        pending[h[i].process] = completion_of.size();
        completion_of.push_back(SIZE_MAX);
      } else {
        auto it = pending.find(h[i].process);
        completion_of[it->second] = i;
        pending.erase(it);
      }
    }
  }
  std::vector<std::size_t> invoke_of(completion_of.size());
  for (std::size_t i = 0; i < h.size(); ++i)
    if (bar_of[i] != SIZE_MAX) invoke_of[bar_of[i]] = i;

  p.bars.resize(completion_of.size());
  for (std::size_t k = 0; k < p.bars.size(); ++k) {
    const event* out = completion_of[k] == SIZE_MAX ? nullptr : &h[completion_of[k]];
    d::bar& b = p.bars[k];
    b.process = h[invoke_of[k]].process;
    b.invoke_line = invoke_of[k] + 1;
    b.completion_line = out == nullptr ? 0 : completion_of[k] + 1;
    b.type = out == nullptr ? "info" : to_string(out->type);
  }
  p.describe = [&](d::bar& b, std::size_t k) {
    const event& in = h[invoke_of[k]];
    const event* out = completion_of[k] == SIZE_MAX ? nullptr : &h[completion_of[k]];
    b.label = detail::pictures::operation_label(in, out);
    std::vector<std::string> tip;
    tip.push_back(d::where(b.process, b.invoke_line, b.completion_line, b.type) +
                  (out != nullptr && out->type != event_type::info
                       ? ", " + std::string(to_string(out->type))
                       : ""));
    tip.push_back("f: " + d::clip(in.f, 200) +
                  (in.key.empty() ? "" : ", key: " + d::clip(in.key, 200)));
    tip.push_back("invoked with " + d::clip(d::show(in.value), 400));
    if (out != nullptr)
      tip.push_back(std::string(to_string(out->type)) + " with " +
                    d::clip(d::show(out->value), 400));
    if (in.time != 0 || (out != nullptr && out->time != 0))
      tip.push_back("time " + std::to_string(in.time) +
                    (out != nullptr ? " \u2192 " + std::to_string(out->time) : "") + " ns");
    b.tip.insert(b.tip.begin(), tip.begin(), tip.end());
  };

  auto bar_at = [&](std::size_t event_index) -> std::size_t {
    if (event_index >= h.size() || bar_of[event_index] == SIZE_MAX)
      throw std::invalid_argument("html_timeline: the result names event " +
                                  std::to_string(event_index) +
                                  ", which is not an invoke of this history");
    return bar_of[event_index];
  };
  std::string findings;
  std::size_t invalid_keys = 0;
  for (const key_report& k : result.keys) {
    const std::string key_words =
        k.key.empty() ? std::string("the history (no key)")
                      : "key " + nlohmann::json(k.key).dump(
                                     -1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string on_key = k.key.empty() ? std::string() : " (" + key_words + ")";
    for (std::size_t n = 0; n < k.order.size(); ++n) {
      d::bar& b = p.bars[bar_at(k.order[n])];
      b.marks |= d::mark_prefix;
      b.order = static_cast<std::int64_t>(n + 1);
      b.tip.push_back(k.result == verdict::valid
                          ? "linearized #" + std::to_string(n + 1) + " of " +
                                std::to_string(k.order.size()) + on_key
                          : "#" + std::to_string(n + 1) + " of the " +
                                std::to_string(k.order.size()) +
                                " operations of the longest linearizable prefix" + on_key);
    }
    if (k.result != verdict::invalid || !k.blocked) continue;
    ++invalid_keys;
    const std::size_t blamed = bar_at(*k.blocked);
    for (std::size_t c : k.candidates) {
      const std::size_t i = bar_at(c);
      if (i == blamed) continue;
      p.bars[i].marks |= d::mark_candidate;
      p.bars[i].tip.push_back(
          "could come next after the prefix, but no order that continues "
          "with it works");
      p.focus.push_back(i);
    }
    d::bar& b = p.described(blamed);
    b.marks |= d::mark_blamed;
    b.tip.push_back("BLAMED: must take effect before it returns on line " +
                    std::to_string(b.completion_line) + ", but cannot" + on_key);
    p.focus.push_back(blamed);
    p.boundaries.push_back(
        {b.completion_line,
         (k.key.empty() ? "" : key_words + ", ") + "line " + std::to_string(b.completion_line),
         "Prefix boundary of " + key_words + ": the longest linearizable prefix (" +
             d::plural(k.order.size(), "operation", "operations") + ") cannot be extended; " +
             b.label + " (" + d::where(b.process, b.invoke_line, b.completion_line, b.type) +
             ") had to take effect by here."});

    // The checker's sentence about the prefix names the state it leaves, which only the
    // model can word; take it from the explanation.
    std::string prefix_words;
    for (std::size_t at = 0; at < k.explanation.size();) {
      std::size_t eol = k.explanation.find('\n', at);
      if (eol == std::string::npos) eol = k.explanation.size();
      std::string_view line(k.explanation.data() + at, eol - at);
      line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
      if (line.starts_with("The longest linearizable prefix") ||
          line.starts_with("No operation can be linearized first")) {
        prefix_words = std::string(line);
        break;
      }
      at = eol + 1;
    }
    std::string title = key_words;
    if (!title.empty())
      title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
    findings +=
        "<article class=\"finding\">\n<h3>" + d::escape(title) + ": not linearizable</h3>\n";
    if (!prefix_words.empty())
      findings += "<p>" + d::escape(prefix_words) + " Its operations are underlined green.</p>\n";
    findings += "<p>Then the <span class=\"op-ref blamed\" data-ref=\"" + std::to_string(blamed) +
                "\">" + d::escape(b.label) + "</span> of " +
                d::escape(d::where(b.process, b.invoke_line, b.completion_line, b.type)) +
                " must take effect before it returns on line " + std::to_string(b.completion_line) +
                " (the dashed red line), but it cannot: no operation that could come next leads "
                "to a linearization.</p>\n";
    if (k.candidates.size() > 1)
      findings +=
          "<p>The other operations that could come next, none of which works "
          "either:</p>\n";
    if (k.candidates.size() > 1) findings += "<ul>\n";
    for (std::size_t c : k.candidates) {
      const std::size_t i = bar_at(c);
      if (i == blamed) continue;
      const d::bar& cb = p.described(i);
      findings += "<li><span class=\"op-ref candidate\" data-ref=\"" + std::to_string(i) + "\">" +
                  d::escape(cb.label) + "</span> \u2014 " +
                  d::escape(d::where(cb.process, cb.invoke_line, cb.completion_line, cb.type)) +
                  "</li>\n";
    }
    if (k.candidates.size() > 1) findings += "</ul>\n";
    findings += "<details><summary>The checker's words</summary><pre class=\"words\">" +
                d::escape(k.explanation) + "</pre></details>\n</article>\n";
  }
  if (invalid_keys > 0) {
    p.findings_html = "<h2>What went wrong</h2>\n" + findings;
    p.legend = {"blamed", "candidate", "prefix", "boundary"};
  } else if (result.result == verdict::unknown) {
    std::string words;
    for (const key_report& k : result.keys)
      if (k.result == verdict::unknown) words += k.explanation;
    p.findings_html =
        "<h2>Undecided</h2>\n<p>The time budget ran out; the operations of the "
        "longest linearizable prefix found so far are underlined.</p>\n"
        "<pre class=\"words\">" +
        d::escape(words) + "</pre>\n";
    p.legend = {"prefix"};
  } else {
    p.legend = {"linearized"};
  }
  return d::render(p, options);
}

/// A self-contained HTML page drawing transaction history `h` and the verdict `result` of
/// `check_isolation(h, ...)` on it (see the file comment for what it shows). Every anomaly
/// example is listed with the checker's words; a click on one draws its cycle. The first
/// example the level forbids is drawn first.
///
/// `result` must come from checking `h`: throws `std::invalid_argument` when it names a
/// transaction `h` does not have.
inline std::string html_timeline(const transaction_history& h, const isolation_result& result,
                                 const html_options& options = {}) {
  namespace d = detail::html;
  d::page p;
  p.kind = "isolation";
  p.verdict = result.verdict == isolation_verdict::valid     ? "valid"
              : result.verdict == isolation_verdict::invalid ? "invalid"
                                                             : "unknown";
  p.verdict_words = result.verdict_line();
  p.report = result.report();
  p.summary = p.report.substr(0, p.report.find('\n')) + "; checked against " +
              std::string(name(result.level)) + ".";

  const auto txns = h.txns();
  auto list_text = [](std::span<const std::int64_t> xs) {
    return dstm::check::detail::list_text(xs, "\u2026");
  };
  auto op_text = [&](const micro_op& op) {
    std::string s = op.kind == op_kind::append  ? "append "
                    : op.kind == op_kind::write ? "w "
                                                : "r ";
    s += d::clip(h.key_name(op.key), 60) + " ";
    if (op.kind != op_kind::read) return s + std::to_string(op.value);
    if (!op.known) return s + "?";
    if (h.kind() == workload::list_append) return s + list_text(h.read_list(op));
    return s + (op.nil ? std::string("null") : std::to_string(op.value));
  };
  p.bars.resize(txns.size());
  for (std::size_t id = 0; id < txns.size(); ++id) {
    const txn_record& t = txns[id];
    d::bar& b = p.bars[id];
    b.process = t.process;
    b.invoke_line = t.invoke_line;
    b.completion_line = t.complete_line;
    b.type = t.complete_line == 0           ? "info"
             : t.status == txn_status::ok   ? "ok"
             : t.status == txn_status::fail ? "fail"
                                            : "info";
  }
  p.describe = [&](d::bar& b, std::size_t id) {
    const txn_record& t = txns[id];
    constexpr std::size_t max_listed = 40;
    const std::string tag = "T" + std::to_string(id);
    std::string label = tag + ":";
    std::vector<std::string> tip;
    std::string head = tag + ": process " + std::to_string(t.process) + ", invoke line " +
                       std::to_string(t.invoke_line);
    head += t.complete_line == 0
                ? std::string(", never completed (outcome unknown)")
                : ", " + std::string(b.type) + " line " + std::to_string(t.complete_line);
    tip.push_back(std::move(head));
    const auto ops = h.ops(static_cast<std::uint32_t>(id));
    for (const micro_op& op : ops) {
      const std::string text = op_text(op);
      if (label.size() < 200) label += " " + text;
      if (tip.size() <= max_listed) tip.push_back("  " + text);
    }
    if (ops.size() > max_listed)
      tip.push_back("  \u2026 " + std::to_string(ops.size() - max_listed) + " more micro-ops");
    b.label = d::clip(std::move(label), 160);
    b.tip.insert(b.tip.begin(), tip.begin(), tip.end());
  };

  auto check_id = [&](std::uint32_t id) -> std::size_t {
    if (id >= txns.size())
      throw std::invalid_argument("html_timeline: the result names transaction T" +
                                  std::to_string(id) + ", which this history does not have");
    return id;
  };
  // Forbidden examples first, as dot() orders its clusters.
  std::vector<std::size_t> order;
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t e = 0; e < result.examples.size(); ++e)
      if (forbids(result.level, result.examples[e].kind) == (pass == 0)) order.push_back(e);

  std::string findings;
  std::size_t shown = 0;
  for (std::size_t e : order) {
    const anomaly_example& ex = result.examples[e];
    const std::size_t n = shown++;
    const bool forbidden = forbids(result.level, ex.kind);
    const std::string ex_name = std::string(name(ex.kind));
    p.examples.push_back({{"name", ex_name}, {"forbidden", forbidden}});
    if (p.selected_example < 0 && forbidden) p.selected_example = static_cast<std::int64_t>(n);
    std::vector<std::uint32_t> ids = ex.txns;
    for (const dependency& dep : ex.cycle) {
      ids.push_back(dep.from);
      ids.push_back(dep.to);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (std::uint32_t id : ids) {
      d::bar& b = p.bars[check_id(id)];
      if (b.examples.empty() || b.examples.back() != n) b.examples.push_back(n);
      b.marks |= d::mark_anomaly;
      b.tip.push_back("in " + ex_name + " (" + (forbidden ? "forbidden" : "allowed") + " by " +
                      std::string(name(result.level)) + "), example " + std::to_string(n + 1));
      p.focus.push_back(id);
    }
    for (const dependency& dep : ex.cycle) {
      const std::string kind(edge_name(dep.kind));
      p.arrows.push_back({check_id(dep.from), check_id(dep.to), kind,
                          // Short keys name the edge on the picture; long ones only on hover.
                          kind + (dep.key.empty() || dep.key.size() > 4 ? "" : " " + dep.key),
                          "T" + std::to_string(dep.from) + " \u2192 T" + std::to_string(dep.to) +
                              " (" + kind + "): " + dep.explanation,
                          n});
    }
    findings += "<li class=\"example" + std::string(forbidden ? " forbidden" : " allowed") +
                "\" data-example=\"" + std::to_string(n) + "\" tabindex=\"0\">\n<h3>" +
                d::escape(ex_name) + " <span class=\"level\">" +
                (forbidden ? "forbidden" : "allowed") + " by " +
                d::escape(std::string(name(result.level))) + "</span></h3>\n<p>" +
                d::escape(ex.description) + "</p>\n";
    if (!ex.cycle.empty()) {
      findings += "<ol class=\"edges\">\n";
      for (const dependency& dep : ex.cycle) {
        const std::string kind(edge_name(dep.kind));
        findings += "<li><span class=\"edge-kind ek-" + kind + "\">" + d::escape(kind) +
                    "</span> <strong>T" + std::to_string(dep.from) + " \u2192 T" +
                    std::to_string(dep.to) + "</strong>: " + d::escape(dep.explanation) + "</li>\n";
      }
      findings += "</ol>\n";
    }
    findings += "<ul class=\"txns\">\n";
    for (std::uint32_t id : ids) {
      std::string note;
      for (const auto& [t, words] : result.txn_notes)
        if (t == id) note = words;
      if (note.empty()) note = p.described(id).label;
      findings +=
          "<li><span class=\"op-ref anomaly\" data-ref=\"" + std::to_string(id) + "\">T" +
          std::to_string(id) + "</span> " +
          d::escape(note.substr(note.find(':') == std::string::npos ? 0 : note.find(':') + 1)) +
          "</li>\n";
    }
    findings += "</ul>\n</li>\n";
  }
  if (p.selected_example < 0 && !p.examples.empty()) p.selected_example = 0;
  // The selected example's transactions are the ones to keep when the history is cut.
  if (p.selected_example >= 0) {
    std::vector<std::size_t> first, rest;
    for (std::size_t f : p.focus) {
      const auto& g = p.bars[f].examples;
      (std::find(g.begin(), g.end(), static_cast<std::size_t>(p.selected_example)) != g.end()
           ? first
           : rest)
          .push_back(f);
    }
    first.insert(first.end(), rest.begin(), rest.end());
    p.focus = std::move(first);
  }
  if (!findings.empty()) {
    p.findings_html =
        "<h2>Anomalies</h2>\n<p class=\"hint\">Click an anomaly to draw it on the "
        "timeline.</p>\n<ol class=\"examples\">\n" +
        findings + "</ol>\n";
    if (result.search_exhausted)
      p.findings_html +=
          "<p class=\"note\">The cycle search ran out of budget: some cycles may "
          "be missing.</p>\n";
    p.legend = {"anomaly", "edges"};
  } else if (result.verdict == isolation_verdict::unknown) {
    p.findings_html =
        "<h2>Undecided</h2>\n<p>The cycle search ran out of budget before finding "
        "an anomaly the level forbids.</p>\n";
  }
  return d::render(p, options);
}

namespace detail::html {

inline std::string_view page_css() {
  return R"css(:root {
  --ok: #8ec5f2; --ok-edge: #2f79b9;
  --fail: #f6b8cf; --fail-edge: #c0517d;
  --info: #ffd08a; --info-edge: #d58a12;
  --blamed: #d11a2a; --candidate: #7a3fc0; --prefix: #1d9a50;
  --ww: #2457b5; --wr: #1d9a50; --rw: #d11a2a; --realtime: #6b6b6b;
  --ink: #1d232b; --muted: #5f6b7a; --line: #dfe3e8; --panel: #f6f8fa;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; }
header { padding: 14px 22px 10px; border-bottom: 1px solid var(--line); background: var(--panel); }
h1 { font-size: 19px; margin: 0 0 4px; font-weight: 600; }
h1 code { font-size: 17px; }
h2 { font-size: 15px; margin: 0 10px 6px 0; font-weight: 600; }
h3 { font-size: 14px; margin: 0 0 4px; font-weight: 600; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.summary { margin: 0; color: var(--muted); }
.verdict { display: inline-block; margin-left: 10px; padding: 1px 10px; border-radius: 11px;
  font-size: 13px; color: #fff; vertical-align: 2px; }
.verdict-valid { background: #1d9a50; } .verdict-invalid { background: var(--blamed); }
.verdict-unknown { background: #c7820a; }
main { padding: 12px 22px 30px; }
.findings { margin-bottom: 14px; }
.finding { border-left: 4px solid var(--blamed); background: #fff6f6; padding: 8px 12px;
  margin: 0 0 10px; border-radius: 0 6px 6px 0; }
.finding p { margin: 0 0 6px; }
.finding ul { margin: 0 0 6px; padding-left: 20px; }
pre.words { margin: 6px 0 0; font-size: 12px; background: #fff; border: 1px solid var(--line);
  padding: 8px; border-radius: 4px; overflow-x: auto; }
.op-ref { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px;
  padding: 0 5px; border-radius: 3px; cursor: pointer; white-space: nowrap; }
.op-ref.blamed { background: var(--blamed); color: #fff; }
.op-ref.candidate { border: 1.5px dashed var(--candidate); color: var(--candidate); }
.op-ref.anomaly { background: #fde2e4; color: var(--blamed); font-weight: 600; }
ol.examples { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 10px; }
li.example { flex: 1 1 420px; border: 1px solid var(--line); border-left: 4px solid #b8c0cc;
  border-radius: 0 6px 6px 0; padding: 8px 12px; cursor: pointer; background: #fff; }
li.example.forbidden { border-left-color: var(--blamed); }
li.example.selected { background: #fff6f6; box-shadow: 0 0 0 2px var(--blamed) inset; }
li.example p { margin: 0 0 4px; }
.level { font-weight: 400; font-size: 12px; color: var(--muted); margin-left: 6px; }
ol.edges { margin: 2px 0 4px; padding-left: 22px; font-size: 13px; }
ul.txns { margin: 0; padding-left: 18px; font-size: 12.5px; color: var(--muted);
  font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; list-style: none; padding: 0; }
ul.txns li { margin: 1px 0; }
.edge-kind { display: inline-block; min-width: 30px; text-align: center; font-size: 11px;
  border-radius: 3px; color: #fff; padding: 0 4px; }
.ek-ww { background: var(--ww); } .ek-wr { background: var(--wr); }
.ek-rw { background: var(--rw); } .ek-realtime { background: var(--realtime); }
.hint { margin: 0 0 6px; color: var(--muted); font-size: 13px; }
.toolbar { display: flex; align-items: center; gap: 6px; margin-bottom: 4px; }
.toolbar .count { color: var(--muted); margin-right: auto; }
button { font: inherit; font-size: 13px; padding: 2px 10px; border: 1px solid #c5ccd6;
  background: #fff; border-radius: 5px; cursor: pointer; }
button:hover { background: var(--panel); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; color: var(--muted);
  margin: 0 0 8px; }
.key { display: inline-flex; align-items: center; gap: 5px; }
.sw { display: inline-block; width: 26px; height: 12px; border-radius: 3px; }
.sw-ok { background: var(--ok); border: 1px solid var(--ok-edge); }
.sw-fail { background: var(--fail); border: 1px solid var(--fail-edge); }
.sw-info { background: linear-gradient(90deg, var(--info) 40%, rgba(255,208,138,0.08));
  border: 1px solid var(--info-edge); border-right-style: dashed; }
.sw-blamed { background: var(--ok); border: 2.5px solid var(--blamed); }
.sw-candidate { background: var(--ok); border: 2px dashed var(--candidate); }
.sw-prefix { background: var(--ok); border-bottom: 3px solid var(--prefix); }
.sw-boundary { width: 3px; height: 16px; border-left: 2px dashed var(--blamed); border-radius: 0; }
.sw-anomaly { background: var(--ok); border: 2.5px solid var(--blamed); }
.sw-gap { background: repeating-linear-gradient(135deg, #cfd5dd 0 3px, #fff 3px 6px); }
.ln { display: inline-block; width: 26px; height: 0; border-top: 2px solid; }
.ln-ww { border-color: var(--ww); } .ln-wr { border-color: var(--wr); }
.ln-rw { border-color: var(--rw); border-top-style: dashed; }
.ln-realtime { border-color: var(--realtime); border-top-style: dotted; }
.chart { border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
.scroll { display: flex; overflow: auto; max-height: 78vh; }
.lanes { flex: 0 0 auto; position: sticky; left: 0; z-index: 2; background: var(--panel);
  border-right: 1px solid var(--line); font-size: 12px; color: var(--muted); }
.lanes div { position: absolute; right: 8px; white-space: nowrap; }
svg#tl { display: block; flex: 0 0 auto; }
svg text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.lane-bg { fill: #fff; } .lane-bg.odd { fill: #f8f9fb; }
.tick line { stroke: #e7eaee; } .tick text { font-size: 10px; fill: #8a95a3; }
.op { cursor: pointer; }
.op rect.bar { stroke-width: 1; }
.op.t-ok rect.bar { fill: var(--ok); stroke: var(--ok-edge); }
.op.t-fail rect.bar { fill: var(--fail); stroke: var(--fail-edge); }
.op.t-info rect.bar { fill: var(--info); stroke: var(--info-edge); }
.op rect.tail { fill: url(#tail); stroke: var(--info-edge); stroke-width: 1; stroke-dasharray: 3 3;
  opacity: .9; }
.op text { font-size: 11px; fill: #17202a; pointer-events: none; }
.op text.spill { paint-order: stroke; stroke: #fff; stroke-width: 3.5px; stroke-linejoin: round; }
.op:hover rect.bar { filter: brightness(0.93); }
.op.prefix rect.under { fill: var(--prefix); }
.op.candidate rect.bar { stroke: var(--candidate); stroke-width: 2; stroke-dasharray: 4 2; }
.op.blamed rect.bar, .op.anomaly-on rect.bar { stroke: var(--blamed); stroke-width: 3; }
.op.blamed text, .op.anomaly-on text { font-weight: bold; }
.op.anomaly-off rect.bar { stroke-width: 1.5; stroke-dasharray: 2 2; }
.op.pinned rect.bar { stroke-width: 3.5; filter: drop-shadow(0 0 3px rgba(0, 0, 0, .55)); }
.op.dim { opacity: .45; }
text.outside { font-size: 11px; font-weight: bold; fill: var(--blamed); paint-order: stroke;
  stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
.badge circle { fill: var(--blamed); } .badge text { fill: #fff; font-size: 11px; font-weight: bold; }
.gap rect { fill: url(#hatch); }
.boundary line { stroke: var(--blamed); stroke-width: 2; stroke-dasharray: 6 4; }
.boundary text { font-size: 11px; fill: var(--blamed); font-weight: bold; }
.edge path { fill: none; stroke-width: 2.2; }
.edge text { font-size: 11px; font-weight: bold; paint-order: stroke; stroke: #fff;
  stroke-width: 4px; stroke-linejoin: round; }
.edge.k-ww path { stroke: var(--ww); } .edge.k-ww text { fill: var(--ww); }
.edge.k-wr path { stroke: var(--wr); } .edge.k-wr text { fill: var(--wr); }
.edge.k-rw path { stroke: var(--rw); stroke-dasharray: 7 4; } .edge.k-rw text { fill: var(--rw); }
.edge.k-realtime path { stroke: var(--realtime); stroke-dasharray: 2 3; }
.edge.k-realtime text { fill: var(--realtime); }
.edge:hover path { stroke-width: 3.5; }
.tip { position: fixed; z-index: 10; max-width: 560px; background: #1d232b; color: #f2f4f7;
  font: 12px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; padding: 7px 10px;
  border-radius: 6px; box-shadow: 0 4px 14px rgba(0,0,0,.25); pointer-events: none;
  white-space: pre-wrap; word-break: break-word; }
.pinned { margin-top: 8px; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px;
  background: var(--panel); font: 12.5px/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace;
  white-space: pre-wrap; word-break: break-word; }
.note { color: #7a5200; background: #fff7e6; border: 1px solid #f2d9a6; padding: 6px 10px;
  border-radius: 5px; font-size: 13px; margin: 0 0 8px; }
.axis-note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
details.report { margin-top: 16px; }
details.report pre { font-size: 12px; background: var(--panel); padding: 10px; border-radius: 5px;
  overflow-x: auto; }
)css";
}

inline std::string_view page_script() {
  return R"js((function () {
  'use strict';
  var data = JSON.parse(document.getElementById('dstm-data').textContent);
  var svg = document.getElementById('tl');
  var NS = svg.namespaceURI;  // the HTML parser puts <svg> in the SVG namespace
  var scroll = document.getElementById('scroll');
  var lanesBox = document.getElementById('lanes');
  var tip = document.getElementById('tip');
  var pinnedBox = document.getElementById('pinned');
  var nPos = Math.max(data.lines.length, 1);
  var nLanes = data.lanes.length;
  // Cycles are drawn between lanes: isolation pages leave room there for arrows and labels.
  var rowH = nLanes > 60 ? 16 : nLanes > 30 ? 22 : data.edges.length && nLanes <= 20 ? 42 : 28;
  var barH = rowH > 20 ? Math.min(rowH - 11, 18) : rowH - 4;
  var top = 50, pad = 14, unit = 10, selected = data.selected, pinned = -1;
  var M_BLAMED = 1, M_CANDIDATE = 2, M_PREFIX = 4;
  // The next bar in the same lane: a label may spill past its bar up to there.
  var nextInLane = new Array(data.ops.length).fill(-1);
  (function () {
    var last = new Array(nLanes).fill(-1);
    data.ops.map(function (o, i) { return i; })
      .sort(function (a, b) { return data.ops[a].s - data.ops[b].s || a - b; })
      .forEach(function (i) {
        var l = data.ops[i].lane;
        if (last[l] >= 0) nextInLane[last[l]] = i;
        last[l] = i;
      });
  })();

  function el(name, attrs, parent, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function x(p) { return pad + (p + 0.5) * unit; }
  function endX() { return pad + nPos * unit; }
  function laneY(l) { return top + l * rowH; }
  function barBox(o) {
    var x0 = x(o.s), x1 = o.c >= 0 ? x(o.c) : x0 + Math.min(unit * 0.5, 6);
    var y = laneY(o.lane) + (rowH - barH) / 2;
    return { x0: x0, x1: Math.max(x1, x0 + 3), y: y };
  }
  function inExample(o, g) { return !!o.g && o.g.indexOf(g) >= 0; }
  function viewWidth() { return (scroll.clientWidth || 1200) - lanesBox.offsetWidth; }
  function fitUnit() {
    var w = viewWidth();
    return Math.max(0.5, (w - 2 * pad) / nPos);
  }

  function drawLanes() {
    lanesBox.textContent = '';
    lanesBox.style.height = (top + nLanes * rowH + 12) + 'px';
    var widest = 0;
    data.lanes.forEach(function (name, i) {
      var d = document.createElement('div');
      d.textContent = name;
      d.style.top = (laneY(i) + rowH / 2 - 9) + 'px';
      lanesBox.appendChild(d);
      widest = Math.max(widest, name.length);
    });
    lanesBox.style.width = (widest * 7 + 20) + 'px';
  }

  function render() {
    svg.textContent = '';
    var W = endX() + pad, H = top + nLanes * rowH + 12;
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    var defs = el('defs', {}, svg);
    var grad = el('linearGradient', { id: 'tail', x1: 0, x2: 1, y1: 0, y2: 0 }, defs);
    el('stop', { offset: '0', 'stop-color': '#ffd08a', 'stop-opacity': '0.75' }, grad);
    el('stop', { offset: '1', 'stop-color': '#ffd08a', 'stop-opacity': '0.04' }, grad);
    var hatch = el('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse',
                                patternTransform: 'rotate(45)' }, defs);
    el('rect', { width: 6, height: 6, fill: '#fff' }, hatch);
    el('rect', { width: 3, height: 6, fill: '#d3d9e0' }, hatch);
    ['ww', 'wr', 'rw', 'realtime'].forEach(function (k) {
      var m = el('marker', { id: 'arrow-' + k, viewBox: '0 0 10 10', refX: 9, refY: 5,
                             markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      el('path', { d: 'M0,0 L10,5 L0,10 z', 'class': 'ah-' + k,
                   fill: getComputedStyle(document.body).getPropertyValue('--' + k).trim() || '#333' }, m);
    });

    for (var l = 0; l < nLanes; ++l)
      el('rect', { 'class': 'lane-bg' + (l % 2 ? ' odd' : ''), x: 0, y: laneY(l), width: W,
                   height: rowH }, svg);
    var ticks = el('g', { 'class': 'ticks' }, svg);
    var step = Math.max(1, Math.ceil(64 / unit));
    for (var p = 0; p < nPos; p += step) {
      var t = el('g', { 'class': 'tick' }, ticks);
      el('line', { x1: x(p), x2: x(p), y1: top - 6, y2: H }, t);
      el('text', { x: x(p) + 2, y: top - 10 }, t, 'line ' + data.lines[p]);
    }
    data.gaps.forEach(function (g) {
      var gx = pad + (g.after + 1) * unit;
      var r = el('g', { 'class': 'gap', 'data-gap': g.events }, svg);
      el('rect', { x: gx - Math.max(unit * 0.35, 2), y: top - 4,
                   width: Math.max(unit * 0.7, 4), height: H - top }, r);
      el('title', {}, r, g.events + ' events of omitted operations');
    });

    var tails = el('g', { 'class': 'tails' }, svg);
    var bars = el('g', { 'class': 'bars' }, svg);
    var labels = el('g', { 'class': 'labels' }, svg);
    var charW = 6.7;
    function loud(o) { return (o.m & M_BLAMED) || (selected >= 0 && inExample(o, selected)); }
    function insideRoom(b) { return Math.floor((b.x1 - b.x0 - 8) / charW); }
    // Bars covered by a loud label drawn after its bar keep quiet.
    var quiet = {};
    data.ops.forEach(function (o, i) {
      var b = barBox(o);
      if (!loud(o) || o.label.length <= insideRoom(b)) return;
      var end = b.x1 + 5 + Math.min(o.label.length, 64) * charW;
      for (var j = nextInLane[i]; j >= 0 && barBox(data.ops[j]).x0 < end; j = nextInLane[j])
        quiet[j] = true;
    });
    data.ops.forEach(function (o, i) {
      var b = barBox(o);
      var cls = 'op t-' + o.t;
      var attrs = { 'data-op': i, 'data-type': o.t, 'data-line': o.line };
      if (o.m & M_BLAMED) { cls += ' blamed'; attrs['data-blamed'] = 1; }
      if (o.m & M_CANDIDATE) { cls += ' candidate'; attrs['data-candidate'] = 1; }
      if (o.m & M_PREFIX) { cls += ' prefix'; attrs['data-prefix'] = o.order; }
      if (o.g) {
        attrs['data-examples'] = o.g.join(' ');
        if (selected >= 0) cls += inExample(o, selected) ? ' anomaly-on' : ' anomaly-off';
        if (selected >= 0 && inExample(o, selected)) attrs['data-anomaly'] = 1;
      }
      if (i === pinned) cls += ' pinned';
      attrs['class'] = cls;
      if (o.t === 'info') {
        var tg = el('g', { 'class': 'op t-info', 'data-tail': i }, tails);
        el('rect', { 'class': 'tail', x: b.x1, y: b.y + 2, width: Math.max(endX() - b.x1, 0),
                     height: barH - 4, rx: 2 }, tg);
      }
      var g = el('g', attrs, bars);
      el('rect', { 'class': 'bar', x: b.x0, y: b.y, width: b.x1 - b.x0, height: barH, rx: 3 }, g);
      if (o.m & M_PREFIX)
        el('rect', { 'class': 'under', x: b.x0, y: b.y + barH + 1.5, width: b.x1 - b.x0,
                     height: 3, rx: 1 }, g);
      // Inside the bar if it fits, else just after it, up to the next bar of the lane.
      var inside = insideRoom(b);
      var limit = nextInLane[i] >= 0 ? barBox(data.ops[nextInLane[i]]).x0 : endX() + pad;
      var after = Math.floor((limit - b.x1 - 10) / charW);
      // The blamed operation and the selected anomaly's transactions are never cut short:
      // their label goes after the bar, over whatever follows.
      var loudOut = loud(o) && o.label.length > inside;
      if (barH >= 12 && !loudOut && !quiet[i] && (inside >= 3 || after >= 3)) {
        var out = o.label.length > inside && after > inside;
        var room = out ? after : inside;
        var s = o.label.length > room ? o.label.slice(0, room - 1) + '\u2026' : o.label;
        el('text', { x: out ? b.x1 + 4 : b.x0 + 4, y: b.y + barH / 2 + 4,
                     'class': out ? 'spill' : 'in' }, g, s);
      }
      else if (loudOut)
        el('text', { 'class': 'outside', x: b.x1 + 5, y: b.y + barH / 2 + 4 }, labels,
           o.label.length > 64 ? o.label.slice(0, 63) + '\u2026' : o.label);
      if (o.m & M_BLAMED) {
        var bd = el('g', { 'class': 'badge' }, g);
        el('circle', { cx: b.x0, cy: b.y, r: 7 }, bd);
        el('text', { x: b.x0 - 2, y: b.y + 4 }, bd, '!');
      }
    });

    data.boundaries.forEach(function (m) {
      var bg = el('g', { 'class': 'boundary', 'data-boundary': data.lines[m.pos] }, svg);
      var bx = x(m.pos) + unit * 0.5;
      el('line', { x1: bx, x2: bx, y1: 6, y2: H }, bg);
      var words = 'prefix boundary (' + m.label + ')';
      var left = bx + 5 + words.length * charW > W;
      el('text', { x: left ? bx - 5 : bx + 5, y: 16, 'text-anchor': left ? 'end' : 'start' },
         bg, words);
      el('title', {}, bg, m.text);
    });

    // Arrows between bars that overlap in time run straight up or down through the overlap,
    // several edges of one pair side by side; between bars apart in time they curve through
    // the gap between the lanes; within a lane they arc above it.
    var edges = el('g', { 'class': 'edges' }, svg);
    var shown = data.edges.filter(function (e) { return e.g === selected; });
    var pairs = {};
    shown.forEach(function (e) {
      var key = Math.min(e.a, e.b) + ':' + Math.max(e.a, e.b);
      pairs[key] = (pairs[key] || 0) + 1;
    });
    var seen = {}, k = 0;
    data.edges.forEach(function (e, i) {
      if (e.g !== selected) return;
      var a = barBox(data.ops[e.a]), b = barBox(data.ops[e.b]);
      var key = Math.min(e.a, e.b) + ':' + Math.max(e.a, e.b);
      var nth = seen[key] = (seen[key] || 0) + 1;
      var lo = Math.max(a.x0, b.x0), hi = Math.min(a.x1, b.x1);
      var down = b.y > a.y, same = b.y === a.y;
      var g = el('g', { 'class': 'edge k-' + e.k, 'data-edge': i }, edges);
      var marker = 'url(#arrow-' + e.k + ')';
      if (!same && hi - lo > 10) {
        var ex = lo + (hi - lo) * nth / (pairs[key] + 1);
        var y1 = down ? a.y + barH : a.y, y2 = down ? b.y : b.y + barH;
        el('path', { d: 'M' + ex + ',' + y1 + ' L' + ex + ',' + y2, 'marker-end': marker }, g);
        var ly = down ? a.y + barH + (rowH - barH) / 2 + 4 : a.y - (rowH - barH) / 2 + 4;
        var leftSide = nth * 2 <= pairs[key];  // of two side by side, the first on the left
        el('text', { x: leftSide ? ex - 5 : ex + 5, y: ly,
                     'text-anchor': leftSide ? 'end' : 'start' }, g, e.label);
        return;
      }
      if (!same) {
        // Apart in time: an S-curve through the gap between the lanes, where the label goes.
        // Each edge of a pair leaves and reaches its bars at the same fraction of their
        // length, so the curves run side by side without crossing.
        var f = nth / (pairs[key] + 1);
        var ax = a.x0 + (a.x1 - a.x0) * f, bx = b.x0 + (b.x1 - b.x0) * f;
        var ay = down ? a.y + barH : a.y, by = down ? b.y : b.y + barH;
        var ym = (down ? a.y + barH + (rowH - barH) / 2 : a.y - (rowH - barH) / 2) +
                 (nth * 2 - pairs[key] - 1) * 4;
        el('path', { d: 'M' + ax + ',' + ay + ' C' + ax + ',' + ym + ' ' + bx + ',' + ym + ' ' +
                     bx + ',' + by, 'marker-end': marker }, g);
        var side = pairs[key] < 2 ? 0 : nth * 2 <= pairs[key] ? -1 : 1;  // two: outward
        el('text', { x: (ax + bx) / 2 + side * 5, y: ym + 4,
                     'text-anchor': side < 0 ? 'end' : side > 0 ? 'start' : 'middle' }, g, e.label);
        return;
      }
      // The same lane: an arc above it.
      var sx = (a.x0 + a.x1) / 2, tx = (b.x0 + b.x1) / 2;
      var cy = a.y - Math.max(22, Math.min(60, Math.abs(tx - sx) / 4)) - 6 * k;
      el('path', { d: 'M' + sx + ',' + a.y + ' Q' + (sx + tx) / 2 + ',' + cy + ' ' + tx + ',' + b.y,
                   'marker-end': marker }, g);
      el('text', { x: (sx + tx) / 2, y: (a.y + cy) / 2, 'text-anchor': 'middle' }, g, e.label);
      ++k;
    });
  }

  function opText(i) {
    var o = data.ops[i];
    var lines = o.tip.slice();
    lines.splice(1, 0, o.label);
    return lines.join('\n');
  }
  function showTip(text, ev) {
    tip.textContent = text;
    tip.hidden = false;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = ev.clientX + 14, topY = ev.clientY + 14;
    if (left + w > window.innerWidth - 8) left = Math.max(8, ev.clientX - w - 14);
    if (topY + h > window.innerHeight - 8) topY = Math.max(8, ev.clientY - h - 14);
    tip.style.left = left + 'px';
    tip.style.top = topY + 'px';
  }
  function hoverTarget(ev) {
    var t = ev.target.closest ? ev.target.closest('[data-op],[data-edge],[data-tail]') : null;
    if (!t) return null;
    if (t.hasAttribute('data-edge')) return data.edges[+t.getAttribute('data-edge')].text;
    var i = +(t.getAttribute('data-op') || t.getAttribute('data-tail'));
    return opText(i);
  }
  svg.addEventListener('mousemove', function (ev) {
    var text = hoverTarget(ev);
    if (text === null) { tip.hidden = true; return; }
    showTip(text, ev);
  });
  svg.addEventListener('mouseleave', function () { tip.hidden = true; });
  function pin(i) {
    pinned = i;
    pinnedBox.hidden = false;
    pinnedBox.textContent = opText(i);
    render();
  }
  svg.addEventListener('click', function (ev) {
    var t = ev.target.closest ? ev.target.closest('[data-op],[data-tail]') : null;
    if (t) pin(+(t.getAttribute('data-op') || t.getAttribute('data-tail')));
  });

  function zoomTo(u, centerPos) {
    var c = centerPos === undefined
      ? (scroll.scrollLeft + viewWidth() / 2 - pad) / unit : centerPos;
    unit = Math.min(160, Math.max(0.5, u));
    render();
    scroll.scrollLeft = Math.max(0, pad + c * unit - viewWidth() / 2);
  }
  function focusRange() {
    if (!data.focus.length) return null;
    var ids = data.focus;
    if (selected >= 0) {
      var sel = ids.filter(function (i) { return inExample(data.ops[i], selected); });
      if (sel.length) ids = sel;
    }
    var lo = Infinity, hi = -Infinity, top = Infinity, bottom = -Infinity;
    ids.forEach(function (i) {
      var o = data.ops[i];
      lo = Math.min(lo, o.s);
      hi = Math.max(hi, o.c >= 0 ? o.c : o.s);
      top = Math.min(top, o.lane);
      bottom = Math.max(bottom, o.lane);
    });
    return [lo, hi, top, bottom];
  }
  function showFocus() {
    // Readable labels around the anomaly, with some context; the whole history if it fits.
    var r = focusRange(), f = fitUnit();
    if (!r || f >= 16) {
      zoomTo(f, nPos / 2);
    } else {
      var span = r[1] - r[0] + 1;
      zoomTo(Math.min(48, Math.max(16, (viewWidth() - 2 * pad) / (span + 24))),
             (r[0] + r[1]) / 2);
    }
    if (r && (laneY(r[3]) + rowH > scroll.scrollTop + scroll.clientHeight ||
              laneY(r[2]) < scroll.scrollTop))
      scroll.scrollTop = Math.max(0, laneY(r[2]) - 2 * rowH);
  }
  document.getElementById('zoom-in').onclick = function () { zoomTo(unit * 1.5); };
  document.getElementById('zoom-out').onclick = function () { zoomTo(unit / 1.5); };
  document.getElementById('zoom-fit').onclick = function () { zoomTo(fitUnit(), nPos / 2); };
  var zf = document.getElementById('zoom-focus');
  if (zf) zf.onclick = showFocus;

  document.querySelectorAll('[data-example]').forEach(function (li) {
    var g = +li.getAttribute('data-example');
    if (g === selected) li.classList.add('selected');
    function choose() {
      selected = g;
      document.querySelectorAll('[data-example]').forEach(function (o) {
        o.classList.toggle('selected', +o.getAttribute('data-example') === g);
      });
      showFocus();
    }
    li.addEventListener('click', choose);
    li.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') choose(); });
  });
  document.querySelectorAll('.op-ref[data-ref]').forEach(function (s) {
    s.addEventListener('click', function (ev) {
      ev.stopPropagation();
      var id = +s.getAttribute('data-ref');
      for (var i = 0; i < data.ops.length; ++i)
        if (data.ops[i].ref === id) { pin(i); break; }
    });
  });

  drawLanes();
  unit = fitUnit();
  showFocus();
  svg.setAttribute('data-rendered', data.ops.length);
})();
)js";
}

}  // namespace detail::html

}  // namespace dstm::check
