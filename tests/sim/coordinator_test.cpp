// sim::coordinator against the simulated ensemble: the operations, watches and session
// events, and each fault doing what it says.
#include "dstm/sim/coordinator.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/world.hpp"

namespace sim = dstm::sim;
using dstm::coordinator_errc;
using dstm::create_mode;

static_assert(dstm::coordinator<sim::coordinator>);

namespace {

/// A world with an ensemble; `run` executes `body` as a simulated thread to completion.
struct simulation {
  explicit simulation(std::uint64_t seed = 1, sim::ensemble_options o = {})
      : w(seed), ens(w, std::move(o)) {}
  void run(std::function<void()> body) {
    w.spawn("test", std::move(body));
    w.run();
  }
  sim::world w;
  sim::ensemble ens;
};

sim::coordinator_options pinned(int server, std::int64_t timeout = 0) {
  sim::coordinator_options o;
  o.server = server;
  o.session_timeout_ns = timeout;
  return o;
}

}  // namespace

TEST(SimCoordinator, OperationsBehaveLikeZooKeeper) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens);
    EXPECT_EQ(c.create("/a", "1"), "/a");
    EXPECT_EQ(c.create("/a/s-", "", create_mode::persistent_sequential), "/a/s-0000000000");
    EXPECT_EQ(c.create("/a/s-", "", create_mode::persistent_sequential), "/a/s-0000000001");
    std::error_code ec;
    c.create("/a", "x", create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::node_exists);
    auto n = c.get("/a");
    EXPECT_EQ(n.data, "1");
    EXPECT_EQ(n.stat.num_children, 2);
    EXPECT_EQ(c.set("/a", "2", 0).version, 1);
    c.set("/a", "3", 0, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    EXPECT_FALSE(c.exists("/nope").has_value());
    auto kids = c.children("/a").names;
    EXPECT_EQ(kids.size(), 2u);
    std::vector<dstm::op> ops{dstm::op::create("/b", "b"), dstm::op::set("/b", "bb", 0),
                              dstm::op::check("/a", 1)};
    auto rs = c.multi(ops);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].path, "/b");
    EXPECT_EQ(c.get("/b").data, "bb");
    std::vector<dstm::op> bad{dstm::op::set("/b", "x"), dstm::op::check("/a", 7)};
    rs = c.multi(bad, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    EXPECT_EQ(rs[1].ec, coordinator_errc::bad_version);
    EXPECT_EQ(c.get("/b").data, "bb");  // all or nothing
    const std::vector<std::string> paths{"/a", "/missing", "/b"};
    auto many = c.get_many(paths);
    ASSERT_EQ(many.size(), 3u);
    EXPECT_EQ(many[0].node.data, "2");
    EXPECT_EQ(many[1].ec, coordinator_errc::no_node);
    EXPECT_EQ(many[2].node.data, "bb");
    c.add_auth("digest", "alice:secret");
    c.create("/private", "p", create_mode::persistent, dstm::creator_all_acl());
    sim::coordinator other(s.ens);
    other.get("/private", {}, ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
    c.get("bad path", {}, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    c.remove("/a/s-0000000000");
    c.sync("/");
    c.close();
    c.get("/a", {}, ec);
    EXPECT_EQ(ec, coordinator_errc::closing);
  });
}

TEST(SimCoordinator, EphemeralsGoWithTheClosedSession) {
  simulation s;
  s.run([&] {
    auto owner = std::make_unique<sim::coordinator>(s.ens);
    sim::coordinator other(s.ens);
    owner->create("/e", "", create_mode::ephemeral);
    EXPECT_TRUE(other.exists("/e").has_value());
    owner->close();
    other.sync("/");
    EXPECT_FALSE(other.exists("/e").has_value());
  });
}

