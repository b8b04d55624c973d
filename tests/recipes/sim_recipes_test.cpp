// The other recipes in the simulation, over many seeds with faults: the semaphore never hands
// out more than N leases, there is never more than one leader and always one in the end,
// double barriers never release early, the counter counts every add exactly once, every item
// put on the queue is acked exactly once, and memoize computes once per argument.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "dstm/recipes/all.hpp"
#include "sim_support.hpp"

namespace dstm_recipes_sim {
namespace {

namespace r = dstm::recipes;
using coord = sim::coordinator;

/// Harsh faults without session expiry: for recipes whose progress needs every participant.
sim::fault_config harsh_without_expiry() {
  auto f = sim::fault_config::harsh();
  f.name = "harsh-no-expiry";
  f.weight_expire = 0;
  f.weight_client_expire = 0;
  return f;
}

bool expired(const dstm::error& e) { return e.code() == dstm::errc::session_expired; }

// ---- semaphore -------------------------------------------------------------------------------

verdict run_semaphore(std::uint64_t seed, const sim::fault_config& faults) {
  sim_env env(seed, faults);
  constexpr int workers = 5, leases = 2, quota = 5;
  struct hold {
    stamp from, to;
    bool lost = false;
  };
  std::vector<hold> holds;
  verdict v;
  env.faults_for(6 * sim::seconds);
  for (int i = 0; i < workers; ++i) {
    env.w.spawn("worker/" + std::to_string(i), [&, i] {
      auto rnd = env.w.stream("worker/" + std::to_string(i));
      int done = 0;
      while (done < quota || env.w.now() < 6 * sim::seconds) {
        auto zk = sim::open(env.ens);
        r::semaphore sem(zk, "/app/sem", leases);
        try {
          while (done < quota || env.w.now() < 6 * sim::seconds) {
            env.w.sleep_for(rnd.between(0, 40) * sim::milliseconds);
            std::optional<r::semaphore<coord>::lease> l;
            if (rnd.one_in(3)) {
              l = sem.try_acquire_for(rnd.between(1, 200) * sim::milliseconds);
              if (!l) continue;
            } else {
              l = sem.acquire();
            }
            hold h;
            h.from = env.now();
            env.w.sleep_for(rnd.between(0, 20) * sim::milliseconds);
            h.to = env.now();
            l->release();
            h.lost = dstm::recipes::detail::session_gone(zk->state());
            holds.push_back(h);
            ++done;
          }
        } catch (const dstm::error& e) {
          if (!expired(e)) v.fail(std::string("worker: ") + e.what());
        }
      }
    });
  }
  env.w.run();
  env.count_faults(v.counters);
  // At no instant more than `leases` holds that kept their session.
  std::vector<std::pair<stamp, int>> edges;
  for (const auto& h : holds) {
    if (h.lost) continue;
    edges.push_back({h.from, +1});
    edges.push_back({h.to, -1});
  }
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (!(b.first < a.first) && a.second < b.second);
  });
  int now = 0, most = 0;
  for (const auto& [at, d] : edges) most = std::max(most, now += d);
  if (most > leases) v.fail(std::to_string(most) + " leases out at once");
  v.counters["holds"] += static_cast<std::int64_t>(holds.size());
  v.counters["full"] += most == leases;
  return v;
}

TEST(SimSemaphore, NeverMoreThanNLeasesUnderHarshFaults) {
  const auto [first, n] = seeds(1, 30);
  sweep("semaphore/harsh", first, n,
        [](std::uint64_t s) { return run_semaphore(s, sim::fault_config::harsh()); });
}

TEST(SimSemaphore, NeverMoreThanNLeasesWithLostReplies) {
  auto f = sim::fault_config::none();
  f.loss_after_per_million = 150'000;
  f.loss_before_per_million = 50'000;
  const auto [first, n] = seeds(1, 30);
  sweep("semaphore/lost-replies", first, n, [&](std::uint64_t s) { return run_semaphore(s, f); });
}

// ---- leader election and the singleton service -----------------------------------------------

