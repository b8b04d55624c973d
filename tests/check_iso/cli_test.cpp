// `dstm-check isolation`: exit codes, last lines, errors, --dot. Calls isolation_command directly.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "isolation_command.hpp"
#include "support.hpp"

namespace dstm::check::test {
namespace {

namespace fs = std::filesystem;

class cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dstm_check_iso_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return isolation_command(args, out_, err_);
  }

  std::string last_line() const {
    std::string s = out_.str();
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s.substr(s.rfind('\n') + 1);
  }

  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

const std::string write_skew =
    event(0, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "x", 1]])") +
    event(1, "invoke", R"([["r", "x", null], ["r", "y", null], ["append", "y", 1]])") +
    event(0, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "x", 1]])") +
    event(1, "ok", R"([["r", "x", []], ["r", "y", []], ["append", "y", 1]])");

TEST_F(cli, valid_history_exits_0) {
  const std::string f = write("h.jsonl", txn(0, R"([["append", "x", 1]])"));
  EXPECT_EQ(run({f}), 0) << err_.str();
  EXPECT_EQ(last_line(), "valid");
}

TEST_F(cli, write_skew_is_valid_under_snapshot_isolation_only) {
  const std::string f = write("h.jsonl", write_skew);
  EXPECT_EQ(run({f, "--level", "snapshot-isolation"}), 0);
  EXPECT_EQ(last_line(), "valid");
  EXPECT_NE(out_.str().find("G2-item: 1 found (allowed by snapshot-isolation)"), std::string::npos)
      << out_.str();
  EXPECT_EQ(run({f, "--level", "serializable"}), 1);
  EXPECT_EQ(last_line(), "invalid: G2-item");
  EXPECT_EQ(run({f}), 1);  // serializable is the default
}

TEST_F(cli, lists_every_forbidden_anomaly) {
  const std::string h = failed(3, R"([["append", "z", 1]])") +
                        txn(4, R"([["r", "z", null]])", R"([["r", "z", [1]]])") + write_skew;
  const std::string f = write("h.jsonl", h);
  EXPECT_EQ(run({f, "--level", "strict-serializable"}), 1);
  EXPECT_EQ(last_line(), "invalid: G1a, G2-item");
  EXPECT_EQ(run({f, "--level", "read-committed"}), 1);
  EXPECT_EQ(last_line(), "invalid: G1a");
}

TEST_F(cli, rw_register_workload) {
  const std::string f = write("h.jsonl", txn(0, R"([["w", "x", 1]])") +
                                             txn(1, R"([["r", "x", null]])", R"([["r", "x", 1]])"));
  EXPECT_EQ(run({f, "--workload", "rw-register", "--level", "strict-serializable"}), 0)
      << err_.str();
  EXPECT_EQ(last_line(), "valid");
  // The same file is not a list-append history.
  EXPECT_EQ(run({f}), 3);
  EXPECT_NE(err_.str().find("line 1: column 57: micro-op \"w\" does not belong in a list-append"),
            std::string::npos)
      << err_.str();
}

TEST_F(cli, budget_exhaustion_exits_2) {
  const std::string f = write("h.jsonl", write_skew);
  EXPECT_EQ(run({f, "--budget", "0"}), 2);
  EXPECT_EQ(last_line(), "unknown");
}

TEST_F(cli, unreadable_input_exits_3_with_line_and_reason) {
  const std::string f = write("h.jsonl", txn(0, R"([["append", "x", 1]])") + "{\"process\": 1,\n");
  EXPECT_EQ(run({f}), 3);
  EXPECT_NE(err_.str().find("h.jsonl: line 3: column 15: expected an object key (a string)"),
            std::string::npos)
      << err_.str();
  EXPECT_EQ(run({(dir_ / "missing.jsonl").string()}), 3);
  EXPECT_NE(err_.str().find("cannot open"), std::string::npos);
}

TEST_F(cli, bad_arguments_exit_3) {
  const std::string f = write("h.jsonl", txn(0, R"([["append", "x", 1]])"));
  EXPECT_EQ(run({}), 3);
  EXPECT_EQ(run({f, "--level", "linearizable"}), 3);
  EXPECT_NE(err_.str().find("unknown level \"linearizable\""), std::string::npos);
  EXPECT_EQ(run({f, "--workload", "bank"}), 3);
  EXPECT_EQ(run({f, "--budget", "lots"}), 3);
  EXPECT_EQ(run({f, "--level"}), 3);
  EXPECT_EQ(run({f, "--frobnicate"}), 3);
  EXPECT_EQ(run({f, f}), 3);
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_NE(out_.str().find("usage: dstm-check isolation FILE"), std::string::npos);
}

TEST_F(cli, dot_writes_the_cycle) {
  const std::string f = write("h.jsonl", write_skew);
  const std::string dot = (dir_ / "cycle.dot").string();
  EXPECT_EQ(run({f, "--dot", dot}), 1);
  std::ifstream in(dot);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("digraph isolation"), std::string::npos);
  EXPECT_NE(text.str().find("label=\"G2-item\""), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("[label=\"rw y\""), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("[label=\"rw x\""), std::string::npos) << text.str();
}

}  // namespace
}  // namespace dstm::check::test
