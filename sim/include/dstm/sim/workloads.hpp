#pragma once
/// \file
/// The built-in workloads, registered by name: `register` and `sequential` (see
/// sim/workloads/*.hpp). Other areas add theirs to a registry of their own or to the one
/// `builtin_workloads()` returns before handing it to the runner's `main`.

#include "dstm/sim/workload.hpp"
#include "dstm/sim/workloads/register.hpp"
#include "dstm/sim/workloads/sequential.hpp"

namespace dstm::sim {

/// A registry holding the built-in workloads.
inline workload_registry builtin_workloads() {
  workload_registry r;
  r.add("register", "read/write/cas on a few znodes (sync before reads); linearizability per key",
        workloads::register_workload);
  r.add("sequential",
        "sequential creates under one parent; unique names, increasing in real-time order",
        workloads::sequential_workload);
  return r;
}

}  // namespace dstm::sim
