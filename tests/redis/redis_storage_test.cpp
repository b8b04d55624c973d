// The Redis storage (include/dstm/storage/redis.hpp): refs whose values live in a real
// redis-server, their pointers in ZooKeeper. Every test checks what Redis holds with its own
// hiredis connection, not through the store under test.
//
//  - the blob-store laws against a std::map model (binary keys and values, range bounds);
//  - round trip between two clients, values of several MB (over ZooKeeper's 1 MB);
//  - replaced versions and refused commits leave no blob behind;
//  - a Redis outage during a commit (SIGSTOP: commands time out; SIGKILL: connections reset)
//    aborts the transaction cleanly, and nothing committed is lost;
//  - a writer that crashes between its blob and its multi (in this process, and a real process
//    killed there) leaves garbage that the collector removes, never a dangling pointer; a commit
//    in flight while the collector runs is fenced;
//  - concurrent clients moving members between a group in ZooKeeper and a group in Redis (with
//    a local ref in the same transactions): a member is always in exactly one group.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <dstm/dstm.hpp>
#include <dstm/storage/redis.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "blob_store_laws.hpp"  // tests/stm: the blob store laws
#include "redis_server.hpp"
#include "support.hpp"  // tests/stm: multi hooks on coordinators

namespace {

using namespace std::chrono_literals;
using dstm_redis::redis_server;
using group = std::set<std::string>;

/// A key prefix of its own for every store a test makes: tests then count only their keys.
std::string fresh_prefix() {
  static std::atomic<int> n{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("t:") + (info ? info->name() : "x") + ":" + std::to_string(++n) + ":";
}

/// What Redis itself says, through a connection of the test's own.
class redis_eye {
 public:
  explicit redis_eye(const redis_server& s) : c_(s.connect_raw()) {}
  ~redis_eye() { redisFree(c_); }
  redis_eye(const redis_eye&) = delete;
  redis_eye& operator=(const redis_eye&) = delete;

  /// The keys matching a glob pattern (KEYS: fine for a test's small database).
  std::vector<std::string> keys(const std::string& pattern) {
    auto* r = command({"KEYS", pattern});
    std::vector<std::string> out;
    for (std::size_t i = 0; r && i < r->elements; ++i)
      out.emplace_back(r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    std::sort(out.begin(), out.end());
    return out;
  }
  long long zcard(const std::string& key) { return integer({"ZCARD", key}); }
  long long strlen(const std::string& key) { return integer({"STRLEN", key}); }
  bool exists(const std::string& key) { return integer({"EXISTS", key}) == 1; }
  void run(const std::vector<std::string>& args) { freeReplyObject(command(args)); }

 private:
  redisReply* command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> len;
    for (const auto& a : args) {
      argv.push_back(a.data());
      len.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), len.data()));
    if (!r) throw std::runtime_error(std::string("redis_eye: ") + c_->errstr);
    return r;
  }
  long long integer(const std::vector<std::string>& args) {
    auto* r = command(args);
    const long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
  }
  redisContext* c_;
};

dstm::redis_options options_for(const redis_server& s, std::string prefix = fresh_prefix()) {
  dstm::redis_options o;
  o.host = s.host();
  o.port = s.port();
  o.key_prefix = std::move(prefix);
  o.command_timeout = 1000ms;  // short for the outage tests, long enough for a loaded machine
  o.connect_timeout = 1000ms;
  return o;
}

/// The key an external ref's znode points to, read from the latest state (a sync first).
std::string pointer_of(const std::shared_ptr<dstm::client>& c, const std::string& path) {
  std::error_code ec;
  auto s = c->session();
  s->sync(path, ec);
  auto n = s->get(path, {}, ec);
  if (ec) throw std::runtime_error("read " + path + ": " + ec.message());
  return std::string(dstm::detail::unseal(n.data, path));
}

dstm::client_options fast_options(const std::string& root) {
  dstm::client_options o = dstm_test::fast_options();
  o.root = root;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Redis only (the coordinator, where needed, is the embedded one).

class RedisBlobStore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { redis_ = new redis_server(); }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }
  static inline redis_server* redis_ = nullptr;
};

