// The STM against a real three-server ZooKeeper ensemble while a nemesis kills the leader, kills
// a follower, restarts them and expires sessions on the server: bank (total, books, opacity),
// list-append (its transaction history checked by the Elle-style isolation checker at
// serializable) and atoms (their operation history checked for linearizability). No commit may
// be lost or doubled.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <dstm/sim/workloads/atoms.hpp>
#include <dstm/sim/workloads/list_append.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <functional>
#include <string>
#include <thread>

#include "support.hpp"

namespace {

using namespace stm_zk;

struct fault_counts {
  std::atomic<int> leader_kills{0}, follower_kills{0}, expiries{0};
  std::string describe() const {
    return std::to_string(leader_kills) + " leader kills, " + std::to_string(follower_kills) +
           " follower kills, " + std::to_string(expiries) + " sessions expired";
  }
};

class StmEnsembleFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ensemble_ = new dstm::testing::zookeeper_ensemble(3); }
  static void TearDownTestSuite() {
    delete ensemble_;
    ensemble_ = nullptr;
  }

  /// Every member running and a leader elected: after a run, and before each fault.
  static void heal() {
    for (int i = 0; i < 3; ++i) {
      if (!ensemble_->server(i).running()) ensemble_->restart(i);
    }
    ensemble_->wait_for_leader(election_timeout);
  }

  static zk_target target() {
    return {[] { return ensemble_->connect_string(); }, [] { delete ensemble_; }, 240s, heal};
  }

  /// One fault at a time, each healed before the next, until the clients are done: kills the
  /// leader, then a follower (each restarted once the other two have elected a leader), then
  /// expires a live session on the server, and again. Faults that overlap would test ZooKeeper's
  /// election backoff (its notification interval grows to a minute), not dstm.
  static std::function<void(const std::atomic<bool>&)> nemesis(session_registry& sessions,
                                                               fault_counts& counts,
                                                               std::uint64_t seed) {
    return [&sessions, &counts, seed](const std::atomic<bool>& done) {
      sim::rng r(seed);
      auto kill_and_restart = [&](bool leader) {
        const int l = ensemble_->wait_for_leader(election_timeout);
        const int victim = leader ? l : (l + 1 + static_cast<int>(r.below(2))) % 3;
        ensemble_->kill(victim);
        ++(leader ? counts.leader_kills : counts.follower_kills);
        // The two left form a quorum: clients fail over to them while the victim is down.
        ensemble_->wait_for_leader(election_timeout);
        std::this_thread::sleep_for(std::chrono::milliseconds(r.between(200, 800)));
        heal();
      };
      // In turn: the leader, a follower, a session; victims and pauses at random.
      for (int step = 0; !done; ++step) {
        std::this_thread::sleep_for(std::chrono::milliseconds(r.between(200, 1000)));
        if (done) break;
        if (step % 3 == 0) {
          kill_and_restart(true);
        } else if (step % 3 == 1) {
          kill_and_restart(false);
        } else if (auto s = sessions.live(r.next())) {
          try {
            zk::coordinator::expire_session(ensemble_->connect_string(), s->session_id(),
                                            s->session_password(), 10s);
            ++counts.expiries;
          } catch (const dstm::coordinator_error&) {
            // Closed or expired meanwhile: the next one.
          }
        }
      }
      heal();
    };
  }

  static constexpr auto election_timeout = std::chrono::milliseconds(120'000);
  static inline dstm::testing::zookeeper_ensemble* ensemble_ = nullptr;
};

constexpr int clients = 4;

TEST_F(StmEnsembleFaults, BankKeepsItsTotalItsBooksAndOpacity) {
  stm::bank wl(workload_options(dstm::isolation::serializable, false, 2000), {}, sim::rng(11));
  session_registry sessions;
  fault_counts counts;
  const auto r = drive(wl, target(), client_options(dstm::isolation::serializable), clients, 11,
                       sessions, nemesis(sessions, counts, 11));
  expect_clean(wl, r);
  EXPECT_GE(counts.leader_kills.load(), 1);
  EXPECT_GE(counts.follower_kills.load(), 1);
  std::printf("[ zk run   ] %s\n", counts.describe().c_str());
}

TEST_F(StmEnsembleFaults, ListAppendHistoryIsSerializable) {
  stm::list_append wl(workload_options(dstm::isolation::serializable, false, 2000), {},
                      sim::rng(12));
  session_registry sessions;
  fault_counts counts;
  const auto r = drive(wl, target(), client_options(dstm::isolation::serializable), clients, 12,
                       sessions, nemesis(sessions, counts, 12));
  expect_clean(wl, r);  // includes the isolation checker's verdict (an anomaly if not valid)
  EXPECT_GE(counts.leader_kills.load(), 1);
  EXPECT_GE(counts.follower_kills.load(), 1);
  std::printf("[ zk run   ] %s\n", counts.describe().c_str());
}

TEST_F(StmEnsembleFaults, AtomHistoryIsLinearizable) {
  auto options = workload_options(dstm::isolation::serializable, false, 6000);
  options.record_history = false;  // the workload records its own operation history
  stm::atoms wl(std::move(options), {}, sim::rng(13));
  session_registry sessions;
  fault_counts counts;
  const auto r = drive(wl, target(), client_options(dstm::isolation::serializable), clients, 13,
                       sessions, nemesis(sessions, counts, 13));
  expect_clean(wl, r);  // includes the linearizability checker's verdict
  EXPECT_GE(counts.leader_kills.load(), 1);
  EXPECT_GE(counts.follower_kills.load(), 1);
  std::printf("[ zk run   ] %s\n", counts.describe().c_str());
}

}  // namespace
