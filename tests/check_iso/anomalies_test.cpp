// Hand-written histories, one per anomaly and workload, checked at every consistency level.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <dstm/check/isolation/generator.hpp>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace dstm::check::test {
namespace {

struct anomaly_case {
  const char* name;
  workload kind;
  std::string history;
  anomaly_kind expected;  // must be among the anomalies found (ignored when none_expected)
  bool none_expected;     // a clean history: nothing at all may be found
  const char* verdicts;   // per level RC RR SI SER SSER: v valid, i invalid
};

std::ostream& operator<<(std::ostream& os, const anomaly_case& c) { return os << c.name; }

std::vector<anomaly_case> cases() {
  const workload LA = workload::list_append;
  const workload RW = workload::rw_register;
  std::vector<anomaly_case> v;

  // ---- list-append ----
  v.push_back({"la_clean", LA,
               txn(0, R"([["append", "x", 1]])") +
                   txn(1, R"([["r", "x", null], ["append", "y", 1]])",
                       R"([["r", "x", [1]], ["append", "y", 1]])") +
                   txn(0, R"([["r", "x", null], ["r", "y", null]])",
                       R"([["r", "x", [1]], ["r", "y", [1]]])"),
               anomaly_kind::g0, true, "vvvvv"});
  // x = [1 (T0), 2 (T1)] but y = [1 (T1), 2 (T0)]: each overwrote the other.
  v.push_back({"la_g0", LA,
               txn(0, R"([["append", "x", 1], ["append", "y", 2]])") +
                   txn(1, R"([["append", "x", 2], ["append", "y", 1]])") +
                   txn(2, R"([["r", "x", null], ["r", "y", null]])",
                       R"([["r", "x", [1, 2]], ["r", "y", [1, 2]]])"),
               anomaly_kind::g0, false, "iiiii"});
  v.push_back({"la_g1a", LA,
               failed(0, R"([["append", "x", 1]])") +
                   txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])"),
               anomaly_kind::g1a, false, "iiiii"});
  v.push_back({"la_g1b", LA,
               txn(0, R"([["append", "x", 1], ["append", "x", 2]])") +
                   txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])"),
               anomaly_kind::g1b, false, "iiiii"});
  // Each read the other's append: information flowed both ways.
  v.push_back({"la_g1c", LA,
               event(0, "invoke", R"([["append", "x", 1], ["r", "y", null]])") +
                   event(1, "invoke", R"([["append", "y", 1], ["r", "x", null]])") +
                   event(0, "ok", R"([["append", "x", 1], ["r", "y", [1]]])") +
                   event(1, "ok", R"([["append", "y", 1], ["r", "x", [1]]])"),
               anomaly_kind::g1c, false, "iiiii"});
  // Read skew: T1 saw T0's y but not its x.
  v.push_back({"la_g_single", LA,
               txn(0, R"([["append", "x", 1], ["append", "y", 1]])") +
                   txn(1, R"([["r", "x", null], ["r", "y", null]])",
                       R"([["r", "x", []], ["r", "y", [1]]])"),
               anomaly_kind::g_single, false, "viiii"});
  // Write skew: both read both keys empty, each appended to a different one.
  v.push_back(
      {"la_g2_item", LA,
       event(0, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "x", 1]])") +
           event(1, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "y", 1]])") +
           event(0, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "x", 1]])") +
           event(1, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "y", 1]])"),
       anomaly_kind::g2_item, false, "vivii"});
  v.push_back({"la_lost_update", LA,
               event(0, "invoke", R"([["r", "x", null], ["append", "x", 1]])") +
                   event(1, "invoke", R"([["r", "x", null], ["append", "x", 2]])") +
                   event(0, "ok", R"([["r", "x", []], ["append", "x", 1]])") +
                   event(1, "ok", R"([["r", "x", []], ["append", "x", 2]])") +
                   txn(2, R"([["r", "x", null]])", R"([["r", "x", [1, 2]]])"),
               anomaly_kind::lost_update, false, "viiii"});
  v.push_back({"la_duplicate", LA,
               txn(0, R"([["append", "x", 1]])") +
                   txn(1, R"([["r", "x", null]])", R"([["r", "x", [1, 1]]])"),
               anomaly_kind::duplicate_elements, false, "iiiii"});
  v.push_back(
      {"la_internal", LA,
       txn(0, R"([["append", "x", 1]])") + txn(1, R"([["append", "x", 5], ["r", "x", null]])",
                                               R"([["append", "x", 5], ["r", "x", [1]]])"),
       anomaly_kind::internal, false, "iiiii"});
  v.push_back({"la_incompatible_order", LA,
               txn(0, R"([["append", "x", 1]])") + txn(1, R"([["append", "x", 2]])") +
                   txn(2, R"([["r", "x", null]])", R"([["r", "x", [1, 2]]])") +
                   txn(3, R"([["r", "x", null]])", R"([["r", "x", [2, 1]]])"),
               anomaly_kind::incompatible_order, false, "iiiii"});
  v.push_back({"la_garbage", LA, txn(0, R"([["r", "x", null]])", R"([["r", "x", [9]]])"),
               anomaly_kind::garbage_read, false, "iiiii"});
  // A stale read: serializable (T1 first), but T0 had completed before T1 began.
  v.push_back(
      {"la_stale_read", LA,
       txn(0, R"([["append", "x", 1]])") + txn(1, R"([["r", "x", null]])", R"([["r", "x", []]])"),
       anomaly_kind::g_single_realtime, false, "vvvvi"});

  // ---- rw-register ----
  v.push_back(
      {"rw_clean", RW,
       txn(0, R"([["w", "x", 1]])") +
           txn(1, R"([["r", "x", null], ["w", "y", 1]])", R"([["r", "x", 1], ["w", "y", 1]])") +
           txn(0, R"([["r", "x", null], ["r", "y", null]])", R"([["r", "x", 1], ["r", "y", 1]])"),
       anomaly_kind::g0, true, "vvvvv"});
  v.push_back(
      {"rw_g1a", RW,
       failed(0, R"([["w", "x", 1]])") + txn(1, R"([["r", "x", null]])", R"([["r", "x", 1]])"),
       anomaly_kind::g1a, false, "iiiii"});
  v.push_back({"rw_g1b", RW,
               txn(0, R"([["w", "x", 1], ["w", "x", 2]])") +
                   txn(1, R"([["r", "x", null]])", R"([["r", "x", 1]])"),
               anomaly_kind::g1b, false, "iiiii"});
  v.push_back({"rw_g1c", RW,
               event(0, "invoke", R"([["w", "x", 1], ["r", "y", null]])") +
                   event(1, "invoke", R"([["w", "y", 1], ["r", "x", null]])") +
                   event(0, "ok", R"([["w", "x", 1], ["r", "y", 1]])") +
                   event(1, "ok", R"([["w", "y", 1], ["r", "x", 1]])"),
               anomaly_kind::g1c, false, "iiiii"});
  v.push_back({"rw_g_single", RW,
               txn(0, R"([["w", "x", 1], ["w", "y", 1]])") +
                   txn(1, R"([["r", "x", null], ["r", "y", null]])",
                       R"([["r", "x", null], ["r", "y", 1]])"),
               anomaly_kind::g_single, false, "viiii"});
  v.push_back({"rw_g2_item", RW,
               event(0, "invoke", R"([["r", "x", null], ["r", "y", null], ["w", "x", 1]])") +
                   event(1, "invoke", R"([["r", "x", null], ["r", "y", null], ["w", "y", 1]])") +
                   event(0, "ok", R"([["r", "x", null], ["r", "y", null], ["w", "x", 1]])") +
                   event(1, "ok", R"([["r", "x", null], ["r", "y", null], ["w", "y", 1]])"),
               anomaly_kind::g2_item, false, "vivii"});
  v.push_back({"rw_lost_update", RW,
               txn(2, R"([["w", "x", 5]])") +
                   event(0, "invoke", R"([["r", "x", null], ["w", "x", 1]])") +
                   event(1, "invoke", R"([["r", "x", null], ["w", "x", 2]])") +
                   event(0, "ok", R"([["r", "x", 5], ["w", "x", 1]])") +
                   event(1, "ok", R"([["r", "x", 5], ["w", "x", 2]])"),
               anomaly_kind::lost_update, false, "viiii"});
  v.push_back({"rw_internal", RW,
               txn(0, R"([["w", "x", 1]])") + txn(1, R"([["w", "x", 5], ["r", "x", null]])",
                                                  R"([["w", "x", 5], ["r", "x", 1]])"),
               anomaly_kind::internal, false, "iiiii"});
  v.push_back({"rw_garbage", RW, txn(0, R"([["r", "x", null]])", R"([["r", "x", 9]])"),
               anomaly_kind::garbage_read, false, "iiiii"});
  // With realtime, x's versions are ordered 1 < 2, so T2's read of 1 is stale.
  v.push_back({"rw_stale_read", RW,
               txn(0, R"([["w", "x", 1]])") + txn(1, R"([["w", "x", 2]])") +
                   txn(2, R"([["r", "x", null]])", R"([["r", "x", 1]])"),
               anomaly_kind::g_single_realtime, false, "vvvvi"});
  return v;
}

