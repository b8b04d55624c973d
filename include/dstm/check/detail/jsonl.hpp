#pragma once
/// \file
/// The one JSON-lines reader of the history checkers: `line_reader` hands out one line at a time
/// from large blocks of an `std::istream` or of text in memory, and `json_cursor` is a pull parser
/// over one line. Both the operation histories of the linearizability checker and the transaction
/// histories of the isolation checker are read with them.
///
/// Nothing is allocated per value: strings come back as views into the line (decoded into a
/// caller's scratch buffer only when they contain escapes), numbers are parsed in place, and
/// callers walk an object keeping only what they need, skipping the rest with `skip_value()`.
/// This is the hot path of the checkers (millions of lines), hence two choices:
///
/// - A line is followed by a '\0' (the line reader writes one over the line's '\n'), so the
///   scanning loops test one character per step and no bounds: '\0' stops every loop.
/// - Whitespace is skipped after each token rather than before, so looking at the next
///   character is a load, and every token is passed over once.
///
/// The grammar is strict JSON (RFC 8259): no leading zeros, no trailing commas, strings without
/// control characters and in valid UTF-8, `\u` escapes with paired surrogates.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The cursor's small methods are the inner loop of reading millions of lines; GCC would
// otherwise keep some out of line.
#if defined(__GNUC__)
#define DSTM_JSONL_INLINE [[gnu::always_inline]] inline
#define DSTM_JSONL_COLD [[gnu::cold, gnu::noinline]]
#else
#define DSTM_JSONL_INLINE inline
#define DSTM_JSONL_COLD
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

/// Splits an input stream, or text in memory, into lines, a large block at a time.
///
/// A returned line excludes its '\n' (and a '\r' before it), is followed by a '\0' (what
/// `json_cursor` needs), and stays valid until the next call to `next`. A final line without a
/// terminator is returned too. Not thread-safe.
class line_reader {
 public:
  /// Reads `in` to its end. `in.bad()` afterwards means a read error.
  explicit line_reader(std::istream& in, std::size_t block_size = std::size_t{1} << 20) : in_(&in) {
    allocate(block_size < 64 ? 64 : block_size);
  }

  /// Reads `text`, which must outlive the reader (it is copied a block at a time, since lines
  /// need a terminator written after them).
  explicit line_reader(std::string_view text, std::size_t block_size = std::size_t{1} << 20)
      : text_(text) {
    allocate(std::min(block_size < 64 ? 64 : block_size, std::max<std::size_t>(text.size(), 64)));
  }