/// The laws' server: RapidCheck's fixture properties do not run SetUpTestSuite. Started on the
/// main thread (its PR_SET_PDEATHSIG follows that thread), stopped at exit.
redis_server& laws_server() {
  static redis_server server;
  return server;
}

// The laws of dstm::blob_store (storage/external.hpp) against a std::map, on keys and values
// with NUL bytes, 0xff bytes and glob characters.
RC_GTEST_PROP(RedisBlobStoreLaws, BehavesLikeAMap, ()) {
  redis_server& redis = laws_server();
  dstm::redis_blob_store s(options_for(redis));
  const auto key_char = rc::gen::element('a', 'b', '*', '[', '\0', '\xff');
  const auto key_gen = rc::gen::container<std::string>(*rc::gen::inRange(0, 4), key_char);
  const auto steps = *rc::gen::container<std::vector<dstm_test::blob_step>>(
      rc::gen::tuple(rc::gen::inRange(0, 3), key_gen, rc::gen::arbitrary<std::string>()));
  const std::vector<std::string> prefixes = {"", "a", "a\xff", "\xff", "*", {'\0'}, "[b"};
  const auto model = dstm_test::check_behaves_like_a_map(s, steps, prefixes);
  redis_eye eye(redis);
  RC_ASSERT(eye.zcard(s.index_key()) == static_cast<long long>(model.size()));
}

TEST_F(RedisBlobStore, KeysListsMoreThanOnePage) {
  dstm::redis_blob_store s(options_for(*redis_));
  std::error_code ec;
  std::vector<std::string> expected;
  for (int i = 0; i < 2500; ++i) {
    const auto key = "/r@" + std::to_string(100000 + i);
    s.put(key, "v", ec);
    ASSERT_FALSE(ec) << s.last_error();
    expected.push_back(key);
  }
  s.put("/q@1", "other ref", ec);
  s.put("/r", "a prefix of the prefix", ec);
  EXPECT_EQ(s.keys("/r@", ec), expected);
  EXPECT_FALSE(ec);
}

TEST_F(RedisBlobStore, AnUnreachableServerFailsClearly) {
  dstm::redis_options o = options_for(*redis_);
  o.port = dstm::testing::detail::free_port();  // nobody listens there
  try {
    dstm::redis_blob_store s(o);
    FAIL() << "constructed a store for a server that does not exist";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable);
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(o.port)), std::string::npos) << e.what();
  }
  EXPECT_EQ(dstm::redis_options::from_address("10.1.2.3:7000").port, 7000);
  EXPECT_EQ(dstm::redis_options::from_address("10.1.2.3:7000").host, "10.1.2.3");
  EXPECT_EQ(dstm::redis_options::from_address("redis.local").port, 6379);
  EXPECT_EQ(dstm::redis_options::from_address("unix:/run/redis.sock").unix_socket,
            "/run/redis.sock");
  EXPECT_THROW(dstm::redis_options::from_address("h:70000"), dstm::error);
  EXPECT_THROW(dstm::redis_options::from_address("h:x"), dstm::error);
}

// One store serves many threads at once (hiredis contexts are not thread-safe: the pool lends
// each call its own).
TEST_F(RedisBlobStore, OneStoreServesManyThreads) {
  dstm::redis_blob_store s(options_for(*redis_));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::error_code ec;
        const auto key = "/t" + std::to_string(t) + "@" + std::to_string(i);
        const auto value =
            std::string(static_cast<std::size_t>(i % 50), static_cast<char>('a' + t));
        s.put(key, value, ec);
        auto got = s.get(key, ec);
        if (ec || !got || *got != value) ++failures;
        if (i % 2 == 0) s.remove(key, ec);
        if (ec) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << s.last_error();
  redis_eye eye(*redis_);
  EXPECT_EQ(eye.zcard(s.index_key()), 8 * 100);
  EXPECT_EQ(eye.keys(s.options().key_prefix + "v:*").size(), 8u * 100u);
}

