// The lww_node service (examples/lww_node): three node processes share one set through a private
// ZooKeeper server. Concurrent clients insert and delete random elements against random nodes;
// an offline client buffers changes, pushes them later and catches up with /updates?since; a
// watcher long-polls /updates. All nodes must converge to the members the acknowledged writes
// decide (nothing acknowledged is lost), and the offline client's and the watcher's replicas,
// built only from deltas, must equal the nodes' state. Malformed requests get 400 with a
// message and change nothing; bad arguments get the usage and exit code 2.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <dstm/crdt/clock.hpp>
#include <dstm/crdt/lww_element_set.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace crdt = dstm::crdt;
using set = crdt::lww_element_set<std::string>;

/// Runs build/bin/lww_node with `args`; returns its exit code and what it wrote to stdout and
/// stderr (for the argument checks: the process exits at once).
std::pair<int, std::string> run_to_exit(const std::vector<std::string>& args) {
  int out[2];
  if (::pipe(out) != 0) return {-1, "pipe failed"};
  std::vector<std::string> storage{"lww_node"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::execv(LWW_NODE_BIN, argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

/// One lww_node process on a port it chose (`--port 0`), read from its first line of output.
/// Killed with SIGTERM by the destructor (and by the kernel if the test process dies).
class node_process {
 public:
  node_process(const std::string& zk, std::uint64_t id, const std::string& path) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> storage{"lww_node",         "--zk",   zk,  "--port", "0", "--node-id",
                                     std::to_string(id), "--path", path};
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::execv(LWW_NODE_BIN, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    // "lww_node ID listening on HOST:PORT"
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (line.find('\n') == std::string::npos) {
      pollfd p{out_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[256];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    const auto colon = line.rfind(':');
    if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
      stop();
      throw std::runtime_error("lww_node " + std::to_string(id) + " did not start: '" + line + "'");
    }
    port_ = std::stoi(line.substr(colon + 1));
  }
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;
  ~node_process() { stop(); }

  int port() const noexcept { return port_; }

  /// SIGTERM, then the exit code (SIGKILL after 10 s).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (i == 999) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
    ::close(out_);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

std::unique_ptr<httplib::Client> http(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_read_timeout(15s);
  c->set_connection_timeout(5s);
  return c;
}

/// A replica built from /updates answers.
set from_updates(const json& j) {
  set s;
  for (const auto& [x, t] : j.at("adds").items())
    s.insert(x, crdt::parse_timestamp(t.get<std::string>()));
  for (const auto& [x, t] : j.at("removes").items())
    s.erase(x, crdt::parse_timestamp(t.get<std::string>()));
  return s;
}

std::string list(const std::vector<std::string>& v) {
  std::string s = "{";
  for (const auto& e : v) s += (s.size() > 1 ? "," : "") + e;
  return s + "}";
}

class LwwNode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { zk_ = new dstm::testing::zookeeper_server(); }
  static void TearDownTestSuite() {
    delete zk_;
    zk_ = nullptr;
  }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string path = std::string("/lww_node_test/") + info->name();
    for (std::uint64_t id = 1; id <= 3; ++id)
      nodes_.push_back(std::make_unique<node_process>(zk_->connect_string(), id, path));
  }
  void TearDown() override {
    for (auto& n : nodes_) EXPECT_EQ(n->stop(), 0) << "a node did not exit cleanly on SIGTERM";
  }

  /// GET /updates (the whole state) from node `i`.
  set state_of(std::size_t i) {
    auto r = http(nodes_[i]->port())->Get("/updates");
    if (!r || r->status != 200) throw std::runtime_error("GET /updates failed");
    return from_updates(json::parse(r->body));
  }

  static inline dstm::testing::zookeeper_server* zk_ = nullptr;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

struct acked {
  bool add;
  std::vector<std::string> elements;
  crdt::timestamp stamp;
};

/// Everything acknowledged, and what failed (an unknown outcome: none is expected here).
struct ledger {
  std::mutex mutex;
  std::vector<acked> acks;
  int failures = 0;
  std::string first_failure;

  /// Sends one write to `port`; records the acknowledgement.
  bool write(int port, bool add, const std::vector<std::string>& elements, bool use_delete_verb) {
    const std::string body = json(elements).dump();
    auto c = http(port);
    auto r = add               ? c->Post("/elements", body, "application/json")
             : use_delete_verb ? c->Delete("/elements", body, "application/json")
                               : c->Post("/elements/delete", body, "application/json");
    std::lock_guard lock(mutex);
    if (!r || r->status != 200) {
      if (++failures == 1)
        first_failure = r ? std::to_string(r->status) + " " + r->body
                          : "no response: " + httplib::to_string(r.error());
      return false;
    }
    const auto j = json::parse(r->body);
    acks.push_back({add, elements, crdt::parse_timestamp(j.at("stamp").get<std::string>())});
    return true;
  }

  /// Members by the model: per element, the latest acknowledged add against the latest
  /// acknowledged delete (a tie, from one request that did both, goes to the add).
  std::vector<std::string> model() {
    std::map<std::string, std::pair<std::optional<crdt::timestamp>, std::optional<crdt::timestamp>>>
        m;
    for (const auto& a : acks) {
      for (const auto& x : a.elements) {
        auto& slot = a.add ? m[x].first : m[x].second;
        if (!slot || *slot < a.stamp) slot = a.stamp;
      }
    }
    std::vector<std::string> out;
    for (const auto& [x, ar] : m)
      if (ar.first && (!ar.second || !(*ar.first < *ar.second))) out.push_back(x);
    return out;
  }
};

std::vector<std::string> random_elements(std::mt19937_64& rng) {
  std::vector<std::string> out;
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < n; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "k%02d", static_cast<int>(rng() % 24));
    out.emplace_back(name);
  }
  return out;
}

TEST_F(LwwNode, ConcurrentClientsConvergeAndNothingAcknowledgedIsLost) {
  ledger book;
  std::atomic<bool> writers_done{false};
  std::vector<int> ports;
  for (auto& n : nodes_) ports.push_back(n->port());

  // The watcher: long polls one node for what changed since its last answer.
  set watched;
  std::optional<crdt::timestamp> watch_cursor;
  int changes_seen = 0, polls = 0;
  auto poll_once = [&](int port, set& replica, std::optional<crdt::timestamp>& cursor,
                       int wait_ms) {
    std::string q = "/updates?wait=" + std::to_string(wait_ms);
    if (cursor) q += "&since=" + crdt::to_string(*cursor);
    auto r = http(port)->Get(q);
    if (!r || r->status != 200) return -1;
    const auto j = json::parse(r->body);
    const auto delta = from_updates(j);
    replica.merge(delta);
    if (!j.at("latest").is_null())
      cursor = crdt::parse_timestamp(j.at("latest").get<std::string>());
    return delta.empty() ? 0 : 1;
  };
  std::thread watcher([&] {
    while (!writers_done) {
      const int got = poll_once(ports[0], watched, watch_cursor, 500);
      ++polls;
      if (got > 0) ++changes_seen;
    }
  });

  // Random writers against random nodes.
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(w) + 11);
      for (int i = 0; i < 40; ++i) {
        const bool add = rng() % 10 < 6;
        book.write(ports[rng() % ports.size()], add, random_elements(rng), rng() % 2 == 0);
      }
    });
  }

  // The offline client: syncs, goes offline and buffers changes, comes back, pushes them,
  // and catches up with the delta since its last sync.
  set offline;
  std::optional<crdt::timestamp> offline_cursor;
  std::thread offline_client([&] {
    std::mt19937_64 rng(99);
    ASSERT_GE(poll_once(ports[rng() % 3], offline, offline_cursor, 0), 0);
    std::vector<std::pair<bool, std::vector<std::string>>> buffered;
    for (int i = 0; i < 15; ++i) {
      buffered.emplace_back(rng() % 2 == 0, random_elements(rng));
      std::this_thread::sleep_for(40ms);
    }
    for (const auto& [add, elements] : buffered)
      book.write(ports[rng() % 3], add, elements, rng() % 2 == 0);
    ASSERT_GE(poll_once(ports[rng() % 3], offline, offline_cursor, 0), 0);
  });

  for (auto& t : writers) t.join();
  offline_client.join();
  writers_done = true;
  watcher.join();

  ASSERT_EQ(book.failures, 0) << "first failure: " << book.first_failure;
  ASSERT_EQ(book.acks.size(), 4u * 40u + 15u);

  // The nodes converge (each serves its own cached view; watches bring it up to date).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<set> states;
  for (;;) {
    states.clear();
    for (std::size_t i = 0; i < nodes_.size(); ++i) states.push_back(state_of(i));
    if (states[0] == states[1] && states[1] == states[2]) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the nodes did not converge";
    std::this_thread::sleep_for(50ms);
  }
  const set& final_state = states[0];

  // Nothing acknowledged is lost: every acknowledged stamp is in the state, and the members
  // are those the acknowledged writes decide.
  for (const auto& a : book.acks) {
    for (const auto& x : a.elements) {
      const auto at = a.add ? final_state.added_at(x) : final_state.removed_at(x);
      ASSERT_TRUE(at) << x << " lost its " << (a.add ? "insert" : "delete") << " at "
                      << crdt::to_string(a.stamp);
      EXPECT_FALSE(*at < a.stamp) << x;
    }
  }
  EXPECT_EQ(final_state.members(), book.model())
      << list(final_state.members()) << " vs the model's " << list(book.model());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    auto r = http(nodes_[i]->port())->Get("/elements");
    ASSERT_TRUE(r && r->status == 200);
    EXPECT_EQ(json::parse(r->body).at("members").get<std::vector<std::string>>(),
              final_state.members());
  }

  // Replicas built only from deltas (updates since a cursor) equal the nodes' state: no commit
  // ever landed below a cursor already handed out.
  ASSERT_GE(poll_once(ports[2], offline, offline_cursor, 0), 0);
  EXPECT_EQ(offline, final_state) << "the offline client missed updates: "
                                  << list(offline.members()) << " vs "
                                  << list(final_state.members());
  ASSERT_GE(poll_once(ports[0], watched, watch_cursor, 0), 0);
  EXPECT_EQ(watched, final_state) << "the watcher missed updates";
  EXPECT_GT(changes_seen, 1) << "the watcher saw no change while the writers ran";
  std::printf(
      "[ lww_node ] %zu acknowledged writes, %zu members, the watcher's %d long polls "
      "saw changes %d times\n",
      book.acks.size(), final_state.members().size(), polls, changes_seen);
}

