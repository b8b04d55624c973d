#pragma once
// The law every blob store (dstm::blob_store) obeys, for RapidCheck properties over any model:
// it behaves like a std::map from keys to bytes, and `keys(prefix)` lists the keys with that
// prefix in order. tests/stm/external_test.cpp checks the in-process store with it,
// tests/redis the Redis store.

#include <rapidcheck.h>

#include <map>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

namespace dstm_test {

/// A step: put (0) `bytes` at `key`, remove (1) it, or only read it (2).
using blob_step = std::tuple<int, std::string, std::string>;

/// Applies `steps` to `store` and to a map, checks every read and then every `prefixes` listing
/// against the map, and returns the map (for store-specific checks).
template <class Store>
std::map<std::string, std::string> check_behaves_like_a_map(Store& store,
                                                            std::span<const blob_step> steps,
                                                            std::span<const std::string> prefixes) {
  std::map<std::string, std::string> model;
  for (const auto& [what, key, bytes] : steps) {
    std::error_code ec;
    if (what == 0) {
      store.put(key, bytes, ec);
      model[key] = bytes;
    } else if (what == 1) {
      store.remove(key, ec);
      model.erase(key);
    }
    RC_ASSERT(!ec);
    const auto got = store.get(key, ec);
    RC_ASSERT(!ec);
    RC_ASSERT(got.has_value() == model.contains(key));
    if (got) RC_ASSERT(*got == model[key]);
  }
  for (const std::string& prefix : prefixes) {
    std::error_code ec;
    std::vector<std::string> expected;
    for (const auto& [k, v] : model) {
      if (k.starts_with(prefix)) expected.push_back(k);
    }
    RC_ASSERT(store.keys(prefix, ec) == expected);
    RC_ASSERT(!ec);
  }
  return model;
}

}  // namespace dstm_test
