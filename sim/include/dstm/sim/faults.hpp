#pragma once
/// \file
/// `dstm::sim::fault_config`: which faults the simulated ensemble injects, how often and how
/// hard, with three presets (`none`, `standard`, `harsh`). Every probability is an integer per
/// million and every duration an integer number of virtual nanoseconds; each draw comes from a
/// generator forked from the world's seed, so a configuration plus a seed is a complete recipe
/// for a run. docs/sim.md describes each fault.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dstm/sim/world.hpp"

namespace dstm::sim {

struct fault_config {
  std::string name = "none";

  // Network (client <-> server and server <-> server). Every message takes `latency_ns` plus a
  // uniform draw in [0, jitter_ns]; one in a million * slow_per_million more takes up to
  // `slow_ns` extra. Messages of one connection are never reordered (TCP, ZooKeeper's session
  // FIFO); messages of different sessions are.
  std::int64_t latency_ns = 100 * microseconds;
  std::int64_t jitter_ns = 0;
  std::uint32_t slow_per_million = 0;
  std::int64_t slow_ns = 0;

  // Connection loss around a request: `loss_before` drops the connection before the request
  // reaches the server (it is not applied); `loss_after` applies the request and then drops the
  // connection instead of sending the reply. Either way every call in flight on the session
  // fails with connection_loss.
  std::uint32_t loss_before_per_million = 0;
  std::uint32_t loss_after_per_million = 0;

  // Replication from the leader to each follower: `replication_ns` plus [0, replication_jitter_ns].
  std::int64_t replication_ns = 50 * microseconds;
  std::int64_t replication_jitter_ns = 0;

  // The nemesis: every `nemesis_interval_ns` on average (0: never) it starts one timed fault,
  // chosen by these weights, that lasts up to `fault_duration_ns`.
  std::int64_t nemesis_interval_ns = 0;
  std::int64_t fault_duration_ns = 0;
  std::uint32_t weight_crash = 0;             ///< a server crashes, restarts later (state kept)
  std::uint32_t weight_server_partition = 0;  ///< a server is cut off from the others
  std::uint32_t weight_client_partition = 0;  ///< a client is cut off from its server
  std::uint32_t weight_expire = 0;            ///< the ensemble expires a session
  std::uint32_t weight_client_expire = 0;     ///< a client wrongly believes its session expired
  std::uint32_t weight_lag = 0;               ///< a follower falls behind by up to `lag_ns`
  std::int64_t lag_ns = 0;

  // Client clocks: each session's `now()` is offset by a draw in [-max_clock_skew_ns,
  // max_clock_skew_ns] and runs fast or slow by up to max_clock_drift_ppm. The scheduler's time
  // is true time; only what `now()` reports is skewed.
  std::int64_t max_clock_skew_ns = 0;
  std::int32_t max_clock_drift_ppm = 0;

  /// Whether `DSTM_BUGGIFY` fault points fire (see buggify.hpp).
  bool buggify = false;

  /// No faults: a constant latency, immediate replication, nothing ever fails.
  static fault_config none() { return {}; }

  /// Realistic trouble: jitter, occasional connection loss on either side of a request, short
  /// follower lag, rare crashes, partitions and expiries, skewed clocks.
  static fault_config standard() {
    fault_config f;
    f.name = "standard";
    f.latency_ns = 100 * microseconds;
    f.jitter_ns = 400 * microseconds;
    f.slow_per_million = 5'000;
    f.slow_ns = 20 * milliseconds;
    f.loss_before_per_million = 5'000;
    f.loss_after_per_million = 5'000;
    f.replication_ns = 50 * microseconds;
    f.replication_jitter_ns = 500 * microseconds;
    f.nemesis_interval_ns = 400 * milliseconds;
    f.fault_duration_ns = 300 * milliseconds;
    f.weight_crash = 2;
    f.weight_server_partition = 2;
    f.weight_client_partition = 2;
    f.weight_expire = 1;
    f.weight_client_expire = 1;
    f.weight_lag = 4;
    f.lag_ns = 50 * milliseconds;
    f.max_clock_skew_ns = 50 * milliseconds;
    f.max_clock_drift_ppm = 100;
    f.buggify = true;
    return f;
  }

  /// Everything, often: several faults overlap, connections drop every few dozen requests,
  /// followers lag by up to a second, leaders lose their quorum.
  static fault_config harsh() {
    fault_config f = standard();
    f.name = "harsh";
    f.jitter_ns = 2 * milliseconds;
    f.slow_per_million = 30'000;
    f.slow_ns = 100 * milliseconds;
    f.loss_before_per_million = 30'000;
    f.loss_after_per_million = 30'000;
    f.replication_jitter_ns = 5 * milliseconds;
    f.nemesis_interval_ns = 150 * milliseconds;
    f.fault_duration_ns = 400 * milliseconds;
    f.weight_crash = 3;
    f.weight_server_partition = 3;
    f.weight_client_partition = 3;
    f.weight_expire = 2;
    f.weight_client_expire = 2;
    f.weight_lag = 4;
    f.lag_ns = 1 * seconds;
    f.max_clock_skew_ns = 2 * seconds;
    f.max_clock_drift_ppm = 1000;
    return f;
  }

  /// The preset called `name` ("none", "standard", "harsh"), or nullopt.
  static std::optional<fault_config> preset(std::string_view name) {
    if (name == "none") return none();
    if (name == "standard") return standard();
    if (name == "harsh") return harsh();
    return std::nullopt;
  }
};

}  // namespace dstm::sim