TEST(SimCoordinator, InOrderWatchRunsBeforeALaterReplyOfTheSession) {
  simulation s;
  s.run([&] {
    sim::coordinator reader(s.ens), writer(s.ens);
    writer.create("/w", "0");
    bool invalidated = false;
    reader.get("/w", dstm::watch{[&](const dstm::watch_event& e) {
                                   EXPECT_EQ(e.type, dstm::event_type::changed);
                                   invalidated = true;
                                 },
                                 true});
    writer.set("/w", "1");
    // The first reply showing the new data must come after the watch ran.
    for (;;) {
      const auto n = reader.get("/w");
      if (n.data == "1") {
        EXPECT_TRUE(invalidated);
        break;
      }
      EXPECT_FALSE(invalidated);
    }
  });
}

TEST(SimCoordinator, PlainWatchesAndListenersRunOnADispatcherThreadAndMayBlock) {
  simulation s;
  std::vector<dstm::session_state> states;
  std::string seen;
  s.run([&] {
    sim::coordinator c(s.ens);
    c.subscribe([&](dstm::session_state st) { states.push_back(st); });
    auto done = c.make_event();
    c.exists("/later", dstm::watch{[&](const dstm::watch_event& e) {
               EXPECT_EQ(e.type, dstm::event_type::created);
               seen = c.get(e.path).data;  // a blocking call from the watch
               done->set();
             }});
    sim::coordinator other(s.ens);
    other.create("/later", "hello");
    EXPECT_TRUE(c.wait(*done, 5 * sim::seconds));
    EXPECT_GT(c.now(), 0);
  });
  EXPECT_EQ(seen, "hello");
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.front(), dstm::session_state::connected);
}

TEST(SimCoordinator, BlockingCallsOutsideASimulatedThreadThrow) {
  simulation s;
  sim::coordinator c(s.ens);
  EXPECT_THROW(c.get("/"), std::logic_error);
  EXPECT_THROW(c.sleep_for(1), std::logic_error);
}

TEST(SimFaults, ReplyLostAfterApplyReportsConnectionLossButTheWriteHappened) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens);
    c.create("/k", "old");
    auto f = s.ens.faults();
    f.loss_after_per_million = 1'000'000;
    s.ens.set_faults(f);
    std::error_code ec;
    c.set("/k", "new", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::connection_loss);
    s.ens.set_faults(sim::fault_config::none());
    EXPECT_EQ(c.get("/k").data, "new");  // applied although the client saw the loss
    EXPECT_EQ(s.ens.stats().lost_after, 1u);
  });
}

TEST(SimFaults, LossBeforeTheServerMeansNotApplied) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens);
    c.create("/k", "old");
    auto f = s.ens.faults();
    f.loss_before_per_million = 1'000'000;
    s.ens.set_faults(f);
    std::error_code ec;
    c.set("/k", "new", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::connection_loss);
    s.ens.set_faults(sim::fault_config::none());
    EXPECT_EQ(c.get("/k").data, "old");
    EXPECT_EQ(s.ens.stats().lost_before, 1u);
  });
}

TEST(SimFaults, ServerSideExpiryRemovesEphemeralsAndTheClientLearnsOnReconnect) {
  simulation s;
  s.run([&] {
    sim::coordinator victim(s.ens), observer(s.ens);
    victim.create("/eph", "", create_mode::ephemeral);
    std::vector<dstm::watch_event> events;
    victim.get("/eph", dstm::watch{[&](const dstm::watch_event& e) { events.push_back(e); }, true});
    std::vector<dstm::session_state> states;
    victim.subscribe([&](dstm::session_state st) { states.push_back(st); });
    s.ens.expire_session(victim.session_id());
    observer.sync("/");
    EXPECT_FALSE(observer.exists("/eph").has_value());
    std::error_code ec;
    for (int i = 0; i < 10 && ec != coordinator_errc::session_expired; ++i) {
      victim.get("/", {}, ec);
      s.w.sleep_for(50 * sim::milliseconds);
    }
    EXPECT_EQ(ec, coordinator_errc::session_expired);
    EXPECT_EQ(victim.state(), dstm::session_state::expired);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, dstm::event_type::session);
    EXPECT_EQ(events[0].state, dstm::session_state::expired);
    s.w.sleep_for(10 * sim::milliseconds);  // listeners run on the dispatcher
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states.back(), dstm::session_state::expired);
  });
}

