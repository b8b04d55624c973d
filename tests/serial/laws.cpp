// The Serializer laws (include/dstm/serial/concept.hpp), checked with RapidCheck against every
// model over every type in serial_test::law_types:
//   round trip       decode(encode(v)) is v (bit-exact floats where the model promises it)
//   totality         any bytes — random, mutated encodings — decode to a value or throw
//                    dstm::serialization_error; a decoded value re-encodes and decodes to itself
// and, for self-delimiting, self-describing formats (the binary serializer):
//   prefixes         every strict prefix of an encoding is rejected
//   trailing         an encoding followed by anything is rejected
//   foreign          an encoding of one shape is rejected as any other shape

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "dstm/serial/binary.hpp"
#include "dstm/serial/json.hpp"
#include "types.hpp"

namespace {

using dstm::serial::detail::kind;
using dstm::serial::detail::kind_of;
using dstm::serial::detail::parts_t;
using dstm::serial::detail::type_list;
using dstm::serial::detail::type_name;

/// What a law may assume of a model beyond the concept.
template <class S>
struct model_traits;
template <>
struct model_traits<dstm::binary_serializer> {
  static constexpr bool bit_exact_floats = true;
  static constexpr bool self_delimiting = true;  // prefixes and trailing bytes are rejected
  static constexpr bool self_describing = true;  // foreign shapes are rejected
};
template <>
struct model_traits<dstm::json_serializer> {
  static constexpr bool bit_exact_floats = false;  // NaN payloads are not kept
  static constexpr bool self_delimiting = false;   // "12" is a prefix of "123"
  static constexpr bool self_describing = false;
};

// ---- generators -------------------------------------------------------------------------

template <class T>
rc::Gen<T> any();

template <class T>
rc::Gen<T> any_float() {
  using limits = std::numeric_limits<T>;
  std::vector<rc::Gen<T>> gens = {
      rc::gen::element<T>(T(0), -T(0), limits::infinity(), -limits::infinity(), limits::quiet_NaN(),
                          -limits::quiet_NaN(), limits::denorm_min(), limits::min(), limits::max(),
                          limits::lowest(), limits::epsilon()),
      rc::gen::arbitrary<T>(),
      // Ratios of integers: most are not exact in binary, and for long double not in double.
      rc::gen::map(
          rc::gen::pair(rc::gen::arbitrary<std::int64_t>(),
                        rc::gen::inRange<std::int64_t>(1, 1'000'000)),
          [](std::pair<std::int64_t, std::int64_t> p) { return T(p.first) / T(p.second); }),
  };
  if constexpr (sizeof(T) == 4 || sizeof(T) == 8) {
    // Any bit pattern: signalling NaNs with payloads, subnormals, everything.
    using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    gens.push_back(
        rc::gen::map(rc::gen::arbitrary<bits>(), [](bits b) { return std::bit_cast<T>(b); }));
  }
  return rc::gen::join(rc::gen::elementOf(gens));
}

inline rc::Gen<std::string> any_string() {
  return rc::gen::oneOf(
      rc::gen::arbitrary<std::string>(),
      rc::gen::container<std::string>(rc::gen::arbitrary<char>()),  // any bytes, often not UTF-8
      // Valid multi-byte UTF-8: the JSON model must carry it as text.
      rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::element<std::string>(
                       "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\"", "\\", "/",
                       std::string("\0", 1), "\n", "~")),
                   [](const std::vector<std::string>& parts) {
                     std::string s;
                     for (const auto& p : parts) s += p;
                     return s;
                   }));
}

template <class V, class... Es>
rc::Gen<V> any_variant(type_list<Es...>) {
  return rc::gen::oneOf(rc::gen::map(any<Es>(), [](Es e) { return V(std::move(e)); })...);
}

template <class T, class... Ps>
rc::Gen<T> any_product(type_list<Ps...>) {
  return rc::gen::map(rc::gen::tuple(any<Ps>()...), [](std::tuple<Ps...> t) {
    return std::apply([](Ps&... e) { return T{std::move(e)...}; }, t);
  });
}

