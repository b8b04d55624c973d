// Porcupine's verdicts on 103 real Jepsen etcd histories (cas-register), file by file.

#include <dstm/check/linearizability.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

const std::filesystem::path data_dir = DSTM_JEPSEN_ETCD_DIR;

std::map<std::string, std::string> porcupine_verdicts() {
  std::map<std::string, std::string> verdicts;
  std::ifstream in(data_dir / "verdicts.tsv");
  std::string file, verdict;
  while (in >> file >> verdict) verdicts[file] = verdict;
  return verdicts;
}

TEST(Jepsen, EveryEtcdHistoryGetsPorcupinesVerdict) {
  const auto verdicts = porcupine_verdicts();
  ASSERT_EQ(verdicts.size(), 103u) << "verdicts.tsv missing or short in " << data_dir;
  int linearizable = 0;
  for (const auto& [file, expected] : verdicts) {
    ASSERT_TRUE(expected == "linearizable" || expected == "not-linearizable") << expected;
    std::ifstream in(data_dir / file);
    ASSERT_TRUE(in) << file;
    const auto h = dstm::check::read_history(in);
    const auto r = dstm::check::check_linearizable(h);
    const auto want = expected == "linearizable" ? dstm::check::verdict::valid
                                                 : dstm::check::verdict::invalid;
    EXPECT_EQ(r.result, want) << file << ":\n" << r.explanation;
    if (r.result == dstm::check::verdict::valid) {
      ++linearizable;
    } else {
      // An invalid verdict comes with the operation that cannot be linearized.
      ASSERT_EQ(r.keys.size(), 1u);
      EXPECT_TRUE(r.keys[0].blocked.has_value()) << file;
      EXPECT_NE(r.explanation.find("must take effect before it returns"), std::string::npos);
    }
  }
  EXPECT_EQ(linearizable, 24);
}

}  // namespace
