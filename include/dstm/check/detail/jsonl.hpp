#pragma once
/// \file
/// A fast reader for JSON-lines files: `line_reader` hands out one line at a time from large
/// blocks of an `std::istream`, and `json_cursor` is a pull parser over one line's text. Neither
/// allocates per value: strings come back as views into the line (decoded into a caller's scratch
/// buffer only when they contain escapes), integers are parsed in place.
///
/// This is the hot path of the history checkers (millions of lines), which is why it does not
/// build a DOM: callers walk the object and keep only what they need, skipping the rest with
/// `skip_value()`.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The cursor's small methods are the inner loop of reading millions of lines; GCC would
// otherwise keep some out of line.
#if defined(__GNUC__)
#define DSTM_JSONL_INLINE [[gnu::always_inline]] inline
#else
#define DSTM_JSONL_INLINE inline
#endif

namespace dstm::check::detail {

/// Malformed JSON. `column()` is the 1-based byte offset in the line where parsing stopped.
class json_syntax_error : public std::runtime_error {
 public:
  json_syntax_error(std::size_t column, const std::string& reason)
      : std::runtime_error(reason), column_(column) {}
  std::size_t column() const noexcept { return column_; }

 private:
  std::size_t column_;
};

/// Splits an input stream into lines, reading it in large blocks.
///
/// A returned line excludes its '\n' (and a '\r' before it) and stays valid until the next call
/// to `next`. A final line without a terminator is returned too. Not thread-safe.
class line_reader {
 public:
  explicit line_reader(std::istream& in, std::size_t block_size = std::size_t{1} << 20)
      : in_(in), buffer_(block_size < 64 ? 64 : block_size) {}

  /// Stores the next line in `line`; false at the end of the input.
  bool next(std::string_view& line) {
    for (;;) {
      const char* first = buffer_.data() + begin_;
      if (const void* nl = std::memchr(first, '\n', end_ - begin_)) {
        const char* last = static_cast<const char*>(nl);
        begin_ = static_cast<std::size_t>(last - buffer_.data()) + 1;
        line = trim_cr(first, last);
        ++line_number_;
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        line = trim_cr(first, buffer_.data() + end_);
        begin_ = end_;
        ++line_number_;
        return true;
      }
      refill();
    }
  }

  /// The 1-based number of the line last returned by `next` (0 before the first).
  std::uint64_t line_number() const noexcept { return line_number_; }

 private:
  static std::string_view trim_cr(const char* first, const char* last) noexcept {
    if (last != first && last[-1] == '\r') --last;
    return {first, static_cast<std::size_t>(last - first)};
  }

  void refill() {
    // Keep the unfinished line, growing the buffer only for lines longer than a block.
    const std::size_t pending = end_ - begin_;
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, pending);
    } else if (pending == buffer_.size()) {
      buffer_.resize(buffer_.size() * 2);
    }
    begin_ = 0;
    end_ = pending;
    in_.read(buffer_.data() + end_, static_cast<std::streamsize>(buffer_.size() - end_));
    const auto got = static_cast<std::size_t>(in_.gcount());
    end_ += got;
    if (got == 0 || !in_) eof_ = true;
  }

  std::istream& in_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
};

