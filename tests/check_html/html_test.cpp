// The HTML timelines as text: every operation is in the page, strings from the history are
// escaped, the blamed operations and the anomaly's transactions are marked, nothing names the
// network; the Graphviz writer for linearizability; --html and --dot on the command line.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <dstm/check/dot.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "isolation_command.hpp"
#include "pages.hpp"

namespace dstm::check::html_test {
namespace {

namespace fs = std::filesystem;

constexpr unsigned mark_blamed = 1, mark_candidate = 2, mark_prefix = 4, mark_anomaly = 8;

/// The page works offline: no URL, no external resource, no fetch.
void expect_self_contained(const std::string& page) {
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("//cdn"), std::string::npos);
  EXPECT_EQ(page.find(" src="), std::string::npos);
  EXPECT_EQ(page.find(" href="), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("fetch("), std::string::npos);
  EXPECT_EQ(page.find("XMLHttpRequest"), std::string::npos);
  const std::regex url_call(R"(url\((?!#))");
  EXPECT_FALSE(std::regex_search(page, url_call)) << "a CSS url() that is not a fragment";
}

/// Exactly the page's own two script elements: the data and the code.
void expect_only_own_scripts(const std::string& page) {
  EXPECT_EQ(count(page, "<script"), 2u);
  EXPECT_EQ(count(page, "</script>"), 2u);
  EXPECT_EQ(count(page, "<b>"), 0u);
}

TEST(html_linearizability, every_operation_is_drawn_with_its_label) {
  const history h = stale_read_with_markup();
  const std::string page = lin_page(h);
  const auto data = page_data(page);
  EXPECT_EQ(data["kind"], "linearizability");
  ASSERT_EQ(data["ops"].size(), 5u);
  std::vector<std::string> labels;
  for (const auto& o : data["ops"]) labels.push_back(o["label"]);
  EXPECT_EQ(labels,
            (std::vector<std::string>{"write 1", "write 2", "read \u2192 2",
                                      "read \u2192 \"<script>alert(1)</script>\"", "write 7"}));
  // Lanes are processes in numeric order; the bars sit on their process's lane.
  EXPECT_EQ(data["lanes"], (nlohmann::json{"process 1", "process 2", "process 3", "process 4"}));
  EXPECT_EQ(data["ops"][2]["lane"], 2);
  // Outcomes: ok, and info for the write that ended info (its bar runs to the end).
  EXPECT_EQ(data["ops"][0]["t"], "ok");
  EXPECT_EQ(data["ops"][4]["t"], "info");
  // Positions follow line order: write 2 spans lines 3-8, columns 2-7.
  EXPECT_EQ(data["lines"], (nlohmann::json{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(data["ops"][1]["s"], 2);
  EXPECT_EQ(data["ops"][1]["c"], 7);
  const std::string tip = data["ops"][1]["tip"][0];
  EXPECT_EQ(tip, "process 2, lines 3\u20138, ok");
}

TEST(html_linearizability, values_from_the_history_are_escaped) {
  const std::string page = lin_page(stale_read_with_markup(), {.source = "a<b>.jsonl"});
  expect_only_own_scripts(page);
  EXPECT_EQ(page.find("alert(1)</script>"), std::string::npos);
  // In the data block as JSON escapes, in the findings and the report as entities.
  EXPECT_NE(page.find("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("a&lt;b&gt;.jsonl"), std::string::npos);
  EXPECT_EQ(page.find("a<b>.jsonl"), std::string::npos);
  expect_self_contained(page);
}

TEST(html_linearizability, the_blamed_operation_and_the_boundary_are_marked) {
  const history h = stale_read_with_markup();
  const linearizability_result r = check_linearizable(h);
  ASSERT_EQ(r.result, verdict::invalid);
  const std::string page = html_timeline(h, r);
  const auto data = page_data(page);
  const key_report& k = r.keys.front();
  ASSERT_TRUE(k.blocked);
  // Operation indices are invoke order: event index -> bar index.
  std::vector<std::size_t> invoke_events;
  for (std::size_t i = 0; i < h.size(); ++i)
    if (h[i].type == event_type::invoke) invoke_events.push_back(i);
  auto bar_of = [&](std::size_t event) {
    return std::find(invoke_events.begin(), invoke_events.end(), event) - invoke_events.begin();
  };
  std::size_t blamed = 0, candidates = 0, prefix = 0;
  for (std::size_t i = 0; i < data["ops"].size(); ++i) {
    const unsigned m = data["ops"][i]["m"];
    if (m & mark_blamed) {
      ++blamed;
      EXPECT_EQ(static_cast<std::ptrdiff_t>(i), bar_of(*k.blocked));
      EXPECT_NE(data["ops"][i]["tip"].dump().find("BLAMED"), std::string::npos);
    }
    if (m & mark_candidate) ++candidates;
    if (m & mark_prefix) {
      ++prefix;
      const std::size_t order = data["ops"][i]["order"];
      EXPECT_EQ(static_cast<std::ptrdiff_t>(i), bar_of(k.order.at(order - 1)));
    }
  }
  EXPECT_EQ(blamed, 1u);
  EXPECT_EQ(candidates, k.candidates.size() - 1);
  EXPECT_EQ(prefix, k.order.size());
  // The boundary: the line on which the blamed operation returned.
  ASSERT_EQ(data["boundaries"].size(), 1u);
  const std::size_t column = data["boundaries"][0]["pos"];
  EXPECT_EQ(data["lines"][column], 7);
  // The findings name it, linked to its bar.
  EXPECT_NE(page.find("<span class=\"op-ref blamed\" data-ref=\"" +
                      std::to_string(bar_of(*k.blocked)) + "\">"),
            std::string::npos);
  EXPECT_NE(page.find("must take effect before it returns on line 7"), std::string::npos);
  EXPECT_NE(page.find("verdict-invalid"), std::string::npos);
  // The focus of the first view is the blamed operation and the candidates.
  EXPECT_EQ(data["focus"].size(), k.candidates.size());
}

TEST(html_linearizability, a_valid_history_shows_its_linearization) {
  history h = stale_read_with_markup();
  h.resize(5);                                          // up to the read of 2
  h.push_back({2, event_type::ok, "write", "", 2, 0});  // completes the write of 2
  const linearizability_result r = check_linearizable(h);
  ASSERT_EQ(r.result, verdict::valid);
  const std::string page = html_timeline(h, r);
  const auto data = page_data(page);
  ASSERT_EQ(data["ops"].size(), 3u);
  for (const auto& o : data["ops"]) {
    EXPECT_TRUE(o["m"].get<unsigned>() & mark_prefix);
    EXPECT_NE(o["tip"].dump().find("linearized #"), std::string::npos);
  }
  EXPECT_TRUE(data["focus"].empty());
  EXPECT_NE(page.find("verdict-valid"), std::string::npos);
  EXPECT_EQ(page.find("What went wrong"), std::string::npos);
  expect_self_contained(page);
}

TEST(html_linearizability, keys_are_named_and_only_the_bad_key_is_blamed) {
  history h;
  auto op = [&](std::int64_t p, const char* f, const char* key, nlohmann::json in,
                nlohmann::json out) {
    h.push_back({p, event_type::invoke, f, key, in, 0});
    h.push_back({p, event_type::ok, f, key, out, 0});
  };
  op(1, "write", "good", 1, 1);
  op(2, "read", "good", nullptr, 1);
  op(1, "write", "<bad>", 1, 1);
  op(2, "read", "<bad>", nullptr, 5);
  const std::string page = lin_page(h);
  const auto data = page_data(page);
  ASSERT_EQ(data["ops"].size(), 4u);
  EXPECT_EQ(data["ops"][0]["label"], "write good 1");
  EXPECT_EQ(data["ops"][3]["label"], "read <bad> \u2192 5");
  EXPECT_EQ(data["ops"][3]["m"].get<unsigned>() & mark_blamed, mark_blamed);
  EXPECT_EQ(data["ops"][1]["m"].get<unsigned>() & mark_blamed, 0u);
  EXPECT_NE(page.find("Key &quot;&lt;bad&gt;&quot;: not linearizable"), std::string::npos);
  expect_only_own_scripts(page);
}

TEST(html_linearizability, a_result_of_another_history_is_refused) {
  const history h = stale_read_with_markup();
  linearizability_result r = check_linearizable(h);
  r.keys.front().blocked = 1;  // a completion, not an invoke
  EXPECT_THROW(html_timeline(h, r), std::invalid_argument);
  r.keys.front().blocked = 99;
  EXPECT_THROW(html_timeline(h, r), std::invalid_argument);
}

TEST(html_linearizability, large_histories_are_cut_around_the_anomaly) {
  const history h = long_history(10'000, 6'000);
  const linearizability_result r = check_linearizable(h);
  ASSERT_EQ(r.result, verdict::invalid);
  const std::string page = html_timeline(h, r, {.max_operations = 500});
  const auto data = page_data(page);
  ASSERT_EQ(data["ops"].size(), 500u);
  bool blamed = false;
  std::uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& o : data["ops"]) {
    blamed = blamed || (o["m"].get<unsigned>() & mark_blamed);
    lo = std::min<std::uint64_t>(lo, o["line"]);
    hi = std::max<std::uint64_t>(hi, o["line"]);
  }
  EXPECT_TRUE(blamed);
  // The operations kept are the ones around operation 6000 (line ~12000).
  EXPECT_GT(lo, 11'000u);
  EXPECT_LT(hi, 13'000u);
  EXPECT_FALSE(data["gaps"].empty());
  EXPECT_NE(page.find("Drawing 500 of 10000 operations"), std::string::npos);

  // Uncut (the default draws 10,000), the page stays a few megabytes.
  const std::string all = html_timeline(h, r);
  EXPECT_EQ(page_data(all)["ops"].size(), 10'000u);
  EXPECT_TRUE(page_data(all)["gaps"].empty());
  EXPECT_LT(all.size(), 8u << 20);
  EXPECT_EQ(all.find("cap-note"), std::string::npos);
}

TEST(html_isolation, every_transaction_is_drawn_with_its_micro_ops) {
  const std::string page = iso_page(g_single_history(), consistency_level::serializable);
  const auto data = page_data(page);
  EXPECT_EQ(data["kind"], "isolation");
  ASSERT_EQ(data["ops"].size(), 8u);
  EXPECT_EQ(data["ops"][0]["label"], "T0: append x 1");
  EXPECT_EQ(data["ops"][1]["label"], "T1: append y 1 r x [1]");
  EXPECT_EQ(data["ops"][4]["label"], "T4: r x [1] r y [1, 2]");
  EXPECT_EQ(data["ops"][5]["t"], "info");
  EXPECT_EQ(data["ops"][7]["t"], "fail");
  for (std::size_t i = 0; i < 8; ++i)
    EXPECT_EQ(data["ops"][i]["label"].get<std::string>().rfind("T" + std::to_string(i) + ":", 0),
              0u);
  EXPECT_EQ(data["lanes"].size(), 5u);
  expect_self_contained(page);
}

TEST(html_isolation, the_cycle_is_marked_drawn_and_explained) {
  const transaction_history h =
      parse_transaction_history(g_single_history(), workload::list_append);
  const isolation_result r = check_isolation(h, {.level = consistency_level::serializable});
  ASSERT_EQ(r.verdict, isolation_verdict::invalid);
  ASSERT_EQ(r.count(anomaly_kind::g_single), 1u);
  const std::string page = html_timeline(h, r);
  const auto data = page_data(page);
  std::set<std::size_t> in_cycle;
  for (std::size_t i = 0; i < data["ops"].size(); ++i)
    if (data["ops"][i]["m"].get<unsigned>() & mark_anomaly) in_cycle.insert(i);
  EXPECT_EQ(in_cycle, (std::set<std::size_t>{3, 4}));
  ASSERT_EQ(data["edges"].size(), 2u);
  std::multiset<std::string> kinds;
  for (const auto& e : data["edges"]) {
    kinds.insert(e["k"]);
    EXPECT_TRUE(in_cycle.count(e["a"]) && in_cycle.count(e["b"]));
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"rw", "wr"}));
  EXPECT_EQ(data["selected"], 0);
  EXPECT_EQ(data["examples"][0]["name"], "G-single");
  // The checker's words, escaped, in the page itself (readable without the script).
  for (const anomaly_example& ex : r.examples) {
    EXPECT_NE(page.find(detail::html::escape(ex.description)), std::string::npos);
    for (const dependency& d : ex.cycle)
      EXPECT_NE(page.find(detail::html::escape(d.explanation)), std::string::npos) << d.explanation;
  }
  EXPECT_NE(page.find("data-example=\"0\""), std::string::npos);
  EXPECT_NE(page.find("invalid: G-single"), std::string::npos);
}

TEST(html_isolation, keys_are_escaped) {
  const std::string page = iso_page(g2_history(), consistency_level::serializable);
  expect_only_own_scripts(page);
  expect_self_contained(page);
  EXPECT_NE(page.find("&lt;script&gt;"), std::string::npos);
  const auto data = page_data(page);
  EXPECT_EQ(data["ops"][0]["label"], "T0: r <script> [] r y [] append <script> 1");
  ASSERT_EQ(data["edges"].size(), 2u);
  for (const auto& e : data["edges"]) EXPECT_EQ(e["k"], "rw");
}

TEST(html_isolation, allowed_anomalies_are_listed_after_forbidden_ones) {
  // Write skew is allowed by snapshot isolation: listed, not a violation, still drawable.
  const std::string page = iso_page(g2_history(), consistency_level::snapshot_isolation);
  const auto data = page_data(page);
  ASSERT_EQ(data["examples"].size(), 1u);
  EXPECT_EQ(data["examples"][0]["forbidden"], false);
  EXPECT_EQ(data["selected"], 0);
  EXPECT_NE(page.find("allowed by snapshot-isolation"), std::string::npos);
  EXPECT_NE(page.find("verdict-valid"), std::string::npos);
}

TEST(html_isolation, a_valid_history_has_no_anomaly_panel) {
  const std::string page = iso_page(txn_event(0, "invoke", R"([["append", "x", 1]])") +
                                        txn_event(0, "ok", R"([["append", "x", 1]])"),
                                    consistency_level::strict_serializable);
  EXPECT_EQ(page.find("id=\"findings\""), std::string::npos);
  EXPECT_EQ(page_data(page)["selected"], -1);
  EXPECT_EQ(page_data(page)["ops"].size(), 1u);
}

TEST(html_isolation, a_result_of_another_history_is_refused) {
  const transaction_history h = parse_transaction_history(g2_history(), workload::list_append);
  isolation_result r = check_isolation(h);
  ASSERT_FALSE(r.examples.empty());
  r.examples.front().txns.push_back(42);
  EXPECT_THROW(html_timeline(h, r), std::invalid_argument);
}

TEST(dot_linearizability, the_blamed_operation_follows_the_prefix) {
  const history h = stale_read_with_markup();
  const linearizability_result r = check_linearizable(h);
  const std::string dot = linearizability_dot(h, r);
  EXPECT_EQ(dot.rfind("digraph linearizability {", 0), 0u);
  EXPECT_EQ(count(dot, "subgraph cluster_"), 1u);
  EXPECT_NE(dot.find("blamed: must come next, cannot"), std::string::npos);
  EXPECT_NE(dot.find("read \u2192 \\\"<script>alert(1)</script>\\\"\\nprocess 3, lines 6\u20137"),
            std::string::npos)
      << dot;
  EXPECT_EQ(count(dot, "\\\\n"), 0u) << "the line break must stay a Graphviz escape";
  history valid(h.begin(), h.begin() + 2);
  EXPECT_EQ(linearizability_dot(valid, check_linearizable(valid)),
            "digraph linearizability {\n  rankdir=LR;\n"
            "  node [shape=box, style=rounded, fontname=\"monospace\"];\n}\n");
}

class html_cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dstm_check_html_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
};

TEST_F(html_cli, isolation_html_writes_the_page) {
  const std::string history = write("h.jsonl", g_single_history());
  const std::string html = (dir_ / "out.html").string();
  std::ostringstream out, err;
  const std::vector<std::string> args{history, "--html", html};
  EXPECT_EQ(isolation_command(args, out, err), 1) << err.str();
  const std::string page = read(html);
  EXPECT_EQ(page_data(page)["ops"].size(), 8u);
  EXPECT_NE(page.find("h.jsonl"), std::string::npos);
  EXPECT_NE(out.str().find("invalid: G-single"), std::string::npos);

  const std::vector<std::string> unwritable{history, "--html",
                                            (dir_ / "no/such/dir.html").string()};
  EXPECT_EQ(isolation_command(unwritable, out, err), 3);
  EXPECT_NE(err.str().find("cannot write"), std::string::npos);
  const std::vector<std::string> missing{history, "--html"};
  EXPECT_EQ(isolation_command(missing, out, err), 3);
}

#ifdef DSTM_CHECK_BINARY
int run(const std::string& args) {
  const std::string command =
      std::string("'") + DSTM_CHECK_BINARY + "' " + args + " >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(html_cli, linearizable_html_and_dot_write_the_pictures) {
  std::ostringstream text;
  write_history(text, stale_read_with_markup());
  const std::string history = write("h.jsonl", text.str());
  const fs::path html = dir_ / "out.html", dot = dir_ / "out.dot";
  EXPECT_EQ(run("linearizable '" + history + "' --html '" + html.string() + "' --dot '" +
                dot.string() + "'"),
            1);
  const std::string page = read(html);
  EXPECT_EQ(page_data(page)["ops"].size(), 5u);
  EXPECT_NE(read(dot).find("subgraph cluster_0"), std::string::npos);
  EXPECT_EQ(run("linearizable '" + history + "' --html '" + (dir_ / "no/dir.html").string() + "'"),
            3);
  EXPECT_EQ(run("linearizable '" + history + "' --html"), 3);
}
#endif

}  // namespace
}  // namespace dstm::check::html_test
