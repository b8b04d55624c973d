#pragma once
/// \file
/// `dstm::json_serializer`: values as JSON text (nlohmann::json), for refs that other tools
/// read or write. docs/serialization.md lists the mapping of every supported type.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "dstm/error.hpp"
#include "dstm/serial/concept.hpp"
#include "dstm/serial/detail/shape.hpp"

namespace dstm::serial::detail::json {

using value = nlohmann::json;

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above
/// U+10FFFF): exactly the strings a JSON text can carry as they are.
inline bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

inline constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                            static_cast<unsigned char>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += base64_alphabet[(v >> shift) & 0x3f];
  }
  if (const std::size_t rest = in.size() - i; rest != 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += base64_alphabet[(v >> 18) & 0x3f];
    out += base64_alphabet[(v >> 12) & 0x3f];
    out += rest == 2 ? base64_alphabet[(v >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

/// Decodes canonical padded base64; returns false for anything else (bad length, characters
/// outside the alphabet, misplaced padding, non-zero bits after the last byte).
inline bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  auto digit = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
    std::uint32_t v = 0;
    for (int k = 0; k < 4 - pad; ++k) {
      const int d = digit(in[i + k]);
      if (d < 0) return false;
      v = v << 6 | static_cast<std::uint32_t>(d);
    }
    v <<= 6 * pad;
    if (pad == 2 && (v & 0xffff) != 0) return false;
    if (pad == 1 && (v & 0xff) != 0) return false;
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return true;
}

/// Where in the document a conversion is: rendered as a JSON Pointer only when it fails.
struct path {
  const path* parent = nullptr;
  std::string_view key;  ///< a member name, or empty with `is_index`
  std::size_t index = 0;
  bool is_index = false;
};

inline std::string pointer(const path* p) {
  if (p == nullptr) return "";
  std::string token;
  if (p->is_index) {
    token = std::to_string(p->index);
  } else {
    for (const char c : p->key) {
      if (c == '~') {
        token += "~0";
      } else if (c == '/') {
        token += "~1";
      } else {
        token += c;
      }
    }
  }
  return pointer(p->parent) + "/" + token;
}

/// Decoding context: the type asked for (for messages).
struct context {
  std::string_view type;

  [[noreturn]] void fail(const path* at, const std::string& why) const {
    const std::string where = pointer(at);
    throw serialization_error("dstm::json_serializer: cannot decode " + std::string(type) +
                              (where.empty() ? std::string(" at the root") : " at " + where) +
                              ": " + why);
  }
  [[noreturn]] void expected(const path* at, std::string_view what, const value& got) const {
    fail(at, "expected " + std::string(what) + ", got " + got.type_name());
  }
};

/// Types whose JSON form can be `null`: an engaged `std::optional` of one is wrapped in a
/// one-element array, so `optional<optional<int>>` keeps its three states apart.
template <class T>
constexpr bool nullable() {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    return nullable<typename adapter<T>::representation>();
  } else {
    return k == kind::optional || k == kind::unit;
  }
}

template <class T>
value to_json(const T& v);
template <class T>
T from_json(const value& j, const context& cx, const path* at);

/// Parses the text form of a long double: decimal, or C99 hex ("0x1.8p-3", "-0x...").
template <class T>
bool parse_long_float(std::string_view s, T& out) {
  const bool negative = !s.empty() && s.front() == '-';
  std::string_view body = negative ? s.substr(1) : s;
  std::chars_format format = std::chars_format::general;
  if (body.starts_with("0x") || body.starts_with("0X")) {
    body.remove_prefix(2);
    format = std::chars_format::hex;
  }
  if (body.empty() || body.front() == '-' || body.front() == '+') return false;
  T v{};
  const auto r = std::from_chars(body.data(), body.data() + body.size(), v, format);
  if (r.ec != std::errc{} || r.ptr != body.data() + body.size()) return false;
  out = negative ? -v : v;
  return true;
}

template <class T>
value float_to_json(T v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if constexpr (sizeof(T) > sizeof(double)) {
    // A long double that a double cannot hold exactly travels as a string: the shortest
    // decimal that reads back to the same value, or hex where the C++ library cannot read its
    // own decimal back (libstdc++ reports subnormals as out of range).
    if (static_cast<T>(static_cast<double>(v)) != v) {
      char buf[128];
      auto r = std::to_chars(buf, buf + sizeof buf, v);
      T back{};
      if (parse_long_float(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), back) &&
          back == v) {
        return std::string(buf, r.ptr);
      }
      const T magnitude = v < 0 ? -v : v;
      r = std::to_chars(buf, buf + sizeof buf, magnitude, std::chars_format::hex);
      return (v < 0 ? "-0x" : "0x") + std::string(buf, r.ptr);
    }
  }
  return static_cast<double>(v);
}