// Pooled connections go stale when Redis restarts or drops clients; the store notices on use
// and retries once on a new connection, so no call fails for it. A server that is gone makes
// calls fail with storage_unavailable — also a write of several MB into a dead connection,
// which would raise SIGPIPE and kill the process if the store did not block it.
TEST_F(RedisBlobStore, StaleConnectionsAreReplacedAndADeadServerIsAnErrorNotASignal) {
  redis_server own;
  dstm::redis_blob_store s(options_for(own));
  std::error_code ec;
  s.put("/k@1", "v1", ec);
  ASSERT_FALSE(ec) << s.last_error();
  own.kill();
  own.start();  // the pooled connection is now stale
  s.put("/k@2", "v2", ec);
  EXPECT_FALSE(ec) << "a restart made a call fail: " << s.last_error();
  redis_eye(own).run({"CLIENT", "KILL", "TYPE", "normal"});  // all but its own
  EXPECT_EQ(s.get("/k@2", ec), std::optional<std::string>("v2"));
  EXPECT_FALSE(ec) << "dropped clients made a call fail: " << s.last_error();

  own.kill();
  s.put("/k@3", std::string(16 * 1024 * 1024, 'x'), ec);
  EXPECT_EQ(ec, dstm::errc::storage_unavailable);
  EXPECT_FALSE(s.ping(ec));
  EXPECT_NE(s.last_error().find("refused"), std::string::npos) << s.last_error();
}

// AUTH and SELECT: a store without the password fails when it is made, and says why; with
// it, blobs land in the configured database.
TEST_F(RedisBlobStore, PasswordAndDatabase) {
  redis_server own;
  redis_eye eye(own);
  eye.run({"CONFIG", "SET", "requirepass", "s3cret"});
  auto o = options_for(own);
  try {
    dstm::redis_blob_store s(o);
    FAIL() << "a store without the password was made";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable);
    EXPECT_NE(std::string(e.what()).find("NOAUTH"), std::string::npos) << e.what();
  }
  o.password = "s3cret";
  o.database = 3;
  dstm::redis_blob_store s(o);
  std::error_code ec;
  s.put("/r@1", "v", ec);
  EXPECT_FALSE(ec) << s.last_error();
  eye.run({"AUTH", "s3cret"});
  EXPECT_FALSE(eye.exists(s.data_key("/r@1"))) << "not in database 0";
  eye.run({"SELECT", "3"});
  EXPECT_TRUE(eye.exists(s.data_key("/r@1")));
}

// With `replicas`, a blob no replica acknowledged fails the write, and so the commit: on a
// server without replicas every commit aborts, and its unreplicated blob is removed.
TEST_F(RedisBlobStore, TooFewReplicasAbortTheCommit) {
  auto o = options_for(*redis_);
  auto plain = std::make_shared<dstm::redis_blob_store>(o);
  o.replicas = 1;
  o.replica_timeout = 100ms;
  auto replicated = std::make_shared<dstm::redis_blob_store>(o);
  auto c =
      dstm::embedded::connect(std::make_shared<dstm::embedded::store>(), dstm_test::fast_options());
  dstm::ref<std::string, dstm::redis_storage> r{c, "/r", std::string("v0"), plain};
  dstm::ref<std::string, dstm::redis_storage> strict{c, "/r", replicated};
  try {
    dstm::dosync(c, [&](dstm::txn& tx) { tx.ref_set(strict, std::string("v1")); });
    FAIL() << "committed without a replica";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable);
  }
  EXPECT_NE(replicated->last_error().find("0 of 1 replicas"), std::string::npos)
      << replicated->last_error();
  EXPECT_EQ(r.deref(), "v0");
  redis_eye eye(*redis_);
  EXPECT_EQ(eye.keys(plain->data_key("/r@*")).size(), 1u);
}

struct crash {};