template <class T>
rc::Gen<T> any() {
  constexpr kind k = kind_of<T>();
  // Nested containers grow with the product of their sizes: keep inner ones small.
  auto inner = [](auto gen) { return rc::gen::scale(0.3, std::move(gen)); };
  if constexpr (std::is_same_v<T, serial_test::temperature>) {
    return rc::gen::map(rc::gen::inRange<std::int64_t>(0, 100'000), [](std::int64_t mk) {
      return serial_test::temperature(static_cast<double>(mk) / 1000);
    });
  } else if constexpr (k == kind::boolean || k == kind::integer) {
    return rc::gen::arbitrary<T>();
  } else if constexpr (k == kind::floating) {
    return any_float<T>();
  } else if constexpr (k == kind::enumeration) {
    using U = std::underlying_type_t<T>;
    return rc::gen::map(rc::gen::arbitrary<U>(), [](U u) { return static_cast<T>(u); });
  } else if constexpr (k == kind::string) {
    return any_string();
  } else if constexpr (k == kind::sequence || k == kind::set || k == kind::fixed_array) {
    return rc::gen::container<T>(inner(any<typename T::value_type>()));
  } else if constexpr (k == kind::map) {
    return rc::gen::container<T>(inner(any<typename T::key_type>()),
                                 inner(any<typename T::mapped_type>()));
  } else if constexpr (k == kind::optional) {
    using E = typename T::value_type;
    return rc::gen::oneOf(rc::gen::just(T{}),
                          rc::gen::map(any<E>(), [](E e) { return T(std::move(e)); }));
  } else if constexpr (k == kind::variant) {
    return any_variant<T>(parts_t<T>{});
  } else if constexpr (k == kind::unit) {
    return rc::gen::just(T{});
  } else if constexpr (k == kind::product) {
    return any_product<T>(parts_t<T>{});
  } else if constexpr (k == kind::structure) {
    return rc::gen::exec([] {
      T value{};
      dstm::serial::detail::for_each_member(value, [](std::string_view, auto& member) {
        member = *any<std::remove_cvref_t<decltype(member)>>();
      });
      return value;
    });
  } else {
    static_assert(dstm::serial::detail::always_false<T>, "no generator for this type");
  }
}

// ---- equivalence ------------------------------------------------------------------------

template <class T>
bool same(const T& a, const T& b, bool bit_exact);

template <class T, std::size_t... I>
bool same_elements(const T& a, const T& b, [[maybe_unused]] bool bit_exact,
                   std::index_sequence<I...>) {
  return (same(std::get<I>(a), std::get<I>(b), bit_exact) && ...);
}

template <class T>
bool same(const T& a, const T& b, bool bit_exact) {
  constexpr kind k = kind_of<T>();
  if constexpr (k == kind::adapted) {
    using A = dstm::serial::adapter<T>;
    return same(A::to(a), A::to(b), bit_exact);
  } else if constexpr (k == kind::floating) {
    if (bit_exact) {
      // Only the bytes that carry the value: x87 long double has padding.
      constexpr std::size_t width = dstm::serial::detail::binary::float_width<T>();
      return std::memcmp(&a, &b, width) == 0;
    }
    return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
  } else if constexpr (k == kind::sequence || k == kind::fixed_array ||
                       ((k == kind::set || k == kind::map) &&
                        requires { typename T::key_compare; })) {
    if (a.size() != b.size()) return false;
    auto ib = b.begin();
    for (auto ia = a.begin(); ia != a.end(); ++ia, ++ib) {
      if constexpr (k == kind::map) {
        if (!same(ia->first, ib->first, bit_exact) || !same(ia->second, ib->second, bit_exact)) {
          return false;
        }
      } else if (!same<typename T::value_type>(*ia, *ib, bit_exact)) {
        return false;
      }
    }
    return true;
  } else if constexpr (k == kind::set || k == kind::map) {  // unordered
    if (a.size() != b.size()) return false;
    for (const auto& e : a) {
      if constexpr (k == kind::map) {
        const auto it = b.find(e.first);
        if (it == b.end() || !same(e.second, it->second, bit_exact)) return false;
      } else if (!b.contains(e)) {
        return false;
      }
    }
    return true;
  } else if constexpr (k == kind::optional) {
    return a.has_value() == b.has_value() && (!a || same(*a, *b, bit_exact));
  } else if constexpr (k == kind::variant) {
    return a.index() == b.index() && std::visit(
                                         [&](const auto& x) {
                                           using X = std::remove_cvref_t<decltype(x)>;
                                           return same(x, *std::get_if<X>(&b), bit_exact);
                                         },
                                         a);
  } else if constexpr (k == kind::product) {
    return same_elements(a, b, bit_exact, std::make_index_sequence<std::tuple_size_v<T>>{});
  } else if constexpr (k == kind::structure) {
    bool equal = true;
    auto accessors = boost::hana::accessors<T>();
    boost::hana::for_each(accessors, [&](auto accessor) {
      const auto& get = boost::hana::second(accessor);
      equal = equal && same(get(a), get(b), bit_exact);
    });
    return equal;
  } else if constexpr (k == kind::unit) {
    return true;
  } else {
    return a == b;
  }
}

