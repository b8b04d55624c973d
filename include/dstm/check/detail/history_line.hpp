#pragma once
/// \file
/// Reads one line of an operation history (`{"process": 3, "type": "ok", "f": "cas", ...}`) with
/// the checkers' one JSON scanner, `json_cursor` (<dstm/check/detail/jsonl.hpp>), which the
/// transaction-history reader of the isolation checker uses too. Only `value` (any JSON) and the
/// rare mistyped field are built as nlohmann values; numbers are typed as nlohmann's own parser
/// types them (non-negative integers unsigned, negative ones signed, the rest floating-point), so
/// that values compare and hash alike whichever way they were made.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "dstm/check/detail/jsonl.hpp"

namespace dstm::check::detail::hist {

/// The fields of one event as the line gives them; `type` is 0..3 in `event_type`'s order.
struct raw_event {
  std::int64_t process = 0;
  int type = 0;
  std::string f;
  std::string key;
  nlohmann::json value;
  std::int64_t time = 0;
};

/// A line that is not a well-formed event: `reason` is what the history's error says after
/// "line N: " ("invalid JSON: column 5: expected ...", "missing field \"process\"", ...).
struct line_error {
  std::string reason;
};

/// Roughly log10 of a number's magnitude: positive for a double's overflow, negative for its
/// underflow (the only two ways a well-formed number is out of a double's range).
inline long decimal_order(std::string_view text) {
  std::size_t i = text[0] == '-' ? 1 : 0;
  long order = 0;
  while (i < text.size() && text[i] == '0') ++i;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) ++order;
  if (order == 0 && i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && text[i] == '0'; ++i) --order;
  }
  if (const auto e = text.find_first_of("eE"); e != std::string_view::npos) {
    long exponent = 0;
    std::from_chars(text.data() + e + 1 + (text[e + 1] == '+'), text.data() + text.size(),
                    exponent);
    // An exponent beyond `long` leaves 0: stand in for it with a large one of its sign.
    if (exponent == 0 && text.find_first_of("123456789", e + 1) != std::string_view::npos)
      exponent = text[e + 1] == '-' ? -100000 : 100000;
    order += exponent;
  }
  return order;
}

/// A number's text (checked by `json_cursor::number`, which started at `column`) as nlohmann's
/// parser would type it. A number too large for a double is an error, as it is for nlohmann.
inline nlohmann::json number_value(const json_number& n, std::size_t column) {
  const char* first = n.text.data();
  const char* last = first + n.text.size();
  if (n.integral) {
    if (*first == '-') {
      std::int64_t v = 0;
      if (auto [p, ec] = std::from_chars(first, last, v); ec == std::errc() && p == last) return v;
    } else {
      std::uint64_t v = 0;
      if (auto [p, ec] = std::from_chars(first, last, v); ec == std::errc() && p == last) return v;
    }
  }
  double d = 0;
  if (std::from_chars(first, last, d).ec != std::errc() && decimal_order(n.text) > 0) {
    throw json_syntax_error(column, "number out of range");
  }
  return d;  // an underflow leaves 0, as strtod gives nlohmann
}

/// Builds the value at the cursor as an nlohmann value.
inline nlohmann::json json_value(json_cursor& c, std::string& scratch, int depth = 0) {
  if (depth > json_cursor::max_depth) c.fail("nesting deeper than 256 levels");
  switch (c.peek()) {
    case '"':
      return std::string(c.string(scratch));
    case '[': {
      c.expect('[', "'['");
      nlohmann::json out = nlohmann::json::array();
      if (c.try_consume(']')) return out;
      do {
        out.push_back(json_value(c, scratch, depth + 1));
      } while (c.try_consume(','));
      c.expect(']', "',' or ']' in an array");
      return out;
    }
    case '{': {
      c.expect('{', "'{'");
      nlohmann::json out = nlohmann::json::object();
      if (c.try_consume('}')) return out;
      do {
        std::string name(c.key(scratch));
        out[std::move(name)] = json_value(c, scratch, depth + 1);  // the last duplicate wins
      } while (c.try_consume(','));
      c.expect('}', "',' or '}' in an object");
      return out;
    }
    default: {
      bool b = false;
      if (c.try_boolean(b)) return b;
      if (c.try_null()) return nullptr;
      const std::size_t column = c.column();
      return number_value(c.number(), column);
    }
  }
}

/// How the error words a value of the wrong type: `the number 1.5`, `the string "x"`, `array`.
inline std::string json_type_word(const nlohmann::json& j) {
  if (j.is_number()) return "the number " + j.dump();
  if (j.is_string()) return "the string " + j.dump();
  return std::string(j.type_name());
}

/// Reads one history line into `out`. Returns false and fills `error` when the line is not
/// valid JSON (the column and what was expected), not an object, or not an event: a required
/// field (`process`, `type`, `f`) missing or any field of the wrong type. Syntax is checked
/// over the whole line before the fields are; the fields are checked in the order above.
class history_line_reader {
 public:
  bool read(std::string_view line, raw_event& out, line_error& error) {
    try {
      json_cursor c(line);
      if (c.peek() != '{') {
        const nlohmann::json j = json_value(c, scratch_);
        if (!c.at_end()) c.fail("unexpected characters after the JSON value");
        error.reason = "expected a JSON object, found " + json_type_word(j);
        return false;
      }
      read_fields(c, out);
    } catch (const json_syntax_error& e) {
      error.reason = "invalid JSON: column " + std::to_string(e.column()) + ": " + e.what();
      return false;
    }
    return check_fields(out, error);
  }

