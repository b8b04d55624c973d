// The ZooKeeper harness itself: servers start, serve, crash, come back, elect leaders, and never
// outlive their owner — not even an owner killed with SIGKILL.
#include <dstm/testing/zookeeper_server.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace {

using dstm::testing::zookeeper_ensemble;
using dstm::testing::zookeeper_server;

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

bool eventually_dead(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ZookeeperServer, StandaloneServesStopsAndRestartsOnTheSamePort) {
  zookeeper_server server;
  EXPECT_EQ(server.mode(), "standalone");
  EXPECT_NE(server.four_letter("ruok").find("imok"), std::string::npos);
  const auto connect = server.connect_string();
  EXPECT_EQ(connect.rfind("127.0.0.1:", 0), 0u);

  const pid_t first = server.pid();
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_TRUE(eventually_dead(first));
  EXPECT_EQ(server.mode(), "");

  server.start();
  EXPECT_EQ(server.mode(), "standalone");
  EXPECT_EQ(server.connect_string(), connect);
}

TEST(ZookeeperServer, DestructorKillsTheProcessAndRemovesTheData) {
  pid_t pid = -1;
  std::filesystem::path dir;
  {
    zookeeper_server server;
    pid = server.pid();
    dir = server.directory();
    ASSERT_TRUE(process_alive(pid));
    ASSERT_TRUE(std::filesystem::exists(dir / "zoo.cfg"));
  }
  EXPECT_TRUE(eventually_dead(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(ZookeeperServer, DiesWithAnOwnerKilledBySigkill) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(fds[0]);
    zookeeper_server server;
    const pid_t pid = server.pid();
    (void)!::write(fds[1], &pid, sizeof pid);
    for (;;) ::pause();  // killed below, never returns
  }
  ::close(fds[1]);
  pid_t server_pid = -1;
  ASSERT_EQ(::read(fds[0], &server_pid, sizeof server_pid),
            static_cast<ssize_t>(sizeof server_pid));
  ::close(fds[0]);
  ASSERT_TRUE(process_alive(server_pid));
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  EXPECT_TRUE(eventually_dead(server_pid)) << "the JVM outlived its owner";
}

TEST(ZookeeperServer, ReportsAServerThatCannotStart) {
  zookeeper_server::options opts;
  opts.extra_config = {"tickTime=not-a-number"};
  opts.ready_timeout = std::chrono::seconds(20);
  EXPECT_THROW(zookeeper_server{opts}, dstm::testing::zookeeper_harness_error);
}

TEST(ZookeeperEnsemble, ElectsALeaderSurvivesItsCrashAndTakesItBack) {
  zookeeper_ensemble ensemble(3);
  const int leader = ensemble.wait_for_leader();
  int followers = 0;
  for (int i = 0; i < 3; ++i) followers += ensemble.server(i).mode() == "follower";
  EXPECT_EQ(followers, 2);

  ensemble.kill(leader);
  EXPECT_FALSE(ensemble.server(leader).running());
  const int next = ensemble.wait_for_leader();
  EXPECT_NE(next, leader);

  ensemble.restart(leader);
  EXPECT_EQ(ensemble.server(leader).mode(), "follower");
  EXPECT_EQ(ensemble.leader(), next);
  const auto all = ensemble.connect_string();
  EXPECT_EQ(std::count(all.begin(), all.end(), ','), 2);
}

}  // namespace