TEST(SimFaults, AClientThatOnlyBelievesItExpiredLeavesItsEphemeralsUntilTheTimeout) {
  simulation s;
  s.run([&] {
    sim::coordinator victim(s.ens, pinned(-1, 2 * sim::seconds)), observer(s.ens);
    victim.create("/eph", "", create_mode::ephemeral);
    s.ens.client_believes_expired(victim.session_id());
    std::error_code ec;
    victim.get("/", {}, ec);
    EXPECT_EQ(ec, coordinator_errc::session_expired);
    EXPECT_TRUE(s.ens.session_alive(victim.session_id()));
    observer.sync("/");
    EXPECT_TRUE(observer.exists("/eph").has_value());  // the ensemble still has the session
    s.w.sleep_for(3 * sim::seconds);
    observer.sync("/");
    EXPECT_FALSE(observer.exists("/eph").has_value());  // it timed out there
    EXPECT_FALSE(s.ens.session_alive(victim.session_id()));
  });
}

TEST(SimFaults, LeaderCrashElectsANewLeaderAndStateSurvivesARestart) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens);
    c.create("/k", "v1");
    const int old = s.ens.leader();
    s.ens.crash(old);
    EXPECT_EQ(s.ens.leader(), -1);
    std::error_code ec;
    std::string value;
    for (int i = 0; i < 50; ++i) {  // retries through the election
      auto n = c.get("/k", {}, ec);
      if (!ec) {
        value = n.data;
        break;
      }
      s.w.sleep_for(20 * sim::milliseconds);
    }
    EXPECT_EQ(value, "v1");
    ASSERT_GE(s.ens.leader(), 0);
    EXPECT_NE(s.ens.leader(), old);
    for (int i = 0; i < 50; ++i) {
      c.set("/k", "v2", dstm::any_version, ec);
      if (!ec) break;
      s.w.sleep_for(20 * sim::milliseconds);
    }
    EXPECT_FALSE(ec);
    s.ens.restart(old);
    s.w.sleep_for(100 * sim::milliseconds);
    EXPECT_EQ(s.ens.applied(old), s.ens.log_size());
    EXPECT_EQ(s.ens.replica(old).digest(), s.ens.replica(s.ens.leader()).digest());
  });
}

TEST(SimFaults, ACutOffServerStopsServingAndItsClientsMigrate) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens, pinned(2));
    c.create("/k", "v");
    EXPECT_EQ(s.ens.server_of(c.session_id()), 2);
    s.ens.isolate(2, true);
    EXPECT_FALSE(s.ens.serving(2));
    EXPECT_TRUE(s.ens.serving(0));
    std::error_code ec;
    for (int i = 0; i < 50; ++i) {
      c.get("/k", {}, ec);
      if (!ec) break;
      s.w.sleep_for(20 * sim::milliseconds);
    }
    EXPECT_FALSE(ec);
    EXPECT_NE(s.ens.server_of(c.session_id()), 2);
  });
}

TEST(SimFaults, AClientCutFromItsServerReconnectsElsewhereAndItsWatchFires) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens, pinned(1)), writer(s.ens, pinned(0));
    writer.create("/q", "0");
    c.sync("/");
    bool fired = false;
    c.get("/q", dstm::watch{[&](const dstm::watch_event& e) {
                              EXPECT_EQ(e.type, dstm::event_type::changed);
                              fired = true;
                            },
                            true});
    s.ens.cut(c.session_id(), 1, true);
    writer.set("/q", "1");  // changes while c is away from server 1
    std::error_code ec;
    for (int i = 0; i < 100 && s.ens.server_of(c.session_id()) < 0; ++i) {
      s.w.sleep_for(50 * sim::milliseconds);
    }
    EXPECT_NE(s.ens.server_of(c.session_id()), 1);
    c.sync("/", ec);
    EXPECT_TRUE(fired);  // re-registered on the new server, fired as changed since last zxid
  });
}