template <class T>
T float_from_json(const value& j, const context& cx, const path* at) {
  if (const auto* d = j.get_ptr<const value::number_float_t*>()) {
    if constexpr (sizeof(T) < sizeof(double)) {
      if (std::isfinite(*d) && std::fabs(*d) > static_cast<double>(std::numeric_limits<T>::max())) {
        cx.fail(at, "number " + j.dump() + " is out of range for " + std::string(type_name<T>()));
      }
    }
    return static_cast<T>(*d);
  }
  if (const auto* u = j.get_ptr<const value::number_unsigned_t*>()) return static_cast<T>(*u);
  if (const auto* i = j.get_ptr<const value::number_integer_t*>()) return static_cast<T>(*i);
  if (const auto* s = j.get_ptr<const value::string_t*>()) {
    if (*s == "NaN") return std::numeric_limits<T>::quiet_NaN();
    if (*s == "Infinity") return std::numeric_limits<T>::infinity();
    if (*s == "-Infinity") return -std::numeric_limits<T>::infinity();
    if constexpr (sizeof(T) > sizeof(double)) {
      T v{};
      if (parse_long_float(*s, v)) return v;
      cx.fail(at, "string \"" + *s + "\" is not a number");
    }
    cx.fail(at, "string \"" + *s + "\" is not a number (only NaN, Infinity and -Infinity are)");
  }
  cx.expected(at, "a number", j);
}

template <class T>
T integer_from_json(const value& j, const context& cx, const path* at) {
  using limits = std::numeric_limits<T>;
  bool in_range = false;
  std::string text;
  if (const auto* u = j.get_ptr<const value::number_unsigned_t*>()) {
    in_range = *u <= static_cast<std::uint64_t>(limits::max());
    text = std::to_string(*u);
  } else if (const auto* i = j.get_ptr<const value::number_integer_t*>()) {
    if constexpr (std::is_signed_v<T>) {
      in_range = *i >= limits::min() && *i <= limits::max();
    } else {
      in_range = *i >= 0 && static_cast<std::uint64_t>(*i) <= limits::max();
    }
    text = std::to_string(*i);
  } else {
    cx.expected(at, "an integer", j);
  }
  if (!in_range) cx.fail(at, text + " is out of range for " + std::string(type_name<T>()));
  return static_cast<T>(
      j.get<std::conditional_t<std::is_signed_v<T>, std::int64_t, std::uint64_t>>());
}

template <class T>
value map_to_json(const T& m) {
  using K = typename T::key_type;
  using V = typename T::mapped_type;
  if constexpr (kind_of<K>() == kind::string) {
    bool text_keys = true;
    for (const auto& [key, mapped] : m) text_keys = text_keys && valid_utf8(key);
    if (text_keys) {
      value object = value::object();
      for (const auto& [key, mapped] : m) object.emplace(key, to_json<V>(mapped));
      return object;
    }
  }
  value pairs = value::array();
  pairs.get_ref<value::array_t&>().reserve(m.size());
  for (const auto& [key, mapped] : m)
    pairs.push_back(value::array({to_json<K>(key), to_json<V>(mapped)}));
  return pairs;
}

