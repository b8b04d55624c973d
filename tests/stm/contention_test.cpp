// The contention policy (include/dstm/detail/contention.hpp) and the collection of outcome
// records. Starvation is staged deterministically: a hook commits a competing write right
// before each of the victim's multis, so without escalation the victim can never commit.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <dstm/dstm.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using dstm_test::fast_options;

class StmContention : public ::testing::Test {
 protected:
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm::client> rival = dstm::embedded::connect(store, fast_options());

  struct outcome {
    bool committed = false;
    int rival_commits = 0;
    int rival_deferred = 0;
    dstm::client_metrics metrics;
  };

  // The victim reads the hot ref and writes its own; before each of its multis the rival
  // increments the hot ref once (one attempt: a rival that meets the closed gate gives up).
  outcome starve(int escalate_after) {
    auto hooks = std::make_shared<dstm_test::multi_hooks>();
    auto options = fast_options();
    options.escalate_after = escalate_after;
    options.max_retries = 40;
    auto victim = dstm_test::connect_hooked(store, hooks, options);
    dstm::ref<int> hot{rival, "/hot", 0};
    dstm::ref<int> hot_v{victim, "/hot"};
    dstm::ref<int> mine{victim, "/mine", 0};
    outcome out;
    std::function<void()> compete = [&] {
      try {
        dstm::dosync(
            rival, [&](dstm::txn& tx) { tx.alter(hot, [](int v) { return v + 1; }); },
            dstm::txn_options{.level = {}, .max_retries = 0});
        ++out.rival_commits;
      } catch (const dstm::error& e) {
        EXPECT_EQ(e.code(), dstm::errc::retry_limit_exceeded);
        ++out.rival_deferred;
      }
      hooks->before_next_multi(compete);
    };
    hooks->before_next_multi(compete);
    try {
      dstm::dosync(victim, [&](dstm::txn& tx) { tx.ref_set(mine, tx.deref(hot_v) + 1); });
      out.committed = true;
    } catch (const dstm::error& e) {
      EXPECT_EQ(e.code(), dstm::errc::retry_limit_exceeded);
    }
    out.metrics = victim->metrics();
    return out;
  }
};

TEST_F(StmContention, WithoutEscalationAVictimStarves) {
  const auto o = starve(0);
  EXPECT_FALSE(o.committed) << "the staging must starve the victim, or the next test proves "
                               "nothing";
  EXPECT_EQ(o.metrics.escalations, 0u);
  EXPECT_GE(o.rival_commits, 40);
}

TEST_F(StmContention, EscalationGuaranteesTheVictimCommits) {
  const auto o = starve(3);
  EXPECT_TRUE(o.committed);
  EXPECT_EQ(o.metrics.escalations, 1u);
  EXPECT_GE(o.rival_deferred, 1) << "the closed gate held the rival off";
  EXPECT_LE(o.metrics.conflicts, 5u);
  // The gate is open again: the rival commits at its first attempt.
  dstm::ref<int> hot{rival, "/hot"};
  dstm::dosync(
      rival, [&](dstm::txn& tx) { tx.alter(hot, [](int v) { return v + 1; }); },
      dstm::txn_options{.level = {}, .max_retries = 0});
}

