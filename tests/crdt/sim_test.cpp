// Coordination-free updates in the simulation: many writers merge deltas of an lww_element_set
// into one ref through commute while the ensemble partitions, crashes, expires sessions and
// loses replies, and an "offline" client buffers changes in its own replica and merges them
// later. Every client must end with the same state, whose members are those an independent
// model computes from every change made; no body runs twice for a conflict; and the coordinator
// round trips per merge are counted (and bounded) where no fault muddles them.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dstm/crdt/all.hpp>
#include <dstm/dstm.hpp>
#include <dstm/sim/coordinator.hpp>
#include <dstm/sim/ensemble.hpp>
#include <dstm/sim/faults.hpp>
#include <dstm/sim/world.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sim = dstm::sim;
namespace crdt = dstm::crdt;
using set = crdt::lww_element_set<std::string>;
using sim_clock = crdt::basic_hlc<crdt::client_time>;

struct change {
  bool add = true;
  std::string element;
  crdt::timestamp stamp;
};

struct config {
  int writers = 8;
  int merges_per_writer = 40;
  int elements = 16;
  std::int64_t max_think_ns = 40 * sim::milliseconds;  ///< pause between a writer's merges
  bool observe_before_write = true;  ///< writers read the ref (and observe it) before stamping
  bool offline_client = true;
  int offline_changes = 30;
  std::int64_t offline_ns = 1500 * sim::milliseconds;
  sim::fault_config faults = sim::fault_config::none();
  std::int64_t fault_window_ns = 3 * sim::seconds;
  /// The clients' patience: small values make some merges give up (and be merged again later).
  int max_retries = 10000;
  int outcome_attempts = 200;
  /// Writers stamp at commit time (crdt::apply) instead of merging pre-stamped deltas, and a
  /// reader keeps a replica with updates_since(its cursor) alone.
  bool stamp_at_commit = false;
};

struct outcome {
  std::vector<std::string> problems;
  std::uint64_t trace = 0;
  std::vector<std::string> members;
  // Merges and what they cost (the merge transactions only; reads are counted apart).
  std::uint64_t merges = 0;             ///< committed merge transactions
  std::uint64_t failed_merges = 0;      ///< dosync threw; the delta joined a later merge
  std::uint64_t body_runs = 0;          ///< runs of merge bodies
  std::uint64_t merge_round_trips = 0;  ///< of merges after each client's first (see below)
  std::uint64_t steady_merges = 0;      ///< merges after each client's first
  std::uint64_t writer_body_runs = 0;   ///< body runs of the writers' merges
  std::uint64_t writer_merges = 0;
  std::uint64_t cursor_syncs = 0;  ///< the cursor reader's non-empty deltas
  std::uint64_t commute_reapplies = 0;
  std::uint64_t conflicts = 0;
  std::uint64_t changes = 0;
  std::map<std::string, std::uint64_t> faults;
  void fail(std::string s) { problems.push_back(std::move(s)); }
};

/// Members by the model: per element, the latest add against the latest remove (add wins ties).
std::vector<std::string> model(const std::vector<change>& all) {
  std::map<std::string, std::pair<std::optional<crdt::timestamp>, std::optional<crdt::timestamp>>>
      m;
  for (const auto& c : all) {
    auto& slot = c.add ? m[c.element].first : m[c.element].second;
    if (!slot || *slot < c.stamp) slot = c.stamp;
  }
  std::vector<std::string> out;
  for (const auto& [e, ar] : m)
    if (ar.first && (!ar.second || !(*ar.first < *ar.second))) out.push_back(e);
  return out;
}

std::string list(const std::vector<std::string>& v) {
  std::string s = "{";
  for (const auto& e : v) s += (s.size() > 1 ? "," : "") + e;
  return s + "}";
}

