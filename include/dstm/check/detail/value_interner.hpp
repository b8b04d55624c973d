#pragma once
/// \file
/// Maps JSON values to small integers so that models keep their state in a few machine words
/// and compare it in one instruction. Equal values get equal ids whatever way nlohmann typed
/// them (a parsed 5 is unsigned, a constructed 5 signed); `null` is always id 0.

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace dstm::check::detail::lin {

class value_interner {
 public:
  static constexpr std::int32_t null_id = 0;

  value_interner() { values_.emplace_back(nullptr); }

  /// The id of `v`, allocating one on first sight.
  std::int32_t id(const nlohmann::json& v) {
    if (v.is_null()) return null_id;
    if (v.is_number_integer() &&
        !(v.is_number_unsigned() &&
          v.get<std::uint64_t>() > static_cast<std::uint64_t>(
                                       std::numeric_limits<std::int64_t>::max()))) {
      auto [it, fresh] = integers_.try_emplace(v.get<std::int64_t>(), next_id());
      if (fresh) values_.push_back(v);
      return it->second;
    }
    // Other values are keyed by their compact text, which is canonical for equal values
    // (object keys are sorted by nlohmann's default object type).
    auto [it, fresh] = others_.try_emplace(v.dump(), next_id());
    if (fresh) values_.push_back(v);
    return it->second;
  }

  /// The value behind `id` (ids come from `id()` on this interner).
  const nlohmann::json& value(std::int32_t id) const { return values_.at(static_cast<std::size_t>(id)); }

 private:
  std::int32_t next_id() const { return static_cast<std::int32_t>(values_.size()); }

  std::unordered_map<std::int64_t, std::int32_t> integers_;
  std::unordered_map<std::string, std::int32_t> others_;
  std::vector<nlohmann::json> values_;
};

}  // namespace dstm::check::detail::lin