verdict run_election(std::uint64_t seed, const sim::fault_config& faults) {
  sim_env env(seed, faults);
  constexpr int participants = 4;
  const std::int64_t fault_end = 8 * sim::seconds;
  const std::int64_t check_at = fault_end + 15 * sim::seconds;
  const std::int64_t end = check_at + 1 * sim::seconds;
  struct term {
    int who = 0;
    std::int64_t session = 0;
    std::int64_t token = 0;
    stamp from, to;
    bool ended = false;
  };
  std::vector<term> terms;
  std::set<std::int64_t> expired_sessions;
  fenced_store store;
  std::map<std::int64_t, std::int64_t> refused_by_token;  // token -> refused writes
  std::vector<std::stop_source> stops(participants);
  std::vector<r::singleton_service<coord>*> services(participants, nullptr);
  int leaders_at_check = -1;
  verdict v;
  env.faults_for(fault_end);
  env.w.at(check_at, [&] {
    leaders_at_check = 0;
    for (auto* s : services) leaders_at_check += s && s->is_leader();
  });
  env.w.at(end, [&] {
    for (auto& s : stops) s.request_stop();
  });
  for (int i = 0; i < participants; ++i) {
    env.w.spawn("participant/" + std::to_string(i), [&, i] {
      while (!stops[i].stop_requested()) {
        auto zk = sim::open(env.ens);
        std::optional<std::size_t> current;
        r::singleton_service<coord> svc(
            zk, "/app/leader",
            [&] {
              term t;
              t.who = i;
              t.session = zk->session_id();
              t.token = services[i]->token();
              t.from = env.now();
              current = terms.size();
              terms.push_back(t);
            },
            [&] {
              terms[*current].to = env.now();
              terms[*current].ended = true;
              current.reset();
            });
        services[i] = &svc;
        if (std::getenv("DSTM_RECIPES_DEBUG")) {
          zk->subscribe([&env, i, sid = zk->session_id()](dstm::session_state st) {
            std::fprintf(stderr, "t=%lld p%d session %llx state %d\n", (long long)env.w.now(), i,
                         (unsigned long long)sid, (int)st);
          });
        }
        // The leader's work: write to the fenced store while it leads.
        bool done = false;
        env.w.spawn("work/" + std::to_string(i), [&] {
          while (!done) {
            if (svc.is_leader()) {
              const auto tok = svc.token();
              if (auto val = store.read(tok); !val || !store.write(tok, *val + 1)) {
                ++refused_by_token[tok];
              }
            }
            env.w.sleep_for(5 * sim::milliseconds);
          }
        });
        try {
          svc.run(stops[i].get_token());
        } catch (const dstm::error& e) {
          if (!expired(e)) v.fail(std::string("participant: ") + e.what());
          expired_sessions.insert(zk->session_id());
        }
        if (zk->state() == dstm::session_state::expired) expired_sessions.insert(zk->session_id());
        done = true;
        env.w.sleep_for(10 * sim::milliseconds);  // let the worker see `done`
        services[i] = nullptr;
      }
    });
  }
  env.w.run();
  env.count_faults(v.counters);
  if (leaders_at_check != 1) {
    v.fail(std::to_string(leaders_at_check) + " leaders after the faults healed (want 1)");
  }
  // Terms of sessions that never expired overlap no other term; their writes were accepted.
  for (std::size_t a = 0; a < terms.size(); ++a) {
    const auto& t = terms[a];
    if (!t.ended) v.fail("a term never ended");
    if (expired_sessions.contains(t.session)) {
      ++v.counters["lost_terms"];
      continue;
    }
    if (refused_by_token.contains(t.token)) {
      v.fail("leader " + std::to_string(t.who) + " (token " + std::to_string(t.token) +
             ") kept its session yet the store refused it");
    }
    // A term whose session the server ended may overlap the next one (the nemesis expires
    // sessions at once, before their clients can hear of it): the fenced store covers it.
    for (std::size_t b = 0; b < terms.size(); ++b) {
      if (a == b || expired_sessions.contains(terms[b].session)) continue;
      const auto& u = terms[b];
      if (u.from < t.to && t.from < u.to) {
        v.fail("leaders " + std::to_string(t.who) + " and " + std::to_string(u.who) +
               " overlapped");
      }
    }
  }
  for (std::size_t a = 1; a < terms.size(); ++a) {
    if (terms[a].token <= terms[a - 1].token) v.fail("a later term had a smaller token");
  }
  if (std::getenv("DSTM_RECIPES_DEBUG")) {
    for (const auto& t : terms) {
      std::fprintf(stderr, "term who=%d session=%llx token=%lld from=%lld to=%lld expired=%d\n",
                   t.who, (unsigned long long)t.session, (long long)t.token, (long long)t.from.at,
                   (long long)t.to.at, (int)expired_sessions.contains(t.session));
    }
  }
  v.counters["terms"] += static_cast<std::int64_t>(terms.size());
  return v;
}

TEST(SimElection, OneLeaderAtATimeAndOneInTheEndUnderHarshFaults) {
  const auto [first, n] = seeds(1, 25);
  sweep("election/harsh", first, n,
        [](std::uint64_t s) { return run_election(s, sim::fault_config::harsh()); });
}

