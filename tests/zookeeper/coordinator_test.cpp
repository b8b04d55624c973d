// dstm::zookeeper::coordinator against a real standalone ZooKeeper server.
//
// Suite `ZooKeeper` shares one server per process; tests work under their own root znode.
// Suite `ZooKeeperFaults` starts a server per test, because it freezes, restarts or expires
// things.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "zk_test_util.hpp"

namespace dstm_zk_test {
namespace {

using dstm::coordinator_errc;
using dstm::create_mode;
using dstm::op;
using dstm::session_state;

static_assert(dstm::coordinator<coordinator>);
static_assert(!std::is_copy_constructible_v<coordinator> &&
              !std::is_move_constructible_v<coordinator>);

class ZooKeeper : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new dstm::testing::zookeeper_server(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    zk_ = open_session(server_->connect_string());
    root_ = test_root();
    zk_->create(root_);
  }

  std::string path(const std::string& name) const { return root_ + "/" + name; }

  static inline dstm::testing::zookeeper_server* server_ = nullptr;
  std::shared_ptr<coordinator> zk_;
  std::string root_;
};

// ---- session basics ----

TEST_F(ZooKeeper, ConnectsWithASession) {
  EXPECT_EQ(zk_->state(), session_state::connected);
  EXPECT_NE(zk_->session_id(), 0);
  EXPECT_EQ(zk_->session_password().size(), 16u);
  EXPECT_EQ(zk_->negotiated_session_timeout(), 10000ms);
  EXPECT_EQ(zk_->connect_string(), server_->connect_string());
  const auto t0 = zk_->now();
  zk_->sleep_for(1'000'000);
  EXPECT_GE(zk_->now() - t0, 1'000'000);
  auto e = zk_->make_event();
  EXPECT_FALSE(zk_->wait(*e, 1'000'000));
  e->set();
  EXPECT_TRUE(zk_->wait(*e, 0));
}

TEST_F(ZooKeeper, ConnectFailuresThrow) {
  coordinator::options quick;
  quick.connect_timeout = 300ms;
  try {
    coordinator c("", quick);
    FAIL() << "an empty connect string was accepted";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), coordinator_errc::bad_arguments) << e.what();
  }
  // Nobody listens on a freshly released port.
  const auto nowhere = "127.0.0.1:" + std::to_string(dstm::testing::detail::free_port());
  try {
    coordinator c(nowhere, quick);
    FAIL() << "connected to nothing";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), coordinator_errc::connection_loss) << e.what();
  }
  coordinator::options bogus;
  bogus.session = dstm::zookeeper::session_credentials{0x1234, std::string(16, '\0')};
  try {
    coordinator c(server_->connect_string(), bogus);
    FAIL() << "resumed a session that never existed";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), coordinator_errc::session_expired) << e.what();
  }
  bogus.session->password = "short";
  EXPECT_THROW(coordinator(server_->connect_string(), bogus), dstm::coordinator_error);
}

// ---- the operations and their errors ----

TEST_F(ZooKeeper, CreateGetSetRemove) {
  dstm::stat created{};
  EXPECT_EQ(zk_->create(path("n"), "v0", create_mode::persistent, dstm::open_acl_unsafe(),
                        &created),
            path("n"));
  EXPECT_EQ(created.version, 0);
  EXPECT_EQ(created.data_length, 2);
  EXPECT_EQ(created.ephemeral_owner, 0);
  EXPECT_GT(created.czxid, 0);

  auto n = zk_->get(path("n"));
  EXPECT_EQ(n.data, "v0");
  EXPECT_EQ(n.stat, created);

  auto s1 = zk_->set(path("n"), "v1", 0);
  EXPECT_EQ(s1.version, 1);
  EXPECT_GT(s1.mzxid, created.mzxid);
  EXPECT_EQ(s1.czxid, created.czxid);
  auto s2 = zk_->set(path("n"), "v2");  // any version
  EXPECT_EQ(s2.version, 2);
  EXPECT_EQ(zk_->get(path("n")).data, "v2");

  // Empty data round-trips as empty.
  zk_->set(path("n"), "");
  EXPECT_EQ(zk_->get(path("n")).data, "");
  EXPECT_EQ(zk_->get(path("n")).stat.data_length, 0);

  zk_->remove(path("n"), 3);
  EXPECT_FALSE(zk_->exists(path("n")));
}

