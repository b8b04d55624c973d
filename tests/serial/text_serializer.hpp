#pragma once
// A serializer written from scratch against the concept, as docs/serialization.md shows it:
// numbers as decimal text, strings as they are. Compiled and tested by tests/serial/unit.cpp.

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "dstm/error.hpp"
#include "dstm/serial/concept.hpp"

namespace example {

/// Numbers as shortest round-trip decimal text, strings verbatim: a format `zkCli.sh get`
/// shows readably, for counters and names. No header, so it cannot detect foreign bytes.
struct text_serializer {
  template <class T>
  static constexpr bool supports =
      (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_same_v<T, std::string>;

  template <class T>
  static void encode(const T& value, std::string& out) {
    if constexpr (std::is_same_v<T, std::string>) {
      out += value;
    } else {
      char buf[64];
      const auto result = std::to_chars(buf, buf + sizeof buf, value);
      out.append(buf, result.ptr);
    }
  }

  template <class T>
  static T decode(std::string_view bytes) {
    if constexpr (std::is_same_v<T, std::string>) {
      return T(bytes);
    } else {
      T value{};
      const char* end = bytes.data() + bytes.size();
      const auto [ptr, ec] = std::from_chars(bytes.data(), end, value);
      if (ec != std::errc{} || ptr != end || bytes.empty()) {
        throw dstm::serialization_error("text_serializer: \"" + std::string(bytes) +
                                        "\" is not a number of the expected type");
      }
      return value;
    }
  }
};

static_assert(dstm::serializer_for<text_serializer, long>);

}  // namespace example
