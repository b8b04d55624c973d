// The serializers' formats pinned byte by byte (docs/serialization.md is the specification
// these tests hold the code to), their error messages, and the concept's verdicts.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "dstm/serial/binary.hpp"
#include "dstm/serial/concept.hpp"
#include "dstm/serial/json.hpp"
#include "text_serializer.hpp"
#include "types.hpp"

namespace {

using dstm::binary_serializer;
using dstm::json_serializer;
using dstm::serial::from_bytes;
using dstm::serial::to_bytes;
using namespace serial_test;

// ---- helpers ------------------------------------------------------------------------------

/// FNV-1a 32, written out again from its definition so the test does not trust the library.
std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 0x811c9dc5;
  for (const unsigned char c : s) h = (h ^ c) * 0x01000193;
  return h;
}

std::string le32(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

/// The binary header for a shape: version 1, then the fingerprint of its signature.
std::string header(std::string_view signature) { return "\x01" + le32(fnv1a(signature)); }

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (const int v : values) s += static_cast<char>(v);
  return s;
}

/// The message of the serialization_error `f` throws; fails the test if it throws nothing.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const dstm::serialization_error& e) {
    EXPECT_EQ(e.code(), dstm::errc::serialization_failed);
    return e.what();
  }
  ADD_FAILURE() << "no serialization_error thrown";
  return {};
}

/// Whether `text` contains `part`, showing `text` when it does not.
::testing::AssertionResult mentions(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not mention \"" << part << "\"";
}

template <class T>
std::string binary_error(const std::string& b) {
  return error_of([&] { (void)from_bytes<binary_serializer, T>(b); });
}
template <class T>
std::string json_error(const std::string& text) {
  return error_of([&] { (void)from_bytes<json_serializer, T>(text); });
}

// ---- binary: signatures and bytes ---------------------------------------------------------

TEST(binary_format, signatures_describe_the_shape) {
  EXPECT_EQ(binary_serializer::signature<bool>(), "bool");
  EXPECT_EQ(binary_serializer::signature<std::int8_t>(), "i8");
  EXPECT_EQ(binary_serializer::signature<std::uint64_t>(), "u64");
  EXPECT_EQ(binary_serializer::signature<float>(), "f32");
  EXPECT_EQ(binary_serializer::signature<double>(), "f64");
  EXPECT_EQ(binary_serializer::signature<color>(), "enum<u8>");
  EXPECT_EQ((binary_serializer::signature<std::map<std::string, std::vector<int>>>()),
            "map<string,vector<i32>>");
  EXPECT_EQ((binary_serializer::signature<std::array<std::optional<bool>, 3>>()),
            "array<optional<bool>,3>");
  EXPECT_EQ((binary_serializer::signature<std::variant<std::monostate, std::set<char>>>()),
            "variant<unit,set<i8>>");
  EXPECT_EQ((binary_serializer::signature<std::pair<int, std::tuple<>>>()), "tuple<i32,tuple<>>");
  EXPECT_EQ(binary_serializer::signature<point>(), "struct{x:i32,y:i32}");
  EXPECT_EQ(binary_serializer::signature<empty>(), "struct{}");
  EXPECT_EQ(binary_serializer::signature<temperature>(), "adapted<f64>");
  EXPECT_EQ(binary_serializer::signature<external::reading>(),
            "struct{sensor:string,samples:vector<f32>}");
}

TEST(binary_format, fingerprint_is_fnv1a_of_the_signature) {
  EXPECT_EQ(binary_serializer::fingerprint<point>(), fnv1a("struct{x:i32,y:i32}"));
  EXPECT_EQ(binary_serializer::fingerprint<order>(), fnv1a(binary_serializer::signature<order>()));
  // Same member types, other names: another shape.
  EXPECT_NE(binary_serializer::fingerprint<point>(), binary_serializer::fingerprint<extent>());
}

