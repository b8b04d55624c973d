#pragma once
/// \file
/// `dstm::binary_serializer`: a compact, self-checking binary format driven by Boost.Hana
/// reflection. docs/serialization.md specifies the format byte by byte.
///
/// Every encoding starts with a 5-byte header: the format version (1) and a 32-bit fingerprint
/// of the type's shape (FNV-1a of `binary_serializer::signature<T>()`, e.g.
/// `struct{x:i32,y:string}`), computed at compile time. Bytes written for a type of another
/// shape are rejected as foreign instead of being misread. The value follows: fixed-width
/// little-endian numbers (floating point bit-exact), LEB128 varints for lengths and indices,
/// members in declaration order. Nothing is padded or aligned, no names are stored.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "dstm/error.hpp"
#include "dstm/serial/concept.hpp"
#include "dstm/serial/detail/shape.hpp"

namespace dstm::serial::detail::binary {

inline constexpr std::uint8_t format_version = 1;
inline constexpr std::size_t header_size = 5;
inline constexpr std::size_t max_zero_width_elements = std::size_t{1} << 16;

constexpr std::uint32_t fnv1a32(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

constexpr std::string decimal(std::size_t n) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + n % 10));
    n /= 10;
  } while (n != 0);
  return digits;
}

template <class T>
constexpr std::size_t float_width() {
  constexpr float_format f = float_format_of<T>();
  if constexpr (f == float_format::binary32) return 4;
  if constexpr (f == float_format::binary64) return 8;
  if constexpr (f == float_format::x87_extended) return 10;
  if constexpr (f == float_format::binary128) return 16;
  return 0;
}

template <class T>
constexpr std::string signature();

// Appends a Hana compile-time string one character at a time: appending through its pointer
// is not a constant expression under -fsanitize=undefined (GCC checks the pointer for null).
template <char... Cs>
constexpr void append_chars(std::string& s, boost::hana::string<Cs...>) {
  (s.push_back(Cs), ...);
}

template <class... Ps>
constexpr std::string signature_list(type_list<Ps...>) {
  std::string s;
  ((s += signature<Ps>(), s += ','), ...);
  if (!s.empty()) s.pop_back();
  return s;
}

template <class T>
constexpr std::string signature() {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    return "adapted<" + signature<typename adapter<T>::representation>() + ">";
  } else if constexpr (k == kind::boolean) {
    return "bool";
  } else if constexpr (k == kind::integer) {
    return (std::is_signed_v<T> ? "i" : "u") + decimal(sizeof(T) * 8);
  } else if constexpr (k == kind::floating) {
    return "f" + decimal(float_width<T>() * 8);
  } else if constexpr (k == kind::enumeration) {
    return "enum<" + signature<std::underlying_type_t<T>>() + ">";
  } else if constexpr (k == kind::string) {
    return "string";
  } else if constexpr (k == kind::sequence) {
    return "vector<" + signature<typename T::value_type>() + ">";
  } else if constexpr (k == kind::fixed_array) {
    return "array<" + signature<typename T::value_type>() + "," + decimal(std::tuple_size_v<T>) +
           ">";
  } else if constexpr (k == kind::map) {
    return "map<" + signature_list(parts_t<T>{}) + ">";
  } else if constexpr (k == kind::set) {
    return "set<" + signature<typename T::key_type>() + ">";
  } else if constexpr (k == kind::optional) {
    return "optional<" + signature<typename T::value_type>() + ">";
  } else if constexpr (k == kind::variant) {
    return "variant<" + signature_list(parts_t<T>{}) + ">";
  } else if constexpr (k == kind::unit) {
    return "unit";
  } else if constexpr (k == kind::product) {
    return "tuple<" + signature_list(parts_t<T>{}) + ">";
  } else if constexpr (k == kind::structure) {
    std::string s = "struct{";
    boost::hana::for_each(boost::hana::accessors<T>(), [&](auto accessor) {
      append_chars(s, std::remove_cvref_t<decltype(boost::hana::first(accessor))>{});
      s += ':';
      s += signature<member_t<T, decltype(accessor)>>();
      s += ',';
    });
    if (s.back() == ',') s.pop_back();
    return s + "}";
  } else {
    static_assert(always_false<T>, "dstm: unsupported type reached the binary signature");
  }
}