TEST_F(LwwNode, MalformedRequestsGet400WithAMessageAndChangeNothing) {
  const int port = nodes_[0]->port();
  ledger book;
  ASSERT_TRUE(book.write(port, true, {"keep"}, false));
  const auto before = state_of(0);
  struct bad {
    const char* method;
    const char* path;
    std::string body;
    const char* says;
  };
  const std::vector<bad> cases = {
      {"POST", "/elements", "not json", "not JSON"},
      {"POST", "/elements", "", "not JSON"},
      {"POST", "/elements", R"({"a":1})", "got a JSON object"},
      {"POST", "/elements", R"("a")", "got a JSON string"},
      {"POST", "/elements", "[]", "empty"},
      {"POST", "/elements", R"(["ok", 3])", "element 1 is a JSON number"},
      {"POST", "/elements", R"([null])", "element 0 is a JSON null"},
      {"POST", "/elements", "[\"" + std::string(2000, 'x') + "\"]", "more than the limit"},
      {"POST", "/elements", "[\"a\"", "not JSON"},
      {"DELETE", "/elements", "", "not JSON"},
      {"DELETE", "/elements", R"([["keep"]])", "element 0 is a JSON array"},
      {"POST", "/elements/delete", R"({"keep":true})", "got a JSON object"},
      {"GET", "/updates?since=yesterday", "", "malformed timestamp 'yesterday'"},
      {"GET", "/updates?since=1.2", "", "expected '.' after logical"},
      {"GET", "/updates?since=1.2.3&wait=-5", "", "wait: '-5'"},
      {"GET", "/updates?wait=forever", "", "wait: 'forever'"},
      {"GET", "/updates?wait=999999", "", "wait: '999999'"},
  };
  for (const auto& c : cases) {
    auto cl = http(port);
    const std::string m = c.method;
    auto r = m == "GET"    ? cl->Get(c.path)
             : m == "POST" ? cl->Post(c.path, c.body, "application/json")
                           : cl->Delete(c.path, c.body, "application/json");
    const std::string what = m + " " + c.path + " " + c.body.substr(0, 40);
    ASSERT_TRUE(r) << what << ": no response (did the node crash?)";
    EXPECT_EQ(r->status, 400) << what << ": " << r->body;
    json j;
    ASSERT_NO_THROW(j = json::parse(r->body)) << what << ": " << r->body;
    ASSERT_TRUE(j.contains("error")) << what;
    EXPECT_NE(j.at("error").get<std::string>().find(c.says), std::string::npos)
        << what << ": " << j.at("error");
  }
  // Too large a body: refused before it is read whole.
  auto big = http(port)->Post("/elements", std::string(1 << 20, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // Unknown routes are 404s, not crashes.
  auto none = http(port)->Get("/nowhere");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);

  auto health = http(port)->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(state_of(0), before) << "a malformed request changed the set";
  EXPECT_TRUE(before.contains("keep"));
}

// ZooKeeper goes away: reads keep being served from the node's last view, writes get 503 with a
// message (never a hang or a crash), and once the server is back the same write succeeds.
TEST_F(LwwNode, AZooKeeperOutageGets503AndTheNodeRecovers) {
  const int port = nodes_[0]->port();
  ledger book;
  ASSERT_TRUE(book.write(port, true, {"before"}, false));
  ASSERT_TRUE(http(port)->Get("/elements"));  // warm

  zk_->kill();
  auto c = http(port);
  c->set_read_timeout(60s);
  const auto start = std::chrono::steady_clock::now();
  auto r = c->Post("/elements", R"(["during"])", "application/json");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << "no answer: " << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_NE(r->body.find("the set is unavailable"), std::string::npos) << r->body;
  EXPECT_LT(took, 45s);
  std::printf(
      "[ lww_node ] a write during the outage got %d after %lld ms: %s", r->status,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      r->body.c_str());
  auto read = http(port)->Get("/elements");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200) << read->body;
  EXPECT_EQ(json::parse(read->body).at("members"), json({"before"}));

  zk_->start();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!book.write(port, true, {"after"}, false)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << book.first_failure;
    std::this_thread::sleep_for(200ms);
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (;;) {
      const auto s = state_of(i);
      if (s.contains("after")) {
        EXPECT_TRUE(s.contains("before"));
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "node " << i << " did not recover";
      std::this_thread::sleep_for(100ms);
    }
  }
}