template <class T>
T map_from_json(const value& j, const context& cx, const path* at) {
  using K = typename T::key_type;
  using V = typename T::mapped_type;
  T m;
  if constexpr (kind_of<K>() == kind::string) {
    if (const auto* object = j.get_ptr<const value::object_t*>()) {
      if constexpr (requires { m.reserve(object->size()); }) m.reserve(object->size());
      for (const auto& [key, mapped] : *object) {
        const path here{at, key};
        m.emplace_hint(m.end(), key, from_json<V>(mapped, cx, &here));
      }
      return m;
    }
  }
  const auto* pairs = j.get_ptr<const value::array_t*>();
  if (pairs == nullptr) {
    cx.expected(at,
                kind_of<K>() == kind::string ? "an object or an array of [key, value] pairs"
                                             : "an array of [key, value] pairs",
                j);
  }
  if constexpr (requires { m.reserve(pairs->size()); }) m.reserve(pairs->size());
  for (std::size_t i = 0; i < pairs->size(); ++i) {
    const path here{at, {}, i, true};
    const value& pair = (*pairs)[i];
    if (!pair.is_array() || pair.size() != 2) cx.expected(&here, "a [key, value] pair", pair);
    const path key_at{&here, {}, 0, true};
    const path mapped_at{&here, {}, 1, true};
    const std::size_t before = m.size();
    m.emplace_hint(m.end(), from_json<K>(pair[0], cx, &key_at),
                   from_json<V>(pair[1], cx, &mapped_at));
    if (m.size() == before) cx.fail(&here, "duplicate map key");
  }
  return m;
}

template <class V, std::size_t... I>
V alternative_from_json(const value& j, std::size_t index, const context& cx, const path* at,
                        std::index_sequence<I...>) {
  using fn = V (*)(const value&, const context&, const path*);
  static constexpr fn table[] = {+[](const value& jj, const context& c, const path* p) -> V {
    return V(std::in_place_index<I>, from_json<std::variant_alternative_t<I, V>>(jj, c, p));
  }...};
  return table[index](j, cx, at);
}

template <class T, class... Ps, std::size_t... I>
T product_from_json(const value& j, const context& cx, [[maybe_unused]] const path* at,
                    type_list<Ps...>, std::index_sequence<I...>) {
  const path here[sizeof...(Ps) + 1] = {path{at, {}, I, true}...};
  return T{from_json<Ps>(j[I], cx, &here[I])...};
}

template <class T>
value to_json(const T& v) {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    using R = typename adapter<T>::representation;
    return to_json<R>(static_cast<const R&>(adapter<T>::to(v)));
  } else if constexpr (k == kind::boolean) {
    return v;
  } else if constexpr (k == kind::integer) {
    if constexpr (std::is_signed_v<T>) {
      return static_cast<std::int64_t>(v);
    } else {
      return static_cast<std::uint64_t>(v);
    }
  } else if constexpr (k == kind::enumeration) {
    return to_json<std::underlying_type_t<T>>(static_cast<std::underlying_type_t<T>>(v));
  } else if constexpr (k == kind::floating) {
    return float_to_json(v);
  } else if constexpr (k == kind::string) {
    // JSON text is UTF-8; other bytes travel as {"base64": "..."} rather than being mangled.
    if (valid_utf8(v)) return v;
    return value::object({{"base64", base64_encode(v)}});
  } else if constexpr (k == kind::sequence || k == kind::fixed_array || k == kind::set) {
    using E = std::remove_cvref_t<decltype(*v.begin())>;
    value array = value::array();
    array.get_ref<value::array_t&>().reserve(v.size());
    for (const auto& e : v) array.push_back(to_json<E>(e));
    return array;
  } else if constexpr (k == kind::map) {
    return map_to_json(v);
  } else if constexpr (k == kind::optional) {
    using E = typename T::value_type;
    if (!v) return nullptr;
    if constexpr (nullable<E>()) {
      return value::array({to_json<E>(*v)});
    } else {
      return to_json<E>(*v);
    }
  } else if constexpr (k == kind::variant) {
    if (v.valueless_by_exception()) {
      throw serialization_error("dstm::json_serializer: cannot encode " +
                                std::string(type_name<T>()) + ": the variant is valueless");
    }
    value object = value::object();
    object["index"] = v.index();
    object["value"] = std::visit(
        [](const auto& alt) { return to_json<std::remove_cvref_t<decltype(alt)>>(alt); }, v);
    return object;
  } else if constexpr (k == kind::unit) {
    return nullptr;
  } else if constexpr (k == kind::product) {
    value array = value::array();
    std::apply(
        [&](const auto&... e) {
          (array.push_back(to_json<std::remove_cvref_t<decltype(e)>>(e)), ...);
        },
        v);
    return array;
  } else if constexpr (k == kind::structure) {
    value object = value::object();
    for_each_member(v, [&](std::string_view name, const auto& member) {
      object.emplace(std::string(name), to_json<std::remove_cvref_t<decltype(member)>>(member));
    });
    return object;
  } else {
    static_assert(always_false<T>, "dstm: unsupported type reached to_json");
  }
}