template <class T>
inline constexpr std::uint32_t fingerprint_v = fnv1a32(signature<T>());

/// The fewest bytes any value of `T` encodes to: what caps a container length read from
/// untrusted input (n elements need at least n * min_size bytes).
template <class T>
constexpr std::size_t min_size();

template <class... Ps>
constexpr std::size_t min_size_sum(type_list<Ps...>) {
  return (std::size_t{0} + ... + min_size<Ps>());
}

template <class T>
constexpr std::size_t min_size() {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    return min_size<typename adapter<T>::representation>();
  } else if constexpr (k == kind::boolean) {
    return 1;
  } else if constexpr (k == kind::integer || k == kind::enumeration) {
    return sizeof(T);
  } else if constexpr (k == kind::floating) {
    return float_width<T>();
  } else if constexpr (k == kind::fixed_array) {
    return std::tuple_size_v<T> * min_size<typename T::value_type>();
  } else if constexpr (k == kind::unit) {
    return 0;
  } else if constexpr (k == kind::product || k == kind::structure) {
    return min_size_sum(parts_t<T>{});
  } else {
    return 1;  // a length, a tag or an index
  }
}

/// Element types whose in-memory representation is their encoding on this machine, so a
/// vector or array of them is copied in one `memcpy`.
template <class T>
constexpr bool bulk_copyable() {
  constexpr kind k = kind_of<T>();
  if constexpr (std::endian::native != std::endian::little) {
    return false;
  } else if constexpr (k == kind::integer || k == kind::enumeration) {
    return true;
  } else if constexpr (k == kind::floating) {
    return float_width<T>() == sizeof(T);
  } else {
    return false;
  }
}

inline void put_varint(std::string& out, std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

template <std::size_t N>
void put_fixed(std::string& out, std::uint64_t v) {
  char buf[N];
  for (std::size_t i = 0; i < N; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(buf, N);
}

/// Copies the `N` bytes of `src` that carry a value into `dst` in little-endian order.
template <std::size_t N>
void copy_little_endian(void* dst, const void* src) {
  std::memcpy(dst, src, N);
  if constexpr (std::endian::native == std::endian::big) {
    auto* p = static_cast<unsigned char*>(dst);
    for (std::size_t i = 0; i < N / 2; ++i) std::swap(p[i], p[N - 1 - i]);
  }
}

inline std::string hex(std::uint64_t v, int digits) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = digits - 1; i >= 0; --i) s += d[(v >> (4 * i)) & 0xf];
  return s;
}

/// A bounds-checked cursor over untrusted bytes; every failure throws `serialization_error`
/// naming the type being decoded, the reason and the byte offset.
class reader {
 public:
  reader(std::string_view in, std::string_view type) noexcept : in_(in), type_(type) {}

  std::size_t position() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }

  [[noreturn]] void fail(std::size_t at, const std::string& why) const {
    throw serialization_error("dstm::binary_serializer: cannot decode " + std::string(type_) +
                              ": " + why + " (at byte " + std::to_string(at) + " of " +
                              std::to_string(in_.size()) + ")");
  }

  std::string_view take(std::size_t n) {
    if (n > remaining()) {
      fail(pos_, "truncated: " + std::to_string(n) + " bytes needed, " +
                     std::to_string(remaining()) + " remain");
    }
    const std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  std::uint8_t byte() { return static_cast<std::uint8_t>(take(1)[0]); }

  template <std::size_t N>
  std::uint64_t fixed() {
    const std::string_view s = take(N);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < N; ++i)
      v |= std::uint64_t{static_cast<std::uint8_t>(s[i])} << (8 * i);
    return v;
  }

  std::uint64_t varint() {
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    for (unsigned i = 0;; ++i) {
      if (pos_ == in_.size()) fail(start, "truncated varint");
      const auto b = static_cast<std::uint8_t>(in_[pos_++]);
      // Only the canonical (shortest) encoding is accepted, so every value has one encoding.
      if (i == 9 && b > 1) fail(start, "varint overflows 64 bits");
      v |= std::uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) fail(start, "overlong varint");
        return v;
      }
    }
  }

  /// A container length, capped by what the remaining bytes can hold.
  std::size_t count(std::size_t min_element_size) {
    const std::size_t start = pos_;
    const std::uint64_t n = varint();
    if (min_element_size == 0) {
      if (n > max_zero_width_elements) {
        fail(start, "length " + std::to_string(n) + " exceeds the limit of " +
                        std::to_string(max_zero_width_elements) +
                        " elements of a type that encodes to no bytes");
      }
    } else if (n > remaining() / min_element_size) {
      fail(start, "length " + std::to_string(n) + " cannot fit: the remaining " +
                      std::to_string(remaining()) + " bytes hold at most " +
                      std::to_string(remaining() / min_element_size) + " elements");
    }
    return static_cast<std::size_t>(n);
  }

 private:
  std::string_view in_;
  std::string_view type_;
  std::size_t pos_ = 0;
};

