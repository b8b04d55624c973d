#pragma once
// Short spellings for hand-written histories in the tests.

#include <cstdint>
#include <string>
#include <utility>

#include <dstm/check/history.hpp>

namespace dstm::check::testing {

/// Appends events in order; every call returns *this so a history reads like a table.
class history_builder {
 public:
  explicit history_builder(std::string key = "") : key_(std::move(key)) {}

  history_builder& key(std::string k) {
    key_ = std::move(k);
    return *this;
  }
  history_builder& invoke(std::int64_t p, std::string f, nlohmann::json v = nullptr) {
    return add(p, event_type::invoke, std::move(f), std::move(v));
  }
  history_builder& ok(std::int64_t p, std::string f, nlohmann::json v = nullptr) {
    return add(p, event_type::ok, std::move(f), std::move(v));
  }
  history_builder& fail(std::int64_t p, std::string f, nlohmann::json v = nullptr) {
    return add(p, event_type::fail, std::move(f), std::move(v));
  }
  history_builder& info(std::int64_t p, std::string f, nlohmann::json v = nullptr) {
    return add(p, event_type::info, std::move(f), std::move(v));
  }
  /// invoke + ok with no other event in between.
  history_builder& call(std::int64_t p, std::string f, nlohmann::json in, nlohmann::json out) {
    invoke(p, f, std::move(in));
    return ok(p, std::move(f), std::move(out));
  }

  const history& get() const { return h_; }
  operator const history&() const { return h_; }  // NOLINT: reads naturally in the tests

 private:
  history_builder& add(std::int64_t p, event_type t, std::string f, nlohmann::json v) {
    h_.push_back(event{p, t, std::move(f), key_, std::move(v), 0});
    return *this;
  }

  std::string key_;
  history h_;
};

}  // namespace dstm::check::testing
