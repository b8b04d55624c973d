#pragma once
/// \file
/// The built-in workloads, registered by name: `register` and `sequential` on the coordinator,
/// `bank`, `counter`, `write-skew`, `list-append` and `atoms` on the STM (see
/// sim/workloads/*.hpp). Other areas add
/// theirs to a registry of their own or to the one `builtin_workloads()` returns before handing
/// it to the runner's `main`.

#include "dstm/sim/workload.hpp"
#include "dstm/sim/workloads/atoms.hpp"
#include "dstm/sim/workloads/list_append.hpp"
#include "dstm/sim/workloads/register.hpp"
#include "dstm/sim/workloads/sequential.hpp"
#include "dstm/sim/workloads/stm.hpp"

namespace dstm::sim {

/// A registry holding the built-in workloads.
inline workload_registry builtin_workloads() {
  workload_registry r;
  r.add("register", "read/write/cas on a few znodes (sync before reads); linearizability per key",
        workloads::register_workload);
  r.add("bank",
        "STM transfers between accounts and reads of all; opacity, fixed total, exact books",
        workloads::bank_workload);
  r.add("counter",
        "STM increments (counter.op=commute|alter); final = committed (+ unknown outcomes)",
        workloads::counter_workload);
  r.add("write-skew",
        "STM withdrawals keeping x + y >= 0; broken only by --isolation snapshot without "
        "--ensure",
        workloads::write_skew_workload);
  r.add("list-append",
        "STM transactions appending to and reading lists; Elle-style isolation check at the "
        "promised level",
        workloads::list_append_workload);
  r.add("atoms", "atom reset / compare_and_set / deref_latest; linearizability per atom",
        workloads::atoms_workload);
  r.add("sequential",
        "sequential creates under one parent; unique names, increasing in real-time order",
        workloads::sequential_workload);
  return r;
}

}  // namespace dstm::sim