  /// Stores the next line in `line`; false at the end of the input.
  bool next(std::string_view& line) {
    for (;;) {
      char* first = buffer_.get() + begin_;
      if (void* nl = std::memchr(first, '\n', end_ - begin_)) {
        char* last = static_cast<char*>(nl);
        begin_ = static_cast<std::size_t>(last - buffer_.get()) + 1;
        line = terminate(first, last);
        ++line_number_;
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        line = terminate(first, buffer_.get() + end_);
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
  static std::string_view terminate(char* first, char* last) noexcept {
    if (last != first && last[-1] == '\r') --last;
    *last = '\0';
    return {first, static_cast<std::size_t>(last - first)};
  }

  // Room for `capacity` bytes and the final line's '\0'; left uninitialized, being written
  // before it is read.
  void allocate(std::size_t capacity) {
    std::unique_ptr<char[]> bigger(new char[capacity + 1]);
    if (end_ > 0) std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }

  void refill() {
    // Keep the unfinished line, growing the buffer only for lines longer than a block.
    const std::size_t pending = end_ - begin_;
    if (begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, pending);
    } else if (pending == capacity_) {
      allocate(capacity_ * 2);
    }
    begin_ = 0;
    end_ = pending;
    const std::size_t room = capacity_ - end_;
    std::size_t got = 0;
    if (in_ != nullptr) {
      in_->read(buffer_.get() + end_, static_cast<std::streamsize>(room));
      got = static_cast<std::size_t>(in_->gcount());
      if (got == 0 || !*in_) eof_ = true;
    } else {
      got = text_.copy(buffer_.get() + end_, room);
      text_.remove_prefix(got);
      if (text_.empty()) eof_ = true;
    }
    end_ += got;
  }

  std::istream* in_ = nullptr;
  std::string_view text_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  std::uint64_t line_number_ = 0;
};

/// A number as it appears in the text, checked against JSON's grammar. `integral`: no fraction
/// and no exponent (the value may still exceed 64 bits).
struct json_number {
  std::string_view text;
  bool integral = true;
};

/// A pull parser over one JSON text (one line of a JSON-lines file).
///
/// The text must be followed by a '\0' (as `line_reader`'s lines, string literals and
/// `std::string::c_str()` are) and must outlive the cursor. After construction and after every
/// call, the cursor stands on the next significant character. Errors throw `json_syntax_error`
/// naming what was expected; the cursor is unusable afterwards.
class json_cursor {
 public:
  explicit json_cursor(std::string_view text) noexcept
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()) {
    skip_ws();
  }

  /// True when only whitespace is left.
  DSTM_JSONL_INLINE bool at_end() const noexcept { return p_ == end_; }

  /// The next significant character, or '\0' at the end.
  DSTM_JSONL_INLINE char peek() const noexcept { return *p_; }

  /// Consumes `c` if it is the next significant character.
  DSTM_JSONL_INLINE bool try_consume(char c) noexcept {
    if (*p_ != c) return false;
    ++p_;
    skip_ws();
    return true;
  }

  /// Consumes `c` or throws "expected <what>".
  DSTM_JSONL_INLINE void expect(char c, const char* what) {
    if (!try_consume(c)) fail_expected(what);
  }

  /// Consumes the literal `null` if it comes next.
  DSTM_JSONL_INLINE bool try_null() noexcept { return try_literal("null"); }

  /// Consumes `text` exactly (no escapes) if it comes next, e.g. `"\"append\""`. Meant for
  /// tokens: a literal that is a prefix of a longer token matches that prefix.
  DSTM_JSONL_INLINE bool try_literal(std::string_view text) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < text.size() ||
        std::memcmp(p_, text.data(), text.size()) != 0) {
      return false;
    }
    p_ += text.size();
    skip_ws();
    return true;
  }

  /// True if the next value is a number (which `integer()` may still reject as non-integral).
  DSTM_JSONL_INLINE bool at_number() const noexcept {
    const char c = *p_;
    return c == '-' || is_digit(c);
  }

  /// Parses an integer that fits in 64 bits; rejects fractions, exponents and overflow.
  DSTM_JSONL_INLINE std::int64_t integer() {
    const char* p = p_;
    const bool negative = *p == '-';
    p += negative;
    const char* digits = p;
    // Up to 18 digits cannot overflow; longer runs wrap harmlessly and are parsed again below.
    std::uint64_t magnitude = 0;
    while (is_digit(*p)) magnitude = magnitude * 10 + static_cast<std::uint64_t>(*p++ - '0');
    const auto n = p - digits;
    if (n == 0 || n > 18 || (*digits == '0' && n > 1) || *p == '.' || (*p | 0x20) == 'e') {
      return integer_slow(negative);
    }
    p_ = p;
    skip_ws();
    return negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  }

  /// Parses the elements of an array of integers and its ']' (the caller has consumed the '['),
  /// passing each to `out.push_back`; `what` completes "expected ',' or ']' in ..." in errors.
  template <class Out>
  DSTM_JSONL_INLINE void integer_elements(Out& out, const char* what) {
    if (try_consume(']')) return;
    for (;;) {
      // Most elements are one or two digits followed by ", " or ']': taken here without the
      // general integer and whitespace paths. (Each character read is after one that is not
      // the terminating '\0'.)
      const char* p = p_;
      const auto d0 = static_cast<unsigned char>(p[0] - '0');
      const auto d1 = d0 <= 9 ? static_cast<unsigned char>(p[1] - '0') : 10;
      if (d0 <= 9 && d0 != 0 && d1 > 9 && p[1] != '.' && (p[1] | 0x20) != 'e') {
        out.push_back(d0);
        p += 1;
      } else if (d0 <= 9 && d0 != 0 && d1 <= 9 && !is_digit(p[2]) && p[2] != '.' &&
                 (p[2] | 0x20) != 'e') {
        out.push_back(d0 * 10 + d1);
        p += 2;
      } else {
        out.push_back(integer());
        p = p_;
      }
      if (p[0] == ',' && p[1] == ' ' && static_cast<unsigned char>(p[2]) > ' ') {
        p_ = p + 2;
        continue;
      }
      p_ = p;
      skip_ws();
      const char c = *p_;
      ++p_;
      if (c == ',') {
        skip_ws();
        continue;
      }
      if (c == ']') {
        skip_ws();
        return;
      }
      --p_;
      fail(std::string("expected ',' or ']' in ") + what);
    }
  }

  /// Parses a string. The view points into the text when the string has no escapes, otherwise
  /// into `scratch` (decoded, UTF-8); either way it is valid until the next call using `scratch`.
  DSTM_JSONL_INLINE std::string_view string(std::string& scratch) {
    if (*p_ != '"') fail_expected("a string");
    const char* start = p_ + 1;
    const char* p = start;
    while (plain_char(*p)) ++p;
    if (*p != '"') return string_slow(start, p, scratch);
    p_ = p + 1;
    skip_ws();
    return {start, static_cast<std::size_t>(p - start)};
  }

  /// An object's key and the ':' after it; the view is as for `string`.
  DSTM_JSONL_INLINE std::string_view key(std::string& scratch) {
    if (*p_ != '"') fail_expected("an object key (a string)");
    const std::string_view k = string(scratch);
    expect(':', "':' after an object key");
    return k;
  }

  /// Parses a string and says which of `quoted` (names with their quotes, `"\"ok\""`) it is:
  /// the index, or -1 with the string's text (as for `string`) in `text`. Each name is matched
  /// as raw bytes first (a compare of known size); a string with escapes is decoded and compared.
  template <std::size_t... N>
  DSTM_JSONL_INLINE int string_of(std::string& scratch, std::string_view& text,
                                  const char (&... quoted)[N]) {
    int i = 0;
    if (((try_literal(std::string_view(quoted, N - 1)) ? true : (++i, false)) || ...)) return i;
    text = string(scratch);
    i = 0;
    if (((text == std::string_view(quoted + 1, N - 3) ? true : (++i, false)) || ...)) return i;
    return -1;
  }

  /// An object's key, as `string_of` matches it against `quoted`, and the ':' after it.
  template <std::size_t... N>
  DSTM_JSONL_INLINE int key_of(std::string& scratch, const char (&... quoted)[N]) {
    if (*p_ != '"') fail_expected("an object key (a string)");
    std::string_view ignored;
    const int i = string_of(scratch, ignored, quoted...);
    expect(':', "':' after an object key");
    return i;
  }

  /// Parses any number, checking JSON's grammar; the caller converts the text.
  json_number number() {
    const char* start = p_;
    const char* p = p_;
    json_number out;
    if (*p == '-') ++p;
    if (!is_digit(*p)) fail_at(start, "expected a JSON value");
    if (*p == '0' && is_digit(p[1])) fail_at(start, "a number with a leading zero");
    while (is_digit(*p)) ++p;
    if (*p == '.') {
      out.integral = false;
      if (!is_digit(*++p)) fail_at(p, "expected digits after '.'");
      while (is_digit(*p)) ++p;
    }
    if (*p == 'e' || *p == 'E') {
      out.integral = false;
      ++p;
      if (*p == '+' || *p == '-') ++p;
      if (!is_digit(*p)) fail_at(p, "expected digits in an exponent");
      while (is_digit(*p)) ++p;
    }
    out.text = std::string_view(start, static_cast<std::size_t>(p - start));
    p_ = p;
    skip_ws();
    return out;
  }

  /// Consumes `true` or `false` if one comes next, storing it in `out`.
  bool try_boolean(bool& out) noexcept {
    if (try_literal("true")) {
      out = true;
      return true;
    }
    if (try_literal("false")) {
      out = false;
      return true;
    }
    return false;
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

  /// The deepest nesting `skip_value` (and readers building values) accept.
  static constexpr int max_depth = 256;

 private:
  static constexpr bool is_digit(char c) noexcept {
    return static_cast<unsigned char>(c - '0') < 10;
  }

  // Printable ASCII other than '"' and '\\': what a string holds without the slow path.
  static constexpr bool plain_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  }

  DSTM_JSONL_INLINE void skip_ws() noexcept {
    // The usual separators are ", " and ": ": at most one space, which the first test takes.
    const char* p = p_;
    if (*p == ' ') ++p;
    while (static_cast<unsigned char>(*p) <= ' ' &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
      ++p;
    }
    p_ = p;
  }

  DSTM_JSONL_COLD [[noreturn]] void fail_expected(const char* what) const {
    fail(std::string("expected ") + what);
  }

  DSTM_JSONL_COLD [[noreturn]] void fail_at(const char* where, const char* reason) {
    p_ = where;
    fail(reason);
  }

  DSTM_JSONL_COLD std::int64_t integer_slow(bool negative) {
    const char* start = p_;
    const char* p = p_ + (negative ? 1 : 0);
    if (!is_digit(*p)) fail_at(start, "expected an integer");
    if (*p == '0' && is_digit(p[1])) fail_at(start, "a number with a leading zero");
    std::uint64_t magnitude = 0;
    constexpr std::uint64_t limit = std::uint64_t{1} << 63;
    while (is_digit(*p)) {
      const auto digit = static_cast<std::uint64_t>(*p - '0');
      if (magnitude > (limit - digit) / 10) fail_at(start, "integer out of the 64-bit range");
      magnitude = magnitude * 10 + digit;
      ++p;
    }
    if (*p == '.' || *p == 'e' || *p == 'E') {
      fail_at(start, "expected an integer, found a fractional number");
    }
    if (!negative && magnitude == limit) fail_at(start, "integer out of the 64-bit range");
    p_ = p;
    skip_ws();
    return negative ? static_cast<std::int64_t>(~magnitude + 1)
                    : static_cast<std::int64_t>(magnitude);
  }

  // The rest of a string from `p` (inside it, after `start`): escapes, UTF-8 checks, errors.
  DSTM_JSONL_COLD std::string_view string_slow(const char* start, const char* p,
                                               std::string& scratch) {
    bool escaped = false;
    for (;;) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') break;
      if (c == '\\') {
        if (!escaped) scratch.assign(start, p);
        escaped = true;
        p = unescape(p, scratch);
        continue;
      }
      if (c < 0x20) {
        if (p == end_) fail_at(start - 1, "unterminated string");
        fail_at(p, "control character inside a string");
      }
      const char* next = c < 0x80 ? p + 1 : utf8_sequence(p);
      if (escaped) scratch.append(p, next);
      p = next;
    }
    const std::string_view out = escaped
                                     ? std::string_view(scratch)
                                     : std::string_view(start, static_cast<std::size_t>(p - start));
    p_ = p + 1;
    skip_ws();
    return out;
  }

  // One UTF-8 encoded character at `p` (non-ASCII lead byte); returns the byte after it.
  // Rejects overlong forms, surrogates and code points above U+10FFFF, as RFC 3629 does.
  const char* utf8_sequence(const char* p) {
    const auto b0 = static_cast<unsigned char>(p[0]);
    int extra = 0;
    std::uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      extra = 1;
      cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      extra = 2;
      cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      extra = 3;
      cp = b0 & 0x07u;
    } else {
      fail_at(p, "invalid UTF-8 in a string");
    }
    for (int i = 1; i <= extra; ++i) {
      const auto b = static_cast<unsigned char>(p[i]);  // '\0' at the end fails the test
      if ((b & 0xC0u) != 0x80u) fail_at(p, "invalid UTF-8 in a string");
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      fail_at(p, "invalid UTF-8 in a string");
    }
    return p + 1 + extra;
  }

  // The escape at `p` ('\\'), appended to `out`; returns the character after it.
  const char* unescape(const char* p, std::string& out) {
    static constexpr std::string_view escapes = "\"\\/bfnrt";
    static constexpr std::string_view meanings = "\"\\/\b\f\n\r\t";
    const char* at = p;
    if (const auto i = escapes.find(*++p); i != std::string_view::npos) {
      out.push_back(meanings[i]);
      return p + 1;
    }
    if (*p != 'u') {
      if (p == end_) fail_at(at, "unterminated string");
      fail_at(at, "invalid escape in a string");
    }
    std::uint32_t cp = hex4(at, p + 1);
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(at, "unpaired UTF-16 surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (p[0] != '\\' || p[1] != 'u') fail_at(at, "unpaired UTF-16 surrogate in a \\u escape");
      const std::uint32_t lo = hex4(p, p + 2);
      if (lo < 0xDC00 || lo > 0xDFFF) fail_at(at, "unpaired UTF-16 surrogate in a \\u escape");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
    append_utf8(out, cp);
    return p;
  }

  // Four hex digits at `p`, of the escape at `at`.
  std::uint32_t hex4(const char* at, const char* p) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = p[i];  // '\0' at the end is not a hex digit
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        fail_at(at, "a \\u escape needs four hex digits");
    }
    return v;
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

  void skip_value(std::string& scratch, int depth) {
    if (depth > max_depth) fail("nesting deeper than 256 levels");
    switch (peek()) {
      case '"':
        string(scratch);
        return;
      case '{':
        ++p_;
        skip_ws();
        if (try_consume('}')) return;
        do {
          key(scratch);
          skip_value(scratch, depth + 1);
        } while (try_consume(','));
        expect('}', "',' or '}' in an object");
        return;
      case '[':
        ++p_;
        skip_ws();
        if (try_consume(']')) return;
        do {
          skip_value(scratch, depth + 1);
        } while (try_consume(','));
        expect(']', "',' or ']' in an array");
        return;
      case 't':
      case 'f':
      case 'n': {
        bool ignored = false;
        if (!try_boolean(ignored) && !try_null()) fail("expected a JSON value");
        return;
      }
      default:
        number();
        return;
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
};

}  // namespace dstm::check::detail