TEST_F(ZooKeeper, OperationErrors) {
  std::error_code ec;
  zk_->create(path("n"), "x");
  zk_->create(path("n"), "x", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  zk_->create(path("missing/child"), "x", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->get(path("missing"), ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->set(path("missing"), "x", dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->set(path("n"), "x", 7, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  zk_->remove(path("n"), 7, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  zk_->remove(path("missing"), dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->children(path("missing"), {}, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->get_acl(path("missing"), nullptr, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->create(path("n/c"), "x");
  zk_->remove(path("n"), dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::not_empty);
  zk_->create(path("eph"), "", create_mode::ephemeral);
  zk_->create(path("eph/c"), "", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::no_children_for_ephemerals);
  zk_->create(path("noacl"), "", create_mode::persistent, dstm::acl_list{}, nullptr, ec);
  EXPECT_EQ(ec, coordinator_errc::invalid_acl);

  // The throwing flavour carries the code and names the operation and path.
  try {
    zk_->get(path("missing"));
    FAIL();
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), coordinator_errc::no_node);
    EXPECT_NE(std::string(e.what()).find(path("missing")), std::string::npos) << e.what();
  }
}

TEST_F(ZooKeeper, ExistsAndChildren) {
  EXPECT_EQ(zk_->exists(path("a")), std::nullopt);
  zk_->create(path("a"), "xyz");
  auto st = zk_->exists(path("a"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->data_length, 3);
  for (const char* c : {"x", "y", "z"}) zk_->create(path("a/") + c);
  auto kids = zk_->children(path("a"));
  std::sort(kids.names.begin(), kids.names.end());
  EXPECT_EQ(kids.names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(kids.stat.num_children, 3);
  EXPECT_EQ(kids.stat.cversion, 3);
  EXPECT_TRUE(zk_->children(path("a/x")).names.empty());
}

TEST_F(ZooKeeper, SequentialNamesAreTenDigitPerParentCounters) {
  zk_->create(path("p"));
  zk_->create(path("q"));
  EXPECT_EQ(zk_->create(path("p/n-"), "", create_mode::persistent_sequential),
            path("p/n-0000000000"));
  EXPECT_EQ(zk_->create(path("p/n-"), "", create_mode::ephemeral_sequential),
            path("p/n-0000000001"));
  // Another parent has its own counter.
  EXPECT_EQ(zk_->create(path("q/"), "", create_mode::persistent_sequential),
            path("q/0000000000"));
  // The counter counts every child created under the parent, plain ones too...
  zk_->create(path("p/plain"));
  EXPECT_EQ(zk_->create(path("p/m-"), "", create_mode::persistent_sequential),
            path("p/m-0000000003"));
  EXPECT_EQ(zk_->exists(path("p"))->cversion, 4);
  // ...but not removals, although a removal does advance the parent's cversion (ZooKeeper 3.8:
  // the suffix is the cversion of the leader's pending-change record, which a delete leaves).
  zk_->remove(path("p/plain"));
  EXPECT_EQ(zk_->exists(path("p"))->cversion, 5);
  EXPECT_EQ(zk_->create(path("p/n-"), "", create_mode::persistent_sequential),
            path("p/n-0000000004"));
  EXPECT_EQ(zk_->exists(path("p/n-0000000001"))->ephemeral_owner, zk_->session_id());
}

TEST_F(ZooKeeper, MultiAppliesAllOrNothing) {
  zk_->create(path("a"), "a0");
  zk_->create(path("b"), "b0");
  zk_->create(path("gone"), "");
  std::error_code ec;

  // A failing check in the middle: nothing before or after it is applied.
  const std::vector<op> failing{op::set(path("a"), "a1", 0), op::create(path("c"), "c0"),
                                op::check(path("b"), 5), op::remove(path("gone")),
                                op::set(path("b"), "b1")};
  auto r = zk_->multi(failing, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  ASSERT_EQ(r.size(), failing.size());
  EXPECT_FALSE(r[0].ec);
  EXPECT_FALSE(r[1].ec);
  EXPECT_EQ(r[2].ec, coordinator_errc::bad_version);
  EXPECT_EQ(r[3].ec, coordinator_errc::runtime_inconsistency);
  EXPECT_EQ(r[4].ec, coordinator_errc::multi_not_executed);
  EXPECT_EQ(zk_->get(path("a")).data, "a0");
  EXPECT_EQ(zk_->get(path("a")).stat.version, 0);
  EXPECT_FALSE(zk_->exists(path("c")));
  EXPECT_TRUE(zk_->exists(path("gone")));
  EXPECT_EQ(zk_->get(path("b")).data, "b0");
  EXPECT_THROW(zk_->multi(failing), dstm::coordinator_error);

  // The first failing op sets `ec`, even when a later one would fail too.
  const std::vector<op> two_failures{op::create(path("a"), ""), op::check(path("b"), 9)};
  r = zk_->multi(two_failures, ec);
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  EXPECT_EQ(r[0].ec, coordinator_errc::node_exists);

  // Success reports created paths and new stats.
  zk_->create(path("seq"));
  const std::vector<op> ok{op::check(path("b"), 0),
                           op::set(path("a"), "a1", 0),
                           op::create(path("seq/x-"), "s", create_mode::persistent_sequential),
                           op::create(path("c"), "c0"),
                           op::remove(path("gone"), 0)};
  r = zk_->multi(ok, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(r.size(), ok.size());
  for (const auto& x : r) EXPECT_FALSE(x.ec);
  EXPECT_EQ(r[1].stat.version, 1);
  EXPECT_EQ(r[1].stat.data_length, 2);
  EXPECT_EQ(r[2].path, path("seq/x-0000000000"));
  EXPECT_EQ(r[3].path, path("c"));
  EXPECT_EQ(zk_->get(path("a")).data, "a1");
  EXPECT_EQ(zk_->get(path("c")).data, "c0");
  EXPECT_FALSE(zk_->exists(path("gone")));

  // Nothing to apply is a successful no-op.
  EXPECT_TRUE(zk_->multi(std::vector<op>{}, ec).empty());
  EXPECT_FALSE(ec);
}

TEST_F(ZooKeeper, SyncAndAuthAndAcls) {
  zk_->sync();
  zk_->sync(root_);

  auto owner = open_session(server_->connect_string());
  owner->add_auth("digest", "alice:secret");
  owner->create(path("private"), "mine", create_mode::persistent, dstm::creator_all_acl());

  const auto acls = owner->get_acl(path("private"));
  ASSERT_EQ(acls.size(), 1u);
  EXPECT_EQ(acls[0].scheme, "digest");
  EXPECT_EQ(acls[0].id.rfind("alice:", 0), 0u) << acls[0].id;
  EXPECT_EQ(acls[0].permissions, dstm::perms::all);

  // A stranger can neither read nor write, and nothing it tried is written.
  auto stranger = open_session(server_->connect_string());
  std::error_code ec;
  stranger->get(path("private"), ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  stranger->set(path("private"), "theirs", dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  stranger->create(path("private/child"), "", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  const std::vector<op> sneaky{op::set(path("private"), "theirs")};
  auto r = stranger->multi(sneaky, ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  EXPECT_EQ(r[0].ec, coordinator_errc::not_authorized);
  const auto n = owner->get(path("private"));
  EXPECT_EQ(n.data, "mine");
  EXPECT_EQ(n.stat.version, 0);
  EXPECT_EQ(n.stat.num_children, 0);

  // The same credentials on another session grant the same identity.
  auto friend_ = open_session(server_->connect_string());
  friend_->add_auth("digest", "alice:secret");
  EXPECT_EQ(friend_->get(path("private")).data, "mine");

  // Opening reads to everyone: checked against the ACL version.
  auto opened = acls;
  opened.push_back({dstm::perms::read, "world", "anyone"});
  owner->set_acl(path("private"), opened, 5, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  owner->set_acl(path("private"), opened, 0);
  dstm::stat st{};
  EXPECT_EQ(owner->get_acl(path("private"), &st).size(), 2u);
  EXPECT_EQ(st.aversion, 1);
  EXPECT_EQ(stranger->get(path("private")).data, "mine");
  stranger->set(path("private"), "theirs", dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  EXPECT_EQ(zk_->get_acl("/").front().scheme, "world");
}

TEST_F(ZooKeeper, FailedAuthenticationEndsTheSession) {
  state_log log;  // outlives the coordinator, whose close() still notifies it
  auto c = open_session(server_->connect_string());
  c->subscribe(std::ref(log));
  std::error_code ec;
  c->add_auth("no-such-scheme", "whatever", ec);
  EXPECT_EQ(ec, coordinator_errc::auth_failed);
  // The session event may trail the reply by a moment; calls fail at once either way.
  c->get(root_, ec);
  EXPECT_EQ(ec, coordinator_errc::auth_failed);
  EXPECT_TRUE(eventually([&] { return c->state() == session_state::auth_failed; }));
  c->get(root_, ec);
  EXPECT_EQ(ec, coordinator_errc::auth_failed);
  EXPECT_TRUE(eventually([&] { return log.saw(session_state::auth_failed); }));
}

// ---- client-side validation ----

TEST_F(ZooKeeper, BadPathsAreRejectedBeforeSending) {
  const std::vector<std::string> bad = {"",       "relative", "/trailing/", "/a//b",
                                        "/a/./b", "/a/../b",  "/ctl\x01",   std::string("/nul\0x", 6)};
  for (const auto& p : bad) {
    SCOPED_TRACE("path \"" + p + "\"");
    std::error_code ec;
    zk_->create(p, "", create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->get(p, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->set(p, "", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->remove(p, dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->exists(p, {}, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->children(p, {}, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->sync(p, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->get_acl(p, nullptr, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    zk_->set_acl(p, dstm::open_acl_unsafe(), dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    const std::vector<std::string> paths{root_, p};
    auto got = zk_->get_many(paths, {}, ec);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(got[0].ec);
    EXPECT_EQ(got[1].ec, coordinator_errc::bad_arguments);
  }
  // A sequential create may end in '/', nothing else may.
  std::error_code ec;
  zk_->create(path("p/"), "", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  zk_->create(path("p"));
  EXPECT_EQ(zk_->create(path("p/"), "", create_mode::persistent_sequential),
            path("p/0000000000"));
  zk_->create(path("m"), "", static_cast<create_mode>(7), ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_FALSE(zk_->exists(path("m")));

  // In a multi, the bad op is reported where the server would report it; nothing is applied.
  const std::vector<op> ops{op::create(path("x"), ""), op::set("/bad//path", ""),
                            op::create(path("y"), "")};
  auto r = zk_->multi(ops, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_FALSE(r[0].ec);
  EXPECT_EQ(r[1].ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(r[2].ec, coordinator_errc::runtime_inconsistency);
  EXPECT_FALSE(zk_->exists(path("x")));
}

TEST_F(ZooKeeper, DataSizeLimit) {
  // Exactly max_data_size bytes are accepted by the server and read back whole.
  const std::string largest(dstm::max_data_size, 'z');
  zk_->create(path("large"), largest);
  EXPECT_EQ(zk_->get(path("large")).data, largest);
  const std::string also_largest(dstm::max_data_size, 'y');
  zk_->set(path("large"), also_largest);
  EXPECT_EQ(zk_->get(path("large")).data, also_largest);

  // One byte more is refused before sending; nothing is written.
  const std::string too_large(dstm::max_data_size + 1, 'x');
  std::error_code ec;
  zk_->create(path("huge"), too_large, create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_FALSE(zk_->exists(path("huge")));
  zk_->set(path("large"), too_large, dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(zk_->get(path("large")).stat.version, 1);

  // A multi whose ops fit one by one but not together would make the server drop the
  // connection (outcome unknown to the client); it is refused up front instead.
  zk_->create(path("half1"));
  zk_->create(path("half2"));
  const std::string half(dstm::max_data_size / 2 + 1024, 'h');
  const std::vector<op> together{op::set(path("half1"), half), op::set(path("half2"), half)};
  auto r = zk_->multi(together, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(zk_->get(path("half1")).stat.version, 0);
  EXPECT_EQ(zk_->state(), session_state::connected);
}

// ---- watches ----

TEST_F(ZooKeeper, WatchesAreOneShot) {
  zk_->create(path("w"), "0");
  std::mutex m;
  std::vector<dstm::watch_event> seen;
  auto record = [&](const dstm::watch_event& e) {
    std::lock_guard lock(m);
    seen.push_back(e);
  };
  auto count = [&] {
    std::lock_guard lock(m);
    return seen.size();
  };

  zk_->get(path("w"), dstm::watch{record});
  zk_->set(path("w"), "1");
  zk_->set(path("w"), "2");  // the watch fired already: no second event
  ASSERT_TRUE(eventually([&] { return count() == 1; }));
  zk_->sync();
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(count(), 1u);
  EXPECT_EQ(seen[0].type, dstm::event_type::changed);
  EXPECT_EQ(seen[0].path, path("w"));
  EXPECT_EQ(seen[0].state, session_state::connected);

  // exists on a missing node fires on creation; children on a child; get on deletion.
  zk_->exists(path("later"), dstm::watch{record});
  zk_->children(path("w"), dstm::watch{record});
  zk_->create(path("later"));
  zk_->create(path("w/kid"));
  ASSERT_TRUE(eventually([&] { return count() == 3; }));
  zk_->get(path("later"), dstm::watch{record});
  zk_->remove(path("later"));
  ASSERT_TRUE(eventually([&] { return count() == 4; }));
  std::lock_guard lock(m);
  EXPECT_EQ(seen[1].type, dstm::event_type::created);
  EXPECT_EQ(seen[1].path, path("later"));
  EXPECT_EQ(seen[2].type, dstm::event_type::child);
  EXPECT_EQ(seen[2].path, path("w"));
  EXPECT_EQ(seen[3].type, dstm::event_type::deleted);
}

TEST_F(ZooKeeper, FailedReadsLeaveNoWatch) {
  std::atomic<int> fired{0};
  dstm::watch w{[&](const dstm::watch_event&) { ++fired; }};
  std::error_code ec;
  zk_->get(path("absent"), w, ec);  // get on a missing node sets no watch (ZooKeeper's rule)
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->children(path("absent"), w, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  zk_->create(path("absent"));
  zk_->sync();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fired.load(), 0);
}

TEST_F(ZooKeeper, WatchThreads) {
  // A plain watch runs on the dispatcher and may call the coordinator; an in_order watch runs
  // on the C client's completion thread. Both see events in the same (server) order.
  constexpr int n = 6;
  for (int i = 0; i < n; ++i) zk_->create(path(std::to_string(i)), "0");
  const auto self = std::this_thread::get_id();
  std::mutex m;
  std::vector<std::string> in_order_seq, plain_seq;
  std::set<std::thread::id> in_order_threads, plain_threads;
  std::atomic<int> nested_ok{0};
  for (int i = 0; i < n; ++i) {
    zk_->get(path(std::to_string(i)), dstm::watch{[&](const dstm::watch_event& e) {
                                                    std::lock_guard lock(m);
                                                    in_order_seq.push_back(e.path);
                                                    in_order_threads.insert(
                                                        std::this_thread::get_id());
                                                  },
                                                  true});
    zk_->get(path(std::to_string(i)), dstm::watch{[&](const dstm::watch_event& e) {
      {
        std::lock_guard lock(m);
        plain_seq.push_back(e.path);
        plain_threads.insert(std::this_thread::get_id());
      }
      std::error_code ec;
      if (zk_->get(e.path, ec).data == "1" && !ec) ++nested_ok;  // would deadlock in order
    }});
  }
  std::vector<op> ops;
  for (int i = n - 1; i >= 0; --i) ops.push_back(op::set(path(std::to_string(i)), "1"));
  zk_->multi(ops);
  ASSERT_TRUE(eventually([&] { return nested_ok.load() == n; }));
  std::lock_guard lock(m);
  EXPECT_EQ(in_order_seq, plain_seq);
  ASSERT_EQ(in_order_threads.size(), 1u);
  ASSERT_EQ(plain_threads.size(), 1u);
  EXPECT_NE(*in_order_threads.begin(), *plain_threads.begin());
  EXPECT_EQ(in_order_threads.count(self), 0u);
  EXPECT_EQ(plain_threads.count(self), 0u);
}

// The ordering promise the STM's cache rests on: a session sees the event for a znode (in an
// in_order watch) before any reply that reflects the change, replies for other znodes included.
// A writer sets /a then /b to i, repeatedly. The reader caches /a (invalidated by an in_order
// watch) and reads /b; if it sees b == i while its cache of /a is still valid, the cache must
// hold a value >= i. Dispatching the invalidation off the completion thread breaks this.
TEST_F(ZooKeeper, InOrderWatchRunsBeforeLaterReplies) {
  auto writer = open_session(server_->connect_string());
  auto reader = open_session(server_->connect_string());
  const auto r = check_watch_order(*writer, *reader, path("a"), path("b"), 2s);
  EXPECT_EQ(r.violations, 0) << "saw /b newer than a still-valid cache of /a " << r.violations
                             << " times in " << r.checks << " checks";
  // The test means something only if the cache was refreshed and checked many times.
  EXPECT_GT(r.refreshes, 20);
  EXPECT_GT(r.checks, 200);
}

// ---- batched reads ----

TEST_F(ZooKeeper, GetManyPipelines) {
  constexpr int n = 300;
  std::vector<std::string> paths;
  std::vector<op> ops;
  for (int i = 0; i < n; ++i) {
    paths.push_back(path("k" + std::to_string(i)));
    ops.push_back(op::create(paths.back(), "v" + std::to_string(i)));
  }
  zk_->multi(ops);
  paths.push_back(path("missing"));

  std::atomic<int> fired{0};
  std::error_code ec;
  auto got = zk_->get_many(paths, dstm::watch{[&](const dstm::watch_event&) { ++fired; }}, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(got.size(), paths.size());
  for (int i = 0; i < n; ++i) {
    ASSERT_FALSE(got[i].ec);
    EXPECT_EQ(got[i].node.data, "v" + std::to_string(i));
  }
  EXPECT_EQ(got[n].ec, coordinator_errc::no_node);
  // Every read left its own watch.
  std::vector<op> touch;
  for (int i = 0; i < n; ++i) touch.push_back(op::set(paths[i], "w"));
  zk_->multi(touch);
  EXPECT_TRUE(eventually([&] { return fired.load() == n; }));

  // Pipelined reads cost about one round trip, sequential reads one each.
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  for (int i = 0; i < n; ++i) zk_->get(paths[i]);
  const auto sequential = clock::now() - t0;
  const auto t1 = clock::now();
  zk_->get_many(std::span(paths).first(n));
  const auto pipelined = clock::now() - t1;
  std::printf("[ get_many ] %d gets: sequential %.2f ms, pipelined %.2f ms\n", n,
              std::chrono::duration<double, std::milli>(sequential).count(),
              std::chrono::duration<double, std::milli>(pipelined).count());
  EXPECT_LT(pipelined, sequential);
}

// ---- many threads, one session ----

TEST_F(ZooKeeper, ManyThreadsShareOneSession) {
  zk_->create(path("counter"), "0");
  zk_->create(path("seq"));
  constexpr int threads = 8, increments = 40;
  std::atomic<int> conflicts{0};
  std::vector<std::string> created[threads];
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < increments; ++i) {
        for (;;) {  // compare-and-set on the version
          auto n = zk_->get(path("counter"));
          std::error_code ec;
          zk_->set(path("counter"), std::to_string(std::stoi(n.data) + 1), n.stat.version, ec);
          if (!ec) break;
          ASSERT_EQ(ec, coordinator_errc::bad_version);
          ++conflicts;
        }
        created[t].push_back(
            zk_->create(path("seq/s-"), "", create_mode::persistent_sequential));
      }
    });
  }
  for (auto& th : pool) th.join();
  const auto final_node = zk_->get(path("counter"));
  EXPECT_EQ(final_node.data, std::to_string(threads * increments));
  EXPECT_EQ(final_node.stat.version, threads * increments);
  std::set<std::string> unique;
  for (auto& v : created) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));  // one thread's creates are ordered
    unique.insert(v.begin(), v.end());
  }
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(threads * increments));
  EXPECT_EQ(zk_->children(path("seq")).names.size(), unique.size());
}

// ---- close and ephemerals ----

TEST_F(ZooKeeper, CloseRemovesEphemeralsAndEndsTheSession) {
  state_log log;  // outlives the coordinator, whose close() still notifies it
  auto c = open_session(server_->connect_string());
  c->subscribe(std::ref(log));
  c->create(path("eph"), "", create_mode::ephemeral);
  EXPECT_EQ(zk_->exists(path("eph"))->ephemeral_owner, c->session_id());
  std::atomic<int> fired{0};
  c->get(path("eph"), dstm::watch{[&](const dstm::watch_event&) { ++fired; }});

  c->close();
  c->close();  // idempotent
  EXPECT_EQ(c->state(), session_state::closed);
  EXPECT_FALSE(zk_->exists(path("eph")));  // gone at once, not after the session timeout
  EXPECT_EQ(fired.load(), 0);              // pending watches are dropped, not called
  EXPECT_EQ(log.states(), std::vector<session_state>{session_state::closed});

  std::error_code ec;
  c->get(path("x"), ec);
  EXPECT_EQ(ec, coordinator_errc::closing);
  c->create(path("x"), "", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::closing);
  const std::vector<op> ops{op::check(root_, 0)};
  c->multi(ops, ec);
  EXPECT_EQ(ec, coordinator_errc::closing);
  const std::vector<std::string> paths{root_};
  c->get_many(paths, {}, ec);
  EXPECT_EQ(ec, coordinator_errc::closing);
  EXPECT_THROW(c->get(root_), dstm::coordinator_error);
}

// ---- faults: a server per test ----

class ZooKeeperFaults : public ::testing::Test {
 protected:
  dstm::testing::zookeeper_server server_;
};

TEST_F(ZooKeeperFaults, ServerSideExpiry) {
  auto observer = open_session(server_.connect_string());
  state_log log;  // outlives the coordinator, whose close() still notifies it
  std::mutex m;
  std::vector<dstm::watch_event> events;
  auto c = open_session(server_.connect_string());
  c->subscribe(std::ref(log));
  c->create("/eph", "", create_mode::ephemeral);
  c->create("/data", "");
  for (bool in_order : {false, true}) {
    c->get("/data", dstm::watch{[&](const dstm::watch_event& e) {
                                  std::lock_guard lock(m);
                                  events.push_back(e);
                                },
                                in_order});
  }

  coordinator::expire_session(server_.connect_string(), c->session_id(), c->session_password());
  EXPECT_FALSE(observer->exists("/eph"));
  ASSERT_TRUE(eventually([&] { return c->state() == session_state::expired; }));
  EXPECT_TRUE(eventually([&] { return log.saw(session_state::expired); }));

  // Every armed watch ends with the session, once.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return events.size() == 2;
  }));
  for (const auto& e : events) {
    EXPECT_EQ(e.type, dstm::event_type::session);
    EXPECT_EQ(e.state, session_state::expired);
  }

  std::error_code ec;
  c->get("/data", ec);
  EXPECT_EQ(ec, coordinator_errc::session_expired);
  c->create("/x", "", create_mode::persistent, ec);
  EXPECT_EQ(ec, coordinator_errc::session_expired);
  const std::vector<std::string> paths{"/data"};
  c->get_many(paths, {}, ec);
  EXPECT_EQ(ec, coordinator_errc::session_expired);
  EXPECT_FALSE(observer->exists("/x"));

  // An expired session cannot be expired again.
  try {
    coordinator::expire_session(server_.connect_string(), c->session_id(), c->session_password(),
                                2s);
    FAIL() << "expired an expired session";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), coordinator_errc::session_expired);
  }
  c->close();
  EXPECT_EQ(c->state(), session_state::closed);
}

TEST_F(ZooKeeperFaults, SessionSurvivesServerRestart) {
  state_log log;  // outlives the coordinator, whose close() still notifies it
  auto c = open_session(server_.connect_string());
  c->subscribe(std::ref(log));
  const auto id = c->session_id();
  c->create("/eph", "here", create_mode::ephemeral);

  server_.stop();
  ASSERT_TRUE(eventually([&] { return c->state() == session_state::connecting; }));
  std::error_code ec;
  c->get("/eph", ec);
  EXPECT_TRUE(ec == coordinator_errc::connection_loss || ec == coordinator_errc::operation_timeout)
      << ec.message();
  server_.start();
  ASSERT_TRUE(eventually([&] { return c->state() == session_state::connected; }, 15s));

  EXPECT_EQ(c->session_id(), id);
  const auto n = c->get("/eph");
  EXPECT_EQ(n.data, "here");
  EXPECT_EQ(n.stat.ephemeral_owner, id);
  const auto states = log.states();
  ASSERT_GE(states.size(), 2u);
  EXPECT_EQ(states.front(), session_state::connecting);
  EXPECT_EQ(states.back(), session_state::connected);
}

// A process that dies without closing its session leaves it to its successor, which resumes it
// with the id and password (within the session timeout) and owns its ephemerals.
TEST_F(ZooKeeperFaults, ResumeTheSessionOfADeadProcess) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // Forked before this process runs any coordinator: the child starts single-threaded.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    int code = 1;
    try {
      coordinator c(server_.connect_string());
      c.create("/eph", "", create_mode::ephemeral);
      const auto creds = c.credentials();
      std::string hex;
      for (unsigned char ch : creds.password) {
        const char* digits = "0123456789abcdef";
        hex += digits[ch >> 4];
        hex += digits[ch & 15];
      }
      const std::string line = std::to_string(creds.id) + " " + hex;
      code = ::write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
      ::_exit(code);  // inside c's scope: no close, the session lives on until it times out
    } catch (...) {
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string line;
  char buf[128];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) line.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed";
  const auto space = line.find(' ');
  ASSERT_NE(space, std::string::npos) << line;
  dstm::zookeeper::session_credentials creds;
  creds.id = std::stoll(line.substr(0, space));
  const auto hex = line.substr(space + 1);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    creds.password.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }

  coordinator::options o;
  o.session = creds;
  auto heir = open_session(server_.connect_string(), o);
  EXPECT_EQ(heir->session_id(), creds.id);
  EXPECT_EQ(heir->credentials().password, creds.password);
  EXPECT_EQ(heir->exists("/eph")->ephemeral_owner, creds.id);
  heir->close();  // closes the inherited session: its ephemerals go at once
  auto observer = open_session(server_.connect_string());
  EXPECT_FALSE(observer->exists("/eph"));
}

TEST_F(ZooKeeperFaults, RequestTimeout) {
  coordinator::options o;
  o.request_timeout = 300ms;
  auto c = open_session(server_.connect_string(), o);
  auto other = open_session(server_.connect_string());
  c->create("/n", "0");
  std::atomic<int> fired{0};
  {
    freeze frozen(server_.pid());
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    c->set("/n", "1", dstm::any_version, ec);
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(ec, coordinator_errc::operation_timeout);
    EXPECT_TRUE(dstm::outcome_unknown(ec));
    EXPECT_GE(waited, 290ms);
    EXPECT_LT(waited, 3s);
    // A read that timed out leaves no watch behind, even if its reply comes later.
    c->get("/n", dstm::watch{[&](const dstm::watch_event&) { ++fired; }}, ec);
    EXPECT_EQ(ec, coordinator_errc::operation_timeout);
  }
  // The timed-out write was applied after all: the outcome really was unknown.
  EXPECT_TRUE(eventually([&] { return other->get("/n").data == "1"; }));
  other->set("/n", "2");
  c->sync();
  EXPECT_EQ(c->get("/n").data, "2");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fired.load(), 0);
}

TEST_F(ZooKeeperFaults, CloseFailsWaitingCallers) {
  coordinator::options o;
  o.request_timeout = 20s;
  auto c = open_session(server_.connect_string(), o);
  c->create("/n", "0");
  freeze frozen(server_.pid());
  std::error_code ec;
  std::chrono::steady_clock::duration waited{};
  std::thread t([&] {
    const auto t0 = std::chrono::steady_clock::now();
    c->get("/n", ec);
    waited = std::chrono::steady_clock::now() - t0;
  });
  std::this_thread::sleep_for(200ms);
  c->close();
  t.join();
  EXPECT_EQ(ec, coordinator_errc::closing);
  EXPECT_LT(waited, 10s);
}

}  // namespace
}  // namespace dstm_zk_test
