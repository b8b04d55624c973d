// The other recipes on the embedded coordinator: kazoo's semaphore, election, party, barrier,
// double barrier and counter scenarios, the singleton service, the queue and memoize, and the
// fault protections of each.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "dstm/recipes/all.hpp"
#include "support.hpp"

namespace dstm_recipes_test {
namespace {

namespace r = dstm::recipes;

r::semaphore_options sem_id(std::string id) {
  r::semaphore_options o;
  o.identifier = std::move(id);
  return o;
}

// ---- semaphore -------------------------------------------------------------------------------

TEST(Semaphore, BasicAndReacquire) {
  embedded_env env;
  r::semaphore sem(env.open(), "/sem/basic", 1);
  {
    auto lease = sem.acquire();
    EXPECT_TRUE(lease.is_valid());
    EXPECT_GT(lease.token(), 0);
  }
  auto again = sem.acquire();
  again.release();
  EXPECT_FALSE(again);
  EXPECT_TRUE(env.children("/sem/basic/leases").empty());
}

// kazoo test_lock_one
TEST(Semaphore, SecondWaitsForTheFirst) {
  embedded_env env;
  r::semaphore s1(env.open(), "/sem/one", 1), s2(env.open(), "/sem/one", 1);
  auto first = s1.acquire();
  std::atomic<bool> got{false};
  background t([&] {
    auto l = s2.acquire();
    got = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  first.release();
  t.join();
  EXPECT_TRUE(got.load());
}

// kazoo test_non_blocking and test_holders
TEST(Semaphore, NonBlockingAndHolders) {
  embedded_env env;
  r::semaphore s1(env.open(), "/sem/nb", 2, sem_id("sem1"));
  r::semaphore s2(env.open(), "/sem/nb", 2, sem_id("sem2"));
  r::semaphore s3(env.open(), "/sem/nb", 2, sem_id("sem3"));
  auto l1 = s1.acquire();
  auto l2 = s2.acquire();
  EXPECT_FALSE(s3.try_acquire());
  EXPECT_EQ(s1.holders(), (std::vector<std::string>{"sem1", "sem2"}));
  l2.release();
  auto l3 = s3.try_acquire();
  ASSERT_TRUE(l3);
  EXPECT_EQ(s1.holders(), (std::vector<std::string>{"sem1", "sem3"}));
  EXPECT_EQ(env.children("/sem/nb/leases").size(), 2u);
}

// kazoo test_multiple_acquire_and_release: one object, several leases.
TEST(Semaphore, SeveralLeasesFromOneObject) {
  embedded_env env;
  r::semaphore sem(env.open(), "/sem/multi", 2);
  auto a = sem.acquire();
  auto b = sem.acquire();
  EXPECT_FALSE(sem.try_acquire());
  a.release();
  EXPECT_TRUE(sem.try_acquire());
}

// kazoo test_semaphore_cancel and test_acquire_after_cancelled
TEST(Semaphore, CancelledAcquireLeavesNoLease) {
  embedded_env env;
  r::semaphore s1(env.open(), "/sem/cancel", 1, sem_id("fred"));
  r::semaphore s2(env.open(), "/sem/cancel", 1, sem_id("george"));
  auto held = s1.acquire();
  std::stop_source stop;
  std::atomic<bool> cancelled{false};
  background t([&] {
    try {
      auto l = s2.acquire(stop.get_token());
    } catch (const dstm::error& e) {
      cancelled = e.code() == std::errc::operation_canceled;
    }
  });
  ASSERT_TRUE(eventually([&] { return env.children("/sem/cancel/leases").size() == 2; }));
  EXPECT_EQ(s1.holders(), std::vector<std::string>{"fred"});
  stop.request_stop();
  t.join();
  EXPECT_TRUE(cancelled.load());
  EXPECT_EQ(env.children("/sem/cancel/leases").size(), 1u);
  held.release();
  EXPECT_TRUE(s2.try_acquire());  // usable after a cancellation
}

// kazoo test_timeout
TEST(Semaphore, TimeoutLeavesNoLease) {
  embedded_env env;
  r::semaphore s1(env.open(), "/sem/t", 1), s2(env.open(), "/sem/t", 1);
  auto held = s1.acquire();
  EXPECT_FALSE(s2.try_acquire_for(100ms));
  EXPECT_EQ(env.children("/sem/t/leases").size(), 1u);
}

// kazoo test_inconsistent_max_leases(_other_data)
TEST(Semaphore, InconsistentMaxLeases) {
  embedded_env env;
  r::semaphore s1(env.open(), "/sem/max", 1), s2(env.open(), "/sem/max", 2);
  auto l = s1.acquire();
  EXPECT_THROW(s2.acquire(), dstm::error);
  auto zk = env.open();
  zk->create("/sem/other", "a$");
  r::semaphore s3(zk, "/sem/other", 1), s4(zk, "/sem/other", 2);
  auto l3 = s3.acquire();
  EXPECT_TRUE(s4.try_acquire());  // the stored data is no number: each trusts its own
}

// kazoo test_handle_session_loss
TEST(Semaphore, LeaseOfAnExpiredSessionIsFreed) {
  embedded_env env;
  auto zk = env.open();
  std::atomic<int> lost{0};
  r::semaphore_options o;
  o.on_lost = [&] { ++lost; };
  r::semaphore holder(zk, "/sem/expire", 1, o);
  auto lease = holder.acquire();
  std::atomic<bool> got{false};
  background waiter([&] {
    r::semaphore s(env.open(), "/sem/expire", 1);
    auto l = s.acquire();
    got = true;
  });
  ASSERT_TRUE(eventually([&] { return env.children("/sem/expire/leases").size() == 2; }));
  env.store->expire(zk->session_id());
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_TRUE(eventually([&] { return lost.load() == 1; }));
  EXPECT_FALSE(lease.is_valid());
}

TEST(Semaphore, NeverMoreThanNHolders) {
  embedded_env env;
  std::atomic<int> inside{0}, max_inside{0};
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int t = 0; t < 8; ++t) {
      ts.push_back(std::make_unique<background>([&] {
        r::semaphore sem(env.open(), "/sem/n", 3);
        for (int i = 0; i < 10; ++i) {
          auto l = sem.acquire();
          const int now = ++inside;
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(1ms);
          --inside;
        }
      }));
    }
  }
  EXPECT_EQ(max_inside.load(), 3);
  EXPECT_TRUE(env.children("/sem/n/leases").empty());
}

TEST(SemaphoreFaults, LostLeaseCreateReplyMakesOneLease) {
  embedded_env env;
  auto zk = env.open_faulty();
  zk->inject({fault_op::create, "/sem/lost/leases/", true, 1, {}});
  r::semaphore sem(zk, "/sem/lost", 2);
  auto l = sem.acquire();
  EXPECT_EQ(zk->applied(fault_op::create, "/sem/lost/leases/"), 1u) << "a second lease";
  EXPECT_EQ(env.children("/sem/lost/leases").size(), 1u);
  l.release();
  EXPECT_TRUE(env.children("/sem/lost/leases").empty());
}

// ---- leader election (kazoo test_election) --------------------------------------------------

TEST(Election, OrderCancelExitAndException) {
  embedded_env env;
  std::mutex m;
  std::string leader;
  std::map<std::string, std::unique_ptr<std::atomic<bool>>> exit;
  std::map<std::string, std::unique_ptr<std::atomic<bool>>> raise;
  std::map<std::string, std::stop_source> cancel;
  std::map<std::string, std::unique_ptr<background>> threads;
  std::map<std::string, std::string> outcome;
  auto spawn = [&](const std::string& name) {
    exit[name] = std::make_unique<std::atomic<bool>>(false);
    raise[name] = std::make_unique<std::atomic<bool>>(false);
    cancel[name] = std::stop_source{};
    auto token = cancel[name].get_token();
    threads[name] = std::make_unique<background>([&, name, token] {
      r::election_options o;
      o.identifier = name;
      r::leader_election e(env.open(), "/election", o);
      try {
        e.run(
            [&](std::stop_token) {
              {
                std::lock_guard lock(m);
                leader = name;
              }
              while (!exit[name]->load()) std::this_thread::sleep_for(1ms);
              {
                std::lock_guard lock(m);
                leader.clear();
              }
              if (raise[name]->load()) throw std::runtime_error("leader failed");
            },
            token);
        std::lock_guard lock(m);
        outcome[name] = "done";
      } catch (const std::runtime_error& e) {
        std::lock_guard lock(m);
        outcome[name] = e.what();
      }
    });
  };
  auto current = [&] {
    std::lock_guard lock(m);
    return leader;
  };
  r::leader_election observer(env.open(), "/election");
  for (const char* n : {"c0", "c1", "c2"}) {
    spawn(n);
    ASSERT_TRUE(eventually([&] {
      const auto c = observer.contenders();
      return !c.empty() && c.back() == n;
    }));
  }
  ASSERT_TRUE(eventually([&] { return current() == "c0"; }));
  EXPECT_EQ(observer.contenders(), (std::vector<std::string>{"c0", "c1", "c2"}));
  // The second cancels and is never elected; the leader exits; the third is elected.
  cancel["c1"].request_stop();
  threads["c1"]->join();
  exit["c0"]->store(true);
  ASSERT_TRUE(eventually([&] { return current() == "c2"; }));
  threads["c0"]->join();
  // The first runs again and queues after the third.
  exit["c0"]->store(false);
  spawn("c0");
  ASSERT_TRUE(eventually([&] { return observer.contenders().size() == 2; }));
  // The leader fails: the first is elected, the exception reaches the failed leader's caller.
  raise["c2"]->store(true);
  exit["c2"]->store(true);
  ASSERT_TRUE(eventually([&] { return current() == "c0"; }));
  exit["c0"]->store(true);
  threads.clear();
  EXPECT_EQ(outcome["c2"], "leader failed");
  EXPECT_EQ(outcome["c0"], "done");
  EXPECT_TRUE(env.children("/election").empty());
}

TEST(Election, LeadershipIsLostWithTheSession) {
  embedded_env env;
  auto zk = env.open();
  r::leader_election e(zk, "/election/lost");
  std::atomic<bool> leading{false}, noticed{false};
  background leader([&] {
    try {
      e.run([&](std::stop_token lost) {
        leading = true;
        while (!lost.stop_requested()) std::this_thread::sleep_for(1ms);
        noticed = true;
      });
    } catch (...) {
    }
  });
  ASSERT_TRUE(eventually([&] { return leading.load(); }));
  EXPECT_TRUE(e.is_leader());
  EXPECT_GT(e.token(), 0);
  std::atomic<bool> second{false};
  background other([&] {
    r::leader_election e2(env.open(), "/election/lost");
    e2.run([&] { second = true; });
  });
  env.store->expire(zk->session_id());
  leader.join();
  EXPECT_TRUE(noticed.load());
  EXPECT_FALSE(e.is_leader());
  other.join();
  EXPECT_TRUE(second.load());
}

// ---- singleton service -----------------------------------------------------------------------

// The leader's session ends the way ZooKeeper ends it: the client hears of it (here: its
// reconnecting wrapper switches to a new session) before the server removes its node (here:
// the old session is closed afterwards). At no moment do two members run the service.
TEST(SingletonService, RunsOnOneMemberAndFailsOver) {
  embedded_env env;
  struct member {
    std::shared_ptr<faulty_embedded> zk;
    std::atomic<int> starts{0}, stops{0};
    std::atomic<bool> running{false};
    std::stop_source stop;
    std::unique_ptr<background> thread;
    // A failed assertion returns early: stop the member before joining its thread, so the
    // failure is reported instead of hanging the test.
    ~member() { stop.request_stop(); }
  };
  std::atomic<int> running_now{0}, max_running{0};
  std::mutex tokens_mutex;
  std::vector<std::int64_t> tokens;
  std::vector<std::unique_ptr<member>> members;  // last: its threads use everything above
  for (int i = 0; i < 3; ++i) {
    auto m = std::make_unique<member>();
    m->zk = env.open_faulty();
    auto* p = m.get();
    m->thread = std::make_unique<background>([&, p] {
      std::unique_ptr<r::singleton_service<faulty_embedded>> svc;
      svc = std::make_unique<r::singleton_service<faulty_embedded>>(
          p->zk, "/services/one",
          [&, p] {
            ++p->starts;
            p->running = true;
            const int now = ++running_now;
            int seen = max_running.load();
            while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
            }
            std::lock_guard lock(tokens_mutex);
            tokens.push_back(svc->token());
          },
          [&, p] {
            ++p->stops;
            p->running = false;
            --running_now;
          });
      try {
        svc->run(p->stop.get_token());
      } catch (const dstm::error&) {
        // the session ended
      }
    });
    members.push_back(std::move(m));
  }
  auto runner = [&]() -> member* {
    for (auto& m : members) {
      if (m->running) return m.get();
    }
    return nullptr;
  };
  ASSERT_TRUE(eventually([&] { return runner() != nullptr; }));
  // All three queued before the leader's session is replaced: otherwise the old leader may
  // queue again, with its new session, ahead of a member still starting, and win again.
  ASSERT_TRUE(eventually([&] { return env.children("/services/one").size() == 3; }));
  auto* first = runner();
  auto old = first->zk->replace_session();
  ASSERT_TRUE(eventually([&] { return first->stops.load() == 1; }));
  old->close();
  ASSERT_TRUE(eventually([&] { return runner() != nullptr && runner() != first; })) << [&] {
    std::string why;
    for (auto& m : members) {
      why += (m.get() == first ? "first" : "other") + std::string(": starts ") +
             std::to_string(m->starts) + ", stops " + std::to_string(m->stops) +
             (m->running ? ", running" : "") + "\n";
    }
    return why;
  }();
  auto* second = runner();
  // Stopped on purpose: the service moves on.
  second->stop.request_stop();
  ASSERT_TRUE(eventually([&] { return runner() != nullptr && runner() != second; }));
  for (auto& m : members) m->stop.request_stop();
  for (auto& m : members) m->thread.reset();
  EXPECT_EQ(max_running.load(), 1);
  EXPECT_EQ(running_now.load(), 0);
  for (auto& m : members) EXPECT_EQ(m->starts.load(), m->stops.load());
  for (std::size_t i = 1; i < tokens.size(); ++i) EXPECT_LT(tokens[i - 1], tokens[i]);
}

// An instant server-side expiry (an operator's kill): the old leader stops as soon as it hears,
// and the new leader's token is larger, so a store that checks tokens refuses the old one.
TEST(SingletonService, InstantExpiryFailsOverWithALargerToken) {
  embedded_env env;
  auto a = env.open();
  std::atomic<std::int64_t> token_a{0}, token_b{0};
  std::atomic<bool> a_stopped{false};
  std::stop_source stop;
  background ta([&] {
    r::singleton_service<embedded_coordinator>* self = nullptr;
    r::singleton_service svc(
        a, "/services/instant", [&] { token_a = self->token(); }, [&] { a_stopped = true; });
    self = &svc;
    try {
      svc.run(stop.get_token());
    } catch (const dstm::error&) {
    }
  });
  ASSERT_TRUE(eventually([&] { return token_a.load() != 0; }));
  background tb([&] {
    r::singleton_service<embedded_coordinator>* self = nullptr;
    r::singleton_service svc(
        env.open(), "/services/instant", [&] { token_b = self->token(); }, [] {});
    self = &svc;
    svc.run(stop.get_token());
  });
  env.store->expire(a->session_id());
  ASSERT_TRUE(eventually([&] { return a_stopped.load() && token_b.load() != 0; }));
  EXPECT_GT(token_b.load(), token_a.load());
  stop.request_stop();
}

// Leadership is given up on suspension: simulated with the faulty wrapper's session events.
TEST(SingletonService, SuspensionStopsTheService) {
  embedded_env env;
  auto zk = env.open_faulty();
  std::atomic<int> starts{0}, stops{0};
  std::stop_source stop;
  background t([&] {
    r::singleton_service svc(
        zk, "/services/suspend", [&] { ++starts; }, [&] { ++stops; });
    try {
      svc.run(stop.get_token());
    } catch (const dstm::error&) {
    }
  });
  ASSERT_TRUE(eventually([&] { return starts.load() == 1; }));
  // A new session (the old one lives on): listeners see expired then connected.
  auto old = zk->replace_session();
  ASSERT_TRUE(eventually([&] { return stops.load() == 1; }));
  stop.request_stop();
  t.join();
  old->close();
}

// ---- group (kazoo's party tests) -------------------------------------------------------------

TEST(Group, JoinLeaveAndMembers) {
  embedded_env env;
  std::vector<std::unique_ptr<r::group<embedded_coordinator>>> parties;
  for (int i = 0; i < 5; ++i) {
    parties.push_back(std::make_unique<r::group<embedded_coordinator>>(
        env.open(), "/party", "p" + std::to_string(i), "data" + std::to_string(i)));
  }
  EXPECT_TRUE(parties[0]->members().empty());
  std::set<std::string> expected;
  for (auto& p : parties) {
    p->join();
    EXPECT_TRUE(p->is_member());
    expected.insert(p->member());
    auto m = p->members();
    EXPECT_EQ(std::set<std::string>(m.begin(), m.end()), expected);
  }
  EXPECT_EQ(parties[0]->members_with_data().at("p3"), "data3");
  for (auto& p : parties) {
    p->leave();
    EXPECT_FALSE(p->is_member());
    expected.erase(p->member());
    auto m = p->members();
    EXPECT_EQ(std::set<std::string>(m.begin(), m.end()), expected);
  }
}

// kazoo test_party_reuse_node / test_party_vanishing_node
TEST(Group, RejoinAndVanishingNode) {
  embedded_env env;
  auto zk = env.open();
  r::group g(zk, "/party2", "p1");
  g.join();
  g.join();  // twice: still one node
  EXPECT_EQ(g.members(), std::vector<std::string>{"p1"});
  env.open()->remove("/party2/p1");
  g.leave();  // gone already: fine
  EXPECT_FALSE(g.is_member());
  g.join();
  EXPECT_EQ(g.members(), std::vector<std::string>{"p1"});
  g.leave();
  EXPECT_TRUE(g.members().empty());
}

TEST(Group, MemberIdHeldByAnotherSession) {
  embedded_env env;
  auto a = env.open();
  r::group ga(a, "/party3", "same");
  ga.join();
  r::group gb(env.open(), "/party3", "same");
  EXPECT_THROW(gb.join(), dstm::error);
  // With a timeout, it waits for the other session to go, then joins.
  background later([&] {
    std::this_thread::sleep_for(30ms);
    env.store->expire(a->session_id());
  });
  gb.join(2'000'000'000);
  EXPECT_TRUE(gb.is_member());
}

TEST(Group, WatchSeesEveryChange) {
  embedded_env env;
  r::group observer(env.open(), "/party4", "observer");
  std::mutex m;
  std::vector<std::vector<std::string>> seen;
  observer.watch([&](const std::vector<std::string>& members) {
    std::lock_guard lock(m);
    seen.push_back(members);
  });
  auto size = [&] {
    std::lock_guard lock(m);
    return seen.size();
  };
  ASSERT_TRUE(eventually([&] { return size() == 1; }));
  r::group a(env.open(), "/party4", "a"), b(env.open(), "/party4", "b");
  a.join();
  ASSERT_TRUE(eventually([&] { return size() == 2; }));
  b.join();
  ASSERT_TRUE(eventually([&] { return size() == 3; }));
  a.leave();
  ASSERT_TRUE(eventually([&] { return size() == 4; }));
  std::lock_guard lock(m);
  EXPECT_EQ(seen.back(), std::vector<std::string>{"b"});
  EXPECT_EQ(observer.wait_for_change({}, 0), std::vector<std::string>{"b"});
}

TEST(GroupFaults, LostJoinReplyIsFoundAndPreviousSessionNodeIsNotTaken) {
  embedded_env env;
  auto zk = env.open_faulty();
  zk->inject({fault_op::create, "/party5/me", true, 1, {}});
  r::group g(zk, "/party5", "me");
  g.join();
  EXPECT_TRUE(g.is_member());
  // The session is replaced; the old one still holds "me": joining again must not take its
  // node (it vanishes whenever the old session times out).
  auto old = zk->replace_session();
  r::group again(zk, "/party5", "me");
  EXPECT_THROW(again.join(), dstm::error);
  old->close();
  again.join();
  EXPECT_EQ(env.open()->exists("/party5/me")->ephemeral_owner, zk->session_id());
}

// ---- barrier (kazoo's barrier tests) ---------------------------------------------------------

TEST(Barrier, RaiseWaitLower) {
  embedded_env env;
  r::barrier b(env.open(), "/some/path");
  EXPECT_TRUE(b.wait());    // not up
  EXPECT_FALSE(b.lower());  // nothing to lower
  b.raise();
  EXPECT_FALSE(b.wait(0));
  std::atomic<bool> passed{false};
  background t([&] {
    r::barrier other(env.open(), "/some/path");
    passed = other.wait();
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(passed.load());
  EXPECT_TRUE(b.lower());
  t.join();
  EXPECT_TRUE(passed.load());
}

// ---- double barrier (kazoo's double barrier tests) -------------------------------------------

TEST(DoubleBarrier, OneParticipant) {
  embedded_env env;
  r::double_barrier b(env.open(), "/db/one", 1);
  EXPECT_FALSE(b.participating());
  EXPECT_TRUE(b.enter());
  EXPECT_TRUE(b.participating());
  EXPECT_TRUE(b.leave());
  EXPECT_FALSE(b.participating());
  EXPECT_TRUE(env.children("/db/one").empty());
}

TEST(DoubleBarrier, ThreeParticipantsEnterAndLeaveTogether) {
  embedded_env env;
  constexpr int n = 3;
  std::atomic<int> entered{0}, left{0}, arrived{0}, leaving{0};
  std::atomic<bool> early_enter{false}, early_leave{false};
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int i = 0; i < n; ++i) {
      ts.push_back(std::make_unique<background>([&, i] {
        r::double_barrier b(env.open(), "/db/three", n);
        std::this_thread::sleep_for(std::chrono::milliseconds(20 * i));
        ++arrived;
        EXPECT_TRUE(b.enter());
        if (arrived.load() < n) early_enter = true;
        ++entered;
        std::this_thread::sleep_for(std::chrono::milliseconds(20 * (n - i)));
        ++leaving;
        EXPECT_TRUE(b.leave());
        if (leaving.load() < n) early_leave = true;
        ++left;
      }));
    }
  }
  EXPECT_EQ(entered.load(), n);
  EXPECT_EQ(left.load(), n);
  EXPECT_FALSE(early_enter.load());
  EXPECT_FALSE(early_leave.load());
  EXPECT_TRUE(env.children("/db/three").empty());
}

TEST(DoubleBarrier, RoundAfterRoundOnOnePath) {
  embedded_env env;
  constexpr int n = 2, rounds = 5;
  std::atomic<int> in_round[rounds] = {};
  std::atomic<bool> early{false};
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int i = 0; i < n; ++i) {
      ts.push_back(std::make_unique<background>([&] {
        r::double_barrier b(env.open(), "/db/rounds", n);
        for (int k = 0; k < rounds; ++k) {
          ++in_round[k];
          b.enter();
          if (in_round[k].load() < n) early = true;
          b.leave();
        }
      }));
    }
  }
  EXPECT_FALSE(early.load());
}

