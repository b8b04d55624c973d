// mutex and shared_mutex in the simulation, over many seeds with faults: mutual exclusion
// checked by a fenced store and by the linearizability checker's mutex model on the recorded
// acquire/release history, tokens that grow, no deadlock, every waiter served.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/check/linearizability.hpp"
#include "dstm/recipes/mutex.hpp"
#include "dstm/recipes/shared_mutex.hpp"
#include "faulty.hpp"
#include "sim_support.hpp"

namespace dstm_recipes_sim {
namespace {

using dstm::recipes::lock_options;

/// One acquisition attempt as a worker saw it.
struct attempt {
  std::int64_t process = 0;
  bool shared = false;
  stamp invoked, granted, releasing, released;
  bool acquired = false;
  bool lost = false;     ///< the session ended while it was held (or before the release)
  bool refused = false;  ///< the fenced store refused it
  std::int64_t token = 0;
};

struct lock_config {
  sim::fault_config faults = sim::fault_config::standard();
  int workers = 4;
  int quota = 6;  ///< acquisitions each worker must complete (and more while faults last)
  bool rw = false;
  std::int64_t fault_window_ns = 6 * sim::seconds;
  std::int64_t think_ns = 60 * sim::milliseconds;  ///< longest pause between acquisitions
};

struct lock_run {
  std::vector<attempt> attempts;
  fenced_store store;
  std::vector<std::string> unexpected;  ///< exceptions no recipe call should throw
  std::uint64_t trace = 0;
  int sessions = 0;
  std::map<std::string, std::int64_t> counters;
};

lock_run run_locks(std::uint64_t seed, const lock_config& cfg) {
  sim_env env(seed, cfg.faults);
  lock_run out;
  std::int64_t next_process = 1;
  env.faults_for(cfg.fault_window_ns);
  for (int i = 0; i < cfg.workers; ++i) {
    env.w.spawn("worker/" + std::to_string(i), [&, i] {
      auto r = env.w.stream("worker/" + std::to_string(i));
      int done = 0;
      auto more = [&] { return done < cfg.quota || env.w.now() < cfg.fault_window_ns; };
      while (more()) {
        ++out.sessions;
        auto zk = sim::open(env.ens);
        bool lost_flag = false;
        lock_options o;
        o.identifier = "w" + std::to_string(i);
        o.on_lost = [&lost_flag] { lost_flag = true; };
        std::optional<dstm::recipes::mutex<sim::coordinator>> m;
        std::optional<dstm::recipes::shared_mutex<sim::coordinator>> rw;
        if (cfg.rw) {
          rw.emplace(zk, "/app/lock", o);
        } else {
          m.emplace(zk, "/app/lock", o);
        }
        attempt a;
        bool acquiring = false;
        try {
          while (more()) {
            env.w.sleep_for(r.between(0, cfg.think_ns));
            a = attempt{};
            a.process = next_process++;
            a.shared = cfg.rw && r.one_in(2);
            a.invoked = env.now();
            if (std::getenv("DSTM_RECIPES_DEBUG"))
              std::fprintf(stderr, "t=%lld w%d session=%llx acquiring\n", (long long)env.w.now(), i,
                           (unsigned long long)zk->session_id());
            bool ok = true;
            acquiring = true;
            const bool timed = r.one_in(3);
            const auto timeout = r.between(1, 300) * sim::milliseconds;
            if (a.shared) {
              ok = timed ? rw->try_lock_shared_for(timeout) : (rw->lock_shared(), true);
            } else if (cfg.rw) {
              ok = timed ? rw->try_lock_for(timeout) : (rw->lock(), true);
            } else {
              ok = timed ? m->try_lock_for(timeout) : (m->lock(), true);
            }
            acquiring = false;
            a.granted = env.now();
            if (std::getenv("DSTM_RECIPES_DEBUG"))
              std::fprintf(stderr, "t=%lld w%d session=%llx %s %s -> %d\n", (long long)env.w.now(),
                           i, (unsigned long long)zk->session_id(), a.shared ? "read" : "write",
                           timed ? "timed" : "block", (int)ok);
            if (!ok) {
              out.attempts.push_back(a);
              continue;
            }
            a.acquired = true;
            lost_flag = false;
            a.token = a.shared ? rw->token_shared() : cfg.rw ? rw->token() : m->token();
            if (!a.shared) {
              // The critical section: read, think, write back one more.
              auto v = out.store.read(a.token);
              env.w.sleep_for(r.between(0, 4) * sim::milliseconds);
              if (!v || !out.store.write(a.token, *v + 1)) a.refused = true;
            } else {
              env.w.sleep_for(r.between(0, 4) * sim::milliseconds);
            }
            a.releasing = env.now();
            if (a.shared) {
              rw->unlock_shared();
            } else if (cfg.rw) {
              rw->unlock();
            } else {
              m->unlock();
            }
            a.released = env.now();
            a.lost = lost_flag || dstm::recipes::detail::session_gone(zk->state());
            out.attempts.push_back(a);
            ++done;
          }
        } catch (const dstm::error& e) {
          if (e.code() != dstm::errc::session_expired) {
            out.unexpected.push_back(std::string("worker ") + std::to_string(i) + ": " + e.what());
          }
          if (acquiring) {
            // The acquisition threw: it never held the lock.
            a.granted = env.now();
            a.acquired = false;
            out.attempts.push_back(a);
          } else if (a.acquired) {
            // The release threw: count the hold as lost when the worker heard of it.
            a.releasing = a.released = env.now();
            a.lost = true;
            out.attempts.push_back(a);
          }
        } catch (const std::exception& e) {
          out.unexpected.push_back(std::string("worker ") + std::to_string(i) + ": " + e.what());
          return;
        }
        env.w.sleep_for(r.between(1, 50) * sim::milliseconds);
      }
    });
  }
  try {
    env.w.run();
  } catch (const sim::deadlock_error&) {
    if (std::getenv("DSTM_RECIPES_DEBUG")) {
      const auto& t = env.ens.replica(env.ens.leader() >= 0 ? env.ens.leader() : 0);
      std::error_code ec;
      const auto sess = t.sessions();
      const std::int64_t any = sess.empty() ? 0 : sess.front();
      auto kids = t.children(any, "/app/lock", ec);
      std::fprintf(stderr, "leader=%d children=%zu ec=%s\n", env.ens.leader(), kids.names.size(),
                   ec.message().c_str());
      for (const auto& k : kids.names) {
        auto n = t.get(any, "/app/lock/" + k, ec);
        std::fprintf(stderr, "  %s owner=%llx czxid=%lld alive=%d\n", k.c_str(),
                     (unsigned long long)n.stat.ephemeral_owner, (long long)n.stat.czxid,
                     (int)env.ens.session_alive(n.stat.ephemeral_owner));
      }
    }
    throw;
  }
  out.trace = env.w.trace_value();
  env.count_faults(out.counters);
  out.counters["sessions"] += out.sessions;
  return out;
}

/// The acquire/release history of the exclusive holds. A hold whose session ended is
/// released at an unknown moment between its grant and the moment its worker heard of it:
/// its release is invoked right after the grant and completes when the worker heard.
dstm::check::history exclusive_history(const std::vector<attempt>& attempts) {
  struct keyed {
    stamp at;
    int sub = 0;  // 1: a synthetic event right after the real one at `at`
    dstm::check::event e;
  };
  std::vector<keyed> events;
  using dstm::check::event_type;
  for (const auto& a : attempts) {
    if (a.shared) continue;
    events.push_back({a.invoked, 0, {a.process, event_type::invoke, "acquire", "lock", {}, 0}});
    events.push_back(
        {a.granted,
         0,
         {a.process, a.acquired ? event_type::ok : event_type::fail, "acquire", "lock", {}, 0}});
    if (!a.acquired) continue;
    if (a.lost) {
      events.push_back({a.granted, 1, {a.process, event_type::invoke, "release", "lock", {}, 0}});
    } else {
      events.push_back({a.releasing, 0, {a.process, event_type::invoke, "release", "lock", {}, 0}});
    }
    events.push_back({a.released, 0, {a.process, event_type::ok, "release", "lock", {}, 0}});
  }
  std::stable_sort(events.begin(), events.end(), [](const keyed& x, const keyed& y) {
    if (x.at.at != y.at.at) return x.at.at < y.at.at;
    if (x.at.seq != y.at.seq) return x.at.seq < y.at.seq;
    return x.sub < y.sub;
  });
  dstm::check::history h;
  for (auto& k : events) {
    k.e.time = k.at.at;
    h.push_back(std::move(k.e));
  }
  return h;
}

verdict check_locks(const lock_run& run, const lock_config& cfg) {
  verdict v;
  v.trace = run.trace;
  v.counters = run.counters;
  for (const auto& u : run.unexpected) v.fail("unexpected exception: " + u);
  int acquired = 0, lost = 0;
  std::vector<const attempt*> held;
  for (const auto& a : run.attempts) {
    if (!a.acquired) continue;
    ++acquired;
    if (a.lost) ++lost;
    if (!a.lost && a.refused) {
      v.fail("process " + std::to_string(a.process) + " (token " + std::to_string(a.token) +
             ") kept its session yet the fenced store refused it: another holder overlapped");
    }
    if (!a.lost) held.push_back(&a);
  }
  if (acquired < cfg.workers * cfg.quota) {
    v.fail("only " + std::to_string(acquired) + " of " + std::to_string(cfg.workers * cfg.quota) +
           " acquisitions completed");
  }
  if (run.store.value != run.store.accepted_writes) {
    v.fail("lost update: the store holds " + std::to_string(run.store.value) + " after " +
           std::to_string(run.store.accepted_writes) + " accepted writes");
  }
  // Holds that were not lost never overlap with an exclusive hold, and their tokens grow in
  // the order they were granted.
  std::sort(held.begin(), held.end(),
            [](const attempt* a, const attempt* b) { return a->granted < b->granted; });
  for (std::size_t i = 0; i < held.size(); ++i) {
    for (std::size_t j = i + 1; j < held.size() && held[j]->granted < held[i]->releasing; ++j) {
      if (held[i]->shared && held[j]->shared) ++v.counters["reader_overlaps"];
      if (!held[i]->shared || !held[j]->shared) {
        v.fail("processes " + std::to_string(held[i]->process) + " and " +
               std::to_string(held[j]->process) + " held the lock at once");
      }
    }
    if (!held[i]->shared) {
      for (std::size_t j = i + 1; j < held.size(); ++j) {
        if (!held[j]->shared && held[j]->token <= held[i]->token) {
          v.fail("token " + std::to_string(held[j]->token) + " granted after token " +
                 std::to_string(held[i]->token));
        }
      }
    }
  }
  const auto h = exclusive_history(run.attempts);
  dstm::check::linearizability_options lo;
  std::uint64_t polls = 0;
  lo.out_of_time = [&polls] { return ++polls > 200'000; };
  const auto lin = dstm::check::check_linearizable(h, dstm::check::mutex_model{}, lo);
  if (lin.result != dstm::check::verdict::valid) v.fail("mutex history: " + lin.explanation);
  v.counters["acquired"] += acquired;
  v.counters["lost_holds"] += lost;
  return v;
}

void sweep_locks(const std::string& name, const lock_config& cfg, std::uint64_t count) {
  const auto [first, n] = seeds(1, count);
  sweep(name, first, n, [&](std::uint64_t seed) { return check_locks(run_locks(seed, cfg), cfg); });
}

TEST(SimMutex, ExclusiveUnderStandardFaults) { sweep_locks("mutex/standard", lock_config{}, 40); }

TEST(SimMutex, ExclusiveUnderHarshFaults) {
  lock_config cfg;
  cfg.faults = sim::fault_config::harsh();
  sweep_locks("mutex/harsh", cfg, 40);
}

TEST(SimMutex, ExclusiveWithManyLostReplies) {
  lock_config cfg;
  cfg.faults = sim::fault_config::none();
  cfg.faults.name = "lost-replies";
  cfg.faults.loss_after_per_million = 150'000;
  cfg.faults.loss_before_per_million = 50'000;
  cfg.faults.jitter_ns = 300 * sim::microseconds;
  sweep_locks("mutex/lost-replies", cfg, 40);
}

TEST(SimSharedMutex, ReadersShareWritersExcludeUnderHarshFaults) {
  lock_config cfg;
  cfg.faults = sim::fault_config::harsh();
  cfg.rw = true;
  sweep_locks("shared_mutex/harsh", cfg, 30);
}

TEST(SimSharedMutex, ReadersShareWritersExcludeWithLostReplies) {
  lock_config cfg;
  cfg.faults = sim::fault_config::none();
  cfg.faults.loss_after_per_million = 150'000;
  cfg.rw = true;
  sweep_locks("shared_mutex/lost-replies", cfg, 30);
}

// The history check can fail: two holders at once are caught.
TEST(SimMutex, TheHistoryCheckCatchesOverlappingHolders) {
  std::vector<attempt> attempts(2);
  attempts[0] = attempt{1, false, {1, 1}, {2, 2}, {5, 5}, {6, 6}, true, false, false, 10};
  attempts[1] = attempt{2, false, {1, 3}, {3, 4}, {7, 7}, {8, 8}, true, false, false, 11};
  const auto lin =
      dstm::check::check_linearizable(exclusive_history(attempts), dstm::check::mutex_model{});
  EXPECT_EQ(lin.result, dstm::check::verdict::invalid);
}

// Determinism: a seed replays to the same trace.
TEST(SimMutex, SameSeedSameTrace) {
  lock_config cfg;
  cfg.faults = sim::fault_config::harsh();
  const auto a = run_locks(7, cfg), b = run_locks(7, cfg);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.attempts.size(), b.attempts.size());
}

// A lost create reply on a lagging follower: the node is looked for after a sync, so the
// follower cannot hide it and no second node is created.
TEST(SimMutexFaults, LostCreateReplyOnALaggingFollowerMakesNoSecondNode) {
  sim_env env(11, sim::fault_config::none());
  int creates = 0;
  bool acquired = false;
  env.w.spawn("test", [&] {
    const int leader = env.ens.leader() >= 0 ? env.ens.leader() : 0;
    const int f1 = (leader + 1) % 3, f2 = (leader + 2) % 3;
    // The client will reconnect to the next server after its first: f2 when pinned to f1.
    sim::coordinator_options pin;
    pin.server = f1;
    auto raw = sim::open(env.ens, pin);
    dstm::recipes::mutex<sim::coordinator> warm(raw, "/app/lock");
    warm.lock();  // creates the parents and settles the session on f1
    warm.unlock();
    // f1 is current; f2, where the client goes next, lags far behind.
    env.ens.set_lag(f2, 3 * sim::seconds);
    auto zk = std::make_shared<dstm_recipes_test::faulty<sim::coordinator>>([&] { return raw; });
    zk->on_call = [&](dstm_recipes_test::fault_op op, std::string_view path, bool before) {
      if (op != dstm_recipes_test::fault_op::create || !path.starts_with("/app/lock/")) return;
      if (before) {
        ++creates;
        auto f = sim::fault_config::none();
        if (creates == 1) f.loss_after_per_million = 1'000'000;
        env.ens.set_faults(f);
      } else {
        env.ens.set_faults(sim::fault_config::none());
      }
    };
    dstm::recipes::mutex<dstm_recipes_test::faulty<sim::coordinator>> m(zk, "/app/lock");
    m.lock();
    acquired = true;
    std::error_code ec;
    const auto kids = raw->children("/app/lock", {}, ec);
    EXPECT_EQ(kids.names.size(), 1u);
    m.unlock();
    env.ens.set_lag(f2, 0);
  });
  env.w.run();
  EXPECT_TRUE(acquired);
  EXPECT_EQ(env.ens.stats().lost_after, 1u);
  EXPECT_EQ(creates, 1) << "the lost node was not found again: a second one was created";
}

}  // namespace
}  // namespace dstm_recipes_sim