outcome run(std::uint64_t seed, const config& cfg) {
  sim::world_options wo;
  wo.buggify = cfg.faults.buggify;
  wo.time_limit_ns = 3600 * sim::seconds;
  sim::world w(seed, wo);
  sim::ensemble_options eo;
  eo.faults = cfg.faults;
  sim::ensemble ens(w, eo);
  outcome out;
  std::vector<change> all;  // every change made, by anyone
  int writers_left = cfg.writers;

  dstm::client_options co;
  co.root = "/crdt-sim/dstm";
  co.max_retries = cfg.max_retries;
  co.outcome_attempts = cfg.outcome_attempts;
  std::vector<std::shared_ptr<sim::coordinator>> sessions;
  std::vector<std::shared_ptr<dstm::client>> clients;
  auto connect = [&] {
    auto index = sessions.size();
    sessions.push_back(nullptr);
    auto c = dstm::connect_with(
        [&ens, &sessions, index] {
          auto s = std::make_shared<sim::coordinator>(ens);
          sessions[index] = s;
          return s;
        },
        co);
    clients.push_back(c);
    return c;
  };
  const std::string path = "/crdt-sim/set";

  // Calls `f` until it does not throw (faults make reads fail for a while).
  auto retrying = [&w](auto f) {
    for (int attempt = 0;; ++attempt) {
      std::optional<decltype(f())> v;
      try {
        v.emplace(f());
      } catch (const dstm::error&) {
        if (attempt > 1000) throw;
      }
      if (v) return std::move(*v);
      w.sleep_for(50 * sim::milliseconds);
    }
  };
  auto attach = [&](const std::shared_ptr<dstm::client>& c) {
    return retrying([&] { return dstm::ref<set>{c, path}; });
  };

  w.spawn("setup", [&] {
    auto c = connect();
    retrying([&] { return dstm::ref<set>{c, path, set{}}; });  // losses start at once
  });
  w.run();

  if (cfg.faults.nemesis_interval_ns > 0 || cfg.faults.loss_after_per_million > 0) {
    ens.start_faults();
    w.after(cfg.fault_window_ns, [&ens] { ens.stop_faults(); });
  }

  // Merges `delta` (and whatever failed before) until one merge commits; false if it threw.
  // A client's first commit also creates its outcome record and reads the contention gate:
  // its round trips are left out of the per-merge figure.
  auto merge_once = [&](dstm::client& c, const dstm::ref<set>& r, const set& delta, bool& warm,
                        bool writer) {
    const auto before = c.metrics();
    try {
      dstm::dosync(c.shared_from_this(), [&](dstm::txn& tx) {
        ++out.body_runs;
        if (writer) ++out.writer_body_runs;
        crdt::merge(tx, r, delta);
      });
    } catch (const dstm::error&) {
      ++out.failed_merges;
      return false;
    }
    const auto after = c.metrics();
    ++out.merges;
    if (writer) ++out.writer_merges;
    if (warm) {
      ++out.steady_merges;
      out.merge_round_trips += after.round_trips - before.round_trips;
    }
    warm = true;
    out.commute_reapplies += after.commute_reapplies - before.commute_reapplies;
    out.conflicts += after.conflicts - before.conflicts;
    return true;
  };

  for (int i = 0; i < cfg.writers; ++i) {
    w.spawn("writer/" + std::to_string(i), [&, i] {
      auto c = connect();
      auto r = attach(c);
      bool warm = false;
      sim_clock clock(static_cast<std::uint64_t>(i) + 1, crdt::client_time(c));
      auto my = w.stream("crdt/writer/" + std::to_string(i));
      set pending;  // deltas whose merge threw: they join the next one (merging is idempotent)
      for (int n = 0; n < cfg.merges_per_writer; ++n) {
        w.sleep_for(
            static_cast<std::int64_t>(my.below(static_cast<std::uint64_t>(cfg.max_think_ns) + 1)));
        std::optional<crdt::timestamp> seen;
        if (cfg.observe_before_write) {
          try {
            seen = r.deref().latest();
          } catch (const dstm::error&) {
            // unreachable for now: write without observing (the HLC still orders own writes)
          }
          if (seen) clock.observe(*seen);
        }
        change ch{my.below(10) < 6,
                  "e" + std::to_string(my.below(static_cast<std::uint64_t>(cfg.elements))),
                  {}};
        if (cfg.stamp_at_commit) {
          crdt::changes<std::string> cs;
          (ch.add ? cs.inserts : cs.erases).push_back(ch.element);
          // Until it commits (a retried insert or erase only moves its stamp later).
          for (;;) {
            const auto before = c->metrics();
            try {
              ch.stamp = crdt::apply(c, r, clock, cs);
            } catch (const dstm::error&) {
              ++out.failed_merges;
              w.sleep_for(50 * sim::milliseconds);
              continue;
            }
            ++out.merges;
            out.merge_round_trips += c->metrics().round_trips - before.round_trips;
            break;
          }
          all.push_back(ch);
          ++out.changes;
          if (seen && !(*seen < ch.stamp))
            out.fail("writer " + std::to_string(i) + ": stamp not after what it saw");
          continue;
        }
        set delta;
        ch.stamp = ch.add ? delta.insert(ch.element, clock) : delta.erase(ch.element, clock);
        if (seen && !(*seen < ch.stamp))
          out.fail("writer " + std::to_string(i) + " stamped " + crdt::to_string(ch.stamp) +
                   " after observing " + crdt::to_string(*seen));
        all.push_back(ch);
        ++out.changes;
        pending.merge(delta);
        if (merge_once(*c, r, pending, warm, true)) pending = set{};
      }
      while (!pending.empty()) {
        if (merge_once(*c, r, pending, warm, true))
          pending = set{};
        else
          w.sleep_for(50 * sim::milliseconds);
      }
      --writers_left;
    });
  }

  std::optional<set> offline_replica;
  std::optional<dstm::ref<set>> offline_ref;

  // The cursor reader: a replica fed only with the deltas since the latest stamp it has seen.
  std::optional<set> cursor_replica;
  std::optional<crdt::timestamp> cursor;
  std::optional<dstm::ref<set>> cursor_ref;
  auto sync_by_cursor = [&](const set& v) {
    const auto d = cursor ? v.updates_since(*cursor) : v;
    if (!d.empty()) ++out.cursor_syncs;
    cursor_replica->merge(d);
    if (auto l = v.latest()) cursor = l;
  };
  if (cfg.stamp_at_commit) {
    w.spawn("cursor-reader", [&] {
      auto c = connect();
      cursor_ref.emplace(attach(c));
      cursor_replica.emplace();
      while (writers_left > 0) {
        w.sleep_for(20 * sim::milliseconds);
        try {
          sync_by_cursor(cursor_ref->deref());
        } catch (const dstm::error&) {
        }
      }
    });
  }
  if (cfg.offline_client) {
    w.spawn("offline", [&] {
      auto c = connect();
      auto r = attach(c);
      bool warm = false;
      sim_clock clock(1000, crdt::client_time(c));
      set local = retrying([&] { return r.deref_latest(); });
      const auto synced_at = local.latest();
      if (synced_at) clock.observe(*synced_at);
      // Offline: its session is cut from every server; changes go to the local replica only.
      const auto session = sessions.back()->session_id();
      for (int s = 0; s < ens.server_count(); ++s) ens.cut(session, s, true);
      auto my = w.stream("crdt/offline");
      for (int n = 0; n < cfg.offline_changes; ++n) {
        w.sleep_for(cfg.offline_ns / cfg.offline_changes);
        change ch{my.below(2) == 0,
                  "e" + std::to_string(my.below(static_cast<std::uint64_t>(cfg.elements))),
                  {}};
        ch.stamp = ch.add ? local.insert(ch.element, clock) : local.erase(ch.element, clock);
        all.push_back(ch);
        ++out.changes;
      }
      for (int s = 0; s < ens.server_count(); ++s) ens.cut(session, s, false);
      // Back online: push what changed since the last sync, then pull.
      const auto delta = synced_at ? local.updates_since(*synced_at) : local;
      while (!merge_once(*c, r, delta, warm, false)) w.sleep_for(50 * sim::milliseconds);
      const auto now = retrying([&] { return r.deref_latest(); });
      local.merge(now);
      if (auto l = now.latest()) clock.observe(*l);
      offline_replica = local;
      offline_ref.emplace(r);
    });
  }
  w.run();
  ens.stop_faults();

  // Every client, after the dust settled: the same state, the model's members.
  const auto expected = model(all);
  std::optional<set> first;
  w.spawn("check", [&] {
    // The offline client pulls once more, now that the writers are done: its replica must then
    // equal the ref's state — in particular, its push lacked none of its own changes.
    if (offline_replica)
      offline_replica->merge(retrying([&] { return offline_ref->deref_latest(); }));
    if (cursor_replica) sync_by_cursor(retrying([&] { return cursor_ref->deref_latest(); }));
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto r = attach(clients[i]);
      const set v = retrying([&] { return r.deref_latest(); });
      if (!first) first = v;
      if (!(v == *first)) out.fail("client " + std::to_string(i) + " holds another state");
      if (v.members() != expected)
        out.fail("client " + std::to_string(i) + " has members " + list(v.members()) +
                 ", the model " + list(expected));
    }
  });
  w.run();
  if (offline_replica && first && !(*offline_replica == *first))
    out.fail("the offline client's replica did not converge: " + list(offline_replica->members()) +
             " vs " + list(first->members()));
  if (cursor_replica && first && !(*cursor_replica == *first))
    out.fail("the cursor reader missed updates: " + list(cursor_replica->members()) + " vs " +
             list(first->members()));
  if (first) out.members = first->members();
  const auto& st = ens.stats();
  out.faults["lost_replies"] = st.lost_after;
  out.faults["lost_requests"] = st.lost_before;
  out.faults["partitions"] = st.server_partitions + st.client_partitions;
  out.faults["crashes"] = st.crashes;
  out.faults["expiries"] = st.server_expiries + st.client_expiries;
  out.trace = w.trace_value();
  for (auto& c : clients) c->close();
  return out;
}