TEST(SimElection, OneLeaderAtATimeAndOneInTheEndUnderStandardFaults) {
  const auto [first, n] = seeds(100, 25);
  sweep("election/standard", first, n,
        [](std::uint64_t s) { return run_election(s, sim::fault_config::standard()); });
}

// ---- double barrier --------------------------------------------------------------------------

verdict run_double_barrier(std::uint64_t seed, const sim::fault_config& faults) {
  sim_env env(seed, faults);
  constexpr int n = 3, rounds = 6;
  std::vector<int> arrived(n, -1), departing(n, -1);
  verdict v;
  env.faults_for(5 * sim::seconds);
  for (int i = 0; i < n; ++i) {
    env.w.spawn("participant/" + std::to_string(i), [&, i] {
      auto rnd = env.w.stream("participant/" + std::to_string(i));
      auto zk = sim::open(env.ens);
      r::double_barrier<coord> b(zk, "/app/barrier", n);
      try {
        for (int k = 0; k < rounds; ++k) {
          env.w.sleep_for(rnd.between(0, 100) * sim::milliseconds);
          arrived[i] = k;
          if (!b.enter()) v.fail("enter gave up without a timeout");
          for (int q = 0; q < n; ++q) {
            if (arrived[q] < k) {
              v.fail("participant " + std::to_string(i) + " passed enter of round " +
                     std::to_string(k) + " before participant " + std::to_string(q) + " arrived");
            }
          }
          env.w.sleep_for(rnd.between(0, 100) * sim::milliseconds);
          departing[i] = k;
          if (!b.leave()) v.fail("leave gave up without a timeout");
          for (int q = 0; q < n; ++q) {
            if (departing[q] < k) {
              v.fail("participant " + std::to_string(i) + " passed leave of round " +
                     std::to_string(k) + " before participant " + std::to_string(q) + " left");
            }
          }
        }
      } catch (const std::exception& e) {
        v.fail(std::string("participant: ") + e.what());
      }
    });
  }
  env.w.run();
  env.count_faults(v.counters);
  return v;
}

TEST(SimDoubleBarrier, NeverReleasesEarlyUnderHarshFaultsWithoutExpiry) {
  const auto [first, n] = seeds(1, 30);
  sweep("double_barrier/harsh-no-expiry", first, n,
        [](std::uint64_t s) { return run_double_barrier(s, harsh_without_expiry()); });
}

TEST(SimDoubleBarrier, NeverReleasesEarlyWithLostReplies) {
  auto f = sim::fault_config::none();
  f.loss_after_per_million = 150'000;
  f.loss_before_per_million = 50'000;
  const auto [first, n] = seeds(1, 30);
  sweep("double_barrier/lost-replies", first, n,
        [&](std::uint64_t s) { return run_double_barrier(s, f); });
}

// A participant whose session ends is out: its node goes, so it does not count towards the
// barrier; the others are released only when a replacement enters.
TEST(SimDoubleBarrier, AnExpiredParticipantDoesNotCount) {
  sim_env env(5, sim::fault_config::none());
  int released = 0;
  bool replaced = false;
  std::int64_t victim = 0;
  auto participant = [&](std::int64_t delay) {
    return [&, delay] {
      env.w.sleep_for(delay);
      auto zk = sim::open(env.ens);
      r::double_barrier<coord> b(zk, "/app/b", 3);
      b.enter();
      ++released;
      EXPECT_TRUE(replaced) << "released while only two live participants were in";
      b.leave();
    };
  };
  env.w.spawn("p0", participant(0));
  env.w.spawn("victim", [&] {
    env.w.sleep_for(10 * sim::milliseconds);
    auto zk = sim::open(env.ens);
    victim = zk->session_id();
    r::double_barrier<coord> b(zk, "/app/b", 3);
    try {
      b.enter();
      ADD_FAILURE() << "entered although its session expired";
    } catch (const dstm::error& e) {
      EXPECT_TRUE(expired(e)) << e.what();
    }
  });
  env.w.spawn("expiry", [&] {
    env.w.sleep_for(500 * sim::milliseconds);
    env.ens.expire_session(victim);
  });
  env.w.spawn("p1", participant(1 * sim::seconds));
  env.w.spawn("replacement", [&] {
    env.w.sleep_for(3 * sim::seconds);
    EXPECT_EQ(released, 0);
    replaced = true;
    participant(0)();
  });
  env.w.run();
  EXPECT_EQ(released, 3);
}

// ---- counter ---------------------------------------------------------------------------------

