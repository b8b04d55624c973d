#pragma once
/// \file
/// Every CRDT header: clocks, `lww_element_set`, and the commute-based updates of refs that
/// hold one (which pull in the STM: <dstm/ref.hpp>, <dstm/txn.hpp>).

#include "dstm/crdt/clock.hpp"
#include "dstm/crdt/commute.hpp"
#include "dstm/crdt/lww_element_set.hpp"
#include "dstm/crdt/wall_clock.hpp"