TEST(binary_format, law_types_have_distinct_fingerprints_per_shape) {
  std::map<std::uint32_t, std::string> seen;
  [&]<class... Ts>(dstm::serial::detail::type_list<Ts...>) {
    auto add = [&](std::uint32_t fp, std::string sig) {
      const auto [it, inserted] = seen.emplace(fp, sig);
      EXPECT_TRUE(inserted || it->second == sig) << sig << " collides with " << it->second;
    };
    (add(binary_serializer::fingerprint<Ts>(), binary_serializer::signature<Ts>()), ...);
  }(law_types{});
  EXPECT_GT(seen.size(), 40u);
}

TEST(binary_format, scalars_are_fixed_width_little_endian) {
  EXPECT_EQ(to_bytes<binary_serializer>(std::int32_t{1}), header("i32") + bytes({1, 0, 0, 0}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::int16_t{-2}), header("i16") + bytes({0xfe, 0xff}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::uint64_t{0x0102030405060708}),
            header("u64") + bytes({8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(to_bytes<binary_serializer>(true), header("bool") + bytes({1}));
  EXPECT_EQ(to_bytes<binary_serializer>(color::blue), header("enum<u8>") + bytes({2}));
  EXPECT_EQ(to_bytes<binary_serializer>(-0.0), header("f64") + bytes({0, 0, 0, 0, 0, 0, 0, 0x80}));
  EXPECT_EQ(to_bytes<binary_serializer>(1.0f), header("f32") + bytes({0, 0, 0x80, 0x3f}));
}

TEST(binary_format, floats_are_bit_exact) {
  const float payload_nan = std::bit_cast<float>(std::uint32_t{0x7fa00001});  // signalling, payload
  const float back = from_bytes<binary_serializer, float>(to_bytes<binary_serializer>(payload_nan));
  EXPECT_EQ(std::bit_cast<std::uint32_t>(back), 0x7fa00001u);
  const double tiny = std::numeric_limits<double>::denorm_min();
  EXPECT_EQ((from_bytes<binary_serializer, double>(to_bytes<binary_serializer>(tiny))), tiny);
  const long double third = 1.0L / 3;
  EXPECT_EQ((from_bytes<binary_serializer, long double>(to_bytes<binary_serializer>(third))),
            third);
}

TEST(binary_format, lengths_are_varints) {
  const std::string s(300, 'a');
  EXPECT_EQ(to_bytes<binary_serializer>(s), header("string") + bytes({0xac, 0x02}) + s);
  EXPECT_EQ(to_bytes<binary_serializer>(std::vector<std::int8_t>{5, 6}),
            header("vector<i8>") + bytes({2, 5, 6}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::string()), header("string") + bytes({0}));
}

TEST(binary_format, composites) {
  EXPECT_EQ(to_bytes<binary_serializer>(point{1, -1}),
            header("struct{x:i32,y:i32}") + bytes({1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::optional<std::int16_t>{}),
            header("optional<i16>") + bytes({0}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::optional<std::int16_t>{3}),
            header("optional<i16>") + bytes({1, 3, 0}));
  using v = std::variant<std::int8_t, std::string>;
  EXPECT_EQ(to_bytes<binary_serializer>(v{std::string("x")}),
            header("variant<i8,string>") + bytes({1, 1, 'x'}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::map<std::int8_t, bool>{{2, true}, {1, false}}),
            header("map<i8,bool>") + bytes({2, 1, 0, 2, 1}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::pair<std::int8_t, std::monostate>{7, {}}),
            header("tuple<i8,unit>") + bytes({7}));
  EXPECT_EQ(to_bytes<binary_serializer>(std::array<std::uint8_t, 2>{9, 8}),
            header("array<u8,2>") + bytes({9, 8}));
  EXPECT_EQ(to_bytes<binary_serializer>(temperature(2.0)),
            header("adapted<f64>") + bytes({0, 0, 0, 0, 0, 0, 0, 0x40}));
}

TEST(binary_format, ordered_and_unordered_containers_share_bytes) {
  const std::map<std::string, int> ordered{{"a", 1}, {"b", 2}};
  const auto as_unordered = from_bytes<binary_serializer, std::unordered_map<std::string, int>>(
      to_bytes<binary_serializer>(ordered));
  EXPECT_EQ(as_unordered, (std::unordered_map<std::string, int>{{"a", 1}, {"b", 2}}));
}

TEST(binary_format, encode_appends) {
  std::string out = "keep";
  binary_serializer::encode(std::int8_t{1}, out);
  EXPECT_EQ(out, "keep" + header("i8") + bytes({1}));
}

// ---- binary: rejection ----------------------------------------------------------------------

TEST(binary_errors, header) {
  EXPECT_TRUE(mentions(binary_error<int>(""), "empty input"));
  EXPECT_TRUE(
      mentions((binary_error<int>(bytes({2, 0, 0, 0, 0}))), "unsupported format version 2"));
  EXPECT_TRUE(mentions((binary_error<int>(bytes({1, 0}))), "truncated"));
  const std::string e = binary_error<extent>(to_bytes<binary_serializer>(point{1, 2}));
  EXPECT_TRUE(mentions(e, "foreign bytes")) << e;
  EXPECT_TRUE(mentions(e, "struct{w:i32,h:i32}")) << e;
  EXPECT_TRUE(mentions(e, "extent")) << e;
  EXPECT_TRUE(mentions(e, "dstm::binary_serializer")) << e;
}

TEST(binary_errors, truncation_and_trailing_bytes_name_the_offset) {
  const std::string ok = to_bytes<binary_serializer>(std::int32_t{7});
  const std::string e = binary_error<std::int32_t>(ok.substr(0, 7));
  EXPECT_TRUE(mentions(e, "truncated: 4 bytes needed, 2 remain (at byte 5 of 7)")) << e;
  EXPECT_TRUE(mentions(binary_error<std::int32_t>(ok + "zz"),
                       "2 trailing bytes after the value (at byte 9"));
}

TEST(binary_errors, invalid_tags) {
  EXPECT_TRUE(mentions(binary_error<bool>(header("bool") + bytes({2})), "invalid bool byte 0x02"));
  EXPECT_TRUE(mentions((binary_error<std::optional<bool>>(header("optional<bool>") + bytes({7}))),
                       "invalid optional tag 0x07"));
  using v = std::variant<std::int8_t, std::string>;
  EXPECT_TRUE(mentions((binary_error<v>(header("variant<i8,string>") + bytes({5}))),
                       "variant index 5 out of range (2 alternatives)"));
}

TEST(binary_errors, varints_are_canonical_and_bounded) {
  EXPECT_TRUE(mentions((binary_error<std::string>(header("string") + bytes({0x80, 0x00}))),
                       "overlong varint"));
  EXPECT_TRUE(mentions(
      (binary_error<std::string>(
          header("string") + bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}))),
      "varint overflows 64 bits"));
  EXPECT_TRUE(
      mentions((binary_error<std::string>(header("string") + bytes({0x80}))), "truncated varint"));
}

TEST(binary_errors, corrupt_lengths_do_not_allocate) {
  // 2^62 elements of 8 bytes claimed by a 5-byte body: rejected before any allocation.
  const std::string claim =
      header("vector<i64>") + bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40});
  const std::string e = binary_error<std::vector<std::int64_t>>(claim);
  EXPECT_TRUE(
      mentions(e, "length 4611686018427387904 cannot fit: the remaining 0 bytes hold at most 0"))
      << e;
  // Strings are capped by the bytes that remain too.
  EXPECT_TRUE(
      mentions((binary_error<std::string>(header("string") + bytes({5, 'a', 'b'}))), "cannot fit"));
}