template <class T>
void write(std::string& out, const T& value);
template <class T>
T read(reader& r);

template <class V, std::size_t... I>
V read_alternative(reader& r, std::size_t index, std::index_sequence<I...>) {
  using reader_fn = V (*)(reader&);
  static constexpr reader_fn table[] = {+[](reader& rr) -> V {
    return V(std::in_place_index<I>, read<std::variant_alternative_t<I, V>>(rr));
  }...};
  return table[index](r);
}

template <class T, class... Ps>
T read_product(reader& r, type_list<Ps...>) {
  // Braced initialization evaluates its elements left to right, in encoding order.
  return T{read<Ps>(r)...};
}

template <class T>
void write(std::string& out, const T& value) {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    using R = typename adapter<T>::representation;
    write<R>(out, static_cast<const R&>(adapter<T>::to(value)));
  } else if constexpr (k == kind::boolean) {
    out.push_back(value ? '\1' : '\0');
  } else if constexpr (k == kind::integer) {
    put_fixed<sizeof(T)>(out, static_cast<std::make_unsigned_t<T>>(value));
  } else if constexpr (k == kind::enumeration) {
    using U = std::underlying_type_t<T>;
    put_fixed<sizeof(T)>(out, static_cast<std::make_unsigned_t<U>>(static_cast<U>(value)));
  } else if constexpr (k == kind::floating) {
    constexpr std::size_t width = float_width<T>();
    char buf[width];
    copy_little_endian<width>(buf, &value);
    out.append(buf, width);
  } else if constexpr (k == kind::string) {
    put_varint(out, value.size());
    out.append(value);
  } else if constexpr (k == kind::sequence || k == kind::fixed_array) {
    using E = typename T::value_type;
    if constexpr (k == kind::sequence) put_varint(out, value.size());
    if constexpr (bulk_copyable<E>()) {
      out.append(reinterpret_cast<const char*>(value.data()), value.size() * sizeof(E));
    } else {
      for (const E& e : value) write<E>(out, e);
    }
  } else if constexpr (k == kind::map) {
    put_varint(out, value.size());
    for (const auto& [key, mapped] : value) {
      write<typename T::key_type>(out, key);
      write<typename T::mapped_type>(out, mapped);
    }
  } else if constexpr (k == kind::set) {
    put_varint(out, value.size());
    for (const auto& e : value) write<typename T::key_type>(out, e);
  } else if constexpr (k == kind::optional) {
    out.push_back(value ? '\1' : '\0');
    if (value) write<typename T::value_type>(out, *value);
  } else if constexpr (k == kind::variant) {
    if (value.valueless_by_exception()) {
      throw serialization_error("dstm::binary_serializer: cannot encode " +
                                std::string(type_name<T>()) + ": the variant is valueless");
    }
    put_varint(out, value.index());
    std::visit([&](const auto& alt) { write<std::remove_cvref_t<decltype(alt)>>(out, alt); },
               value);
  } else if constexpr (k == kind::unit) {
  } else if constexpr (k == kind::product) {
    std::apply([&](const auto&... e) { (write<std::remove_cvref_t<decltype(e)>>(out, e), ...); },
               value);
  } else if constexpr (k == kind::structure) {
    for_each_member(value, [&](std::string_view, const auto& member) {
      write<std::remove_cvref_t<decltype(member)>>(out, member);
    });
  } else {
    static_assert(always_false<T>, "dstm: unsupported type reached binary write");
  }
}