// A writer dies after writing its blob and before its multi (the hook throws where the multi
// would be sent: nothing after that point of the commit runs). Its blob stays in Redis, the
// pointer still names the previous version, and the collector removes the orphan.
TEST_F(RedisBlobStore, ACrashBetweenBlobAndCommitLeavesGarbageNotADanglingPointer) {
  auto zk = std::make_shared<dstm::embedded::store>();
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_));
  redis_eye eye(*redis_);
  const std::string pattern = blobs->data_key("/r@*");
  {
    auto writer = dstm_test::connect_hooked(zk, hooks, dstm_test::fast_options());
    dstm::ref<std::string, dstm::redis_storage> w{writer, "/r", std::string("v0"), blobs};
    dstm::dosync(writer, [&](dstm::txn& tx) { tx.ref_set(w, std::string("v1")); });
    ASSERT_EQ(eye.keys(pattern).size(), 1u);
    hooks->before_next_multi([] { throw crash{}; });
    EXPECT_THROW(dstm::dosync(writer, [&](dstm::txn& tx) { tx.ref_set(w, std::string("v2")); }),
                 crash);
  }  // the writer is gone
  EXPECT_EQ(eye.keys(pattern).size(), 2u) << "the crashed commit's blob is in Redis";

  auto other = dstm::embedded::connect(zk, dstm_test::fast_options());
  dstm::ref<std::string, dstm::redis_storage> r{other, "/r", blobs};
  EXPECT_EQ(r.deref(), "v1") << "the pointer still names the committed version";
  const auto pointer = pointer_of(other, "/r");
  EXPECT_EQ(r.collect_garbage(), 1u);
  EXPECT_EQ(eye.keys(pattern), std::vector<std::string>{blobs->data_key(pointer)});
  EXPECT_EQ(eye.zcard(blobs->index_key()), 1);
  EXPECT_EQ(r.deref_latest(), "v1");
  dstm::dosync(other, [&](dstm::txn& tx) { tx.ref_set(r, std::string("v3")); });
  EXPECT_EQ(r.deref(), "v3");
  EXPECT_EQ(eye.keys(pattern).size(), 1u);
}

// The race the collector's fence exists for, with Redis as the store: the collector runs after
// a commit wrote its blob and before its multi. The commit is fenced (its multi retries with a
// new blob), so the pointer never names a deleted blob.
TEST_F(RedisBlobStore, ACommitInFlightIsFencedNotLeftDangling) {
  auto zk = std::make_shared<dstm::embedded::store>();
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_));
  auto writer = dstm_test::connect_hooked(zk, hooks, dstm_test::fast_options());
  auto other = dstm::embedded::connect(zk, dstm_test::fast_options());
  dstm::ref<std::string, dstm::redis_storage> w{writer, "/r", std::string("v0"), blobs};
  dstm::ref<std::string, dstm::redis_storage> collector{other, "/r", blobs};
  std::size_t collected = 0;
  hooks->before_next_multi([&] { collected = collector.collect_garbage(); });
  int runs = 0;
  dstm::dosync(writer, [&](dstm::txn& tx) {
    ++runs;
    tx.ref_set(w, std::string("v1"));
  });
  EXPECT_EQ(collected, 1u) << "the in-flight blob was collected";
  EXPECT_EQ(runs, 1);
  auto reader = dstm::embedded::connect(zk, dstm_test::fast_options());
  EXPECT_EQ((dstm::ref<std::string, dstm::redis_storage>{reader, "/r", blobs}.deref()), "v1");
  redis_eye eye(*redis_);
  const auto pointer = pointer_of(other, "/r");
  EXPECT_EQ(eye.keys(blobs->data_key("/r@*")), std::vector<std::string>{blobs->data_key(pointer)});
}

// ---------------------------------------------------------------------------------------------
// Redis and a real ZooKeeper server.

class RedisStorage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zk_ = new dstm::testing::zookeeper_server();
    redis_ = new redis_server();
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
    delete zk_;
    zk_ = nullptr;
  }

  /// A znode root unique to the running test.
  static std::string root() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("/") + info->name();
  }
  static std::shared_ptr<dstm::client> connect() {
    return dstm::zookeeper::connect(zk_->connect_string(), {}, fast_options(root() + "/dstm"));
  }
  static std::string pointer(const std::shared_ptr<dstm::client>& c, const std::string& path) {
    return pointer_of(c, path);
  }

  static inline dstm::testing::zookeeper_server* zk_ = nullptr;
  static inline redis_server* redis_ = nullptr;
};