TEST(LwwNodeArguments, BadArgumentsPrintTheUsageAndExit2) {
  struct bad {
    std::vector<std::string> args;
    const char* says;
  };
  for (const auto& [args, says] : std::vector<bad>{
           {{}, "--zk is required"},
           {{"--zk", "127.0.0.1:1"}, "--port is required"},
           {{"--zk", "127.0.0.1:1", "--port", "8080"}, "--node-id is required"},
           {{"--zk", "127.0.0.1:1", "--port", "http", "--node-id", "1"}, "--port: 'http'"},
           {{"--zk", "127.0.0.1:1", "--port", "70000", "--node-id", "1"}, "--port: '70000'"},
           {{"--zk", "127.0.0.1:1", "--port", "1", "--node-id", "0"}, "--node-id: '0'"},
           {{"--zk", "127.0.0.1:1", "--port", "1", "--node-id", "-3"}, "--node-id: '-3'"},
           {{"--zk", "127.0.0.1:1", "--port", "1", "--node-id", "1", "--path", "x"}, "--path: 'x'"},
           {{"--zk", "127.0.0.1:1", "--port", "1", "--node-id", "1", "--verbose", "1"},
            "unknown option '--verbose'"},
           {{"--zk"}, "--zk needs a value"},
       }) {
    const auto [code, out] = run_to_exit(args);
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find(says), std::string::npos) << out;
    EXPECT_NE(out.find("usage: lww_node --zk HOST:PORT"), std::string::npos) << out;
  }
  const auto [code, out] = run_to_exit({"--help"});
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("usage: lww_node"), std::string::npos);
}

}  // namespace