/// A printable form of any law type, for counterexamples (RapidCheck cannot show them).
template <class T>
std::string show(const T& v) {
  return dstm::json_serializer::to_json(v).dump();
}

std::string hex(std::string_view bytes) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s;
  for (const char c : bytes) {
    s += d[static_cast<unsigned char>(c) >> 4];
    s += d[static_cast<unsigned char>(c) & 0xf];
  }
  return s;
}

/// Decodes `bytes`; a decoded value must itself round-trip. Any exception other than
/// serialization_error escapes and fails the property.
template <class S, class T>
void decode_is_total(const std::string& bytes) {
  std::optional<T> decoded;
  try {
    decoded.emplace(dstm::serial::from_bytes<S, T>(bytes));
  } catch (const dstm::serialization_error& e) {
    RC_ASSERT(std::string(e.what()).find(std::string(S::name)) != std::string::npos);
    return;
  }
  const std::string again = dstm::serial::to_bytes<S>(*decoded);
  const T twice = dstm::serial::from_bytes<S, T>(again);
  if (!same(*decoded, twice, model_traits<S>::bit_exact_floats)) {
    RC_FAIL("decoded " + show(*decoded) + " from " + hex(bytes) + " but it re-decodes as " +
            show(twice));
  }
}

template <class S, class T>
std::string law_name(std::string_view law) {
  return std::string(law) + " <" + std::string(S::name) + ", " + std::string(type_name<T>()) + ">";
}

// ---- the laws -----------------------------------------------------------------------------
// One property per (model, type) checks every law on the same generated value: RapidCheck
// properties are expensive to instantiate, and the value is what the laws share anyway.

template <class S, class T>
void round_trip(const T& value, const std::string& bytes) {
  const T back = dstm::serial::from_bytes<S, T>(bytes);
  if (!same(value, back, model_traits<S>::bit_exact_floats)) {
    RC_FAIL("round trip: " + show(value) + " came back as " + show(back) + " (bytes " + hex(bytes) +
            ")");
  }
  // Appending is the contract: encode never clears what `out` holds.
  std::string out = "prefix";
  S::encode(value, out);
  RC_ASSERT(out == "prefix" + bytes);
}

template <class S, class T>
void random_bytes_decode_or_throw(const std::string& valid) {
  std::string bytes = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
  if (*rc::gen::arbitrary<bool>()) {
    // Behind a valid encoding's head, so that more than the header is parsed.
    bytes = valid.substr(0, *rc::gen::inRange<std::size_t>(0, valid.size() + 1)) + bytes;
  }
  decode_is_total<S, T>(bytes);
}

template <class S, class T>
void mutations_decode_or_throw(std::string bytes) {
  const int edits = *rc::gen::inRange(1, 4);
  for (int i = 0; i < edits; ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size() + 1);
    switch (*rc::gen::inRange(0, 5)) {
      case 0:  // flip one bit
        if (at < bytes.size())
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << *rc::gen::inRange(0, 8)));
        break;
      case 1:  // overwrite a byte
        if (at < bytes.size()) bytes[at] = *rc::gen::arbitrary<char>();
        break;
      case 2:  // insert a byte
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), *rc::gen::arbitrary<char>());
        break;
      case 3:  // delete a byte
        if (at < bytes.size()) bytes.erase(at, 1);
        break;
      default:  // truncate
        bytes.resize(at);
        break;
    }
  }
  decode_is_total<S, T>(bytes);
}