TEST_F(RedisStorage, RoundTripBetweenClients) {
  using scores = std::map<std::string, int>;
  const auto prefix = fresh_prefix();
  auto c1 = connect();
  auto c2 = connect();
  auto blobs1 = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
  auto blobs2 = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
  const std::string path = root() + "/scores";
  dstm::ref<scores, dstm::redis_storage> r1{c1, path, scores{{"ada", 1}}, blobs1};
  dstm::ref<scores, dstm::redis_storage> r2{c2, path, blobs2};  // connects, never clobbers
  EXPECT_EQ(r2.deref(), (scores{{"ada", 1}}));
  dstm::dosync(c2, [&](dstm::txn& tx) {
    tx.alter(r2, [](scores s) {
      s["grace"] = 2;
      return s;
    });
  });
  EXPECT_EQ(r1.deref_latest(), (scores{{"ada", 1}, {"grace", 2}}));

  // The znode holds a key; the key names the value in Redis; nothing else is left.
  const auto key = pointer(c1, path);
  EXPECT_TRUE(key.starts_with(path + "@")) << key;
  EXPECT_LT(key.size(), 100u);
  redis_eye eye(*redis_);
  EXPECT_EQ(eye.keys(prefix + "*"),
            (std::vector<std::string>{prefix + "keys", prefix + "v:" + key}));
  EXPECT_GT(eye.strlen(prefix + "v:" + key), 0);
}

TEST_F(RedisStorage, ValuesOfSeveralMegabytes) {
  const auto prefix = fresh_prefix();
  auto c1 = connect();
  auto c2 = connect();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
  std::mt19937_64 gen(42);
  std::string six_mb(6 * 1024 * 1024, '\0');
  for (auto& ch : six_mb) ch = static_cast<char>(gen());
  const std::string path = root() + "/big";
  dstm::ref<std::string, dstm::redis_storage> big{c1, path, std::string("small"), blobs};
  dstm::ref<std::string> inline_ref{c1, root() + "/inline", std::string("small")};
  // Too big for a znode...
  EXPECT_THROW(dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(inline_ref, six_mb); }),
               std::system_error);
  // ...but fine in Redis, committed together with a ZooKeeper ref.
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.ref_set(big, six_mb);
    tx.ref_set(inline_ref, std::string("moved"));
  });
  dstm::ref<std::string, dstm::redis_storage> reader{
      c2, path, std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix))};
  EXPECT_TRUE(reader.deref_latest() == six_mb) << "the value read back differs";
  EXPECT_EQ(dstm::ref<std::string>(c2, root() + "/inline").deref_latest(), "moved");
  redis_eye eye(*redis_);
  const auto key = pointer(c2, path);
  EXPECT_GE(eye.strlen(prefix + "v:" + key), static_cast<long long>(six_mb.size()));
  EXPECT_EQ(eye.keys(prefix + "v:*").size(), 1u) << "the small version's blob was deleted";
}

