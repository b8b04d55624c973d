#pragma once
/// \file
/// The Serializer concept: how dstm turns a ref's value into the bytes a coordinator stores.
///
/// **What it is.** A serializer is a stateless policy type `S` that writes a value of a type
/// `T` as bytes and reads it back. It is chosen at compile time (a ref's policy bundle), so a
/// serializer is a set of static member templates, not an object.
///
/// **Requirements** (`serializer_for<S, T>` checks 1–3 for one `T`):
///  1. `template <class T> static constexpr bool supports` — true for the types `S` handles;
///     false ones are rejected at compile time by `assert_serializer_for` with a sentence
///     naming the offending part, not by a page of template errors.
///  2. `template <class T> static void encode(const T& value, std::string& out)` — appends
///     the encoding of `value` to `out` (never clears it). May throw `serialization_error` when
///     a value cannot be represented; never throws for a supported value otherwise (except
///     `std::bad_alloc`).
///  3. `template <class T> static T decode(std::string_view bytes)` — the value `bytes` holds,
///     which must be exactly one encoding: malformed, truncated, trailing or (where the format
///     can tell) foreign bytes throw `dstm::serialization_error` whose `what()` says why and
///     where. Any input is safe: no undefined behaviour, no crash, and no allocation sized by
///     a corrupt length (memory stays proportional to `bytes.size()`, by a factor that
///     depends only on `T`).
///
/// `encode` and `decode` must not be constrained by `supports`: `assert_serializer_for` gives
/// the better message. Both are reentrant and may be called from any thread.
///
/// **Laws** (tests/serial/laws.cpp checks them against every model with RapidCheck):
///  - round trip: `decode<T>(encode(v)) == v` for every supported `T` and value `v`
///    (floating point values compare bit-exactly where the format promises it);
///  - totality: `decode<T>(b)` for arbitrary `b` — random, truncated or bit-flipped encodings —
///    either returns a `T` or throws `serialization_error`;
///  - self-description (for formats with a type header): `decode<U>(encode(t))` throws when
///    `U`'s shape differs from `T`'s.
///
/// **Models.** `dstm::binary_serializer` (<dstm/serial/binary.hpp>: compact, versioned,
/// fingerprinted) and `dstm::json_serializer` (<dstm/serial/json.hpp>: nlohmann::json, for
/// values other tools read). Both support the same types: `bool`, arithmetic types up to 64
/// bits (and `long double`), enums, `std::string`, `std::vector`, `std::array`, `std::map`,
/// `std::unordered_map`, `std::set`, `std::unordered_set`, `std::optional`, `std::variant`,
/// `std::monostate`, `std::pair`, `std::tuple`, Boost.Hana structs
/// (`BOOST_HANA_DEFINE_STRUCT`, `BOOST_HANA_ADAPT_STRUCT`) and any type with a
/// `dstm::serial::adapter` specialization, nested arbitrarily (but not recursively).
///
/// **Example.**
/// \code
///   struct point { BOOST_HANA_DEFINE_STRUCT(point, (int, x), (int, y)); };
///   std::string bytes = dstm::serial::to_bytes<dstm::binary_serializer>(point{1, 2});
///   point p = dstm::serial::from_bytes<dstm::binary_serializer, point>(bytes);
/// \endcode
/// docs/serialization.md shows a serializer written from scratch.

#include <concepts>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "dstm/error.hpp"
#include "dstm/serial/detail/shape.hpp"