TEST(binary_errors, zero_width_elements_are_capped) {
  std::string at_limit = header("vector<unit>");
  dstm::serial::detail::binary::put_varint(at_limit, binary_serializer::max_zero_width_elements);
  EXPECT_EQ((from_bytes<binary_serializer, std::vector<std::monostate>>(at_limit).size()),
            binary_serializer::max_zero_width_elements);
  std::string over = header("vector<unit>");
  dstm::serial::detail::binary::put_varint(over, binary_serializer::max_zero_width_elements + 1);
  EXPECT_TRUE(
      mentions((binary_error<std::vector<std::monostate>>(over)), "exceeds the limit of 65536"));
}

TEST(binary_errors, duplicates) {
  EXPECT_TRUE(mentions(
      binary_error<std::map<std::int8_t, bool>>(header("map<i8,bool>") + bytes({2, 1, 0, 1, 1})),
      "duplicate map key (at byte 8"));
  EXPECT_TRUE(mentions(binary_error<std::set<std::int8_t>>(header("set<i8>") + bytes({2, 4, 4})),
                       "duplicate set element"));
}

TEST(binary_errors, adapter_rejection_propagates) {
  const std::string e = binary_error<temperature>(
      to_bytes<binary_serializer>(-1.0).replace(1, 4, le32(fnv1a("adapted<f64>"))));
  EXPECT_TRUE(mentions(e,
                       "cannot decode serial_test::temperature: the adapter rejected the value: "
                       "temperature below absolute zero (at byte 5 of 13)"));
}