// Every commit replaces the ref's blob and deletes the one it replaced; commits refused for a
// conflict delete their own. Four threads on two clients race on one counter.
TEST_F(RedisStorage, OldVersionsAreDeletedAfterCommit) {
  const auto prefix = fresh_prefix();
  const std::string path = root() + "/n";
  redis_eye eye(*redis_);
  auto c1 = connect();
  auto c2 = connect();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
  dstm::ref<int, dstm::redis_storage> n1{c1, path, 0, blobs};
  dstm::ref<int> mirror1{c1, root() + "/mirror", 0};
  for (int i = 0; i < 10; ++i) {
    dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(n1, [](int v) { return v + 1; }); });
    ASSERT_EQ(eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + pointer(c1, path)})
        << "after commit " << i;
  }
  dstm::ref<int, dstm::redis_storage> n2{c2, path, blobs};
  dstm::ref<int> mirror2{c2, root() + "/mirror"};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto& n = t % 2 ? n1 : n2;
      auto& mirror = t % 2 ? mirror1 : mirror2;
      auto& c = t % 2 ? c1 : c2;
      for (int i = 0; i < 25; ++i) {
        dstm::dosync(c, [&](dstm::txn& tx) {
          tx.alter(n, [](int v) { return v + 1; });
          tx.alter(mirror, [](int v) { return v + 1; });
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(n1.deref_latest(), 110);
  EXPECT_EQ(mirror1.deref_latest(), 100);
  EXPECT_EQ(eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + pointer(c1, path)});
  EXPECT_EQ(eye.zcard(prefix + "keys"), 1);
  EXPECT_EQ(n1.collect_garbage(), 0u);
  std::printf("[ redis    ] conflicts: %llu + %llu\n",
              static_cast<unsigned long long>(c1->metrics().conflicts),
              static_cast<unsigned long long>(c2->metrics().conflicts));
}

// SIGSTOP during the commit (inside the body, so exactly before the blob is written): the blob
// write times out, the transaction aborts with storage_unavailable without running its body
// again, and neither ZooKeeper nor Redis changes. After SIGCONT the late write, if Redis applied
// it, is garbage for the collector — never current — and the next commit goes through.
TEST_F(RedisStorage, AHungRedisDuringCommitAbortsCleanly) {
  redis_server own;
  const auto prefix = fresh_prefix();
  redis_eye eye(own);
  auto c = connect();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(own, prefix));
  const std::string path = root() + "/r";
  dstm::ref<std::string, dstm::redis_storage> r{c, path, std::string("before"), blobs};
  dstm::ref<int> n{c, root() + "/n", 0};
  const auto key = pointer(c, path);

  int runs = 0;
  const auto start = std::chrono::steady_clock::now();
  try {
    dstm::dosync(c, [&](dstm::txn& tx) {
      ++runs;
      tx.ref_set(r, std::string("after"));
      tx.alter(n, [](int v) { return v + 1; });
      own.pause();
    });
    FAIL() << "the commit should have failed";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  own.resume();
  eye.run({"PING"});  // Redis has run its event loop since: what was sent before has landed
  EXPECT_EQ(runs, 1) << "an outage aborts; it is not a conflict to retry";
  EXPECT_LT(took, 10s);
  EXPECT_NE(blobs->last_error().find("no reply within"), std::string::npos) << blobs->last_error();
  EXPECT_EQ(n.deref_latest(), 0) << "nothing of the transaction was written";
  EXPECT_EQ(pointer(c, path), key);

  r.collect_garbage();  // the write that timed out may have landed after SIGCONT
  EXPECT_EQ(eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + key});
  EXPECT_EQ(r.deref_latest(), "before");
  dstm::dosync(c, [&](dstm::txn& tx) {
    tx.ref_set(r, std::string("after"));
    tx.alter(n, [](int v) { return v + 1; });
  });
  EXPECT_EQ(r.deref_latest(), "after");
  EXPECT_EQ(n.deref_latest(), 1);
  EXPECT_EQ(eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + pointer(c, path)});
}

// SIGKILL during the commit: the pooled connection is reset and a new one refused, so the
// transaction aborts at once. A durable Redis (AOF, fsync always) restarted on the same port
// has every committed blob; the store reconnects by itself and the next commit goes through.
// Of two Redis refs in one commit, the first one's blob (in a Redis that is up) is removed when
// the second one's Redis fails.
TEST_F(RedisStorage, AKilledRedisDuringCommitAbortsCleanlyAndLosesNothing) {
  redis_server up;
  redis_server own(/*durable=*/true);
  const auto prefix = fresh_prefix();
  redis_eye up_eye(up);
  auto c = connect();
  auto up_blobs = std::make_shared<dstm::redis_blob_store>(options_for(up, prefix));
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(own, prefix));
  dstm::ref<std::string, dstm::redis_storage> a{c, root() + "/a", std::string("a0"), up_blobs};
  dstm::ref<std::string, dstm::redis_storage> b{c, root() + "/b", std::string("b0"), blobs};
  dstm::ref<int> n{c, root() + "/n", 0};
  dstm::dosync(c, [&](dstm::txn& tx) { tx.ref_set(b, std::string("b1")); });
  const auto a_key = pointer(c, root() + "/a");
  const auto b_key = pointer(c, root() + "/b");

  int runs = 0;
  try {
    dstm::dosync(c, [&](dstm::txn& tx) {
      ++runs;
      tx.ref_set(a, std::string("a1"));
      tx.ref_set(b, std::string("b2"));
      tx.alter(n, [](int v) { return v + 1; });
      own.kill();
    });
    FAIL() << "the commit should have failed";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable) << e.what();
  }
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(n.deref_latest(), 0);
  EXPECT_EQ(pointer(c, root() + "/a"), a_key);
  EXPECT_EQ(pointer(c, root() + "/b"), b_key);
  EXPECT_EQ(up_eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + a_key})
      << "the blob written to the Redis that stayed up was removed";

  // While Redis is down, a client with a cold cache cannot read b, and says why.
  auto cold = connect();
  EXPECT_THROW((dstm::ref<std::string, dstm::redis_storage>{cold, root() + "/b", blobs}),
               dstm::error);

  own.start();
  redis_eye eye(own);
  EXPECT_EQ(eye.keys(prefix + "v:*"), std::vector<std::string>{prefix + "v:" + b_key})
      << "the committed blob survived the crash";
  EXPECT_EQ(b.deref_latest(), "b1");
  dstm::dosync(c, [&](dstm::txn& tx) {
    tx.ref_set(a, std::string("a1"));
    tx.ref_set(b, std::string("b2"));
    tx.alter(n, [](int v) { return v + 1; });
  });
  EXPECT_EQ(n.deref_latest(), 1);
  dstm::ref<std::string, dstm::redis_storage> b_elsewhere{
      cold, root() + "/b", std::make_shared<dstm::redis_blob_store>(options_for(own, prefix))};
  EXPECT_EQ(b_elsewhere.deref_latest(), "b2");
  EXPECT_EQ(eye.keys(prefix + "v:*"),
            std::vector<std::string>{prefix + "v:" + pointer(c, root() + "/b")});
}

