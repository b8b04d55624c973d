#pragma once
// Helpers of the recipe simulation tests: a world with an ensemble, a clock of stamps that
// orders events at equal virtual times, a fenced store, and seed sweeps that name the seed
// and fault preset of every failure.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/faults.hpp"
#include "dstm/sim/world.hpp"

namespace dstm_recipes_sim {

namespace sim = dstm::sim;

/// A moment of the run: virtual time, and a counter that orders events at the same time in the
/// order the (one running) simulated thread saw them.
struct stamp {
  std::int64_t at = 0;
  std::uint64_t seq = 0;
  friend bool operator<(const stamp& a, const stamp& b) {
    return a.at != b.at ? a.at < b.at : a.seq < b.seq;
  }
};

/// A world, an ensemble with `faults` (started), and a stamp clock.
struct sim_env {
  explicit sim_env(std::uint64_t seed, const sim::fault_config& faults, int servers = 3,
                   std::int64_t session_timeout_ns = 4 * sim::seconds)
      : w(seed, world_options(faults)),
        ens(w, ensemble_options(faults, servers, session_timeout_ns)) {}

  static sim::world_options world_options(const sim::fault_config& f) {
    sim::world_options o;
    o.buggify = f.buggify;
    o.time_limit_ns = 3600 * sim::seconds;
    return o;
  }
  static sim::ensemble_options ensemble_options(const sim::fault_config& f, int servers,
                                                std::int64_t timeout) {
    sim::ensemble_options o;
    o.faults = f;
    o.servers = servers;
    o.session_timeout_ns = timeout;
    return o;
  }

  stamp now() { return {w.now(), ++seq}; }

  /// The ensemble's fault counters and the virtual time, into `v.counters`.
  void count_faults(std::map<std::string, std::int64_t>& out) const {
    const auto& st = ens.stats();
    out["lost_replies"] += static_cast<std::int64_t>(st.lost_after);
    out["lost_requests"] += static_cast<std::int64_t>(st.lost_before);
    out["crashes"] += static_cast<std::int64_t>(st.crashes);
    out["expiries"] += static_cast<std::int64_t>(st.server_expiries + st.client_expiries);
    out["partitions"] += static_cast<std::int64_t>(st.server_partitions + st.client_partitions);
    out["virtual_ms"] += w.now() / sim::milliseconds;
  }

  /// Injects faults for `window_ns` of virtual time, then heals everything.
  void faults_for(std::int64_t window_ns) {
    ens.start_faults();
    w.after(window_ns, [this] { ens.stop_faults(); });
  }

  sim::world w;
  sim::ensemble ens;
  std::uint64_t seq = 0;
};

/// A store that checks fencing tokens on every access: it remembers the largest token it saw
/// and refuses any access with a smaller one (Kleppmann's fencing). A holder that lost its
/// lock without knowing cannot corrupt it; a holder that did not lose its lock is never
/// refused — unless mutual exclusion broke.
struct fenced_store {
  std::int64_t max_token = 0;
  std::int64_t value = 0;
  std::int64_t accepted_writes = 0;
  std::int64_t refused = 0;

  std::optional<std::int64_t> read(std::int64_t token) {
    if (token < max_token) {
      ++refused;
      return std::nullopt;
    }
    max_token = token;
    return value;
  }
  bool write(std::int64_t token, std::int64_t v) {
    if (token < max_token) {
      ++refused;
      return false;
    }
    max_token = token;
    value = v;
    ++accepted_writes;
    return true;
  }
};

/// What one seed's run found: empty = clean.
struct verdict {
  std::vector<std::string> problems;
  std::uint64_t trace = 0;
  /// What happened (summed over a sweep and printed): faults, acquisitions, ...
  std::map<std::string, std::int64_t> counters;
  void fail(std::string s) { problems.push_back(std::move(s)); }
  bool ok() const { return problems.empty(); }
  std::string text() const {
    std::string s;
    for (const auto& p : problems) s += "  " + p + "\n";
    return s;
  }
};

/// Runs `one(seed)` for seeds [first, first + count) and fails the test with the first seeds
/// that broke, naming how to replay them (the test filter and the seed).
inline void sweep(const std::string& what, std::uint64_t first, std::uint64_t count,
                  const std::function<verdict(std::uint64_t)>& one) {
  int failing = 0;
  std::string report;
  std::map<std::string, std::int64_t> totals;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    verdict v;
    try {
      v = one(seed);
    } catch (const std::exception& e) {
      v.fail(std::string("run threw: ") + e.what());
    }
    for (const auto& [k, n] : v.counters) totals[k] += n;
    if (!v.ok() && ++failing <= 3) {
      report += "seed " + std::to_string(seed) + ":\n" + v.text();
    }
  }
  std::string summary;
  for (const auto& [k, n] : totals) summary += " " + k + "=" + std::to_string(n);
  std::printf("[ sweep    ] %s: %llu seeds, %d failing;%s\n", what.c_str(),
              static_cast<unsigned long long>(count), failing, summary.c_str());
  EXPECT_EQ(failing, 0) << what << ": " << failing << " of " << count
                        << " seeds broke an invariant (replay one with DSTM_RECIPES_SEED=<seed> "
                           "and this test's --gtest_filter):\n"
                        << report;
}

/// The seed range to run: DSTM_RECIPES_SEED=<n> narrows every sweep to that one seed.
inline std::pair<std::uint64_t, std::uint64_t> seeds(std::uint64_t first, std::uint64_t count) {
  if (const char* s = std::getenv("DSTM_RECIPES_SEED"); s && *s) {
    return {std::strtoull(s, nullptr, 10), 1};
  }
  return {first, count};
}

}  // namespace dstm_recipes_sim