verdict run_counter(std::uint64_t seed, const sim::fault_config& faults) {
  sim_env env(seed, faults);
  constexpr int workers = 4, adds = 15;
  std::int64_t ok = 0, maybe = 0;
  std::set<std::int64_t> posts;
  verdict v;
  env.faults_for(5 * sim::seconds);
  for (int i = 0; i < workers; ++i) {
    env.w.spawn("worker/" + std::to_string(i), [&, i] {
      auto rnd = env.w.stream("worker/" + std::to_string(i));
      int done = 0;
      while (done < adds) {
        auto zk = sim::open(env.ens);
        r::counter<coord> c(zk, "/app/counter");
        try {
          while (done < adds) {
            env.w.sleep_for(rnd.between(0, 30) * sim::milliseconds);
            ++done;
            const auto ch = c.add(1);
            ++ok;
            if (ch.post != ch.pre + 1) v.fail("an add changed the value by more than one");
            if (!posts.insert(ch.post).second) {
              v.fail("two adds both claim the change to " + std::to_string(ch.post));
            }
          }
        } catch (const dstm::error& e) {
          // Only an add that says so may or may not have been applied; session_expired means
          // it was not.
          if (e.code() == dstm::errc::commit_outcome_unknown) {
            ++maybe;
          } else if (!expired(e)) {
            v.fail(std::string("worker: ") + e.what());
          }
        }
      }
    });
  }
  env.w.run();
  std::int64_t final_value = -1;
  env.w.spawn("final", [&] {
    env.w.sleep_for(std::max<std::int64_t>(0, 6 * sim::seconds - env.w.now()));  // healed
    auto zk = sim::open(env.ens);
    r::counter<coord> c(zk, "/app/counter");
    final_value = c.value();
  });
  env.w.run();
  if (final_value < ok || final_value > ok + maybe) {
    v.fail("final value " + std::to_string(final_value) + " outside [" + std::to_string(ok) + ", " +
           std::to_string(ok + maybe) + "]");
  }
  env.count_faults(v.counters);
  v.counters["adds"] += ok;
  v.counters["unknown"] += maybe;
  return v;
}

TEST(SimCounter, EveryAddCountedExactlyOnceUnderHarshFaults) {
  const auto [first, n] = seeds(1, 30);
  sweep("counter/harsh", first, n,
        [](std::uint64_t s) { return run_counter(s, sim::fault_config::harsh()); });
}

TEST(SimCounter, EveryAddCountedExactlyOnceWithLostReplies) {
  auto f = sim::fault_config::none();
  f.loss_after_per_million = 200'000;
  f.loss_before_per_million = 50'000;
  const auto [first, n] = seeds(1, 30);
  sweep("counter/lost-replies", first, n, [&](std::uint64_t s) { return run_counter(s, f); });
}

// ---- queue -----------------------------------------------------------------------------------

verdict run_queue(std::uint64_t seed, const sim::fault_config& faults) {
  sim_env env(seed, faults);
  constexpr int producers = 2, consumers = 3, per_producer = 15;
  std::set<std::string> put_ok, put_maybe;
  std::map<std::string, int> acks;
  std::set<std::string> maybe_acked;
  int producers_done = 0;
  verdict v;
  env.faults_for(5 * sim::seconds);
  for (int p = 0; p < producers; ++p) {
    env.w.spawn("producer/" + std::to_string(p), [&, p] {
      auto rnd = env.w.stream("producer/" + std::to_string(p));
      int next = 0;
      while (next < per_producer) {
        auto zk = sim::open(env.ens);
        r::queue<coord> q(zk, "/app/queue");
        try {
          while (next < per_producer) {
            env.w.sleep_for(rnd.between(0, 50) * sim::milliseconds);
            const auto item = std::to_string(p) + ":" + std::to_string(next++);
            put_maybe.insert(item);
            q.put(item);
            put_maybe.erase(item);
            put_ok.insert(item);
          }
        } catch (const dstm::error& e) {
          if (!expired(e) && e.code() != dstm::errc::commit_outcome_unknown) {
            v.fail(std::string("producer: ") + e.what());
          }
        }
      }
      ++producers_done;
    });
  }
  for (int c = 0; c < consumers; ++c) {
    env.w.spawn("consumer/" + std::to_string(c), [&, c] {
      auto rnd = env.w.stream("consumer/" + std::to_string(c));
      // Until the producers are done and every item is acked (a claim of a session that is
      // about to expire blocks its item until the server ends that session).
      auto finished = [&](r::queue<coord>& q) {
        return producers_done == producers && q.size() == 0;
      };
      bool over = false;
      while (!over) {
        auto zk = sim::open(env.ens);
        r::queue<coord> q(zk, "/app/queue");
        try {
          while (!(over = finished(q))) {
            auto it = q.take(500 * sim::milliseconds);
            if (!it) continue;
            env.w.sleep_for(rnd.between(0, 20) * sim::milliseconds);
            if (rnd.one_in(10)) {
              it->release();  // gives it back: delivered again
              continue;
            }
            const auto data = it->data();
            try {
              it->ack();
            } catch (const dstm::error& e) {
              if (e.code() == dstm::errc::commit_outcome_unknown) maybe_acked.insert(data);
              throw;
            }
            ++acks[data];
          }
        } catch (const dstm::error& e) {
          if (!expired(e) && e.code() != dstm::errc::commit_outcome_unknown) {
            v.fail(std::string("consumer: ") + e.what());
          }
        }
      }
    });
  }
  env.w.run();
  for (const auto& item : put_ok) {
    const int n = acks.contains(item) ? acks[item] : 0;
    if (n > 1 || (n == 0 && !maybe_acked.contains(item))) {
      v.fail("item " + item + " acked " + std::to_string(n) + " times");
    }
  }
  for (const auto& [item, n] : acks) {
    if (!put_ok.contains(item) && !put_maybe.contains(item)) v.fail("acked a phantom " + item);
    if (put_maybe.contains(item) && n > 1) v.fail("item " + item + " acked twice");
  }
  env.count_faults(v.counters);
  v.counters["items"] += static_cast<std::int64_t>(put_ok.size());
  v.counters["unknown_acks"] += static_cast<std::int64_t>(maybe_acked.size());
  return v;
}