// A writer process killed (SIGKILL) after its commit wrote the new blob to Redis and before
// the multi reached ZooKeeper. Its blob is garbage: the pointer still names the version before,
// every client reads that version, and the collector — fencing the dead writer's lane —
// removes the orphan and nothing else.
TEST_F(RedisStorage, AWriterKilledBetweenBlobAndMultiLeavesGarbageNotADanglingPointer) {
  const auto prefix = fresh_prefix();
  const std::string path = root() + "/r";
  // Forked before this process has any client (no threads of ours to inherit half-way).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      // A ZooKeeper session whose process dies the moment its next multi would be sent.
      auto hooks = std::make_shared<dstm_test::multi_hooks>();
      const std::string where = zk_->connect_string();
      auto c = dstm::connect_with(
          [where, hooks] {
            return std::make_shared<
                dstm_test::basic_hooked_coordinator<dstm::zookeeper::coordinator>>(
                std::make_shared<dstm::zookeeper::coordinator>(where), hooks);
          },
          fast_options(root() + "/dstm"));
      auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
      dstm::ref<std::string, dstm::redis_storage> r{c, path, std::string("v0"), blobs};
      dstm::dosync(c, [&](dstm::txn& tx) { tx.ref_set(r, std::string("v1")); });
      hooks->before_next_multi([] { ::raise(SIGKILL); });
      dstm::dosync(c, [&](dstm::txn& tx) { tx.ref_set(r, std::string("v2")); });
      ::_exit(4);  // the multi went through: no crash happened
    } catch (...) {
      ::_exit(5);
    }
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer was to die before its multi; exit status " << status;

  redis_eye eye(*redis_);
  const auto blob_pattern = prefix + "v:" + path + "@*";
  EXPECT_EQ(eye.keys(blob_pattern).size(), 2u) << "the committed version's and the orphan";
  auto c = connect();
  auto blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
  dstm::ref<std::string, dstm::redis_storage> r{c, path, blobs};
  EXPECT_EQ(r.deref(), "v1");
  const auto key = pointer(c, path);
  EXPECT_TRUE(eye.exists(prefix + "v:" + key)) << "the pointer names a blob that exists";
  EXPECT_EQ(r.collect_garbage(), 1u);
  EXPECT_EQ(eye.keys(blob_pattern), std::vector<std::string>{prefix + "v:" + key});
  EXPECT_EQ(eye.zcard(prefix + "keys"), 1);
  EXPECT_EQ(r.deref_latest(), "v1");
  dstm::dosync(c, [&](dstm::txn& tx) { tx.ref_set(r, std::string("v3")); });
  EXPECT_EQ(r.deref_latest(), "v3");
  EXPECT_EQ(eye.keys(blob_pattern), std::vector<std::string>{prefix + "v:" + pointer(c, path)});
}

