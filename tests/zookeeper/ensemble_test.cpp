// dstm::zookeeper::coordinator against a three-server ZooKeeper ensemble on loopback.

#include <gtest/gtest.h>

#include <string>

#include "zk_test_util.hpp"

namespace dstm_zk_test {
namespace {

using dstm::coordinator_errc;
using dstm::session_state;

/// Sets `path` to `value`, retrying while the ensemble cannot answer. Safe to repeat after an
/// unknown outcome only because the write is idempotent (a value, any version).
std::error_code set_until_done(coordinator& c, const std::string& path, const std::string& value,
                               std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  do {
    c.set(path, value, dstm::any_version, ec);
    if (!ec || !(dstm::outcome_unknown(ec) || ec == coordinator_errc::session_moved)) return ec;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return ec;
}

TEST(ZooKeeperEnsemble, KillingTheLeaderKeepsServing) {
  dstm::testing::zookeeper_ensemble ensemble(3);
  state_log log;  // outlives the coordinator
  auto c = open_session(ensemble.connect_string());
  c->subscribe(std::ref(log));
  c->create("/k", "0");
  c->create("/eph", "", dstm::create_mode::ephemeral);
  const auto id = c->session_id();

  const int leader = ensemble.wait_for_leader();
  ensemble.kill(leader);
  for (int i = 1; i <= 20; ++i) {
    ASSERT_FALSE(set_until_done(*c, "/k", std::to_string(i)));
  }
  EXPECT_EQ(c->get("/k").data, "20");
  // The session moved to a surviving server with its ephemerals.
  EXPECT_EQ(c->session_id(), id);
  EXPECT_EQ(c->state(), session_state::connected);
  // Every member drops its clients while the ensemble elects a new leader.
  EXPECT_TRUE(log.saw(session_state::connecting));
  EXPECT_EQ(c->exists("/eph")->ephemeral_owner, id);
  const int new_leader = ensemble.wait_for_leader();
  EXPECT_NE(new_leader, leader);

  // The crashed server comes back and catches up.
  ensemble.restart(leader);
  auto late = open_session(ensemble.connect_string(leader));
  late->sync("/k");
  EXPECT_EQ(late->get("/k").data, "20");
}

// The ordering promise across servers: the writer talks to one member, the reader to another
// (a follower applying the leader's commits), so the reader's view lags and races the writes.
TEST(ZooKeeperEnsemble, InOrderWatchRunsBeforeLaterRepliesOnAFollower) {
  dstm::testing::zookeeper_ensemble ensemble(3);
  const int leader = ensemble.wait_for_leader();
  const int follower = (leader + 1) % 3;
  auto writer = open_session(ensemble.connect_string(leader));
  auto reader = open_session(ensemble.connect_string(follower));
  const auto r = check_watch_order(*writer, *reader, "/a", "/b", 2s);
  EXPECT_EQ(r.violations, 0) << "saw /b newer than a still-valid cache of /a " << r.violations
                             << " times in " << r.checks << " checks";
  EXPECT_GT(r.refreshes, 20);
  EXPECT_GT(r.checks, 200);
}

}  // namespace
}  // namespace dstm_zk_test
