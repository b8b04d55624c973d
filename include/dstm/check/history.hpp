#pragma once
/// \file
/// Histories of operations, in the JSON-lines format of Jepsen and Porcupine, and a recorder
/// that captures them from simulated or real runs.
///
/// One event per line:
///
///     {"process": 3, "type": "invoke", "f": "cas", "key": "x", "value": [1, 4]}
///     {"process": 3, "type": "ok", "f": "cas", "key": "x", "value": [1, 4]}
///
/// - `type`: `invoke`, then exactly one completion by the same process: `ok`, `fail` (the
///   operation definitely had no effect; for a cas, the compare did not match) or `info` (the
///   outcome is unknown: it may take effect at any time after the invoke, or never). A process
///   whose operation ended `info`, or never ended, should issue nothing more (Jepsen gives the
///   client a fresh process id); where it does anyway, the unknown operation simply stays
///   concurrent with everything after it.
/// - `f`: the operation's name, which the checker's model interprets (`read`, `write`, `cas`,
///   `add`, `acquire`, `release`, ...).
/// - `key`: optional; histories without keys act on one object.
/// - `value`: any JSON; `null` when absent. A read's `ok` carries the value read.
/// - `time`: optional, integer nanoseconds; informational (order is the order of the lines).
///
/// Other fields (Jepsen's `index`, `error`, ...) are accepted and ignored.

#include <cstddef>
#include <cstdint>
#include <istream>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dstm/check/detail/history_line.hpp"
#include "dstm/error.hpp"

namespace dstm::check {

/// What an event says about its operation.
enum class event_type { invoke, ok, fail, info };

/// The word the format uses for `t`.
constexpr std::string_view to_string(event_type t) noexcept {
  switch (t) {
    case event_type::invoke: return "invoke";
    case event_type::ok: return "ok";
    case event_type::fail: return "fail";
    case event_type::info: return "info";
  }
  return "?";
}

/// One line of a history.
struct event {
  std::int64_t process = 0;
  event_type type = event_type::invoke;
  std::string f;
  std::string key;       ///< empty: the history's single, unnamed object
  nlohmann::json value;  ///< null, int, [from, to], list, ...
  std::int64_t time = 0; ///< nanoseconds; 0 when absent

  friend bool operator==(const event&, const event&) = default;
};

/// Events in real-time order: an event happened before every event after it.
using history = std::vector<event>;

/// A history that cannot be read or is not well formed. `what()` is "line N: reason", where
/// line N is the 1-based line of the offending event (for an in-memory history: its index + 1,
/// which is its line in `write_history`'s output).
class history_error : public dstm::error {
 public:
  history_error(std::size_t line, std::string reason)
      : dstm::error(make_error_code(errc::invalid_argument), reason),
        line_(line),
        reason_(std::move(reason)),
        message_("line " + std::to_string(line_) + ": " + reason_) {}

  std::size_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::size_t line_;
  std::string reason_;
  std::string message_;
};

namespace detail::hist {

/// Checks the pairing rules a history must follow, event by event: an invoke only by a process
/// with nothing pending; a completion only for the process's pending operation, with its `f`
/// and `key`. Feed events in order; throws `history_error` naming `line`.
///
/// A process that invokes again after an `info` is accepted although Jepsen's convention
/// forbids it (real Jepsen etcd histories do it after timed-out reads): the `info` operation
/// simply stays concurrent with everything after it.
class pairing_validator {
 public:
  void next(const event& e, std::size_t line) {
    process_state& p = processes_[e.process];
    if (e.type == event_type::invoke) {
      if (p.pending_line != 0)
        throw history_error(line, "process " + std::to_string(e.process) +
                                      " invokes an operation while its operation of line " +
                                      std::to_string(p.pending_line) + " is still pending");
      p.pending_line = line;
      p.f = e.f;
      p.key = e.key;
      return;
    }
    if (p.pending_line == 0)
      throw history_error(line, "process " + std::to_string(e.process) + " completes (" +
                                    std::string(to_string(e.type)) +
                                    ") an operation it never invoked");
    if (e.f != p.f)
      throw history_error(line, "process " + std::to_string(e.process) + " completes \"" + e.f +
                                    "\" but invoked \"" + p.f + "\" on line " +
                                    std::to_string(p.pending_line));
    if (e.key != p.key)
      throw history_error(line, "process " + std::to_string(e.process) +
                                    " completes on key \"" + e.key + "\" but invoked on key \"" +
                                    p.key + "\" on line " + std::to_string(p.pending_line));
    p.pending_line = 0;
  }

 private:
  struct process_state {
    std::size_t pending_line = 0;  // 0: nothing pending
    std::string f;
    std::string key;
  };
  std::unordered_map<std::int64_t, process_state> processes_;
};

inline void write_json_value(std::string& out, const nlohmann::json& j) {
  if (j.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& element : j) {
      if (!first) out += ", ";
      first = false;
      write_json_value(out, element);
    }
    out += ']';
  } else if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [name, element] : j.items()) {
      if (!first) out += ", ";
      first = false;
      out += nlohmann::json(name).dump();
      out += ": ";
      write_json_value(out, element);
    }
    out += '}';
  } else {
    out += j.dump();
  }
}

}  // namespace detail::hist