std::string replay(const char* preset, std::uint64_t seed) {
  return std::string("DSTM_CRDT_SEED=") + std::to_string(seed) + " (faults " + preset + ")";
}

/// Seeds [first, first + count), or the one in DSTM_CRDT_SEED.
std::pair<std::uint64_t, std::uint64_t> seeds(std::uint64_t first, std::uint64_t count) {
  if (const char* s = std::getenv("DSTM_CRDT_SEED"); s && *s)
    return {std::strtoull(s, nullptr, 10), 1};
  return {first, count};
}

void sweep(const char* preset, std::uint64_t first, std::uint64_t count, bool expect_give_ups) {
  config cfg;
  cfg.faults = *sim::fault_config::preset(preset);
  cfg.max_retries = 20;
  cfg.outcome_attempts = 3;
  std::map<std::string, std::uint64_t> faults;
  std::uint64_t merges = 0, failed = 0, changes = 0, runs = 0;
  const auto [from, n] = seeds(first, count);
  (void)runs;
  for (auto seed = from; seed < from + n; ++seed) {
    outcome o;
    try {
      o = run(seed, cfg);
    } catch (const std::exception& e) {
      o.fail(std::string("the run threw: ") + e.what());
    }
    for (const auto& [k, v] : o.faults) faults[k] += v;
    merges += o.merges;
    failed += o.failed_merges;
    changes += o.changes;
    runs += o.body_runs;
    std::string why;
    for (const auto& p : o.problems) why += "  " + p + "\n";
    EXPECT_TRUE(o.problems.empty())
        << "seed " << seed << " broke convergence; replay with " << replay(preset, seed) << "\n"
        << why;
  }
  std::string f;
  for (const auto& [k, v] : faults) f += " " + k + "=" + std::to_string(v);
  std::printf(
      "[ crdt sim ] faults %s, %llu seeds: %llu changes, %llu merges committed, %llu "
      "threw and were merged again later;%s\n",
      preset, static_cast<unsigned long long>(n), static_cast<unsigned long long>(changes),
      static_cast<unsigned long long>(merges), static_cast<unsigned long long>(failed), f.c_str());
  if (n == count) {
    // The faults this test is about did happen.
    EXPECT_GT(faults["partitions"], 0u);
    EXPECT_GT(faults["lost_replies"], 0u);
    if (expect_give_ups) {
      EXPECT_GT(failed, 0u) << "no merge ever gave up: the re-merge of a failed delta is untested";
    }
  }
}

