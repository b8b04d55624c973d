#pragma once
/// \file
/// The shapes dstm's serializers understand: which kind of value a C++ type is (arithmetic,
/// string, container, optional, variant, product, Hana struct, adapted), its parts, and
/// whether every part is of a known kind. Both `binary_serializer` and `json_serializer`
/// accept exactly the types `supported_shape<T>()` accepts, so a value written by one can be
/// written by the other.

#include <array>
#include <boost/hana/accessors.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/unpack.hpp>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace dstm::serial {

/// The extension point for types that are neither Hana structs nor standard types: maps `T`
/// to a `representation` every dstm serializer supports, and back.
///
/// Specialize it in `namespace dstm::serial` with
///  1. `using representation = R;` — a supported type (it may itself be adapted);
///  2. `static R to(const T&)` (returning `const R&` is fine too);
///  3. `static T from(R&&)` — may throw `dstm::serialization_error` to reject a representation
///     that is not a valid `T` (for example an out-of-range field); other exceptions propagate
///     unchanged out of `decode`.
///
/// An adapted type has its own binary fingerprint (`adapted<R>`), distinct from `R`'s.
/// The primary template is empty: a type is adapted exactly when `adapter<T>::representation`
/// names a type.
template <class T>
struct adapter {};

}  // namespace dstm::serial

namespace dstm::serial::detail {

template <class... Ts>
struct type_list {};

template <class T>
inline constexpr bool always_false = false;

/// The kind of a value, in the order classification tries them (an adapter wins over all).
enum class kind {
  unsupported,
  adapted,
  boolean,
  integer,
  floating,
  enumeration,
  string,
  sequence,     ///< std::vector
  fixed_array,  ///< std::array
  map,          ///< std::map, std::unordered_map
  set,          ///< std::set, std::unordered_set
  optional,     ///< std::optional
  variant,      ///< std::variant
  unit,         ///< std::monostate
  product,      ///< std::pair, std::tuple
  structure,    ///< a Boost.Hana Struct (BOOST_HANA_DEFINE_STRUCT or BOOST_HANA_ADAPT_STRUCT)
};

template <class T>
concept adapted = requires {
  typename adapter<T>::representation;
};

template <class T>
concept hana_struct = boost::hana::Struct<T>::value;

template <class T>
struct is_vector : std::false_type {};
template <class E, class A>
struct is_vector<std::vector<E, A>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class E, std::size_t N>
struct is_std_array<std::array<E, N>> : std::true_type {};

template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};
template <class K, class V, class H, class E, class A>
struct is_map<std::unordered_map<K, V, H, E, A>> : std::true_type {};

template <class T>
struct is_set : std::false_type {};
template <class K, class C, class A>
struct is_set<std::set<K, C, A>> : std::true_type {};
template <class K, class H, class E, class A>
struct is_set<std::unordered_set<K, H, E, A>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class E>
struct is_optional<std::optional<E>> : std::true_type {};

template <class T>
struct is_variant : std::false_type {};
template <class... Es>
struct is_variant<std::variant<Es...>> : std::true_type {};

template <class T>
struct is_product : std::false_type {};
template <class A, class B>
struct is_product<std::pair<A, B>> : std::true_type {};
template <class... Es>
struct is_product<std::tuple<Es...>> : std::true_type {};

/// The IEEE-754 formats a floating type can have; `none` for a format dstm does not know.
enum class float_format { none, binary32, binary64, x87_extended, binary128 };

template <class T>
constexpr float_format float_format_of() {
  using limits = std::numeric_limits<T>;
  if constexpr (!limits::is_iec559 && !(limits::digits == 64 && limits::max_exponent == 16384)) {
    return float_format::none;
  } else if constexpr (limits::digits == 24 && sizeof(T) == 4) {
    return float_format::binary32;
  } else if constexpr (limits::digits == 53 && sizeof(T) == 8) {
    return float_format::binary64;
  } else if constexpr (limits::digits == 64 && limits::max_exponent == 16384 && sizeof(T) >= 10) {
    return float_format::x87_extended;
  } else if constexpr (limits::digits == 113 && sizeof(T) == 16) {
    return float_format::binary128;
  } else {
    return float_format::none;
  }
}

template <class T>
constexpr kind kind_of() {
  if constexpr (!std::is_same_v<T, std::remove_cvref_t<T>> || std::is_array_v<T>) {
    return kind::unsupported;
  } else if constexpr (adapted<T>) {
    return kind::adapted;
  } else if constexpr (std::is_same_v<T, bool>) {
    return kind::boolean;
  } else if constexpr (std::is_integral_v<T>) {
    // 128-bit integers are left out: JSON cannot carry them and their support is an extension.
    return sizeof(T) <= 8 ? kind::integer : kind::unsupported;
  } else if constexpr (std::is_floating_point_v<T>) {
    return float_format_of<T>() != float_format::none ? kind::floating : kind::unsupported;
  } else if constexpr (std::is_enum_v<T>) {
    return sizeof(T) <= 8 ? kind::enumeration : kind::unsupported;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return kind::string;
  } else if constexpr (is_vector<T>::value) {
    return kind::sequence;
  } else if constexpr (is_std_array<T>::value) {
    return kind::fixed_array;
  } else if constexpr (is_map<T>::value) {
    return kind::map;
  } else if constexpr (is_set<T>::value) {
    return kind::set;
  } else if constexpr (is_optional<T>::value) {
    return kind::optional;
  } else if constexpr (is_variant<T>::value) {
    return kind::variant;
  } else if constexpr (std::is_same_v<T, std::monostate>) {
    return kind::unit;
  } else if constexpr (is_product<T>::value) {
    return kind::product;
  } else if constexpr (hana_struct<T>) {
    return kind::structure;
  } else {
    return kind::unsupported;
  }
}