class anomalies : public ::testing::TestWithParam<anomaly_case> {};

TEST_P(anomalies, verdict_at_every_level_follows_the_table) {
  const anomaly_case& c = GetParam();
  std::size_t i = 0;
  for (consistency_level level : all_levels) {
    const isolation_result r = check(c.history, c.kind, level);
    const bool invalid = c.verdicts[i++] == 'i';
    SCOPED_TRACE(std::string(name(level)) + "\n" + r.report());
    EXPECT_EQ(r.verdict, invalid ? isolation_verdict::invalid : isolation_verdict::valid);
    if (c.none_expected) {
      EXPECT_TRUE(r.examples.empty());
      EXPECT_EQ(r.verdict_line(), "valid");
      continue;
    }
    const bool realtime_kind = c.expected == anomaly_kind::g_single_realtime;
    if (!realtime_kind || level == consistency_level::strict_serializable) {
      EXPECT_GT(r.count(c.expected), 0u) << "expected " << name(c.expected);
    }
    // The verdict is exactly "some anomaly found is forbidden by the level".
    bool forbidden_found = false;
    for (anomaly_kind k : all_anomaly_kinds) {
      if (r.count(k) > 0 && forbids(level, k)) forbidden_found = true;
    }
    EXPECT_EQ(forbidden_found, invalid);
    if (invalid) {
      EXPECT_NE(r.verdict_line().find(std::string(name(c.expected))), std::string::npos)
          << r.verdict_line();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(isolation, anomalies, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The cycle is reported edge by edge, in words, and names the keys and values involved.
TEST(isolation_report, g_single_cycle_is_explained) {
  const std::string h =
      txn(0, R"([["append", "x", 1], ["append", "y", 1]])") +
      txn(1, R"([["r", "x", null], ["r", "y", null]])", R"([["r", "x", []], ["r", "y", [1]]])");
  const isolation_result r = check(h, workload::list_append, consistency_level::serializable);
  ASSERT_EQ(r.count(anomaly_kind::g_single), 1u);
  const auto it = std::find_if(r.examples.begin(), r.examples.end(), [](const anomaly_example& e) {
    return e.kind == anomaly_kind::g_single;
  });
  ASSERT_NE(it, r.examples.end());
  ASSERT_EQ(it->cycle.size(), 2u);
  std::string wr, rw;
  for (const dependency& d : it->cycle) {
    if (d.kind == edge_wr) wr = d.explanation;
    if (d.kind == edge_rw) rw = d.explanation;
  }
  EXPECT_EQ(wr, "T1 read y = [1], observing T0's append of 1");
  EXPECT_EQ(rw,
            "T1 read x = [], which did not include T0's append to x (which no read observed, "
            "so it comes later)");
  EXPECT_NE(r.report().find("T0: process 0, invoke line 1, ok line 2: [append x 1] [append y 1]"),
            std::string::npos)
      << r.report();
  EXPECT_EQ(r.verdict_line(), "invalid: G-single");
}

TEST(isolation_report, ww_edges_name_both_appends) {
  const std::string h = txn(0, R"([["append", "x", 1], ["append", "y", 2]])") +
                        txn(1, R"([["append", "x", 2], ["append", "y", 1]])") +
                        txn(2, R"([["r", "x", null], ["r", "y", null]])",
                            R"([["r", "x", [1, 2]], ["r", "y", [1, 2]]])");
  const isolation_result r = check(h, workload::list_append, consistency_level::read_committed);
  ASSERT_EQ(r.count(anomaly_kind::g0), 1u);
  const anomaly_example& ex = r.examples.front();
  ASSERT_EQ(ex.kind, anomaly_kind::g0);
  ASSERT_EQ(ex.cycle.size(), 2u);
  for (const dependency& d : ex.cycle) {
    EXPECT_EQ(d.kind, edge_ww);
    if (d.from == 0) {
      EXPECT_EQ(d.explanation, "T1 appended 2 to x after T0 appended 1 (x's longest read: [1, 2])");
    } else {
      EXPECT_EQ(d.explanation, "T0 appended 2 to y after T1 appended 1 (y's longest read: [1, 2])");
    }
  }
  const std::string dot = r.dot();
  EXPECT_NE(dot.find("digraph isolation"), std::string::npos);
  EXPECT_NE(dot.find("c0_T0 -> c0_T1 [label=\"ww x\""), std::string::npos) << dot;
}

TEST(isolation_report, rw_register_explains_version_order) {
  const std::string h = txn(0, R"([["w", "x", 1]])") + txn(1, R"([["w", "x", 2]])") +
                        txn(2, R"([["r", "x", null]])", R"([["r", "x", 1]])");
  const isolation_result r =
      check(h, workload::rw_register, consistency_level::strict_serializable);
  ASSERT_GT(r.count(anomaly_kind::g_single_realtime), 0u) << r.report();
  const std::string report = r.report();
  EXPECT_NE(report.find("T2 read x = 1, and T1 wrote the next version 2"), std::string::npos)
      << report;
  EXPECT_NE(report.find("T1 completed (line 4) before T2 was invoked (line 5)"), std::string::npos)
      << report;
}

// Failed transactions are not part of the graph; info ones are, and may have committed.
TEST(isolation_semantics, info_writes_may_be_observed) {
  const std::string h = event(0, "invoke", R"([["append", "x", 1]])") +
                        event(0, "info", R"([["append", "x", 1]])") +
                        txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])");
  for (consistency_level level : all_levels) {
    EXPECT_EQ(check(h, workload::list_append, level).verdict, isolation_verdict::valid);
  }
}

TEST(isolation_semantics, never_completed_transactions_count_as_info) {
  const std::string h = event(0, "invoke", R"([["append", "x", 1]])") +
                        txn(1, R"([["r", "x", null]])", R"([["r", "x", [1]]])");
  const isolation_result r = check(h, workload::list_append, consistency_level::serializable);
  EXPECT_EQ(r.verdict, isolation_verdict::valid);
  EXPECT_EQ(r.info, 1u);
  EXPECT_EQ(r.ok, 1u);
}

TEST(isolation_semantics, a_repeated_read_by_one_reader_is_not_a_lost_update) {
  const std::string h = txn(0, R"([["r", "x", null], ["r", "x", null], ["append", "x", 1]])",
                            R"([["r", "x", []], ["r", "x", []], ["append", "x", 1]])");
  EXPECT_EQ(check(h, workload::list_append, consistency_level::strict_serializable).verdict,
            isolation_verdict::valid);
}

TEST(isolation_semantics, non_transaction_events_are_skipped_and_counted) {
  const std::string h =
      R"({"process": "nemesis", "type": "info", "f": "start-partition", "value": null})"
      "\n" +
      txn(0, R"([["append", 7, 1]])") + txn(1, R"([["r", 7, null]])", R"([["r", 7, [1]]])");
  const isolation_result r = check(h, workload::list_append, consistency_level::serializable);
  EXPECT_EQ(r.verdict, isolation_verdict::valid);
  EXPECT_EQ(r.skipped_events, 1u);
  EXPECT_EQ(r.ok, 2u);
}

TEST(isolation_semantics, integer_and_string_keys_are_distinct) {
  // "1" and 1 are different keys: T1 reads key 1 (an integer) which nobody appended to.
  const std::string h =
      txn(0, R"([["append", "1", 5]])") + txn(1, R"([["r", 1, null]])", R"([["r", 1, [5]]])");
  const isolation_result r = check(h, workload::list_append, consistency_level::serializable);
  EXPECT_GT(r.count(anomaly_kind::garbage_read), 0u);
}

TEST(isolation_budget, zero_budget_on_a_cyclic_history_is_unknown) {
  const std::string h =
      event(0, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "x", 1]])") +
      event(1, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "y", 1]])") +
      event(0, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "x", 1]])") +
      event(1, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "y", 1]])");
  const transaction_history history = parse_transaction_history(h, workload::list_append);
  isolation_options options;
  options.search_budget = 0;
  const isolation_result r = check_isolation(history, options);
  EXPECT_EQ(r.verdict, isolation_verdict::unknown);
  EXPECT_TRUE(r.search_exhausted);
  EXPECT_EQ(r.verdict_line(), "unknown");
  // An acyclic history needs no search at all, so even a zero budget proves it.
  const std::string clean = txn(0, R"([["append", "x", 1]])");
  EXPECT_EQ(
      check_isolation(parse_transaction_history(clean, workload::list_append), options).verdict,
      isolation_verdict::valid);
}