// Copying throws and there is no move constructor, so emplacing one can leave a variant
// valueless: the one value neither model can encode.
struct fragile {
  BOOST_HANA_DEFINE_STRUCT(fragile, (int, a));
  fragile() = default;
  fragile(const fragile&) { throw std::runtime_error("copy"); }
  fragile& operator=(const fragile&) = default;
};

TEST(binary_errors, valueless_variant_cannot_be_encoded) {
  std::variant<int, fragile> v = 1;
  const fragile f{};
  EXPECT_THROW(v.emplace<fragile>(f), std::runtime_error);
  ASSERT_TRUE(v.valueless_by_exception());
  EXPECT_TRUE(mentions((error_of([&] { (void)to_bytes<binary_serializer>(v); })), "valueless"));
  EXPECT_TRUE(mentions((error_of([&] { (void)to_bytes<json_serializer>(v); })), "valueless"));
}

// ---- JSON: the mapping ----------------------------------------------------------------------

TEST(json_format, structs_are_objects_by_member_name) {
  EXPECT_EQ(to_bytes<json_serializer>(point{1, -2}), R"({"x":1,"y":-2})");
  EXPECT_EQ(to_bytes<json_serializer>(external::reading{"t1", {0.5f}}),
            R"({"samples":[0.5],"sensor":"t1"})");
  EXPECT_EQ(to_bytes<json_serializer>(empty{}), "{}");
}

TEST(json_format, scalars) {
  EXPECT_EQ(to_bytes<json_serializer>(true), "true");
  EXPECT_EQ(to_bytes<json_serializer>(std::uint64_t{18446744073709551615u}),
            "18446744073709551615");
  EXPECT_EQ(to_bytes<json_serializer>(std::int64_t{-9223372036854775807 - 1}),
            "-9223372036854775808");
  EXPECT_EQ(to_bytes<json_serializer>(color::green), "1");
  EXPECT_EQ(to_bytes<json_serializer>(0.1), "0.1");
  EXPECT_EQ(to_bytes<json_serializer>(-0.0), "-0.0");
  EXPECT_EQ(to_bytes<json_serializer>(std::nan("")), "\"NaN\"");
  EXPECT_EQ(to_bytes<json_serializer>(-std::numeric_limits<float>::infinity()), "\"-Infinity\"");
  EXPECT_EQ(to_bytes<json_serializer>(0.5L), "0.5");
  if constexpr (std::numeric_limits<long double>::digits > 53) {
    EXPECT_EQ(to_bytes<json_serializer>(0.1L), "\"0.1\"");  // not a double: exact as text
    EXPECT_EQ((from_bytes<json_serializer, long double>("\"0.1\"")), 0.1L);
    // libstdc++ cannot read back its own decimal form of a subnormal: hex is used instead.
    const long double tiny = -3 * std::numeric_limits<long double>::denorm_min();
    const std::string text = to_bytes<json_serializer>(tiny);
    EXPECT_EQ(text.substr(0, 4), "\"-0x") << text;
    EXPECT_EQ((from_bytes<json_serializer, long double>(text)), tiny);
    EXPECT_TRUE(mentions(json_error<long double>("\"0x-1p3\""), "is not a number"));
  }
  EXPECT_TRUE(std::isnan(from_bytes<json_serializer, double>("\"NaN\"")));
  EXPECT_TRUE(std::signbit(from_bytes<json_serializer, double>("-0.0")));
}