TEST(DoubleBarrier, NotEnoughParticipantsTimesOutAndLeavesNoNode) {
  embedded_env env;
  r::double_barrier a(env.open(), "/db/short", 3), b(env.open(), "/db/short", 3);
  std::atomic<bool> entered{false};
  background t([&] { entered = a.enter(200'000'000); });
  EXPECT_FALSE(b.enter(100'000'000));
  t.join();
  EXPECT_FALSE(entered.load());
  EXPECT_TRUE(env.children("/db/short").empty());
}

// kazoo test_barrier_existing_parent_node
TEST(DoubleBarrier, ParentIsEphemeral) {
  embedded_env env;
  auto zk = env.open();
  zk->create("/dbe", "", dstm::create_mode::ephemeral);
  r::double_barrier b(zk, "/dbe/path", 1);
  EXPECT_THROW(b.enter(), dstm::error);
  EXPECT_FALSE(b.participating());
}

TEST(DoubleBarrierFaults, LostMemberCreateReplyMakesOneNode) {
  embedded_env env;
  auto zk = env.open_faulty();
  zk->inject({fault_op::create, "/db/lost/member-", true, 1, {}});
  r::double_barrier a(zk, "/db/lost", 2);
  r::double_barrier b(env.open(), "/db/lost", 2);
  std::atomic<bool> counted{false};
  background t([&] {
    EXPECT_TRUE(b.enter(5'000'000'000));
    while (!counted.load()) std::this_thread::sleep_for(1ms);
    b.leave(5'000'000'000);
  });
  EXPECT_TRUE(a.enter(5'000'000'000));
  std::size_t members = 0;
  for (const auto& k : env.children("/db/lost")) members += k.starts_with("member-");
  EXPECT_EQ(zk->applied(fault_op::create, "/db/lost/member-"), 1u) << "a second member node";
  EXPECT_EQ(members, 2u) << "a lost create left a second member node (or none)";
  counted = true;
  // A second node of ours would never leave: bounded, so that it fails instead of hanging.
  EXPECT_TRUE(a.leave(5'000'000'000));
  t.join();
}

// ---- counter (kazoo's counter tests) ---------------------------------------------------------

TEST(Counter, AddSubtractPrePost) {
  embedded_env env;
  r::counter c(env.open(), "/counter/a");
  EXPECT_EQ(c.value(), 0);
  c += 2;
  EXPECT_EQ(c.add(1), (r::counter_change{2, 3}));
  EXPECT_EQ(c.value(), 3);
  c -= 3;
  auto ch = c.add(-1);
  EXPECT_EQ(ch.pre, 0);
  EXPECT_EQ(ch.post, -1);
  c += 1;
  c += 2147483647;
  EXPECT_EQ(c.value(), 2147483647);
  c -= 2147483647;
  c -= 2147483647;
  EXPECT_EQ(c.value(), -2147483647);
  r::counter d(env.open(), "/counter/b", 10);
  EXPECT_EQ(d.value(), 10);
}

TEST(Counter, BadDataIsAnError) {
  embedded_env env;
  auto zk = env.open();
  zk->create("/counter-bad", "a$");
  r::counter c(zk, "/counter-bad");
  EXPECT_THROW(c.value(), dstm::error);
}

TEST(Counter, ConcurrentAddsAreAllCounted) {
  embedded_env env;
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int t = 0; t < 6; ++t) {
      ts.push_back(std::make_unique<background>([&] {
        r::counter c(env.open(), "/counter/c");
        for (int i = 0; i < 50; ++i) c += 1;
      }));
    }
  }
  r::counter c(env.open(), "/counter/c");
  EXPECT_EQ(c.value(), 300);
}

// A write applied whose reply was lost is counted once, not twice.
TEST(CounterFaults, LostReplyIsCountedOnce) {
  embedded_env env;
  auto zk = env.open_faulty();
  r::counter c(zk, "/counter/lost");
  c += 1;
  zk->inject({fault_op::set, "/counter/lost", true, 1, {}});
  EXPECT_EQ(c.add(5), (r::counter_change{1, 6}));
  EXPECT_EQ(c.value(), 6);
  zk->inject({fault_op::set, "/counter/lost", false, 2, {}});  // not applied: retried
  EXPECT_EQ(c.add(1), (r::counter_change{6, 7}));
  EXPECT_EQ(c.value(), 7);
}

// ---- queue -----------------------------------------------------------------------------------

TEST(Queue, FifoAndAck) {
  embedded_env env;
  r::queue q(env.open(), "/queue/a");
  for (int i = 0; i < 5; ++i) q.put("job" + std::to_string(i));
  EXPECT_EQ(q.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    auto it = q.take();
    ASSERT_TRUE(it);
    EXPECT_EQ(it->data(), "job" + std::to_string(i));
    it->ack();
  }
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.try_take());
}

TEST(Queue, UnackedItemIsDeliveredAgain) {
  embedded_env env;
  r::queue q(env.open(), "/queue/b");
  q.put("x");
  {
    auto it = q.take();
    ASSERT_TRUE(it);
    r::queue other(env.open(), "/queue/b");
    EXPECT_FALSE(other.try_take());  // claimed
  }                                  // released without ack
  auto again = q.take(0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), "x");
  again->ack();
}

TEST(Queue, ConsumerWhoseSessionEndsLosesItsItem) {
  embedded_env env;
  auto zk = env.open();
  r::queue q(zk, "/queue/c");
  q.put("y");
  auto it = q.take();
  ASSERT_TRUE(it);
  env.store->expire(zk->session_id());
  EXPECT_FALSE(it->is_valid());
  EXPECT_THROW(it->ack(), dstm::error);
  r::queue other(env.open(), "/queue/c");
  auto again = other.take(1'000'000'000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), "y");
  again->ack();
}

TEST(Queue, TakeWaitsForAPut) {
  embedded_env env;
  r::queue q(env.open(), "/queue/d");
  std::string got;
  background t([&] {
    r::queue consumer(env.open(), "/queue/d");
    auto it = consumer.take();
    got = it->data();
    it->ack();
  });
  std::this_thread::sleep_for(20ms);
  q.put("late");
  t.join();
  EXPECT_EQ(got, "late");
}

TEST(Queue, ConsumersShareTheWorkAndEveryItemIsAckedOnce) {
  embedded_env env;
  r::queue producer(env.open(), "/queue/e");
  constexpr int items = 60;
  for (int i = 0; i < items; ++i) producer.put(std::to_string(i));
  std::mutex m;
  std::multiset<std::string> acked;
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int t = 0; t < 4; ++t) {
      ts.push_back(std::make_unique<background>([&] {
        r::queue q(env.open(), "/queue/e");
        while (auto it = q.take(50'000'000)) {
          it->ack();
          std::lock_guard lock(m);
          acked.insert(it->data());
        }
      }));
    }
  }
  EXPECT_EQ(acked.size(), std::size_t(items));
  EXPECT_EQ(std::set<std::string>(acked.begin(), acked.end()).size(), std::size_t(items));
}

TEST(QueueFaults, LostPutReplyMakesExactlyOneItem) {
  embedded_env env;
  auto zk = env.open_faulty();
  r::queue q(zk, "/queue/f");
  q.put("warm");                                                  // creates the directories
  zk->inject({fault_op::multi, "/queue/f/items/", true, 1, {}});  // a put is one multi
  q.put("once");
  EXPECT_EQ(zk->pending_faults(), 0u);
  EXPECT_EQ(q.size(), 2u);
}

TEST(QueueFaults, LostClaimReplyIsOurs) {
  embedded_env env;
  auto zk = env.open_faulty();
  r::queue q(zk, "/queue/g");
  q.put("z");
  // A claim is a multi (check the item, create the claim).
  zk->inject({fault_op::multi, "/queue/g/items/", true, 1, {}});
  auto it = q.take(0);
  EXPECT_EQ(zk->pending_faults(), 0u);
  ASSERT_TRUE(it);
  EXPECT_EQ(it->data(), "z");
  it->ack();
  EXPECT_EQ(q.size(), 0u);
  EXPECT_TRUE(env.children("/queue/g/claims").empty());
}

// ---- memoize ---------------------------------------------------------------------------------

TEST(Memoize, ComputedOnceAcrossClients) {
  embedded_env env;
  std::atomic<int> calls{0};
  auto square = [&](int x) {
    ++calls;
    return x * x;
  };
  auto m1 = r::memoize(env.open(), "/memo/sq", square);
  auto m2 = r::memoize(env.open(), "/memo/sq", square);
  EXPECT_EQ(m1(7), 49);
  EXPECT_EQ(m2(7), 49);
  EXPECT_EQ(m1(8), 64);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_TRUE(m2.forget(7));
  EXPECT_EQ(m2(7), 49);
  EXPECT_EQ(calls.load(), 3);
}

TEST(Memoize, SecondCallerWaitsForTheFirst) {
  embedded_env env;
  std::atomic<int> calls{0};
  auto slow = [&](const std::string& s) {
    ++calls;
    std::this_thread::sleep_for(100ms);
    return s + s;
  };
  std::vector<std::string> results(5);
  {
    std::vector<std::unique_ptr<background>> ts;
    for (int i = 0; i < 5; ++i) {
      ts.push_back(std::make_unique<background>([&, i] {
        auto m = r::memoize(env.open(), "/memo/slow", slow);
        results[static_cast<std::size_t>(i)] = m(std::string("ab"));
      }));
    }
  }
  EXPECT_EQ(calls.load(), 1);
  for (const auto& s : results) EXPECT_EQ(s, "abab");
}

TEST(Memoize, AFailedComputationIsTakenOverByAWaiter) {
  embedded_env env;
  std::atomic<int> calls{0};
  auto flaky = [&](int x) {
    if (++calls == 1) {
      std::this_thread::sleep_for(50ms);
      throw std::runtime_error("first try fails");
    }
    return x + 1;
  };
  auto m1 = r::memoize(env.open(), "/memo/flaky", flaky);
  auto m2 = r::memoize(env.open(), "/memo/flaky", flaky);
  int second = 0;
  background t([&] {
    std::this_thread::sleep_for(10ms);
    second = m2(1);
  });
  EXPECT_THROW(m1(1), std::runtime_error);
  t.join();
  EXPECT_EQ(second, 2);
  EXPECT_EQ(calls.load(), 2);
}

TEST(Memoize, AComputingClientThatDiesIsTakenOverByAWaiter) {
  embedded_env env;
  auto dying = env.open();
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  auto hang = [&](int x) {
    started = true;
    while (!release.load()) std::this_thread::sleep_for(1ms);
    return x;
  };
  background first([&] {
    auto m = r::memoize(dying, "/memo/dies", hang);
    try {
      m(3);
    } catch (...) {
    }
  });
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  int got = 0;
  background second([&] {
    auto m = r::memoize(env.open(), "/memo/dies", [](int x) { return x * 10; });
    got = m(3);
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(got, 0);  // waiting for the first
  env.store->expire(dying->session_id());
  second.join();
  EXPECT_EQ(got, 30);
  release = true;
}

TEST(MemoizeFaults, LostMarkerReplyIsRecognisedAsOurs) {
  embedded_env env;
  auto zk = env.open_faulty();
  std::atomic<int> calls{0};
  auto m = r::memoize(zk, "/memo/lost", [&](int x) {
    ++calls;
    return -x;
  });
  zk->inject({fault_op::create, "/memo/lost/", true, 1, {}});
  std::atomic<int> result{0};
  background t([&] {
    try {
      result = m(4);
    } catch (...) {
      result = 1;
    }
  });
  const bool done = eventually([&] { return result.load() != 0; }, 3s);
  EXPECT_TRUE(done) << "waited for its own marker";
  if (!done) env.store->expire(zk->inner()->session_id());  // ends the wait
  t.join();
  EXPECT_EQ(result.load(), -4);
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace dstm_recipes_test
