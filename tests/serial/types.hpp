#pragma once
// Value types the serializer tests share: Hana structs (defined and adapted), enums, an
// adapted class with an invariant, and the list of types every law runs over.

#include <array>
#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/define_struct.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "dstm/error.hpp"
#include "dstm/serial/detail/shape.hpp"

namespace serial_test {

enum class color : std::uint8_t { red, green, blue };
enum plain_enum : int { one = 1, two = 2 };

struct point {
  BOOST_HANA_DEFINE_STRUCT(point, (std::int32_t, x), (std::int32_t, y));
};

// The same member types as point under other names: a different shape for the binary format.
struct extent {
  BOOST_HANA_DEFINE_STRUCT(extent, (std::int32_t, w), (std::int32_t, h));
};

struct empty {
  BOOST_HANA_DEFINE_STRUCT(empty);
};

struct line {
  BOOST_HANA_DEFINE_STRUCT(line, (std::string, sku), (std::uint32_t, quantity), (double, price));
};

using attribute = std::variant<std::int64_t, std::string, double, std::monostate>;

struct order {
  BOOST_HANA_DEFINE_STRUCT(order, (std::uint64_t, id), (std::string, customer),
                           (std::vector<line>, lines), (std::set<std::string>, tags),
                           (std::optional<std::string>, note),
                           (std::map<std::string, attribute>, attributes), (color, status),
                           (std::optional<point>, origin), (std::array<std::int16_t, 4>, box));
};

// A struct from code that cannot be changed, adapted from outside.
namespace external {
struct reading {
  std::string sensor;
  std::vector<float> samples;
};
}  // namespace external

// A class with an invariant and private state: serialized through dstm::serial::adapter.
class temperature {
 public:
  temperature() = default;
  explicit temperature(double kelvin) : kelvin_(kelvin) {
    if (!(kelvin >= 0)) throw std::invalid_argument("temperature below absolute zero");
  }
  double kelvin() const { return kelvin_; }
  friend bool operator==(const temperature&, const temperature&) = default;

 private:
  double kelvin_ = 0;
};

}  // namespace serial_test

BOOST_HANA_ADAPT_STRUCT(serial_test::external::reading, sensor, samples);

template <>
struct dstm::serial::adapter<serial_test::temperature> {
  using representation = double;
  static double to(const serial_test::temperature& t) { return t.kelvin(); }
  static serial_test::temperature from(double kelvin) {
    if (!(kelvin >= 0)) throw dstm::serialization_error("temperature below absolute zero");
    return serial_test::temperature(kelvin);
  }
};

namespace serial_test {

using dstm::serial::detail::type_list;

/// The types every law runs over, for every serializer: each kind alone, then nested.
using law_types = type_list<
    bool, char, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t, std::int32_t, std::uint32_t,
    std::int64_t, std::uint64_t, float, double, long double, color, plain_enum, std::string,
    std::vector<std::int32_t>, std::vector<double>, std::vector<bool>, std::vector<std::string>,
    std::array<std::int16_t, 3>, std::array<std::string, 2>, std::map<std::string, std::int32_t>,
    std::map<std::int64_t, std::string>, std::unordered_map<std::string, std::vector<std::int32_t>>,
    std::set<std::int32_t>, std::unordered_set<std::string>, std::optional<std::int32_t>,
    std::optional<std::optional<std::string>>, std::optional<std::monostate>,
    std::variant<std::int32_t, std::string, double>,
    std::variant<std::monostate, point, std::vector<std::uint8_t>>,
    std::pair<std::int32_t, std::string>, std::tuple<bool, double, std::string>, std::tuple<>,
    std::monostate, point, extent, empty, line, order, external::reading, temperature,
    std::map<color, std::vector<std::optional<point>>>,
    std::vector<
        std::map<std::string, std::variant<std::set<std::int32_t>, std::optional<std::string>>>>>;

}  // namespace serial_test