TEST(json_format, strings_that_are_not_utf8_travel_as_base64) {
  EXPECT_EQ(to_bytes<json_serializer>(std::string("\xc3\xa9")), "\"\xc3\xa9\"");
  EXPECT_EQ(to_bytes<json_serializer>(std::string("\xff")), R"({"base64":"/w=="})");
  EXPECT_EQ(to_bytes<json_serializer>(std::string("\xed\xa0\x80")),
            R"({"base64":"7aCA"})");  // surrogate
  EXPECT_EQ(to_bytes<json_serializer>(std::string("\xc0\xaf")),
            R"({"base64":"wK8="})");  // overlong
  EXPECT_EQ((from_bytes<json_serializer, std::string>(R"({"base64":"AAEC"})")),
            std::string("\0\1\2", 3));
}

TEST(json_format, optionals_keep_every_state) {
  using oo = std::optional<std::optional<int>>;
  EXPECT_EQ(to_bytes<json_serializer>(oo{}), "null");
  EXPECT_EQ(to_bytes<json_serializer>(oo{std::optional<int>{}}), "[null]");
  EXPECT_EQ(to_bytes<json_serializer>(oo{5}), "[5]");
  EXPECT_EQ(to_bytes<json_serializer>(std::optional<int>{5}), "5");
  EXPECT_EQ((from_bytes<json_serializer, oo>("[null]")), oo{std::optional<int>{}});
  EXPECT_EQ((from_bytes<json_serializer, oo>("null")), oo{});
}

TEST(json_format, containers_variants_and_products) {
  EXPECT_EQ(to_bytes<json_serializer>(std::map<std::string, int>{{"a", 1}}), R"({"a":1})");
  EXPECT_EQ(to_bytes<json_serializer>(std::map<int, std::string>{{1, "a"}}), R"([[1,"a"]])");
  EXPECT_EQ(to_bytes<json_serializer>(std::map<std::string, int>{{"\xff", 1}}),
            R"([[{"base64":"/w=="},1]])");
  EXPECT_EQ(to_bytes<json_serializer>(std::variant<int, std::string>{"x"}),
            R"({"index":1,"value":"x"})");
  EXPECT_EQ(to_bytes<json_serializer>(std::tuple<int, bool, std::monostate>{1, true, {}}),
            "[1,true,null]");
  EXPECT_EQ(to_bytes<json_serializer>(std::set<int>{3, 1}), "[1,3]");
  EXPECT_EQ(to_bytes<json_serializer>(temperature(2.5)), "2.5");
}

TEST(json_format, reads_what_other_tools_write) {
  const point p = from_bytes<json_serializer, point>(" {\n \"y\" : 2 ,\"x\":1 }\t");
  EXPECT_EQ(p.x, 1);
  EXPECT_EQ(p.y, 2);
  EXPECT_EQ((from_bytes<json_serializer, double>("3")), 3.0);
  EXPECT_EQ((from_bytes<json_serializer, std::map<std::string, int>>(R"([["a",1]])")),
            (std::map<std::string, int>{{"a", 1}}));
}

TEST(json_format, deep_nesting_does_not_overflow_the_stack) {
  const std::string open(100000, '[');
  EXPECT_TRUE(mentions((json_error<int>(open)), "invalid JSON"));
  EXPECT_TRUE(mentions((json_error<int>(open + std::string(100000, ']'))),
                       "expected an integer, got array"));
}

// ---- JSON: rejection ------------------------------------------------------------------------

TEST(json_errors, invalid_json) {
  const std::string e = json_error<int>("1 x");
  EXPECT_TRUE(mentions(e, "dstm::json_serializer: cannot decode int: invalid JSON: ")) << e;
  EXPECT_TRUE(mentions(e, "parse error at line 1, column 3")) << e;
  EXPECT_TRUE(mentions((json_error<int>("")), "invalid JSON"));
}