TEST(isolation_examples, are_capped_but_all_counted) {
  std::string h;
  for (int i = 0; i < 10; ++i) {
    h += failed(0, R"([["append", "x", )" + std::to_string(i) + "]]");
  }
  std::string list = "[";
  for (int i = 0; i < 10; ++i) list += (i ? ", " : "") + std::to_string(i);
  list += "]";
  for (int p = 1; p <= 5; ++p) {
    h += txn(p, R"([["r", "x", null]])", R"([["r", "x", )" + list + "]]");
  }
  const isolation_result r = check(h, workload::list_append, consistency_level::read_committed);
  EXPECT_EQ(r.count(anomaly_kind::g1a), 5u);
  EXPECT_EQ(std::count_if(r.examples.begin(), r.examples.end(),
                          [](const anomaly_example& e) { return e.kind == anomaly_kind::g1a; }),
            3);
}

// ---- The read pass on two threads: the one-thread result, anomalies or not ----

// Every anomaly the read pass reports, on key `k` (processes p and p + 1): an aborted read, an
// intermediate read, garbage, a duplicate, an internal one, and a lost update.
std::string read_anomalies(const std::string& k, int p) {
  const std::string x = "\"" + k + "\"";
  auto ops = [&](const std::string& body) { return "[" + body + "]"; };
  auto read = [&](const std::string& list) { return ops("[\"r\", " + x + ", " + list + "]"); };
  const std::string r_null = read("null");
  return failed(p, ops("[\"append\", " + x + ", 1]")) +
         txn(p, ops("[\"append\", " + x + ", 2], [\"append\", " + x + ", 3]")) +
         txn(p + 1, r_null, read("[2]")) + txn(p + 1, r_null, read("[2, 3, 1]")) +
         txn(p + 1, r_null, read("[2, 3, 9]")) + txn(p + 1, r_null, read("[2, 3, 3]")) +
         txn(p, ops("[\"append\", " + x + ", 4], [\"r\", " + x + ", null]"),
             ops("[\"append\", " + x + ", 4], [\"r\", " + x + ", [2, 3]]")) +
         txn(p, ops("[\"r\", " + x + ", null], [\"append\", " + x + ", 5]"),
             ops("[\"r\", " + x + ", [2, 3]], [\"append\", " + x + ", 5]")) +
         txn(p + 1, ops("[\"r\", " + x + ", null], [\"append\", " + x + ", 6]"),
             ops("[\"r\", " + x + ", [2, 3]], [\"append\", " + x + ", 6]"));
}