template <class S, class T>
void prefixes_and_trailing_rejected(const std::string& bytes) {
  // Every prefix of a short encoding; for a long one the header, the last byte and a sample
  // (checking all n prefixes of a long value costs n decodes of up to n bytes each).
  std::vector<std::size_t> lengths;
  if (bytes.size() <= 64) {
    for (std::size_t n = 0; n < bytes.size(); ++n) lengths.push_back(n);
  } else {
    for (std::size_t n = 0; n <= 8; ++n) lengths.push_back(n);
    lengths.push_back(bytes.size() - 1);
    const auto sample = *rc::gen::container<std::vector<std::size_t>>(
        32, rc::gen::inRange<std::size_t>(0, bytes.size()));
    lengths.insert(lengths.end(), sample.begin(), sample.end());
  }
  for (const std::size_t n : lengths) {
    try {
      (void)dstm::serial::from_bytes<S, T>(bytes.substr(0, n));
      RC_FAIL("prefixes: the first " + std::to_string(n) + " bytes of " + hex(bytes) + " decoded");
    } catch (const dstm::serialization_error&) {
    }
  }
  const auto tail = *rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::arbitrary<char>()));
  RC_ASSERT_THROWS_AS((dstm::serial::from_bytes<S, T>(bytes + tail)), dstm::serialization_error);
}

template <class S, class T>
bool laws_hold() {
  return rc::check(law_name<S, T>("laws"), [] {
    const T value = *any<T>();
    const std::string bytes = dstm::serial::to_bytes<S>(value);
    round_trip<S, T>(value, bytes);
    random_bytes_decode_or_throw<S, T>(bytes);
    mutations_decode_or_throw<S, T>(bytes);
    if constexpr (model_traits<S>::self_delimiting) prefixes_and_trailing_rejected<S, T>(bytes);
  });
}

/// One law type seen through function pointers, so that pairs of types are checked in a
/// runtime loop rather than by instantiating a template per pair.
template <class S>
struct shape {
  std::string_view name;
  std::string signature;
  std::string (*sample)();  // encodes a generated value; only inside a property
  void (*decode)(const std::string&);
};

template <class S, class... Ts>
std::vector<shape<S>> shapes(type_list<Ts...>) {
  return {shape<S>{type_name<Ts>(), S::template signature<Ts>(),
                   [] { return dstm::serial::to_bytes<S>(*any<Ts>()); },
                   [](const std::string& b) { (void)dstm::serial::from_bytes<S, Ts>(b); }}...};
}

template <class S>
bool foreign_shapes_rejected() {
  const std::vector<shape<S>> all = shapes<S>(serial_test::law_types{});
  return rc::check(std::string("foreign shapes <") + std::string(S::name) + ">", [&] {
    for (const auto& written : all) {
      const std::string bytes = written.sample();
      for (const auto& read : all) {
        if (read.signature == written.signature) continue;
        try {
          read.decode(bytes);
          RC_FAIL(std::string(written.name) + " " + hex(bytes) + " decoded as " +
                  std::string(read.name));
        } catch (const dstm::serialization_error& e) {
          RC_ASSERT(std::string(e.what()).find("foreign bytes") != std::string::npos);
        }
      }
    }
  });
}

// RapidCheck has printed the counterexample and the law's name when this fails.
void expect_law(bool holds) { EXPECT_TRUE(holds); }

template <class S>
class serializer_laws : public ::testing::Test {};

using models = ::testing::Types<dstm::binary_serializer, dstm::json_serializer>;
class model_names {
 public:
  template <class S>
  static std::string GetName(int) {
    return std::string(S::name.substr(S::name.find("::") + 2));
  }
};
TYPED_TEST_SUITE(serializer_laws, models, model_names);

TYPED_TEST(serializer_laws, hold_for_every_type) {
  [&]<class... Ts>(type_list<Ts...>) {
    (expect_law(laws_hold<TypeParam, Ts>()), ...);
  }(serial_test::law_types{});
}

// Only formats with a type header can tell foreign bytes apart; a test per such model.
TEST(serializer_laws, self_describing_models_reject_foreign_shapes) {
  [&]<class... Ss>(::testing::Types<Ss...>) {
    auto check = [](auto model) {
      using S = typename decltype(model)::type;
      if constexpr (model_traits<S>::self_describing) expect_law(foreign_shapes_rejected<S>());
    };
    (check(std::type_identity<Ss>{}), ...);
  }(models{});
}

}  // namespace