/// A pull parser over one JSON text (one line of a JSON-lines file).
///
/// Every method skips leading whitespace first. Errors throw `json_syntax_error` naming what was
/// expected; the cursor is unusable afterwards. The text must outlive the cursor.
class json_cursor {
 public:
  explicit json_cursor(std::string_view text) noexcept
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()) {}

  /// True when only whitespace is left.
  DSTM_JSONL_INLINE bool at_end() noexcept {
    skip_ws();
    return p_ == end_;
  }

  /// The next significant character, or '\0' at the end.
  DSTM_JSONL_INLINE char peek() noexcept {
    skip_ws();
    return p_ == end_ ? '\0' : *p_;
  }

  /// Consumes `c` if it is the next significant character.
  DSTM_JSONL_INLINE bool try_consume(char c) noexcept {
    skip_ws();
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  /// Consumes `c` or throws "expected <what>".
  DSTM_JSONL_INLINE void expect(char c, const char* what) {
    if (!try_consume(c)) fail_expected(what);
  }

  /// Consumes the literal `null` if it comes next.
  DSTM_JSONL_INLINE bool try_null() noexcept {
    skip_ws();
    if (end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
      p_ += 4;
      return true;
    }
    return false;
  }

  /// Consumes `text` exactly (no escapes) if it comes next, e.g. `"\"append\""`.
  DSTM_JSONL_INLINE bool try_literal(std::string_view text) noexcept {
    skip_ws();
    if (static_cast<std::size_t>(end_ - p_) >= text.size() &&
        std::memcmp(p_, text.data(), text.size()) == 0) {
      p_ += text.size();
      return true;
    }
    return false;
  }

  /// True if the next value is a number (which `integer()` may still reject as non-integral).
  DSTM_JSONL_INLINE bool at_number() noexcept {
    const char c = peek();
    return c == '-' || (c >= '0' && c <= '9');
  }

  /// Parses an integer that fits in 64 bits; rejects fractions, exponents and overflow.
  DSTM_JSONL_INLINE std::int64_t integer() {
    skip_ws();
    const char* start = p_;
    const char* p = p_;
    bool negative = false;
    if (p != end_ && *p == '-') {
      negative = true;
      ++p;
    }
    const char* digits = p;
    std::uint64_t magnitude = 0;
    // Up to 18 digits cannot overflow, so the common case needs no range check per digit.
    while (p != end_ && static_cast<unsigned char>(*p - '0') < 10) {
      magnitude = magnitude * 10 + static_cast<std::uint64_t>(*p - '0');
      ++p;
      if (p - digits > 18) return long_integer(start, negative);
    }
    if (p == digits) fail_at(start, "expected an integer");
    if (p != end_ && (*p == '.' || *p == 'e' || *p == 'E')) {
      fail_at(start, "expected an integer, found a fractional number");
    }
    p_ = p;
    return negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  }

  /// Parses a string. The view points into the text when the string has no escapes, otherwise
  /// into `scratch` (decoded, UTF-8); either way it is valid until the next call using `scratch`.
  DSTM_JSONL_INLINE std::string_view string(std::string& scratch) {
    skip_ws();
    if (p_ == end_ || *p_ != '"') fail_expected("a string");
    const char* start = p_ + 1;
    const char* p = start;
    while (p != end_ && static_cast<unsigned char>(*p) >= 0x20 && *p != '"' && *p != '\\') ++p;
    p_ = p;
    if (p != end_ && *p == '"') {
      p_ = p + 1;
      return {start, static_cast<std::size_t>(p - start)};
    }
    return escaped_string(start, scratch);
  }
  /// Skips one value of any type (nested arrays and objects included).
  void skip_value() {
    std::string scratch;
    skip_value(scratch, 0);
  }

  /// The 1-based column of the cursor.
  std::size_t column() const noexcept { return static_cast<std::size_t>(p_ - begin_) + 1; }

  /// Throws `json_syntax_error` at the cursor's column.
  [[noreturn]] void fail(const std::string& reason) const {
    throw json_syntax_error(column(), reason);
  }

  /// Throws `json_syntax_error` at an earlier `column()` (the start of what was wrong).
  [[noreturn]] void fail_at_column(std::size_t column, const std::string& reason) const {
    throw json_syntax_error(column, reason);
  }

 private:
  static constexpr int max_depth = 256;

  [[noreturn, gnu::cold, gnu::noinline]] void fail_expected(const char* what) const {
    fail(std::string("expected ") + what);
  }

  [[noreturn, gnu::cold, gnu::noinline]] void fail_at(const char* where, const char* reason) {
    p_ = where;
    fail(reason);
  }

  [[gnu::cold, gnu::noinline]] std::int64_t long_integer(const char* start, bool negative) {
    p_ = start + (negative ? 1 : 0);
    std::uint64_t magnitude = 0;
    constexpr std::uint64_t limit = std::uint64_t{1} << 63;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      const auto digit = static_cast<std::uint64_t>(*p_ - '0');
      if (magnitude > (limit - digit) / 10) fail_at(start, "integer out of the 64-bit range");
      magnitude = magnitude * 10 + digit;
      ++p_;
    }
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) {
      fail_at(start, "expected an integer, found a fractional number");
    }
    if (!negative && magnitude == limit) fail_at(start, "integer out of the 64-bit range");
    return negative ? static_cast<std::int64_t>(~magnitude + 1)
                    : static_cast<std::int64_t>(magnitude);
  }

  [[gnu::cold, gnu::noinline]] std::string_view escaped_string(const char* start,
                                                               std::string& scratch) {
    if (p_ == end_) fail("unterminated string");
    if (*p_ != '\\') fail("control character inside a string");
    scratch.assign(start, p_);
    while (p_ != end_ && *p_ != '"') {
      const char c = *p_++;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
      if (c != '\\') {
        scratch.push_back(c);
        continue;
      }
      if (p_ == end_) break;
      switch (*p_++) {
        case '"':
          scratch.push_back('"');
          break;
        case '\\':
          scratch.push_back('\\');
          break;
        case '/':
          scratch.push_back('/');
          break;
        case 'b':
          scratch.push_back('\b');
          break;
        case 'f':
          scratch.push_back('\f');
          break;
        case 'n':
          scratch.push_back('\n');
          break;
        case 'r':
          scratch.push_back('\r');
          break;
        case 't':
          scratch.push_back('\t');
          break;
        case 'u':
          append_utf8(scratch, code_point());
          break;
        default:
          --p_;
          fail("invalid escape in a string");
      }
    }
    if (p_ == end_) fail("unterminated string");
    ++p_;
    return scratch;
  }

  // Hot loops work on a local copy of the cursor: `p_` is a member and `*p_` a char, which may
  // alias anything (p_ included), so the compiler would otherwise store p_ on every step.
  DSTM_JSONL_INLINE void skip_ws() noexcept {
    const char* p = p_;
    while (p != end_ && static_cast<unsigned char>(*p) <= ' ' &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
      ++p;
    }
    p_ = p;
  }

  void skip_value(std::string& scratch, int depth) {
    if (depth > max_depth) fail("nesting deeper than 256 levels");
    switch (peek()) {
      case '"':
        string(scratch);
        return;
      case '{':
        ++p_;
        if (try_consume('}')) return;
        do {
          string(scratch);
          expect(':', "':' after an object key");
          skip_value(scratch, depth + 1);
        } while (try_consume(','));
        expect('}', "',' or '}' in an object");
        return;
      case '[':
        ++p_;
        if (try_consume(']')) return;
        do {
          skip_value(scratch, depth + 1);
        } while (try_consume(','));
        expect(']', "',' or ']' in an array");
        return;
      case 't':
        literal("true");
        return;
      case 'f':
        literal("false");
        return;
      case 'n':
        literal("null");
        return;
      default:
        skip_number();
        return;
    }
  }

  void literal(const char* word) {
    const std::size_t n = std::strlen(word);
    if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      fail("expected a JSON value");
    }
    p_ += n;
  }

  void skip_number() {
    const char* start = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    const char* digits = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    if (p_ == digits) {
      p_ = start;
      fail("expected a JSON value");
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      const char* frac = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      if (p_ == frac) fail("expected digits after '.'");
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      const char* exp = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      if (p_ == exp) fail("expected digits in an exponent");
    }
  }

  std::uint32_t hex4() {
    if (end_ - p_ < 4) fail("truncated \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        fail("invalid hex digit in a \\u escape");
    }
    return v;
  }

  std::uint32_t code_point() {
    const std::uint32_t hi = hex4();
    if (hi < 0xD800 || hi > 0xDFFF) return hi;
    if (hi > 0xDBFF || end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') {
      fail("unpaired UTF-16 surrogate in a \\u escape");
    }
    p_ += 2;
    const std::uint32_t lo = hex4();
    if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired UTF-16 surrogate in a \\u escape");
    return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
};

}  // namespace dstm::check::detail