TEST(SimQueue, EveryItemAckedExactlyOnceUnderHarshFaults) {
  const auto [first, n] = seeds(1, 25);
  sweep("queue/harsh", first, n,
        [](std::uint64_t s) { return run_queue(s, sim::fault_config::harsh()); });
}

TEST(SimQueue, EveryItemAckedExactlyOnceWithLostReplies) {
  auto f = sim::fault_config::none();
  f.loss_after_per_million = 150'000;
  f.loss_before_per_million = 50'000;
  const auto [first, n] = seeds(1, 25);
  sweep("queue/lost-replies", first, n, [&](std::uint64_t s) { return run_queue(s, f); });
}

// ---- memoize ---------------------------------------------------------------------------------

verdict run_memoize(std::uint64_t seed, const sim::fault_config& faults, bool expect_once) {
  sim_env env(seed, faults);
  constexpr int workers = 4, calls = 12, domain = 4;
  std::map<int, int> computed;
  verdict v;
  env.faults_for(4 * sim::seconds);
  for (int i = 0; i < workers; ++i) {
    env.w.spawn("worker/" + std::to_string(i), [&, i] {
      auto rnd = env.w.stream("worker/" + std::to_string(i));
      int done = 0;
      while (done < calls) {
        auto zk = sim::open(env.ens);
        auto f = [&](int x) {
          ++computed[x];
          env.w.sleep_for(rnd.between(1, 50) * sim::milliseconds);
          return x * x + 1;
        };
        auto memo = r::memoize(zk, "/app/memo", f);
        try {
          while (done < calls) {
            const int x = static_cast<int>(rnd.below(domain));
            const int y = memo(x);
            ++done;
            if (y != x * x + 1) v.fail("memo(" + std::to_string(x) + ") = " + std::to_string(y));
          }
        } catch (const dstm::error& e) {
          if (!expired(e)) v.fail(std::string("worker: ") + e.what());
        }
      }
    });
  }
  env.w.run();
  for (const auto& [x, n] : computed) {
    if (expect_once && n != 1) {
      v.fail("f(" + std::to_string(x) + ") computed " + std::to_string(n) + " times");
    }
  }
  env.count_faults(v.counters);
  for (const auto& [x, n] : computed) v.counters["computations"] += n;
  return v;
}

TEST(SimMemoize, ComputedOnceWithLostRepliesAndCrashes) {
  auto f = harsh_without_expiry();
  f.name = "harsh-no-expiry";
  const auto [first, n] = seeds(1, 25);
  sweep("memoize/harsh-no-expiry", first, n,
        [&](std::uint64_t s) { return run_memoize(s, f, true); });
}

TEST(SimMemoize, AlwaysTheRightValueUnderHarshFaults) {
  const auto [first, n] = seeds(1, 25);
  sweep("memoize/harsh", first, n,
        [](std::uint64_t s) { return run_memoize(s, sim::fault_config::harsh(), false); });
}

}  // namespace
}  // namespace dstm_recipes_sim
