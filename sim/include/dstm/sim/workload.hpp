#pragma once
/// \file
/// Workloads: named simulated experiments with invariants, as FoundationDB's (Cycle, ...).
/// A workload is a function (world, config) -> result that builds its ensemble and clients in
/// the world, runs it, and counts the anomalies its checker finds. `workload_registry` maps
/// names to them, so the runner (`dstm-sim --workload NAME`) and later areas (the STM adds its
/// own) share one entry point; `run_workload` runs one seed and computes the trace hash.

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/client.hpp"
#include "dstm/sim/faults.hpp"
#include "dstm/sim/random.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim {

/// What a workload is asked to do.
struct workload_config {
  std::uint64_t seed = 0;
  int clients = 5;  ///< concurrent client sessions
  int ops = 200;    ///< operations to invoke, over all clients
  int servers = 3;  ///< ensemble size
  fault_config faults = fault_config::none();
  bool record_history = true;  ///< keep the history in the result (for --history)
  /// Isolation of the STM workloads' transactions (`dstm-sim --isolation`).
  dstm::isolation isolation = dstm::isolation::serializable;
  /// STM workloads `ensure` the refs they read but do not write (`dstm-sim --ensure`).
  bool ensure = false;
  /// Workload-specific switches (`dstm-sim --param K=V`), e.g. planted bugs that prove a
  /// checker can fail: `register.reads=plain` reads without `sync` (stale follower reads).
  std::map<std::string, std::string> params;

  /// The value of parameter `key`, or `fallback`.
  std::string param(const std::string& key, std::string fallback = {}) const {
    auto it = params.find(key);
    return it == params.end() ? std::move(fallback) : it->second;
  }
};

/// What a workload found.
struct workload_result {
  std::uint64_t ops = 0;                  ///< operations invoked
  std::uint64_t anomalies = 0;            ///< invariant violations (0: the run is clean)
  std::vector<std::string> explanations;  ///< one readable paragraph per anomaly kind
  check::history history;                 ///< the operations, in the JSON-lines format's events
  std::uint64_t digest = 0;               ///< the final state's digest, folded into the trace hash
};

using workload_fn = std::function<workload_result(world&, const workload_config&)>;

/// Name -> workload. Names are listed in sorted order.
class workload_registry {
 public:
  struct entry {
    std::string description;
    workload_fn fn;
  };

  /// Adds (or replaces) a workload. Throws std::invalid_argument for an empty name or function.
  void add(std::string name, std::string description, workload_fn fn) {
    if (name.empty() || !fn)
      throw std::invalid_argument("dstm::sim: a workload needs a name and a function");
    entries_[std::move(name)] = entry{std::move(description), std::move(fn)};
  }
  const entry* find(std::string_view name) const {
    auto it = entries_.find(std::string(name));
    return it == entries_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, entry>& entries() const noexcept { return entries_; }

 private:
  std::map<std::string, entry> entries_;
};

/// One seed's outcome.
struct run_outcome {
  workload_result result;
  std::uint64_t trace = 0;  ///< the world's trace hash folded with the result
};

/// Runs workload `fn` for `config.seed` in a fresh world (buggify as the faults say) and folds
/// the final state and the anomaly count into the trace hash. Exceptions from the workload
/// (a simulated thread's, a deadlock) propagate.
inline run_outcome run_workload(const workload_fn& fn, const workload_config& config) {
  world_options options;
  options.buggify = config.faults.buggify;
  world w(config.seed, options);
  run_outcome out;
  out.result = fn(w, config);
  w.trace().add_all(out.result.ops, out.result.anomalies, out.result.digest);
  out.trace = w.trace_value();
  return out;
}

/// The trace hash as the runner prints it: 16 lowercase hex digits.
inline std::string format_trace(std::uint64_t trace) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, trace >>= 4) s[static_cast<std::size_t>(i)] = digits[trace & 15];
  return s;
}

}  // namespace dstm::sim