TEST(CrdtSim, ReplicasConvergeUnderStandardFaults) { sweep("standard", 1, 40, false); }
TEST(CrdtSim, ReplicasConvergeUnderHarshFaults) { sweep("harsh", 100, 20, true); }

// Stamps taken at commit time (crdt::apply) grow in commit order even with skewed client clocks
// and under faults, so a reader that only ever merges updates_since(the latest stamp it saw)
// misses nothing.
TEST(CrdtSim, StampsAtCommitGiveExactCursorsUnderFaults) {
  for (const char* preset : {"standard", "harsh"}) {
    std::uint64_t syncs = 0, changes = 0, failed = 0;
    const auto [from, n] = seeds(200, 10);
    for (auto seed = from; seed < from + n; ++seed) {
      config cfg;
      cfg.faults = *sim::fault_config::preset(preset);
      cfg.stamp_at_commit = true;
      cfg.offline_client = false;  // its old stamps would land below the cursor: by design
      cfg.max_retries = 20;
      cfg.outcome_attempts = 3;
      outcome o;
      try {
        o = run(seed, cfg);
      } catch (const std::exception& e) {
        o.fail(std::string("the run threw: ") + e.what());
      }
      syncs += o.cursor_syncs;
      changes += o.changes;
      failed += o.failed_merges;
      std::string why;
      for (const auto& p : o.problems) why += "  " + p + "\n";
      EXPECT_TRUE(o.problems.empty()) << "seed " << seed << ", faults " << preset
                                      << "; replay with " << replay(preset, seed) << "\n"
                                      << why;
    }
    std::printf(
        "[ crdt sim ] stamps at commit, faults %s, %llu seeds: %llu changes, %llu "
        "attempts gave up and were made again, the cursor reader caught up %llu times\n",
        preset, static_cast<unsigned long long>(n), static_cast<unsigned long long>(changes),
        static_cast<unsigned long long>(failed), static_cast<unsigned long long>(syncs));
    EXPECT_GT(syncs, n) << "the reader never synced mid-run: the cursor is untested";
  }
}