template <class T>
T from_json(const value& j, const context& cx, const path* at) {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    auto representation = from_json<typename adapter<T>::representation>(j, cx, at);
    try {
      return adapter<T>::from(std::move(representation));
    } catch (const serialization_error& e) {
      cx.fail(at, "the adapter rejected the value: " + reason(e));
    }
  } else if constexpr (k == kind::boolean) {
    if (const auto* b = j.get_ptr<const value::boolean_t*>()) return *b;
    cx.expected(at, "a boolean", j);
  } else if constexpr (k == kind::integer) {
    return integer_from_json<T>(j, cx, at);
  } else if constexpr (k == kind::enumeration) {
    return static_cast<T>(integer_from_json<std::underlying_type_t<T>>(j, cx, at));
  } else if constexpr (k == kind::floating) {
    return float_from_json<T>(j, cx, at);
  } else if constexpr (k == kind::string) {
    if (const auto* s = j.get_ptr<const value::string_t*>()) return *s;
    if (j.is_object() && j.size() == 1 && j.contains("base64")) {
      const path here{at, "base64"};
      const auto* encoded = j["base64"].get_ptr<const value::string_t*>();
      if (encoded == nullptr) cx.expected(&here, "a base64 string", j["base64"]);
      std::string bytes;
      if (!base64_decode(*encoded, bytes)) cx.fail(&here, "malformed base64");
      return bytes;
    }
    cx.expected(at, "a string", j);
  } else if constexpr (k == kind::sequence || k == kind::set) {
    using E = typename T::value_type;
    const auto* array = j.get_ptr<const value::array_t*>();
    if (array == nullptr) cx.expected(at, "an array", j);
    T out;
    if constexpr (requires { out.reserve(array->size()); }) out.reserve(array->size());
    for (std::size_t i = 0; i < array->size(); ++i) {
      const path here{at, {}, i, true};
      if constexpr (k == kind::sequence) {
        out.push_back(from_json<E>((*array)[i], cx, &here));
      } else {
        const std::size_t before = out.size();
        out.emplace_hint(out.end(), from_json<E>((*array)[i], cx, &here));
        if (out.size() == before) cx.fail(&here, "duplicate set element");
      }
    }
    return out;
  } else if constexpr (k == kind::fixed_array) {
    using E = typename T::value_type;
    constexpr std::size_t n = std::tuple_size_v<T>;
    if (!j.is_array() || j.size() != n) cx.expected(at, "an array of " + std::to_string(n), j);
    T out{};
    for (std::size_t i = 0; i < n; ++i) {
      const path here{at, {}, i, true};
      out[i] = from_json<E>(j[i], cx, &here);
    }
    return out;
  } else if constexpr (k == kind::map) {
    return map_from_json<T>(j, cx, at);
  } else if constexpr (k == kind::optional) {
    using E = typename T::value_type;
    if (j.is_null()) return T{};
    if constexpr (nullable<E>()) {
      if (!j.is_array() || j.size() != 1) cx.expected(at, "null or a one-element array", j);
      const path here{at, {}, 0, true};
      return T(std::in_place, from_json<E>(j[0], cx, &here));
    } else {
      return T(std::in_place, from_json<E>(j, cx, at));
    }
  } else if constexpr (k == kind::variant) {
    if (!j.is_object() || j.size() != 2 || !j.contains("index") || !j.contains("value")) {
      cx.expected(at, "an object {\"index\": i, \"value\": v}", j);
    }
    const path index_at{at, "index"};
    const path value_at{at, "value"};
    const auto index = integer_from_json<std::size_t>(j["index"], cx, &index_at);
    if (index >= std::variant_size_v<T>) {
      cx.fail(&index_at, "variant index " + std::to_string(index) + " out of range (" +
                             std::to_string(std::variant_size_v<T>) + " alternatives)");
    }
    return alternative_from_json<T>(j["value"], index, cx, &value_at,
                                    std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == kind::unit) {
    if (!j.is_null()) cx.expected(at, "null", j);
    return T{};
  } else if constexpr (k == kind::product) {
    using parts = parts_t<T>;
    constexpr std::size_t n = std::tuple_size_v<T>;
    if (!j.is_array() || j.size() != n) cx.expected(at, "an array of " + std::to_string(n), j);
    return product_from_json<T>(j, cx, at, parts{}, std::make_index_sequence<n>{});
  } else if constexpr (k == kind::structure) {
    if (!j.is_object()) cx.expected(at, "an object", j);
    T out{};
    for_each_member(out, [&](std::string_view name, auto& member) {
      const path here{at, name};
      const auto it = j.find(name);
      if (it == j.end()) cx.fail(&here, "missing member");
      member = from_json<std::remove_cvref_t<decltype(member)>>(*it, cx, &here);
    });
    if (j.size() != member_count<T>) {
      // Every member was found, so some key is not one of them: name the first.
      for (const auto& [key, ignored] : j.items()) {
        bool known = false;
        for_each_member(out,
                        [&](std::string_view name, const auto&) { known = known || name == key; });
        if (!known) cx.fail(at, "unknown member \"" + key + "\"");
      }
    }
    return out;
  } else {
    static_assert(always_false<T>, "dstm: unsupported type reached from_json");
  }
}

}  // namespace dstm::serial::detail::json