TEST_F(StmContention, AGateLeftClosedByADeadHolderIsReopened) {
  dstm::ref<int> r{rival, "/r", 0};
  auto s = rival->session();
  std::error_code ec;
  s->set(rival->gate_path(), rival->escalation_dir() + "/gone-0000000007", -1, ec);
  ASSERT_FALSE(ec);
  dstm::dosync(rival, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ(r.deref(), 1);
  EXPECT_GE(rival->metrics().gate_waits, 1u);
  EXPECT_EQ(s->get(rival->gate_path(), {}, ec).data, "");
}

TEST_F(StmContention, ManyClientsEscalatingOftenStayExactAndFair) {
  constexpr int clients = 4, each = 60;
  std::vector<std::shared_ptr<dstm::client>> cs;
  for (int i = 0; i < clients; ++i) {
    auto o = fast_options();
    o.escalate_after = 2;
    cs.push_back(dstm::embedded::connect(store, o));
  }
  dstm::ref<int> counter{cs[0], "/counter", 0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      dstm::ref<int> r{cs[static_cast<std::size_t>(i)], "/counter"};
      for (int k = 0; k < each; ++k) {
        dstm::dosync(cs[static_cast<std::size_t>(i)], [&](dstm::txn& tx) {
          const int v = tx.deref(r);
          std::this_thread::sleep_for(std::chrono::microseconds(50));  // overlap: conflicts
          tx.ref_set(r, v + 1);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.deref(), clients * each);
  std::uint64_t escalations = 0;
  for (auto& c : cs) escalations += c->metrics().escalations;
  RecordProperty("escalations", static_cast<int>(escalations));
  std::error_code ec;
  EXPECT_EQ(rival->session()->get(rival->gate_path(), {}, ec).data, "") << "gate left open";
  EXPECT_TRUE(rival->session()->children(rival->escalation_dir(), {}, ec).names.empty() || ec)
      << "no queue node left behind";
}

// ----- collection of outcome records -----

TEST_F(StmContention, RecordsOfIdleClientsAreCollectedAndRecreatedOnUse) {
  auto old = dstm::embedded::connect(store, fast_options());
  dstm::ref<int> r{old, "/r", 0};
  dstm::dosync(old, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  auto s = rival->session();
  std::error_code ec;
  ASSERT_TRUE(s->exists(old->record_dir(), {}, ec).has_value());

  // Young records are kept...
  EXPECT_EQ(rival->collect_records(), 0);
  EXPECT_TRUE(s->exists(old->record_dir(), {}, ec).has_value());

  // ...records idle longer than the limit are not.
  auto options = fast_options();
  options.record_max_age_ms = 1;
  options.collect_on_start = 0;
  auto collector = dstm::embedded::connect(store, options);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(collector->collect_records(), 2);  // `old` and `rival`, not itself
  EXPECT_FALSE(s->exists(old->record_dir(), {}, ec).has_value());
  EXPECT_TRUE(s->exists(collector->record_dir(), {}, ec).has_value());

  // A collected client commits again: its records come back.
  dstm::dosync(old, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ(r.deref(), 2);
  EXPECT_TRUE(s->exists(old->record_dir(), {}, ec).has_value());
}

// After a conflict a transaction backs off in units of the commit round trip the client has
// measured, not of backoff_min_ns alone: a loser that retries before the winner's commit can
// have landed collides again.
TEST_F(StmContention, ConflictBackoffIsMeasuredInCommitRoundTrips) {
  auto options = fast_options();
  options.backoff_min_ns = 20'000;
  options.backoff_max_ns = 20'000'000;
  auto c = dstm::embedded::connect(store, options);
  // Before any commit: the configured minimum (attempt 1: min/2 plus a draw below 2 min).
  for (int i = 0; i < 100; ++i) {
    const auto b = c->conflict_backoff_ns(1);
    EXPECT_GE(b, 10'000);
    EXPECT_LT(b, 10'000 + 40'000);
  }
  // Commits feed the average: it is measured, positive, and the client reports it.
  dstm::ref<int> r{c, "/rtt", 0};
  for (int i = 0; i < 5; ++i)
    dstm::dosync(c, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_GT(c->metrics().commit_round_trip_ns, 0);
  // A slow coordinator (1 ms per multi): the base follows it.
  for (int i = 0; i < 64; ++i) c->note_commit_round_trip(1'000'000);
  const auto rtt = c->metrics().commit_round_trip_ns;
  EXPECT_GT(rtt, 900'000);
  EXPECT_LE(rtt, 1'000'000);
  double sum = 0;
  for (int i = 0; i < 200; ++i) {
    const auto b = c->conflict_backoff_ns(1);
    EXPECT_GE(b, rtt / 2);
    EXPECT_LT(b, rtt / 2 + 2 * rtt);
    sum += static_cast<double>(b);
  }
  EXPECT_GT(sum / 200, 1.0e6) << "the mean of rtt/2 + U[0, 2 rtt) is 1.5 rtt";
  // Capped by backoff_max_ns, and off when asked.
  for (int i = 0; i < 20; ++i) EXPECT_LT(c->conflict_backoff_ns(16), 20'000'000 + rtt / 2);
  options.backoff_by_round_trip = false;
  auto fixed = dstm::embedded::connect(store, options);
  for (int i = 0; i < 64; ++i) fixed->note_commit_round_trip(1'000'000);
  for (int i = 0; i < 100; ++i) EXPECT_LT(fixed->conflict_backoff_ns(1), 10'000 + 40'000);
}

}  // namespace