// The group move of examples/group_move across storages: "office" in ZooKeeper, "remote" in
// Redis, and each client's own count of its moves in a local ref — all in one transaction.
// Three clients, two movers and a checker each; a member is always in exactly one group, and
// every move committed exactly once (the local counts add up to the moves made).
TEST_F(RedisStorage, ConcurrentMovesKeepEveryMemberInExactlyOneGroup) {
  const auto prefix = fresh_prefix();
  group everyone;
  for (int i = 0; i < 10; ++i) everyone.insert("m" + std::to_string(i));
  struct site {
    std::shared_ptr<dstm::client> c;
    std::shared_ptr<dstm::redis_blob_store> blobs;
    std::unique_ptr<dstm::ref<group>> office;
    std::unique_ptr<dstm::ref<group, dstm::redis_storage>> remote;
    std::unique_ptr<dstm::ref<int, dstm::local>> moves;
  };
  std::vector<site> sites(3);
  for (auto& s : sites) {
    s.c = connect();
    s.blobs = std::make_shared<dstm::redis_blob_store>(options_for(*redis_, prefix));
    s.office = std::make_unique<dstm::ref<group>>(s.c, root() + "/office", everyone);
    s.remote = std::make_unique<dstm::ref<group, dstm::redis_storage>>(s.c, root() + "/remote",
                                                                       group{}, s.blobs);
    s.moves = std::make_unique<dstm::ref<int, dstm::local>>(s.c, "moves", 0);
  }

  constexpr int moves_per_thread = 30;
  std::atomic<bool> done{false};
  std::atomic<long> checks{0}, violations{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> movers, checkers;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    for (int t = 0; t < 2; ++t) {
      movers.emplace_back([&, i, t] {
        auto& s = sites[i];
        std::mt19937 gen(static_cast<unsigned>(i * 10 + static_cast<std::size_t>(t)));
        try {
          for (int k = 0; k < moves_per_thread; ++k) {
            const auto who = "m" + std::to_string(gen() % everyone.size());
            dstm::dosync(s.c, [&](dstm::txn& tx) {
              auto take = [&](group g) {
                g.erase(who);
                return g;
              };
              auto give = [&](group g) {
                g.insert(who);
                return g;
              };
              if (tx.deref(*s.office).count(who)) {
                tx.alter(*s.office, take);
                tx.alter(*s.remote, give);
              } else {
                tx.alter(*s.remote, take);
                tx.alter(*s.office, give);
              }
              tx.alter(*s.moves, [](int v) { return v + 1; });
            });
          }
        } catch (const std::exception& e) {
          ++errors;
          ADD_FAILURE() << "mover: " << e.what();
        }
      });
    }
    checkers.emplace_back([&, i] {
      auto& s = sites[i];
      try {
        while (!done.load() || checks.load() < 30) {
          const bool ok = dstm::dosync(s.c, [&](dstm::txn& tx) {
            const group& a = tx.deref(*s.office);
            const group& b = tx.deref(*s.remote);
            if (a.size() + b.size() != everyone.size()) return false;
            for (const auto& m : everyone)
              if (a.count(m) + b.count(m) != 1) return false;
            return true;
          });
          ++checks;
          if (!ok) ++violations;
        }
      } catch (const std::exception& e) {
        ++errors;
        ADD_FAILURE() << "checker: " << e.what();
      }
    });
  }
  for (auto& t : movers) t.join();
  done = true;
  for (auto& t : checkers) t.join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(violations.load(), 0) << "of " << checks.load() << " checks";
  const group office = sites[0].office->deref_latest();
  const group remote = sites[0].remote->deref_latest();
  group both = office;
  both.insert(remote.begin(), remote.end());
  EXPECT_EQ(both, everyone);
  EXPECT_EQ(office.size() + remote.size(), everyone.size());
  int moves = 0;
  for (auto& s : sites) moves += s.moves->deref();
  EXPECT_EQ(moves, static_cast<int>(sites.size()) * 2 * moves_per_thread);
  redis_eye eye(*redis_);
  EXPECT_EQ(eye.keys(prefix + "v:*"),
            std::vector<std::string>{prefix + "v:" + pointer(sites[0].c, root() + "/remote")});
  EXPECT_EQ(sites[0].remote->collect_garbage(), 0u);
}

}  // namespace