// A generated serial history with the anomalies above planted after its transaction `first`
// (key "a") and `second` (key "b"); -1: not planted.
std::string planted_history(int first, int second) {
  history_generator_options o;
  o.transactions = 300;
  history_generator gen(o, 3);
  std::ostringstream out;
  generated_event e;
  for (int i = 0; gen.next(e); ++i) {
    write_generated_event(out, e, workload::list_append);
    if (i == 2 * first) out << read_anomalies("a", 100);
    if (i == 2 * second) out << read_anomalies("b", 102);
  }
  return out.str();
}

struct read_pass_threshold {
  explicit read_pass_threshold(std::uint32_t n) : saved(detail::parallel_read_pass_min) {
    detail::parallel_read_pass_min = n;
  }
  ~read_pass_threshold() { detail::parallel_read_pass_min = saved; }
  std::uint32_t saved;
};

TEST(parallel_read_pass, finds_what_one_thread_finds) {
  for (const auto& [first, second] : {std::pair{-1, -1}, std::pair{20, -1}, std::pair{-1, 250},
                                      std::pair{20, 250}, std::pair{140, 160}}) {
    const std::string text = planted_history(first, second);
    const transaction_history h = parse_transaction_history(text, workload::list_append);
    for (consistency_level level : all_levels) {
      for (std::size_t max_examples : {std::size_t{1}, std::size_t{2}, std::size_t{100}}) {
        isolation_options options;
        options.level = level;
        options.max_examples = max_examples;
        isolation_result one, two;
        {
          read_pass_threshold never(std::numeric_limits<std::uint32_t>::max());
          one = check_isolation(h, options);
        }
        {
          read_pass_threshold always(0);
          two = check_isolation(h, options);
        }
        const std::string where = std::to_string(first) + "/" + std::to_string(second) + " " +
                                  std::to_string(max_examples);
        EXPECT_EQ(two.report(), one.report()) << where;
        EXPECT_EQ(two.dot(), one.dot()) << where;
        EXPECT_EQ(two.edges, one.edges) << where;
        if (first >= 0 || second >= 0) {
          EXPECT_GT(one.count(anomaly_kind::g1a), 0u) << where;
          EXPECT_GT(one.count(anomaly_kind::internal), 0u) << where;
          EXPECT_GT(one.count(anomaly_kind::lost_update), 0u) << where;
        }
      }
    }
  }
}

}  // namespace
}  // namespace dstm::check::test