template <class T>
T read(reader& r) {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    const std::size_t at = r.position();
    auto representation = read<typename adapter<T>::representation>(r);
    try {
      return adapter<T>::from(std::move(representation));
    } catch (const serialization_error& e) {
      r.fail(at, "the adapter rejected the value: " + reason(e));
    }
  } else if constexpr (k == kind::boolean) {
    const std::size_t at = r.position();
    const std::uint8_t b = r.byte();
    if (b > 1) r.fail(at, "invalid bool byte " + hex(b, 2) + " (0 or 1 expected)");
    return b == 1;
  } else if constexpr (k == kind::integer) {
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(r.fixed<sizeof(T)>()));
  } else if constexpr (k == kind::enumeration) {
    using U = std::underlying_type_t<T>;
    return static_cast<T>(
        static_cast<U>(static_cast<std::make_unsigned_t<U>>(r.fixed<sizeof(T)>())));
  } else if constexpr (k == kind::floating) {
    constexpr std::size_t width = float_width<T>();
    T value{};
    copy_little_endian<width>(&value, r.take(width).data());
    return value;
  } else if constexpr (k == kind::string) {
    return T(r.take(r.count(1)));
  } else if constexpr (k == kind::sequence) {
    using E = typename T::value_type;
    const std::size_t n = r.count(min_size<E>());
    T value;
    if constexpr (bulk_copyable<E>()) {
      const std::string_view bytes = r.take(n * sizeof(E));
      value.resize(n);
      if (n != 0) std::memcpy(value.data(), bytes.data(), bytes.size());
    } else {
      value.reserve(n);
      for (std::size_t i = 0; i < n; ++i) value.push_back(read<E>(r));
    }
    return value;
  } else if constexpr (k == kind::fixed_array) {
    using E = typename T::value_type;
    T value{};
    if constexpr (bulk_copyable<E>()) {
      const std::string_view bytes = r.take(std::tuple_size_v<T> * sizeof(E));
      std::memcpy(value.data(), bytes.data(), bytes.size());
    } else {
      for (E& e : value) e = read<E>(r);
    }
    return value;
  } else if constexpr (k == kind::map) {
    using K = typename T::key_type;
    using V = typename T::mapped_type;
    const std::size_t n = r.count(min_size<K>() + min_size<V>());
    T value;
    if constexpr (requires { value.reserve(n); }) value.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.position();
      K key = read<K>(r);
      V mapped = read<V>(r);
      const std::size_t before = value.size();
      // Sorted input (what encode writes for std::map) inserts in constant time at the end.
      value.emplace_hint(value.end(), std::move(key), std::move(mapped));
      if (value.size() == before) r.fail(at, "duplicate map key");
    }
    return value;
  } else if constexpr (k == kind::set) {
    using K = typename T::key_type;
    const std::size_t n = r.count(min_size<K>());
    T value;
    if constexpr (requires { value.reserve(n); }) value.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.position();
      const std::size_t before = value.size();
      value.emplace_hint(value.end(), read<K>(r));
      if (value.size() == before) r.fail(at, "duplicate set element");
    }
    return value;
  } else if constexpr (k == kind::optional) {
    const std::size_t at = r.position();
    const std::uint8_t tag = r.byte();
    if (tag == 0) return T{};
    if (tag != 1) r.fail(at, "invalid optional tag " + hex(tag, 2) + " (0 or 1 expected)");
    return T(std::in_place, read<typename T::value_type>(r));
  } else if constexpr (k == kind::variant) {
    const std::size_t at = r.position();
    const std::uint64_t index = r.varint();
    if (index >= std::variant_size_v<T>) {
      r.fail(at, "variant index " + std::to_string(index) + " out of range (" +
                     std::to_string(std::variant_size_v<T>) + " alternatives)");
    }
    return read_alternative<T>(r, static_cast<std::size_t>(index),
                               std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (k == kind::unit) {
    return T{};
  } else if constexpr (k == kind::product) {
    return read_product<T>(r, parts_t<T>{});
  } else if constexpr (k == kind::structure) {
    T value{};
    for_each_member(value, [&](std::string_view, auto& member) {
      member = read<std::remove_cvref_t<decltype(member)>>(r);
    });
    return value;
  } else {
    static_assert(always_false<T>, "dstm: unsupported type reached binary read");
  }
}

}  // namespace dstm::serial::detail::binary