namespace dstm {

/// The JSON serializer, a model of `serializer_for` (include/dstm/serial/concept.hpp) for the
/// same types as `binary_serializer`; the mapping is in docs/serialization.md.
///
/// Properties a caller can rely on:
///  - `encode` writes compact UTF-8 JSON; Hana structs become objects keyed by member name,
///    so other tools can read and write the values.
///  - `decode` accepts one JSON document (surrounding whitespace allowed) and checks it against
///    `T` strictly: wrong JSON types, out-of-range numbers, missing or unknown struct members,
///    wrong array lengths and duplicate set elements or map keys throw `serialization_error`
///    with a JSON Pointer to the offending value; invalid JSON throws it with nlohmann's parse
///    error (which gives the byte position).
///  - Round trip is exact: doubles print in the shortest form that reads back identically;
///    NaN and infinities travel as the strings "NaN", "Infinity", "-Infinity" (NaN payloads
///    are not kept); strings that are not UTF-8 travel as {"base64": "..."}.
///  - There is no type header: bytes of another type are rejected only when their shape
///    differs (a JSON number decodes as any wide-enough number type).
///  - Stateless, reentrant, usable from any thread.
class json_serializer {
 public:
  static constexpr std::string_view name = "dstm::json_serializer";

  template <class T>
  static constexpr bool supports = serial::detail::supported_shape<T>();

  /// The JSON document for `value` (for embedding it in a larger document).
  template <class T>
  static nlohmann::json to_json(const T& value) {
    if constexpr (assert_serializer_for<json_serializer, T>()) {
      return serial::detail::json::to_json<T>(value);
    } else {
      std::abort();  // never compiled: the static_assert above has stopped compilation
    }
  }

  /// The `T` that the JSON document `j` describes. Throws `serialization_error`.
  template <class T>
  static T from_json(const nlohmann::json& j) {
    if constexpr (assert_serializer_for<json_serializer, T>()) {
      const serial::detail::json::context cx{serial::detail::type_name<T>()};
      return serial::detail::json::from_json<T>(j, cx, nullptr);
    } else {
      std::abort();  // never compiled: the static_assert above has stopped compilation
    }
  }

  /// Appends the JSON text of `value` to `out`. Throws `serialization_error` only for a
  /// valueless `std::variant`.
  template <class T>
  static void encode(const T& value, std::string& out) {
    if constexpr (assert_serializer_for<json_serializer, T>()) {
      try {
        out += serial::detail::json::to_json<T>(value).dump();
      } catch (const nlohmann::json::exception& e) {
        throw serialization_error("dstm::json_serializer: cannot encode " +
                                  std::string(serial::detail::type_name<T>()) + ": " + e.what());
      }
    }
  }

  /// The `T` that the JSON text `bytes` describes. Throws `serialization_error` for invalid
  /// JSON (including trailing non-whitespace) and for JSON that does not fit `T`.
  template <class T>
  static T decode(std::string_view bytes) {
    if constexpr (assert_serializer_for<json_serializer, T>()) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(bytes.begin(), bytes.end());
      } catch (const nlohmann::json::exception& e) {
        throw serialization_error("dstm::json_serializer: cannot decode " +
                                  std::string(serial::detail::type_name<T>()) +
                                  ": invalid JSON: " + e.what());
      }
      return from_json<T>(j);
    } else {
      std::abort();  // never compiled: the static_assert above has stopped compilation
    }
  }
};

}  // namespace dstm