namespace detail::hist {

/// Reads every line of `lines` as an event (see `parse_history`).
inline history read_lines(line_reader& lines, std::size_t expected_events) {
  history h;
  h.reserve(expected_events);
  pairing_validator validator;
  history_line_reader reader;
  raw_event raw;
  line_error error;
  std::size_t blank_line = 0;  // first blank line not yet followed by an event
  std::string_view text;
  while (lines.next(text)) {
    const std::size_t line = lines.line_number();
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) {
      if (blank_line == 0) blank_line = line;
      continue;
    }
    if (blank_line != 0)
      throw history_error(blank_line,
                          "blank line inside the history (only trailing ones are "
                          "allowed)");
    if (!reader.read(text, raw, error)) throw history_error(line, std::move(error.reason));
    h.push_back(event{raw.process, static_cast<event_type>(raw.type), std::move(raw.f),
                      std::move(raw.key), std::move(raw.value), raw.time});
    validator.next(h.back(), line);
  }
  return h;
}

}  // namespace detail::hist

/// Parses a history from JSON-lines text. Blank lines are allowed only at the end, so that the
/// line numbers in errors and in the checkers' explanations are the event's index + 1.
/// Throws `history_error` ("line N: reason") for malformed JSON, a missing or mistyped field,
/// or an event that breaks the pairing rules (see the file comment).
inline history parse_history(std::string_view text) {
  detail::line_reader lines(text);
  return detail::hist::read_lines(lines, text.size() / 56);  // a typical event is 55-70 bytes
}

/// Reads a whole history from `in` (see `parse_history`). Throws `history_error` for bad
/// content; a stream that fails before its end throws `history_error` with line 0.
inline history read_history(std::istream& in) {
  detail::line_reader lines(in);
  history h = detail::hist::read_lines(lines, 0);
  if (in.bad()) throw history_error(0, "read error");
  return h;
}

/// One event as a line of the format (without the newline): keys in the order process, type,
/// f, key (omitted when empty), value, time (omitted when 0), written like the example
/// (`{"process": 3, "type": "invoke", "f": "cas", "value": [1, 4]}`).
inline std::string to_json_line(const event& e) {
  std::string out;
  out.reserve(64);
  out += "{\"process\": ";
  out += std::to_string(e.process);
  out += ", \"type\": \"";
  out += to_string(e.type);
  out += "\", \"f\": ";
  out += nlohmann::json(e.f).dump();
  if (!e.key.empty()) {
    out += ", \"key\": ";
    out += nlohmann::json(e.key).dump();
  }
  out += ", \"value\": ";
  detail::hist::write_json_value(out, e.value);
  if (e.time != 0) {
    out += ", \"time\": ";
    out += std::to_string(e.time);
  }
  out += '}';
  return out;
}

/// Writes `h` one JSON object per line; `read_history` reads it back to an equal history.
inline void write_history(std::ostream& out, const history& h) {
  for (const auto& e : h) out << to_json_line(e) << '\n';
}

/// Captures a history from concurrent clients: each operation is an `invoke` followed by one
/// `complete` from the same process. Thread-safe: events are ordered by the moment their call
/// takes the recorder's lock, so call `invoke` before the operation starts and `complete`
/// after it ends. Time is supplied by the caller (the coordinator's `now()` in the simulation);
/// the recorder reads no clock.
///
/// Misuse throws `history_error` (line = the would-be line of the event) and records nothing:
/// completing an operation that was never invoked or with another `f` or `key`, invoking
/// while an operation is pending, or passing `event_type::invoke` to `complete`.
class recorder {
 public:
  /// Records that `process` starts operation `f` on `key` with argument `value`.
  void invoke(std::int64_t process, std::string f, std::string key, nlohmann::json value,
              std::int64_t time = 0) {
    add(event{process, event_type::invoke, std::move(f), std::move(key), std::move(value), time});
  }

  /// Records the end of `process`'s pending operation: `ok` (with the result, e.g. the value a
  /// read returned), `fail` (no effect) or `info` (unknown outcome; give the client a fresh
  /// process id for its next operation, as Jepsen does).
  void complete(std::int64_t process, event_type type, std::string f, std::string key,
                nlohmann::json value, std::int64_t time = 0) {
    if (type == event_type::invoke) {
      std::lock_guard lock(mutex_);
      throw history_error(events_.size() + 1, "complete() needs ok, fail or info, not invoke");
    }
    add(event{process, type, std::move(f), std::move(key), std::move(value), time});
  }

  /// A copy of the events so far (operations still running appear as bare invokes, which the
  /// checkers treat as outcome unknown).
  history events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  /// Writes the events so far in the JSON-lines format.
  void write(std::ostream& out) const { write_history(out, events()); }

 private:
  void add(event e) {
    std::lock_guard lock(mutex_);
    validator_.next(e, events_.size() + 1);
    events_.push_back(std::move(e));
  }

  mutable std::mutex mutex_;
  history events_;
  detail::hist::pairing_validator validator_;
};

}  // namespace dstm::check