namespace dstm {

/// True when `S` is a serializer that supports `T` (requirements 1–3 above).
template <class S, class T>
concept serializer_for = requires {
  {std::bool_constant<S::template supports<T>>{}};
}
&&bool(S::template supports<T>) &&
    requires(const T& value, std::string& out, std::string_view bytes) {
  { S::encode(value, out) } -> std::same_as<void>;
  { S::template decode<T>(bytes) } -> std::same_as<T>;
};

namespace serial::detail {

template <class S, class T>
concept serializer_shaped = requires(const T& value, std::string& out, std::string_view bytes) {
  {std::bool_constant<S::template supports<T>>{}};
  { S::encode(value, out) } -> std::same_as<void>;
  { S::template decode<T>(bytes) } -> std::same_as<T>;
};

/// The reason an error carries, without the category's message that `std::system_error`
/// appends to `what()`: for wrapping one serialization_error's reason in another.
inline std::string reason(const serialization_error& e) {
  std::string what = e.what();
  const std::string suffix = ": " + e.code().message();
  if (what.size() >= suffix.size() &&
      what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
    what.resize(what.size() - suffix.size());
  }
  return what;
}

template <class S>
struct supported_by {
  template <class P>
  static constexpr bool test() {
    if constexpr (requires { std::bool_constant<S::template supports<P>>{}; }) {
      return S::template supports<P>;
    } else {
      return false;
    }
  }
};

// The template parameters are part of the diagnostic: GCC and Clang print them ("with S = ...;
// T = ...; U = ...") right above the sentence, which is why the sentence refers to them.
template <class S, class T>
constexpr bool not_a_serializer() {
  static_assert(always_false<S>,
                "dstm: S is not a serializer for T: it needs `template <class T> static constexpr "
                "bool supports`, `template <class T> static void encode(const T&, std::string&)` "
                "and `template <class T> static T decode(std::string_view)`; see "
                "include/dstm/serial/concept.hpp");
  return false;
}

template <class S, class T, class U>
constexpr bool cannot_serialize() {
  static_assert(always_false<S>,
                "dstm: S cannot serialize T because of its part U (named above): define structs "
                "with BOOST_HANA_DEFINE_STRUCT (default-constructible, every member serializable), "
                "use bool, an arithmetic or enum type, std::string, std::vector, std::array, "
                "std::map, std::unordered_map, std::set, std::unordered_set, std::optional, "
                "std::variant, std::monostate, std::pair or std::tuple, or specialize "
                "dstm::serial::adapter<U>; see include/dstm/serial/concept.hpp");
  return false;
}

}  // namespace serial::detail

/// Fails compilation with a sentence naming the fix when `S` cannot serialize `T`; the
/// compiler prints `S`, `T` and the innermost unsupported part `U` with it. Returns true
/// otherwise, so it composes with `if constexpr` and `static_assert`.
template <class S, class T>
constexpr bool assert_serializer_for() {
  if constexpr (serializer_for<S, T>) {
    return true;
  } else if constexpr (!serial::detail::serializer_shaped<S, T>) {
    return serial::detail::not_a_serializer<S, T>();
  } else {
    using culprit =
        typename serial::detail::first_unsupported_impl<serial::detail::supported_by<S>, T>::type;
    return serial::detail::cannot_serialize<S, T, culprit>();
  }
}

namespace serial {

/// The encoding of `value` by `S`, as a new string. Throws what `S::encode` throws.
template <class S, class T>
std::string to_bytes(const T& value) {
  std::string out;
  if constexpr (assert_serializer_for<S, T>()) S::encode(value, out);
  return out;
}

/// The `T` that `bytes` encode with `S`. Throws `dstm::serialization_error` for malformed,
/// truncated, trailing or foreign bytes (its `what()` says which, and where).
template <class S, class T>
T from_bytes(std::string_view bytes) {
  if constexpr (assert_serializer_for<S, T>()) {
    return S::template decode<T>(bytes);
  } else {
    std::abort();  // never compiled: the static_assert above has stopped compilation
  }
}

/// Like `from_bytes(bytes)`, but reports failure by setting `ec` to
/// `errc::serialization_failed` and returning `std::nullopt` instead of throwing; `ec` is
/// cleared on success. The reason text is lost: call the throwing form to see it.
template <class S, class T>
std::optional<T> from_bytes(std::string_view bytes, std::error_code& ec) {
  try {
    std::optional<T> value(from_bytes<S, T>(bytes));
    ec.clear();
    return value;
  } catch (const serialization_error& e) {
    ec = e.code();
    return std::nullopt;
  }
}

}  // namespace serial
}  // namespace dstm
