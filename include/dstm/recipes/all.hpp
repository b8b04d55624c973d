#pragma once
/// \file
/// Every recipe: locks, read-write locks, semaphores, leader election and singleton services,
/// group membership, barriers, counters, queues and distributed memoization. Each works with
/// any model of `dstm::coordinator` (ZooKeeper, embedded, simulated); docs/recipes.md.

#include "dstm/recipes/barrier.hpp"
#include "dstm/recipes/counter.hpp"
#include "dstm/recipes/group.hpp"
#include "dstm/recipes/leader.hpp"
#include "dstm/recipes/memoize.hpp"
#include "dstm/recipes/mutex.hpp"
#include "dstm/recipes/queue.hpp"
#include "dstm/recipes/semaphore.hpp"
#include "dstm/recipes/shared_mutex.hpp"