TEST(json_errors, mismatches_name_the_json_pointer) {
  EXPECT_TRUE(mentions((json_error<point>(R"({"x":"1","y":2})")),
                       "cannot decode serial_test::point at /x: expected an integer, got string"));
  EXPECT_TRUE(mentions((json_error<point>(R"({"x":1})")), "at /y: missing member"));
  EXPECT_TRUE(
      mentions((json_error<point>(R"({"x":1,"y":2,"z":3})")), "at the root: unknown member \"z\""));
  EXPECT_TRUE(mentions((json_error<point>("[1,2]")), "expected an object, got array"));
  const std::string nested =
      R"({"box":[0,0,0,0],"customer":"c","id":1,"lines":[{"price":true,"quantity":1,"sku":"s"}],"note":null,"origin":null,"status":0,"tags":[],"attributes":{}})";
  EXPECT_TRUE(
      mentions((json_error<order>(nested)), "at /lines/0/price: expected a number, got boolean"))
      << json_error<order>(nested);
  EXPECT_TRUE(mentions((json_error<std::map<std::string, point>>(R"({"a/b~c":{"x":true,"y":1}})")),
                       "at /a~1b~0c/x"));
}

TEST(json_errors, numbers_out_of_range) {
  EXPECT_TRUE(mentions((json_error<std::uint8_t>("300")), "300 is out of range for unsigned char"));
  EXPECT_TRUE(mentions((json_error<std::uint32_t>("-1")), "-1 is out of range"));
  EXPECT_TRUE(mentions((json_error<std::int64_t>("9223372036854775808")), "out of range"));
  EXPECT_TRUE(mentions((json_error<std::int32_t>("1.5")), "expected an integer, got number"));
  EXPECT_TRUE(mentions((json_error<float>("1e300")), "out of range for float"));
  EXPECT_TRUE(mentions((json_error<double>("\"1.5\"")), "is not a number"));
}

TEST(json_errors, shapes) {
  EXPECT_TRUE(
      mentions(((json_error<std::array<int, 2>>("[1]"))), "expected an array of 2, got array"));
  EXPECT_TRUE(mentions((json_error<std::set<int>>("[1,1]")), "at /1: duplicate set element"));
  EXPECT_TRUE(
      mentions(((json_error<std::map<int, int>>("[[1,2],[1,3]]"))), "at /1: duplicate map key"));
  EXPECT_TRUE(
      mentions(((json_error<std::map<int, int>>("[[1]]"))), "expected a [key, value] pair"));
  using v = std::variant<int, std::string>;
  EXPECT_TRUE(mentions((json_error<v>(R"({"index":2,"value":1})")),
                       "at /index: variant index 2 out of range"));
  EXPECT_TRUE(mentions((json_error<v>(R"({"index":0})")),
                       R"(expected an object {"index": i, "value": v})"));
  EXPECT_TRUE(mentions((json_error<std::monostate>("0")), "expected null"));
  EXPECT_TRUE(
      mentions((json_error<std::string>(R"({"base64":"@@@@"})")), "at /base64: malformed base64"));
  EXPECT_TRUE(mentions((json_error<std::string>(R"({"base64":"/x=="})")),
                       "malformed base64"));  // non-zero bits after the last byte
  EXPECT_TRUE(
      mentions(json_error<temperature>("-1"),
               "at the root: the adapter rejected the value: temperature below absolute zero"));
}

// ---- the concept ----------------------------------------------------------------------------

struct not_reflected {
  int x;
};
struct holds_pointer {
  BOOST_HANA_DEFINE_STRUCT(holds_pointer, (int, a), (std::vector<int*>, b));
};
struct const_member {
  BOOST_HANA_DEFINE_STRUCT(const_member, (const int, a));
};
struct no_default {
  BOOST_HANA_DEFINE_STRUCT(no_default, (int, a));
  explicit no_default(int v) : a(v) {}
};

// The archetype: exactly what the concept asks for, nothing more.
struct archetype_serializer {
  template <class T>
  static constexpr bool supports = std::is_same_v<T, std::string>;
  template <class T>
  static void encode(const T& value, std::string& out) {
    out += value;
  }
  template <class T>
  static T decode(std::string_view bytes) {
    return T(bytes);
  }
};

