#pragma once
/// \file
/// `dstm::crdt::wall_clock`: the physical time source of the default hybrid logical clock
/// (`dstm::crdt::hlc`), the system's real-time clock in nanoseconds since the Unix epoch.
///
/// The only file of dstm's CRDTs that reads a real clock (the simulation's hygiene test allows
/// exactly this one): deterministic code passes another source to `basic_hlc`, e.g.
/// `dstm::crdt::client_time` (<dstm/crdt/commute.hpp>), which reads the coordinator's clock —
/// virtual, and skewed per client, in the simulation.

#include <chrono>
#include <cstdint>

namespace dstm::crdt {

/// Reads the system's real-time clock. It may jump backwards (NTP, an operator) and differ
/// between machines; `basic_hlc` keeps its timestamps monotonic and causal regardless.
struct wall_clock {
  std::int64_t operator()() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace dstm::crdt