namespace dstm {

/// The compact binary serializer, a model of `serializer_for` (include/dstm/serial/concept.hpp)
/// for every type `serial::detail::supported_shape` accepts.
///
/// Properties a caller can rely on:
///  - `decode` accepts exactly the bytes `encode` produces for the same shape (canonical
///    varints, bools and tags of 0 or 1, no duplicate map keys or set elements, no trailing
///    bytes); anything else throws `serialization_error` naming the type, the reason and the
///    byte offset. Bytes written for another shape fail the fingerprint check ("foreign").
///  - A corrupt length never causes a large allocation: a length is checked, before anything
///    is reserved, against the remaining bytes divided by the element type's smallest
///    encoding, so memory stays within `sizeof(E) / smallest encoding of E` times the input;
///    element types that encode to no bytes at all (`std::monostate`, empty structs) are
///    capped at `max_zero_width_elements` per container.
///  - `std::map` and `std::unordered_map` (and the two sets) share one encoding and one
///    fingerprint: the fingerprint describes the bytes, not the C++ container.
///  - Renaming, reordering, adding or retyping a struct member changes the fingerprint, so
///    values written before the change are rejected as foreign rather than misread.
///  - Stateless, reentrant, usable from any thread.
class binary_serializer {
 public:
  static constexpr std::string_view name = "dstm::binary_serializer";
  /// The first byte of every encoding; a decoder rejects other versions.
  static constexpr std::uint8_t format_version = serial::detail::binary::format_version;
  /// Version byte plus 32-bit fingerprint.
  static constexpr std::size_t header_size = serial::detail::binary::header_size;
  static constexpr std::size_t max_zero_width_elements =
      serial::detail::binary::max_zero_width_elements;

  template <class T>
  static constexpr bool supports = serial::detail::supported_shape<T>();

  /// The shape of `T` that its fingerprint hashes, e.g. `map<string,vector<i32>>`.
  template <class T>
  static constexpr std::string signature() {
    static_assert(supports<T>, "dstm: binary_serializer::signature needs a supported type");
    return serial::detail::binary::signature<T>();
  }

  /// FNV-1a (32-bit) of `signature<T>()`, computed at compile time.
  template <class T>
  static constexpr std::uint32_t fingerprint() {
    static_assert(supports<T>, "dstm: binary_serializer::fingerprint needs a supported type");
    return serial::detail::binary::fingerprint_v<T>;
  }

  /// Appends the header and the encoding of `value` to `out`. Throws `serialization_error`
  /// only for a valueless `std::variant`.
  template <class T>
  static void encode(const T& value, std::string& out) {
    if constexpr (assert_serializer_for<binary_serializer, T>()) {
      namespace b = serial::detail::binary;
      out.reserve(out.size() + header_size + b::min_size<T>());
      out.push_back(static_cast<char>(format_version));
      b::put_fixed<4>(out, b::fingerprint_v<T>);
      b::write<T>(out, value);
    }
  }

  /// The `T` encoded in `bytes`, which must hold exactly one encoding of `T`'s shape.
  /// Throws `serialization_error` otherwise (see the class comment).
  template <class T>
  static T decode(std::string_view bytes) {
    if constexpr (assert_serializer_for<binary_serializer, T>()) {
      namespace b = serial::detail::binary;
      b::reader r(bytes, serial::detail::type_name<T>());
      if (bytes.empty()) r.fail(0, "empty input");
      const std::uint8_t version = r.byte();
      if (version != format_version) {
        r.fail(0, "unsupported format version " + std::to_string(version) +
                      " (this build reads version " + std::to_string(format_version) + ")");
      }
      const auto found = static_cast<std::uint32_t>(r.fixed<4>());
      if (found != b::fingerprint_v<T>) {
        r.fail(1, "foreign bytes: their fingerprint " + b::hex(found, 8) +
                      " is not the fingerprint " + b::hex(b::fingerprint_v<T>, 8) +
                      " of the expected shape " + b::signature<T>());
      }
      T value = b::read<T>(r);
      if (r.remaining() != 0) {
        r.fail(r.position(), std::to_string(r.remaining()) + " trailing bytes after the value");
      }
      return value;
    } else {
      std::abort();  // never compiled: the static_assert above has stopped compilation
    }
  }
};

}  // namespace dstm