 private:
  enum field_bits : unsigned {
    has_process = 1,
    has_type = 2,
    has_f = 4,
    has_key = 8,
    has_time = 16
  };

  void read_fields(json_cursor& c, raw_event& out) {
    seen_ = 0;
    bad_process_ = bad_type_ = bad_f_ = bad_key_ = bad_time_ = std::nullopt;
    type_text_.clear();
    out.key.clear();
    out.value = nullptr;
    out.time = 0;
    c.expect('{', "'{'");
    if (!c.try_consume('}')) {
      do {
        const int field = c.key_of(scratch_, "\"process\"", "\"type\"", "\"f\"", "\"key\"",
                                   "\"value\"", "\"time\"");
        if (field == 0) {
          seen_ |= has_process;
          integer_field(c, out.process, bad_process_);
        } else if (field == 1) {
          seen_ |= has_type;
          bad_type_.reset();
          if (c.peek() == '"') {
            std::string_view text;
            out.type = c.string_of(scratch_, text, "\"invoke\"", "\"ok\"", "\"fail\"", "\"info\"");
            if (out.type < 0) type_text_ = text;
          } else {
            bad_type_ = json_value(c, scratch_);
          }
        } else if (field == 2) {
          seen_ |= has_f;
          bad_f_.reset();
          if (c.peek() == '"') {
            out.f = c.string(scratch_);
            if (out.f.empty()) bad_f_ = nlohmann::json("");
          } else {
            bad_f_ = json_value(c, scratch_);
          }
        } else if (field == 3) {
          // Jepsen's independent keys are often integers: named by their decimal form.
          seen_ |= has_key;
          bad_key_.reset();
          out.key.clear();
          if (c.peek() == '"') {
            out.key = c.string(scratch_);
          } else if (!c.try_null()) {
            nlohmann::json k = json_value(c, scratch_);
            if (k.is_number_integer()) {
              out.key = k.dump();
            } else {
              bad_key_ = std::move(k);
            }
          }
        } else if (field == 4) {
          out.value = json_value(c, scratch_);
        } else if (field == 5) {
          seen_ |= has_time;
          integer_field(c, out.time, bad_time_);
        } else {
          c.skip_value();  // fields of other tools (Jepsen's index, error)
        }
      } while (c.try_consume(','));
      c.expect('}', "',' or '}' in an object");
    }
    if (!c.at_end()) c.fail("unexpected characters after the JSON value");
  }

  // An integer field's value in `out`, or (not an integer in 64 bits) in `bad`, for the error.
  void integer_field(json_cursor& c, std::int64_t& out, std::optional<nlohmann::json>& bad) {
    bad.reset();
    if (c.at_number()) {
      const std::size_t column = c.column();
      const json_number n = c.number();
      const char* last = n.text.data() + n.text.size();
      if (auto [p, ec] = std::from_chars(n.text.data(), last, out);
          n.integral && ec == std::errc() && p == last) {
        return;
      }
      bad = number_value(n, column);  // a fraction, or beyond 64 bits
    } else {
      bad = json_value(c, scratch_);
    }
  }

  static std::string integer_problem(const char* name, const nlohmann::json& bad) {
    if (bad.is_number_unsigned()) return std::string("field \"") + name + "\" is out of range";
    return std::string("field \"") + name + "\" must be an integer, found " + json_type_word(bad);
  }

  bool check_fields(raw_event& out, line_error& error) {
    for (const auto& [bit, name] :
         {std::pair{has_process, "process"}, std::pair{has_type, "type"}, std::pair{has_f, "f"}}) {
      if ((seen_ & bit) == 0) {
        error.reason = std::string("missing field \"") + name + "\"";
        return false;
      }
    }
    if (bad_process_) {
      error.reason = integer_problem("process", *bad_process_);
      return false;
    }
    if (bad_type_) {
      error.reason = "field \"type\" must be a string, found " + json_type_word(*bad_type_);
      return false;
    }
    if (out.type < 0) {
      error.reason =
          "field \"type\" must be invoke, ok, fail or info, found \"" + type_text_ + "\"";
      return false;
    }
    if (bad_f_) {
      error.reason = "field \"f\" must be a non-empty string, found " + json_type_word(*bad_f_);
      return false;
    }
    if (bad_key_) {
      error.reason =
          "field \"key\" must be a string or an integer, found " + json_type_word(*bad_key_);
      return false;
    }
    if (bad_time_) {
      error.reason = integer_problem("time", *bad_time_);
      return false;
    }
    if (out.time < 0) {
      error.reason = "field \"time\" must not be negative";
      return false;
    }
    return true;
  }

  std::string scratch_;
  std::string type_text_;
  unsigned seen_ = 0;
  std::optional<nlohmann::json> bad_process_, bad_type_, bad_f_, bad_key_, bad_time_;
};

}  // namespace dstm::check::detail::hist