TEST(SimFaults, LaggingFollowerServesStaleReadsButNeverAfterSync) {
  simulation s;
  s.run([&] {
    sim::coordinator writer(s.ens, pinned(0)), reader(s.ens, pinned(1));
    writer.create("/s", "0");
    reader.sync("/");
    s.ens.set_lag(1, 300 * sim::milliseconds);
    int stale = 0;
    for (int i = 1; i <= 20; ++i) {
      writer.set("/s", std::to_string(i));
      if (reader.get("/s").data != std::to_string(i)) ++stale;
      reader.sync("/s");
      EXPECT_EQ(reader.get("/s").data, std::to_string(i)) << "stale read after sync";
    }
    EXPECT_GT(stale, 0) << "follower lag produced no stale read";
    // A session reads its own writes even on a lagging follower.
    reader.set("/s", "mine");
    EXPECT_EQ(reader.get("/s").data, "mine");
  });
}

TEST(SimFaults, ASessionNeverMigratesToAServerBehindWhatItSaw) {
  simulation s;
  s.run([&] {
    sim::coordinator c(s.ens, pinned(0));
    c.create("/m", "0");
    s.ens.set_lag(1, 2 * sim::seconds);
    s.ens.set_lag(2, 2 * sim::seconds);
    c.set("/m", "1");
    EXPECT_EQ(c.get("/m").data, "1");
    s.ens.cut(c.session_id(), 0, true);
    std::error_code ec;
    std::string value;
    for (int i = 0; i < 200; ++i) {
      auto n = c.get("/m", {}, ec);
      if (!ec) {
        value = n.data;
        break;
      }
      s.w.sleep_for(20 * sim::milliseconds);
    }
    EXPECT_EQ(value, "1") << "the session went back in time";
    EXPECT_GT(s.ens.stats().migrations_refused, 0u);
  });
}

TEST(SimFaults, ClientClocksAreSkewedButMonotonic) {
  auto o = sim::ensemble_options{};
  o.faults.max_clock_skew_ns = 1 * sim::seconds;
  o.faults.max_clock_drift_ppm = 500;
  simulation s(3, o);
  s.run([&] {
    sim::coordinator a(s.ens), b(s.ens);
    const auto a0 = a.now(), b0 = b.now(), t0 = s.w.now();
    EXPECT_TRUE(a0 != t0 || b0 != t0);
    s.w.sleep_for(10 * sim::seconds);
    EXPECT_GT(a.now(), a0);
    EXPECT_GT(b.now(), b0);
  });
}

TEST(SimFaults, NemesisInjectsEveryKindUnderHarsh) {
  sim::ensemble_options o;
  o.faults = sim::fault_config::harsh();
  simulation s(11, o);
  s.ens.start_faults();
  for (int i = 0; i < 4; ++i) {
    s.w.spawn("client", [&] {
      auto c = std::make_unique<sim::coordinator>(s.ens);
      for (int k = 0; k < 300; ++k) {
        if (c->state() == dstm::session_state::expired)
          c = std::make_unique<sim::coordinator>(s.ens);
        std::error_code ec;
        c->exists("/", {}, ec);
        s.w.sleep_for(10 * sim::milliseconds);
      }
    });
  }
  s.w.run();
  const auto& st = s.ens.stats();
  EXPECT_GT(st.lost_before, 0u);
  EXPECT_GT(st.lost_after, 0u);
  EXPECT_GT(st.crashes, 0u);
  EXPECT_GT(st.server_partitions, 0u);
  EXPECT_GT(st.client_partitions, 0u);
  EXPECT_GT(st.server_expiries, 0u);
  EXPECT_GT(st.client_expiries, 0u);
  EXPECT_GT(st.lags, 0u);
  EXPECT_GT(st.elections, 0u);
}
