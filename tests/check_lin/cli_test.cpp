// dstm-check linearizable, run as a program: last lines and exit codes.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

const std::string binary = DSTM_CHECK_BINARY;

struct run_result {
  int exit_code = -1;
  std::string out;  // stdout and stderr, in order
  std::string last_line() const {
    std::string s = out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    const auto nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }
};

run_result run(const std::string& args, const std::string& stdin_file = "") {
  std::string command = "'" + binary + "' " + args;
  if (!stdin_file.empty()) command += " < '" + stdin_file + "'";
  command += " 2>&1";
  run_result r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dstm-check-lin-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << content;
    return p.string();
  }

  fs::path dir_;
};

const char* stale_read =
    "{\"process\": 1, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1}\n"
    "{\"process\": 1, \"type\": \"ok\", \"f\": \"write\", \"value\": 1}\n"
    "{\"process\": 2, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n"
    "{\"process\": 2, \"type\": \"ok\", \"f\": \"read\", \"value\": 2}\n";

TEST_F(Cli, ValidHistoryExitsZero) {
  const std::string valid =
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1}\n"
      "{\"process\": 2, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n"
      "{\"process\": 2, \"type\": \"ok\", \"f\": \"read\", \"value\": 1}\n"
      "{\"process\": 1, \"type\": \"info\", \"f\": \"write\", \"value\": 1}\n";
  const auto r = run("linearizable '" + file("ok.jsonl", valid) + "'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.last_line(), "valid");
}

TEST_F(Cli, InvalidHistoryExitsOneAndExplains) {
  const auto r = run("linearizable '" + file("h.jsonl", stale_read) + "'");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.last_line(), "invalid");
  EXPECT_NE(r.out.find("process 2, lines 3-4: read -> 2\n        impossible from the register "
                       "holding 1"),
            std::string::npos)
      << r.out;
}

TEST_F(Cli, ReadsStandardInput) {
  const auto r = run("linearizable -", file("h.jsonl", stale_read));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.last_line(), "invalid");
}

TEST_F(Cli, TimeLimitGivesUnknown) {
  // 24 concurrent writes and an impossible read: ~24 * 2^24 configurations.
  std::string h;
  for (int p = 0; p < 24; ++p)
    h += "{\"process\": " + std::to_string(p) + ", \"type\": \"invoke\", \"f\": \"write\", "
         "\"value\": " + std::to_string(p) + "}\n";
  h += "{\"process\": 99, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n"
       "{\"process\": 99, \"type\": \"ok\", \"f\": \"read\", \"value\": -1}\n";
  for (int p = 0; p < 24; ++p)
    h += "{\"process\": " + std::to_string(p) + ", \"type\": \"ok\", \"f\": \"write\", "
         "\"value\": " + std::to_string(p) + "}\n";
  const auto r = run("linearizable '" + file("slow.jsonl", h) + "' --time-limit 0.05");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(r.last_line(), "unknown");
}

TEST_F(Cli, OtherModels) {
  const std::string counter =
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"add\", \"value\": 2}\n"
      "{\"process\": 1, \"type\": \"ok\", \"f\": \"add\", \"value\": 2}\n"
      "{\"process\": 2, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}\n"
      "{\"process\": 2, \"type\": \"ok\", \"f\": \"read\", \"value\": 2}\n";
  const auto path = file("c.jsonl", counter);
  EXPECT_EQ(run("linearizable '" + path + "' --model counter").exit_code, 0);
  const auto wrong = run("linearizable '" + path + "'");
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_EQ(wrong.last_line(), path + ":1: the cas-register model knows read, write and cas, not "
                                      "\"add\" (choose another model)");
  const std::string mutex =
      "{\"process\": 1, \"type\": \"invoke\", \"f\": \"acquire\"}\n"
      "{\"process\": 1, \"type\": \"ok\", \"f\": \"acquire\"}\n"
      "{\"process\": 2, \"type\": \"invoke\", \"f\": \"acquire\"}\n"
      "{\"process\": 2, \"type\": \"ok\", \"f\": \"acquire\"}\n";
  const auto m = run("linearizable --model mutex '" + file("m.jsonl", mutex) + "'");
  EXPECT_EQ(m.exit_code, 1) << m.out;
  EXPECT_EQ(m.last_line(), "invalid");
}

TEST_F(Cli, UnreadableInputExitsThreeWithLineAndReason) {
  const auto path = file("bad.jsonl", std::string(stale_read) + "{\"process\": 3, \"type\"}\n");
  const auto r = run("linearizable '" + path + "'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.last_line(), path + ":5: invalid JSON: column 22: expected ':' after an object key");
  const auto missing = run("linearizable '" + (dir_ / "nope.jsonl").string() + "'");
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(missing.last_line(), (dir_ / "nope.jsonl").string() + ": cannot open");
}

TEST_F(Cli, BadArgumentsExitThree) {
  const auto path = file("h.jsonl", stale_read);
  EXPECT_EQ(run("").exit_code, 3);
  EXPECT_EQ(run("frobnicate").exit_code, 3);
  EXPECT_EQ(run("linearizable").exit_code, 3);
  EXPECT_EQ(run("linearizable '" + path + "' --model queue").last_line(),
            "dstm-check linearizable: unknown model \"queue\" (known: cas-register, counter, "
            "set, mutex)");
  EXPECT_EQ(run("linearizable '" + path + "' --model queue").exit_code, 3);
  EXPECT_EQ(run("linearizable '" + path + "' --time-limit soon").exit_code, 3);
  EXPECT_EQ(run("linearizable '" + path + "' --time-limit").exit_code, 3);
  EXPECT_EQ(run("linearizable '" + path + "' '" + path + "'").exit_code, 3);
}

TEST_F(Cli, Help) {
  const auto top = run("--help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("dstm-check linearizable FILE"), std::string::npos);
  const auto sub = run("linearizable --help");
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_NE(sub.out.find("cas-register"), std::string::npos);
}

}  // namespace
