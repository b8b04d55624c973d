#pragma once
/// \file
/// A lean reader for one line of a history (`{"process": 3, "type": "ok", ...}`): the fast path
/// of `dstm::check::read_history`. It accepts only the common, well-formed shape and declines
/// everything else (escapes, floats, nested objects, wrong types, syntax errors), which the
/// caller then hands to nlohmann's parser, the single source of truth for errors and odd input.
/// Whatever this reader accepts, it yields exactly the event nlohmann's path would: numbers as
/// nlohmann types them (non-negative integers unsigned, negative ones signed).

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dstm::check::detail::hist {

/// The fields of one event as this reader sees them; `type` is 0..3 in `event_type`'s order.
struct raw_event {
  std::int64_t process = 0;
  int type = 0;
  std::string f;
  std::string key;
  nlohmann::json value;
  std::int64_t time = 0;
};

class history_line_reader {
 public:
  explicit history_line_reader(std::string_view line) noexcept : p_(line.data()), end_(p_ + line.size()) {}

  /// Fills `out` and returns true when the line is in the common shape; false means "ask the
  /// full parser" (the line may still be valid JSON, or it may be an error to report).
  bool read(raw_event& out) {
    bool seen_process = false, seen_type = false, seen_f = false, seen_key = false,
         seen_value = false, seen_time = false;
    skip_ws();
    if (!eat('{')) return false;
    skip_ws();
    if (eat('}')) return false;  // no fields: the full parser words the error
    for (;;) {
      std::string_view name;
      if (!plain_string(name)) return false;
      skip_ws();
      if (!eat(':')) return false;
      skip_ws();
      if (name == "process") {
        if (seen_process || !integer(out.process)) return false;
        seen_process = true;
      } else if (name == "type") {
        std::string_view t;
        if (seen_type || !plain_string(t)) return false;
        if (t == "invoke") out.type = 0;
        else if (t == "ok") out.type = 1;
        else if (t == "fail") out.type = 2;
        else if (t == "info") out.type = 3;
        else return false;
        seen_type = true;
      } else if (name == "f") {
        std::string_view f;
        if (seen_f || !plain_string(f) || f.empty()) return false;
        out.f.assign(f);
        seen_f = true;
      } else if (name == "key") {
        std::string_view k;
        if (seen_key || !plain_string(k)) return false;
        out.key.assign(k);
        seen_key = true;
      } else if (name == "value") {
        if (seen_value || !value(out.value, 0)) return false;
        seen_value = true;
      } else if (name == "time") {
        if (seen_time || !integer(out.time) || out.time < 0) return false;
        seen_time = true;
      } else {
        nlohmann::json ignored;  // fields of other tools (Jepsen's index, error) are skipped
        if (!value(ignored, 0)) return false;
      }
      skip_ws();
      if (eat(',')) {
        skip_ws();
        continue;
      }
      if (!eat('}')) return false;
      break;
    }
    skip_ws();
    if (p_ != end_) return false;
    if (!seen_process || !seen_type || !seen_f) return false;
    if (!seen_key) out.key.clear();
    if (!seen_value) out.value = nullptr;
    if (!seen_time) out.time = 0;
    return true;
  }

 private:
  static constexpr int max_depth = 64;

  void skip_ws() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  bool eat(char c) noexcept {
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  /// A string without escapes or control characters (anything else goes to the full parser,
  /// which also validates UTF-8).
  bool plain_string(std::string_view& out) noexcept {
    if (!eat('"')) return false;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }

  /// A JSON integer that fits std::int64_t; declines leading zeros, fractions and exponents.
  bool integer(std::int64_t& out) noexcept {
    bool negative = eat('-');
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0' && p_ + 1 != end_ && p_[1] >= '0' && p_[1] <= '9') return false;
    std::uint64_t magnitude = 0;
    constexpr std::uint64_t limit = std::uint64_t{1} << 63;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      const auto digit = static_cast<std::uint64_t>(*p_ - '0');
      if (magnitude > (limit - digit) / 10) return false;
      magnitude = magnitude * 10 + digit;
      ++p_;
    }
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    if (!negative && magnitude == limit) return false;
    out = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return true;
  }

  bool literal(std::string_view word) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(nlohmann::json& out, int depth) {
    if (p_ == end_ || depth > max_depth) return false;
    switch (*p_) {
      case 'n':
        if (!literal("null")) return false;
        out = nullptr;
        return true;
      case 't':
        if (!literal("true")) return false;
        out = true;
        return true;
      case 'f':
        if (!literal("false")) return false;
        out = false;
        return true;
      case '"': {
        std::string_view s;
        if (!plain_string(s)) return false;
        out = std::string(s);
        return true;
      }
      case '[': {
        ++p_;
        out = nlohmann::json::array();
        skip_ws();
        if (eat(']')) return true;
        for (;;) {
          nlohmann::json element;
          if (!value(element, depth + 1)) return false;
          out.push_back(std::move(element));
          skip_ws();
          if (eat(',')) {
            skip_ws();
            continue;
          }
          return eat(']');
        }
      }
      default: {
        std::int64_t n = 0;
        if (!integer(n)) return false;
        // nlohmann types a parsed non-negative integer as unsigned; match it so both paths
        // give equal events (and equal hashes).
        if (n >= 0) out = static_cast<std::uint64_t>(n);
        else out = n;
        return true;
      }
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace dstm::check::detail::hist