/// The type of a Hana accessor's member, and whether it can be assigned on decode (a `const`
/// or reference member cannot).
template <class T, class Accessor>
using member_ref_t =
    decltype(boost::hana::second(std::declval<const Accessor&>())(std::declval<T&>()));
template <class T, class Accessor>
using member_t = std::remove_cvref_t<member_ref_t<T, Accessor>>;

template <class T, class... Accessors>
auto member_types(const boost::hana::tuple<Accessors...>&) -> type_list<member_t<T, Accessors>...>;
template <class T, class... Accessors>
constexpr bool members_assignable(const boost::hana::tuple<Accessors...>&) {
  return (std::is_same_v<member_ref_t<T, Accessors>, member_t<T, Accessors>&> && ...);
}

/// The name of the member an accessor reaches, with static storage.
template <class Accessor>
constexpr std::string_view member_name() {
  using key = std::remove_cvref_t<decltype(boost::hana::first(std::declval<const Accessor&>()))>;
  return boost::hana::to<const char*>(key{});
}

/// The number of members of a Hana struct.
template <class T>
inline constexpr std::size_t member_count =
    decltype(boost::hana::length(boost::hana::accessors<T>()))::value;

/// Calls `f(name, member)` for each member of the Hana struct `value`, in declaration order;
/// `name` is a `std::string_view` with static storage.
template <class T, class F>
constexpr void for_each_member(T& value, F&& f) {
  boost::hana::for_each(boost::hana::accessors<std::remove_const_t<T>>(), [&](auto accessor) {
    f(member_name<decltype(accessor)>(), boost::hana::second(accessor)(value));
  });
}

/// The parts a value of `T` is made of: what a serializer must also support to support `T`.
template <class T, kind K = kind_of<T>()>
struct parts {
  using type = type_list<>;
};
template <class T>
struct parts<T, kind::adapted> {
  using type = type_list<typename adapter<T>::representation>;
};
template <class T>
struct parts<T, kind::enumeration> {
  using type = type_list<std::underlying_type_t<T>>;
};
template <class T>
struct parts<T, kind::sequence> {
  using type = type_list<typename T::value_type>;
};
template <class T>
struct parts<T, kind::fixed_array> {
  using type = type_list<typename T::value_type>;
};
template <class T>
struct parts<T, kind::map> {
  using type = type_list<typename T::key_type, typename T::mapped_type>;
};
template <class T>
struct parts<T, kind::set> {
  using type = type_list<typename T::key_type>;
};
template <class T>
struct parts<T, kind::optional> {
  using type = type_list<typename T::value_type>;
};
template <class... Es>
struct parts<std::variant<Es...>, kind::variant> {
  using type = type_list<Es...>;
};
template <class A, class B>
struct parts<std::pair<A, B>, kind::product> {
  using type = type_list<A, B>;
};
template <class... Es>
struct parts<std::tuple<Es...>, kind::product> {
  using type = type_list<Es...>;
};
template <class T>
struct parts<T, kind::structure> {
  using type = decltype(member_types<T>(boost::hana::accessors<T>()));
};
template <class T>
using parts_t = typename parts<T>::type;

/// Requirements a kind puts on `T` itself, beyond its parts: decoding builds composite values
/// in place, so structs and arrays must be default-constructible and members assignable.
template <class T>
constexpr bool own_requirements() {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::unsupported) {
    return false;
  } else if constexpr (k == kind::structure) {
    return std::default_initializable<T> && members_assignable<T>(boost::hana::accessors<T>());
  } else if constexpr (k == kind::fixed_array) {
    return std::default_initializable<typename T::value_type>;
  } else if constexpr (k == kind::adapted) {
    using R = typename adapter<T>::representation;
    return requires(const T& v, R&& r) {
      { adapter<T>::to(v) } -> std::convertible_to<const R&>;
      { adapter<T>::from(std::move(r)) } -> std::same_as<T>;
    };
  } else {
    return true;
  }
}

template <class... Ps>
constexpr bool all_supported(type_list<Ps...>);

/// True when `T` and, recursively, each of its parts is of a kind the dstm serializers know.
/// Recursive types (a struct holding a vector of itself) are not supported: their shape, and
/// so their fingerprint, would be infinite.
template <class T>
constexpr bool supported_shape() {
  if constexpr (!own_requirements<T>()) {
    return false;
  } else {
    return all_supported(parts_t<T>{});
  }
}

template <class... Ps>
constexpr bool all_supported(type_list<Ps...>) {
  return (supported_shape<Ps>() && ...);
}

/// The innermost part of `T` that `Pred::test<Part>()` rejects, searched depth first: the type a
/// diagnostic should name. `T` itself when all its parts pass (then `T` is the culprit).
template <class Pred, class T, class Parts = parts_t<T>>
struct first_unsupported_impl {
  using type = T;
};
template <class Pred, class T, class P, class... Ps>
struct first_unsupported_impl<Pred, T, type_list<P, Ps...>> {
  using type =
      std::conditional_t<!Pred::template test<P>(), typename first_unsupported_impl<Pred, P>::type,
                         typename first_unsupported_impl<Pred, T, type_list<Ps...>>::type>;
};

/// `T`'s name as the compiler spells it, for error messages (empty when unknown).
template <class T>
constexpr std::string_view type_name() {
#if defined(__clang__) || defined(__GNUC__)
  std::string_view f = __PRETTY_FUNCTION__;
  const auto start = f.find("T = ");
  if (start == std::string_view::npos) return {};
  f.remove_prefix(start + 4);
  const auto end = f.find_first_of(";]");
  return f.substr(0, end);
#else
  return {};
#endif
}

}  // namespace dstm::serial::detail
