#pragma once
// Histories the HTML timeline tests draw, and a reader for the data a page embeds.

#include <cstdint>
#include <dstm/check/history.hpp>
#include <dstm/check/html.hpp>
#include <dstm/check/isolation.hpp>
#include <dstm/check/linearizability.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace dstm::check::html_test {

/// The README's invalid history, with a hostile value: process 3 reads the string
/// "<script>alert(1)</script>" (never written), so that read is the blamed operation.
inline history stale_read_with_markup() {
  auto e = [](std::int64_t p, event_type t, const char* f, nlohmann::json v) {
    return event{p, t, f, "", std::move(v), 0};
  };
  return {e(1, event_type::invoke, "write", 1),
          e(1, event_type::ok, "write", 1),
          e(2, event_type::invoke, "write", 2),
          e(3, event_type::invoke, "read", nullptr),
          e(3, event_type::ok, "read", 2),
          e(3, event_type::invoke, "read", nullptr),
          e(3, event_type::ok, "read", "<script>alert(1)</script>"),
          e(2, event_type::ok, "write", 2),
          e(4, event_type::invoke, "write", 7),
          e(4, event_type::info, "write", nullptr)};
}

/// One isolation event line in Elle's shape.
inline std::string txn_event(int process, const char* type, const std::string& ops) {
  return "{\"process\": " + std::to_string(process) + ", \"type\": \"" + type +
         "\", \"f\": \"txn\", \"value\": " + ops + "}\n";
}

/// A list-append history with read skew (G-single) among other transactions: T3 appends 2 to
/// both x and y; T4 reads y with T3's 2 but x without it. Key "<b>k</b>" tests escaping.
inline std::string g_single_history() {
  return txn_event(0, "invoke", R"([["append", "x", 1]])") +
         txn_event(1, "invoke", R"([["append", "y", 1], ["r", "x", null]])") +
         txn_event(0, "ok", R"([["append", "x", 1]])") +
         txn_event(1, "ok", R"([["append", "y", 1], ["r", "x", [1]]])") +
         txn_event(2, "invoke", R"([["r", "<b>k</b>", null], ["append", "<b>k</b>", 1]])") +
         txn_event(2, "ok", R"([["r", "<b>k</b>", []], ["append", "<b>k</b>", 1]])") +
         txn_event(0, "invoke", R"([["append", "x", 2], ["append", "y", 2]])") +
         txn_event(3, "invoke", R"([["r", "x", null], ["r", "y", null]])") +
         txn_event(0, "ok", R"([["append", "x", 2], ["append", "y", 2]])") +
         txn_event(1, "invoke", R"([["append", "z", 2]])") +
         txn_event(3, "ok", R"([["r", "x", [1]], ["r", "y", [1, 2]]])") +
         txn_event(1, "info", R"([["append", "z", 2]])") +
         txn_event(2, "invoke", R"([["r", "x", null], ["r", "z", null]])") +
         txn_event(2, "ok", R"([["r", "x", [1, 2]], ["r", "z", [2]]])") +
         txn_event(4, "invoke", R"([["append", "w", 3]])") +
         txn_event(4, "fail", R"([["append", "w", 3]])");
}

/// Write skew (G2-item) on keys "<script>" and "y": both read both empty, each appended to one.
inline std::string g2_history() {
  return txn_event(0, "invoke",
                   R"([["r", "<script>", null], ["r", "y", null], ["append", "<script>", 1]])") +
         txn_event(1, "invoke",
                   R"([["r", "<script>", null], ["r", "y", null], ["append", "y", 1]])") +
         txn_event(0, "ok",
                   R"([["r", "<script>", []], ["r", "y", []], ["append", "<script>", 1]])") +
         txn_event(1, "ok", R"([["r", "<script>", []], ["r", "y", []], ["append", "y", 1]])");
}

/// `n` operations on one register by 5 processes, a write and a read overlapping at a time,
/// with one stale read at operation `bad` (>= 4): it returns the value of two writes ago,
/// overwritten before the read was invoked. Not linearizable.
inline history long_history(std::size_t n, std::size_t bad) {
  history h;
  std::int64_t value = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    const std::int64_t p = static_cast<std::int64_t>(i % 5),
                       q = static_cast<std::int64_t>((i + 1) % 5);
    h.push_back({p, event_type::invoke, "write", "", value + 1, 0});
    h.push_back({q, event_type::invoke, "read", "", nullptr, 0});
    h.push_back({p, event_type::ok, "write", "", value + 1, 0});
    ++value;
    const std::int64_t seen = i + 1 == bad || i == bad ? value - 2 : value;
    h.push_back({q, event_type::ok, "read", "", seen, 0});
  }
  return h;
}

/// The JSON a page embeds for its script (`<script type="application/json" id="dstm-data">`).
inline nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"dstm-data\">";
  const auto start = html.find(open);
  if (start == std::string::npos) throw std::runtime_error("no data block in the page");
  const auto end = html.find("</script>", start);
  return nlohmann::json::parse(html.substr(start + open.size(), end - start - open.size()));
}

/// How often `needle` occurs in `haystack`.
inline std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

inline std::string lin_page(const history& h, const html_options& options = {}) {
  return html_timeline(h, check_linearizable(h), options);
}

inline std::string iso_page(const std::string& text, consistency_level level,
                            const html_options& options = {}) {
  const transaction_history h = parse_transaction_history(text, workload::list_append);
  return html_timeline(h, check_isolation(h, {.level = level}), options);
}

}  // namespace dstm::check::html_test