struct missing_decode {
  template <class T>
  static constexpr bool supports = true;
  template <class T>
  static void encode(const T&, std::string&) {}
};

static_assert(dstm::serializer_for<binary_serializer, order>);
static_assert(dstm::serializer_for<json_serializer, order>);
static_assert(dstm::serializer_for<binary_serializer, temperature>);
static_assert(dstm::serializer_for<json_serializer, external::reading>);
static_assert(!dstm::serializer_for<binary_serializer, not_reflected>);
static_assert(!dstm::serializer_for<binary_serializer, int*>);
static_assert(!dstm::serializer_for<json_serializer, std::list<int>>);
static_assert(!dstm::serializer_for<binary_serializer, holds_pointer>);
static_assert(!dstm::serializer_for<binary_serializer, const_member>);
static_assert(!dstm::serializer_for<binary_serializer, no_default>);
static_assert(!dstm::serializer_for<binary_serializer, const int>);
static_assert(!dstm::serializer_for<binary_serializer, int[2]>);
static_assert(dstm::serializer_for<archetype_serializer, std::string>);
static_assert(!dstm::serializer_for<archetype_serializer, int>);
static_assert(!dstm::serializer_for<missing_decode, int>);
static_assert(!dstm::serializer_for<int, int>);

// The diagnostic names the innermost part at fault.
template <class S, class T>
using culprit =
    typename dstm::serial::detail::first_unsupported_impl<dstm::serial::detail::supported_by<S>,
                                                          T>::type;
static_assert(std::is_same_v<culprit<binary_serializer, holds_pointer>, int*>);
static_assert(
    std::is_same_v<culprit<binary_serializer, std::map<int, std::optional<not_reflected>>>,
                   not_reflected>);
static_assert(std::is_same_v<culprit<binary_serializer, const_member>, const_member>);
static_assert(std::is_same_v<culprit<archetype_serializer, std::vector<std::string>>,
                             std::vector<std::string>>);

TEST(serializer_concept, archetype_is_enough_for_the_helpers) {
  EXPECT_EQ(to_bytes<archetype_serializer>(std::string("abc")), "abc");
  EXPECT_EQ((from_bytes<archetype_serializer, std::string>("abc")), "abc");
}

TEST(serializer_concept, text_serializer_from_the_docs) {
  EXPECT_EQ(to_bytes<example::text_serializer>(42), "42");
  EXPECT_EQ(to_bytes<example::text_serializer>(0.1), "0.1");
  EXPECT_EQ((from_bytes<example::text_serializer, long>("-7")), -7);
  EXPECT_TRUE(mentions((error_of([] { (void)from_bytes<example::text_serializer, int>("7x"); })),
                       "not a number"));
  EXPECT_TRUE(mentions((error_of([] { (void)from_bytes<example::text_serializer, int>(""); })),
                       "not a number"));
}

TEST(serializer_concept, error_code_form_does_not_throw) {
  std::error_code ec = make_error_code(dstm::errc::timeout);
  const auto ok =
      from_bytes<binary_serializer, point>(to_bytes<binary_serializer>(point{3, 4}), ec);
  EXPECT_FALSE(ec);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->y, 4);
  const auto bad = from_bytes<json_serializer, point>("{", ec);
  EXPECT_EQ(ec, dstm::errc::serialization_failed);
  EXPECT_FALSE(bad.has_value());
}

TEST(serializer_concept, binary_and_json_agree_on_values) {
  order o;
  o.id = 42;
  o.customer = "ACME \xe2\x82\xac";
  o.lines = {{"sku-1", 3, 9.99}, {"sku-2", 1, 0.1}};
  o.tags = {"rush", "gift"};
  o.attributes = {{"weight", 2.5}, {"code", std::string("X1")}, {"none", std::monostate{}}};
  o.status = color::green;
  o.origin = point{5, 6};
  o.box = {1, 2, 3, 4};
  const order via_json = from_bytes<json_serializer, order>(to_bytes<json_serializer>(o));
  EXPECT_EQ(to_bytes<binary_serializer>(via_json), to_bytes<binary_serializer>(o));
}

}  // namespace