TEST(CrdtSim, ARunIsAFunctionOfItsSeed) {
  config cfg;
  cfg.faults = sim::fault_config::standard();
  const auto a = run(7, cfg);
  const auto b = run(7, cfg);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.members, b.members);
  EXPECT_EQ(a.merge_round_trips, b.merge_round_trips);
  EXPECT_NE(run(8, cfg).trace, a.trace);
}

// Without faults, a merge whose ref nobody else wrote since this client's last commit costs
// exactly one round trip (the multi; the commit re-reads the ref from the warm cache).
TEST(CrdtSim, AnUncontendedMergeIsOneRoundTrip) {
  config cfg;
  cfg.writers = 1;
  cfg.offline_client = false;
  cfg.observe_before_write = false;
  const auto o = run(3, cfg);
  EXPECT_TRUE(o.problems.empty());
  ASSERT_EQ(o.merges, static_cast<std::uint64_t>(cfg.merges_per_writer));
  ASSERT_EQ(o.steady_merges, o.merges - 1);
  const double per_merge =
      static_cast<double>(o.merge_round_trips) / static_cast<double>(o.steady_merges);
  std::printf(
      "[ crdt sim ] one writer, no faults: %llu merges after the first, %llu round trips, "
      "%.3f per merge\n",
      static_cast<unsigned long long>(o.steady_merges),
      static_cast<unsigned long long>(o.merge_round_trips), per_merge);
  EXPECT_EQ(o.merge_round_trips, o.steady_merges);
}

// Many writers, no faults: merges conflict at the coordinator, yet no body runs twice — a
// conflict only re-reads the ref and re-applies the merge. Every round trip is accounted for:
// a merge costs its multi and, when another writer committed since this client's last look,
// one read; each conflict adds one read and one multi.
struct contended_figures {
  std::uint64_t merges = 0, trips = 0, runs = 0, reapplies = 0, conflicts = 0;
};

contended_figures contended(std::int64_t think_ns, std::uint64_t seeds) {
  config cfg;
  cfg.writers = 8;
  cfg.max_think_ns = think_ns;
  cfg.offline_client = false;  // its cut session is a fault
  cfg.observe_before_write = false;
  contended_figures f;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    const auto o = run(seed, cfg);
    EXPECT_TRUE(o.problems.empty()) << "seed " << seed;
    EXPECT_EQ(o.failed_merges, 0u);
    EXPECT_EQ(o.writer_body_runs, o.writer_merges) << "a conflict re-ran a body, seed " << seed;
    f.merges += o.steady_merges;
    f.trips += o.merge_round_trips;
    f.reapplies += o.commute_reapplies;
    f.conflicts += o.conflicts;
  }
  std::printf(
      "[ crdt sim ] %d writers, think time up to %lld ms, no faults, %llu seeds: %llu "
      "merges after each writer's first, %llu conflicts, %llu commute re-applications, "
      "%llu round trips, %.3f per merge\n",
      cfg.writers, static_cast<long long>(think_ns / sim::milliseconds),
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(f.merges),
      static_cast<unsigned long long>(f.conflicts), static_cast<unsigned long long>(f.reapplies),
      static_cast<unsigned long long>(f.trips),
      static_cast<double>(f.trips) / static_cast<double>(f.merges));
  EXPECT_EQ(f.reapplies, f.conflicts) << "every conflict was settled by re-applying the merge";
  EXPECT_LE(f.trips, 2 * f.merges + 2 * f.reapplies);
  EXPECT_GE(f.trips, f.merges + f.reapplies);
  return f;
}

TEST(CrdtSim, ConcurrentMergesNeverRerunTheirBodies) {
  const auto hot = contended(1 * sim::milliseconds, 4);
  EXPECT_GT(hot.conflicts, 0u) << "no contention: the test proves nothing";
  contended(40 * sim::milliseconds, 4);
}

}  // namespace
