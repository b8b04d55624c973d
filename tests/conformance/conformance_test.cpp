// One conformance suite for every model of dstm::coordinator: the same typed tests run against
// the ZooKeeper client (a real standalone server), the embedded model and the simulated one.
//
// Each case states behaviour ZooKeeper 3.8 has; where models disagree ZooKeeper is right. A
// model is plugged in through a small traits struct:
//   open()          a new session (a new client of the same data)
//   expire(c)       ends c's session the way a server does (ephemerals go, c sees `expired`)
//   run(body)       runs the test body (directly, or inside a simulated thread)
//   settle(c, p)    waits until p() holds, letting watch callbacks be dispatched (polls with
//                   a real-time bound for real models; advances virtual time for the sim)
// Tests work under a root znode named after the test, so tests sharing a server do not
// interfere.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/znode_tree.hpp"
#include "dstm/embedded.hpp"
#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/world.hpp"

#ifdef DSTM_CONFORMANCE_ZOOKEEPER
#include "dstm/testing/zookeeper_server.hpp"
#include "dstm/zookeeper.hpp"
#endif

namespace {

using dstm::coordinator_errc;
using dstm::create_mode;
using dstm::event_type;
using dstm::op;
using dstm::session_state;
using namespace std::chrono_literals;

/// Polls `pred` in real time until it holds or `timeout` passes.
template <class Pred>
bool poll_real_time(Pred&& pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

#ifdef DSTM_CONFORMANCE_ZOOKEEPER
/// The ZooKeeper C client against one real standalone server per test suite.
struct zookeeper_model {
  using coordinator = dstm::zookeeper::coordinator;
  static constexpr const char* name = "zookeeper";

  static void set_up_suite() { server_ = new dstm::testing::zookeeper_server(); }
  static void tear_down_suite() {
    delete server_;
    server_ = nullptr;
  }

  std::shared_ptr<coordinator> open() {
    return std::make_shared<coordinator>(server_->connect_string());
  }
  void expire(coordinator& c) {
    coordinator::expire_session(server_->connect_string(), c.session_id(),
                                c.session_password());
  }
  void run(const std::function<void()>& body) { body(); }
  bool settle(coordinator&, const std::function<bool()>& pred) { return poll_real_time(pred); }

  static inline dstm::testing::zookeeper_server* server_ = nullptr;
};
#endif

/// The in-process model: sessions of one shared store.
struct embedded_model {
  using coordinator = dstm::embedded::coordinator;
  static constexpr const char* name = "embedded";

  static void set_up_suite() {}
  static void tear_down_suite() {}

  std::shared_ptr<coordinator> open() { return dstm::embedded::open(store_); }
  void expire(coordinator& c) { ASSERT_TRUE(store_->expire(c.session_id())); }
  void run(const std::function<void()>& body) { body(); }
  bool settle(coordinator&, const std::function<bool()>& pred) { return poll_real_time(pred); }

  std::shared_ptr<dstm::embedded::store> store_ = std::make_shared<dstm::embedded::store>();
};

/// The simulated ensemble: a fresh world per test; the body runs as a simulated thread and
/// `settle` advances virtual time (which is what lets the sim deliver events).
struct sim_model {
  using coordinator = dstm::sim::coordinator;
  static constexpr const char* name = "sim";

  static void set_up_suite() {}
  static void tear_down_suite() {}

  std::shared_ptr<coordinator> open() { return dstm::sim::open(ens_); }
  void expire(coordinator& c) { ens_.expire_session(c.session_id()); }
  void run(const std::function<void()>& body) {
    world_.spawn("conformance", body);
    world_.run();
  }
  bool settle(coordinator&, const std::function<bool()>& pred) {
    // 30 s of virtual time is far beyond any session timeout or retry the sim models.
    for (int i = 0; i < 30000; ++i) {
      if (pred()) return true;
      world_.sleep_for(1'000'000);
    }
    return pred();
  }

  dstm::sim::world world_{1};
  dstm::sim::ensemble ens_{world_};
};

template <class Model>
class Conformance : public ::testing::Test {
 protected:
  using coordinator = typename Model::coordinator;
  static_assert(dstm::coordinator<coordinator>);

  static void SetUpTestSuite() { Model::set_up_suite(); }
  static void TearDownTestSuite() { Model::tear_down_suite(); }

  /// "/conf-<suite>-<test>", with the typed suite's "/N" made a legal name.
  static std::string test_root() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string s = std::string("conf-") + info->test_suite_name() + "-" + info->name();
    std::replace(s.begin(), s.end(), '/', '_');
    return "/" + s;
  }

  /// Runs `body(session, root)` inside the model with a fresh session and an empty root node.
  template <class Body>
  void run(Body body) {
    model_.run([&] {
      auto c = model_.open();
      const auto root = test_root();
      c->create(root);
      body(*c, root);
      c->close();
    });
  }

  bool settle(coordinator& c, const std::function<bool()>& pred) { return model_.settle(c, pred); }

  Model model_;
};

#ifdef DSTM_CONFORMANCE_ZOOKEEPER
using models = ::testing::Types<zookeeper_model, embedded_model, sim_model>;
#else
using models = ::testing::Types<embedded_model, sim_model>;
#endif

struct model_names {
  template <class T>
  static std::string GetName(int) {
    return T::name;
  }
};

TYPED_TEST_SUITE(Conformance, models, model_names);

// ---- create ----

TYPED_TEST(Conformance, CreateModes) {
  this->run([&](auto& c, const std::string& root) {
    dstm::stat st;
    EXPECT_EQ(c.create(root + "/p", "d", create_mode::persistent, dstm::open_acl_unsafe(), &st),
              root + "/p");
    EXPECT_EQ(st.ephemeral_owner, 0);
    EXPECT_EQ(st.data_length, 1);
    EXPECT_EQ(c.create(root + "/e", "", create_mode::ephemeral, dstm::open_acl_unsafe(), &st),
              root + "/e");
    EXPECT_EQ(st.ephemeral_owner, c.session_id());
    // Sequential names: 10 digits, one counter per parent.
    EXPECT_EQ(c.create(root + "/s-", "", create_mode::persistent_sequential),
              root + "/s-0000000002");
    EXPECT_EQ(c.create(root + "/s-", "", create_mode::persistent_sequential),
              root + "/s-0000000003");
    EXPECT_EQ(c.create(root + "/p/s-", "", create_mode::persistent_sequential),
              root + "/p/s-0000000000");
    const auto es = c.create(root + "/es-", "", create_mode::ephemeral_sequential,
                             dstm::open_acl_unsafe(), &st);
    EXPECT_EQ(es, root + "/es-0000000004");
    EXPECT_EQ(st.ephemeral_owner, c.session_id());
    EXPECT_EQ(c.get(es).stat.ephemeral_owner, c.session_id());
  });
}

TYPED_TEST(Conformance, CreateErrors) {
  this->run([&](auto& c, const std::string& root) {
    std::error_code ec;
    c.create(root + "/a", "", create_mode::persistent, ec);
    ASSERT_FALSE(ec) << ec.message();
    c.create(root + "/a", "", create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::node_exists);
    c.create(root + "/missing/child", "", create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
    c.create(root + "/eph", "", create_mode::ephemeral, ec);
    ASSERT_FALSE(ec) << ec.message();
    c.create(root + "/eph/child", "", create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::no_children_for_ephemerals);
  });
}

TYPED_TEST(Conformance, SequentialSuffixCountsCreationsNotLiveChildren) {
  // ZooKeeper appends the parent's cversion, which a removal of a child also advances... or
  // not: this case pins what the real server does, so every model must agree.
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/a");
    c.create(root + "/b");
    c.remove(root + "/b");
    EXPECT_EQ(c.create(root + "/s-", "", create_mode::persistent_sequential),
              root + "/s-0000000002");
  });
}

// ---- read and write ----

TYPED_TEST(Conformance, GetReturnsDataAndStat) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/n", "hello");
    c.create(root + "/n/x");
    c.create(root + "/n/y");
    c.remove(root + "/n/y");
    c.set(root + "/n", "hello!");
    const auto n = c.get(root + "/n");
    EXPECT_EQ(n.data, "hello!");
    EXPECT_EQ(n.stat.version, 1);
    EXPECT_EQ(n.stat.cversion, 3);  // two creates and one removal of children
    EXPECT_EQ(n.stat.num_children, 1);
    EXPECT_EQ(n.stat.data_length, 6);
    EXPECT_EQ(n.stat.ephemeral_owner, 0);
    EXPECT_LE(n.stat.czxid, n.stat.mzxid);
    EXPECT_LT(n.stat.czxid, n.stat.pzxid);
    const auto s = c.exists(root + "/n");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(*s, n.stat);
    c.create(root + "/e", "", create_mode::ephemeral);
    EXPECT_EQ(c.get(root + "/e").stat.ephemeral_owner, c.session_id());
    std::error_code ec;
    c.get(root + "/missing", ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
    EXPECT_FALSE(c.exists(root + "/missing").has_value());
  });
}

TYPED_TEST(Conformance, SetChecksTheVersion) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/n", "0");
    auto st = c.set(root + "/n", "1", 0);
    EXPECT_EQ(st.version, 1);
    EXPECT_EQ(st.data_length, 1);
    std::error_code ec;
    c.set(root + "/n", "x", 0, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    EXPECT_EQ(c.get(root + "/n").data, "1");
    st = c.set(root + "/n", "22", dstm::any_version);
    EXPECT_EQ(st.version, 2);
    EXPECT_EQ(st.data_length, 2);
    c.set(root + "/missing", "x", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
  });
}

TYPED_TEST(Conformance, RemoveErrors) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/n", "0");
    c.create(root + "/n/child");
    std::error_code ec;
    c.remove(root + "/n", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::not_empty);
    c.remove(root + "/n/child", 5, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    c.remove(root + "/n/child", 0, ec);
    EXPECT_FALSE(ec) << ec.message();
    c.remove(root + "/n/child", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
    c.remove(root + "/n", dstm::any_version, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(c.exists(root + "/n").has_value());
  });
}

TYPED_TEST(Conformance, ChildrenListsNames) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/k");
    c.create(root + "/k/x");
    c.create(root + "/k/y");
    c.create(root + "/k/z", "", create_mode::ephemeral);
    auto kids = c.children(root + "/k");
    std::sort(kids.names.begin(), kids.names.end());
    EXPECT_EQ(kids.names, (std::vector<std::string>{"x", "y", "z"}));
    EXPECT_EQ(kids.stat.num_children, 3);
    EXPECT_TRUE(c.children(root + "/k/x").names.empty());
    std::error_code ec;
    c.children(root + "/missing", {}, ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
  });
}

// ---- multi ----

TYPED_TEST(Conformance, MultiAppliesAllAndReportsPerOpResults) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/a", "a");
    const std::vector<op> ops{op::create(root + "/b", "b"),
                              op::create(root + "/s-", "", create_mode::persistent_sequential),
                              op::set(root + "/a", "aa", 0), op::check(root + "/a", 1),
                              op::remove(root + "/b")};
    std::error_code ec;
    const auto rs = c.multi(ops, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(rs.size(), ops.size());
    for (const auto& r : rs) EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(rs[0].path, root + "/b");
    EXPECT_EQ(rs[1].path, root + "/s-0000000002");
    EXPECT_EQ(rs[2].stat.version, 1);
    EXPECT_EQ(rs[2].stat.data_length, 2);
    EXPECT_EQ(c.get(root + "/a").data, "aa");
    EXPECT_FALSE(c.exists(root + "/b").has_value());
  });
}

TYPED_TEST(Conformance, FailedMultiAppliesNothing) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/a", "a");
    const std::vector<op> ops{op::create(root + "/b", "b"), op::set(root + "/a", "x"),
                              op::check(root + "/a", 7), op::create(root + "/c", "c")};
    std::error_code ec;
    const auto rs = c.multi(ops, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    ASSERT_EQ(rs.size(), ops.size());
    EXPECT_FALSE(rs[0].ec) << rs[0].ec.message();
    EXPECT_FALSE(rs[1].ec) << rs[1].ec.message();
    EXPECT_EQ(rs[2].ec, coordinator_errc::bad_version);
    EXPECT_EQ(rs[3].ec, coordinator_errc::runtime_inconsistency);
    EXPECT_FALSE(c.exists(root + "/b").has_value());
    EXPECT_FALSE(c.exists(root + "/c").has_value());
    const auto a = c.get(root + "/a");
    EXPECT_EQ(a.data, "a");
    EXPECT_EQ(a.stat.version, 0);
    // The counter of sequential names is not advanced by a failed multi either.
    c.create(root + "/b");  // the second creation under root
    EXPECT_EQ(c.create(root + "/s-", "", create_mode::persistent_sequential),
              root + "/s-0000000002");
  });
}

// ---- sessions ----

TYPED_TEST(Conformance, EphemeralsGoOnClose) {
  this->run([&](auto& c, const std::string& root) {
    auto owner = this->model_.open();
    owner->create(root + "/e", "", create_mode::ephemeral);
    owner->create(root + "/es-", "", create_mode::ephemeral_sequential);
    EXPECT_TRUE(c.exists(root + "/e").has_value());
    owner->close();
    EXPECT_TRUE(this->settle(c, [&] { return !c.exists(root + "/e").has_value(); }));
    EXPECT_TRUE(c.children(root).names.empty());
  });
}

TYPED_TEST(Conformance, EphemeralsGoOnServerSideExpiry) {
  this->run([&](auto& c, const std::string& root) {
    auto owner = this->model_.open();
    owner->create(root + "/e", "", create_mode::ephemeral);
    EXPECT_TRUE(c.exists(root + "/e").has_value());
    this->model_.expire(*owner);
    EXPECT_TRUE(this->settle(c, [&] { return !c.exists(root + "/e").has_value(); }));
    EXPECT_TRUE(this->settle(c, [&] { return owner->state() == session_state::expired; }));
    std::error_code ec;
    owner->get(root, ec);
    EXPECT_EQ(ec, coordinator_errc::session_expired);
  });
}

// ---- watches ----

/// Records watch events; safe to share with a dispatcher thread.
class event_log {
 public:
  dstm::watch watch(bool in_order = false) {
    return dstm::watch{[this](const dstm::watch_event& e) { record(e); }, in_order};
  }
  void record(const dstm::watch_event& e) {
    std::lock_guard lock(mutex_);
    events_.push_back(e);
  }
  std::vector<dstm::watch_event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::size_t size() const { return events().size(); }

 private:
  mutable std::mutex mutex_;
  std::vector<dstm::watch_event> events_;
};

TYPED_TEST(Conformance, DataWatchFiresOnce) {
  this->run([&](auto& c, const std::string& root) {
    auto writer = this->model_.open();
    c.create(root + "/w", "0");
    event_log first;
    c.get(root + "/w", first.watch());
    writer->set(root + "/w", "1");
    ASSERT_TRUE(this->settle(c, [&] { return first.size() >= 1; }));
    writer->set(root + "/w", "2");
    // Watches are dispatched in event order: once a watch set after the second change has
    // fired, a (wrong) second firing of the first watch would have been dispatched already.
    event_log second;
    EXPECT_EQ(c.get(root + "/w", second.watch()).data, "2");
    writer->set(root + "/w", "3");
    ASSERT_TRUE(this->settle(c, [&] { return second.size() >= 1; }));
    const auto events = first.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, event_type::changed);
    EXPECT_EQ(events[0].path, root + "/w");
    EXPECT_EQ(second.events().size(), 1u);
  });
}

TYPED_TEST(Conformance, ExistsWatchOnMissingNodeFiresOnCreate) {
  this->run([&](auto& c, const std::string& root) {
    auto writer = this->model_.open();
    event_log log;
    EXPECT_FALSE(c.exists(root + "/later", log.watch()).has_value());
    writer->create(root + "/later", "x");
    ASSERT_TRUE(this->settle(c, [&] { return log.size() >= 1; }));
    const auto events = log.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, event_type::created);
    EXPECT_EQ(events[0].path, root + "/later");
  });
}

TYPED_TEST(Conformance, ChildWatchFiresOnChildCreate) {
  this->run([&](auto& c, const std::string& root) {
    auto writer = this->model_.open();
    event_log log;
    EXPECT_TRUE(c.children(root, log.watch()).names.empty());
    writer->create(root + "/kid");
    ASSERT_TRUE(this->settle(c, [&] { return log.size() >= 1; }));
    const auto events = log.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, event_type::child);
    EXPECT_EQ(events[0].path, root);
  });
}

TYPED_TEST(Conformance, InOrderWatchRunsBeforeALaterReplyObservingTheChange) {
  this->run([&](auto& reader, const std::string& root) {
    auto writer = this->model_.open();
    writer->create(root + "/a", "0");
    writer->create(root + "/b", "0");
    std::atomic<bool> invalidated{false};
    reader.get(root + "/a", dstm::watch{[&](const dstm::watch_event&) { invalidated = true; },
                                        /*in_order=*/true});
    writer->set(root + "/a", "1");
    writer->set(root + "/b", "1");
    bool saw_new_b = false;
    ASSERT_TRUE(this->settle(reader, [&] {
      saw_new_b = reader.get(root + "/b").data == "1";
      // Checked in the same step as the read: the watch must have run before this reply.
      if (saw_new_b) {
        EXPECT_TRUE(invalidated.load());
      }
      return saw_new_b;
    }));
    EXPECT_TRUE(invalidated.load());
  });
}

TYPED_TEST(Conformance, SequenceNumbersIncreaseInDeliveryOrder) {
  this->run([&](auto& reader, const std::string& root) {
    auto writer = this->model_.open();
    writer->create(root + "/x", "0");
    writer->create(root + "/y", "0");
    std::atomic<std::uint64_t> event_sequence{0};
    const auto before = reader.get(root + "/x", dstm::watch{[&](const dstm::watch_event& e) {
                                                              event_sequence = e.sequence;
                                                            },
                                                            true});
    const auto second = reader.get(root + "/y");
    EXPECT_GT(before.sequence, 0u) << "the model provides no sequence numbers";
    EXPECT_GT(second.sequence, before.sequence);
    writer->set(root + "/x", "1");
    std::uint64_t last = second.sequence;
    bool increasing = true;
    ASSERT_TRUE(this->settle(reader, [&] {
      const auto n = reader.get(root + "/y");
      increasing = increasing && n.sequence > last;
      last = n.sequence;
      return event_sequence.load() != 0 || !increasing;
    }));
    ASSERT_TRUE(increasing) << "a reply's sequence did not exceed the previous one: " << last;
    // The event arrived after the read that set the watch and before the next reply.
    EXPECT_GT(event_sequence.load(), second.sequence);
    const auto after = reader.get(root + "/y");
    EXPECT_GT(after.sequence, event_sequence.load());
    EXPECT_GT(after.sequence, last);
  });
}

// ---- batched reads ----

TYPED_TEST(Conformance, GetManyReturnsResultsInOrderWithPerPathErrors) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/one", "1");
    c.create(root + "/two", "22");
    const std::vector<std::string> paths{root + "/two", root + "/missing", root + "/one"};
    std::error_code ec;
    const auto rs = c.get_many(paths, {}, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_FALSE(rs[0].ec);
    EXPECT_EQ(rs[0].node.data, "22");
    EXPECT_EQ(rs[0].node.stat.data_length, 2);
    EXPECT_EQ(rs[1].ec, coordinator_errc::no_node);
    EXPECT_FALSE(rs[2].ec);
    EXPECT_EQ(rs[2].node.data, "1");
    EXPECT_TRUE(c.get_many(std::vector<std::string>{}).empty());
  });
}

// ---- ACLs ----

TYPED_TEST(Conformance, DigestAclDeniesOthersUntilTheyAuthenticate) {
  this->run([&](auto& c, const std::string& root) {
    const dstm::acl_list acls{{dstm::perms::all, "digest", dstm::digest_id("user:pw")}};
    c.create(root + "/secret", "s", create_mode::persistent, acls, nullptr);
    auto other = this->model_.open();
    std::error_code ec;
    other->get(root + "/secret", ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
    other->set(root + "/secret", "x", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
    other->add_auth("digest", "user:wrong");
    other->get(root + "/secret", ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
    other->add_auth("digest", "user:pw");
    ec.clear();
    EXPECT_EQ(other->get(root + "/secret", ec).data, "s");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(other->get_acl(root + "/secret"), acls);
  });
}

// ---- bad input ----

TYPED_TEST(Conformance, BadPathsAreBadArguments) {
  this->run([&](auto& c, const std::string& root) {
    for (const std::string bad : {"", "relative", "/trailing/", "/a//b", "/a/./b", "/a/../b"}) {
      std::error_code ec;
      c.create(bad, "", create_mode::persistent, ec);
      EXPECT_EQ(ec, coordinator_errc::bad_arguments) << "create '" << bad << "'";
      ec.clear();
      c.get(bad, ec);
      EXPECT_EQ(ec, coordinator_errc::bad_arguments) << "get '" << bad << "'";
      ec.clear();
      c.exists(bad, {}, ec);
      EXPECT_EQ(ec, coordinator_errc::bad_arguments) << "exists '" << bad << "'";
    }
    // A sequential create may end in "/": the server appends the counter to the parent path.
    EXPECT_EQ(c.create(root + "/", "", create_mode::persistent_sequential),
              root + "/0000000000");
  });
}

TYPED_TEST(Conformance, DataOverTheLimitIsBadArguments) {
  this->run([&](auto& c, const std::string& root) {
    const std::string big(dstm::max_data_size + 1, 'x');
    std::error_code ec;
    c.create(root + "/big", big, create_mode::persistent, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    EXPECT_FALSE(c.exists(root + "/big").has_value());
    c.create(root + "/n", "");
    ec.clear();
    c.set(root + "/n", big, dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments);
    EXPECT_EQ(c.get(root + "/n").stat.version, 0);
    const std::string limit(dstm::max_data_size, 'y');
    ec.clear();
    c.set(root + "/n", limit, dstm::any_version, ec);
    EXPECT_FALSE(ec) << ec.message();
  });
}

// ---- more of ZooKeeper's corners ----

TYPED_TEST(Conformance, MultiReportsTheFirstFailingOpsOwnError) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/a", "a");
    const std::vector<op> exists_ops{op::set(root + "/a", "x"), op::create(root + "/a", ""),
                                     op::remove(root + "/a")};
    std::error_code ec;
    auto rs = c.multi(exists_ops, ec);
    EXPECT_EQ(ec, coordinator_errc::node_exists);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_FALSE(rs[0].ec) << rs[0].ec.message();
    EXPECT_EQ(rs[1].ec, coordinator_errc::node_exists);
    EXPECT_EQ(rs[2].ec, coordinator_errc::runtime_inconsistency);
    const std::vector<op> missing_ops{op::check(root + "/missing", dstm::any_version),
                                      op::set(root + "/a", "y")};
    rs = c.multi(missing_ops, ec);
    EXPECT_EQ(ec, coordinator_errc::no_node);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0].ec, coordinator_errc::no_node);
    EXPECT_EQ(rs[1].ec, coordinator_errc::runtime_inconsistency);
    const std::vector<op> not_empty_ops{op::create(root + "/a/kid", ""), op::remove(root + "/a")};
    rs = c.multi(not_empty_ops, ec);
    EXPECT_EQ(ec, coordinator_errc::not_empty);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].ec, coordinator_errc::not_empty);
    EXPECT_FALSE(c.exists(root + "/a/kid").has_value());
    EXPECT_EQ(c.get(root + "/a").data, "a");
    EXPECT_EQ(c.get(root + "/a").stat.version, 0);
  });
}

TYPED_TEST(Conformance, WritesAdvanceZxidsAndKeepTheCreateStamp) {
  this->run([&](auto& c, const std::string& root) {
    dstm::stat created;
    c.create(root + "/n", "0", create_mode::persistent, dstm::open_acl_unsafe(), &created);
    EXPECT_EQ(created.czxid, created.mzxid);
    EXPECT_EQ(created.version, 0);
    const auto changed = c.set(root + "/n", "1");
    EXPECT_EQ(changed.czxid, created.czxid);
    EXPECT_GT(changed.mzxid, created.mzxid);
    EXPECT_EQ(changed.ctime, created.ctime);
    EXPECT_GE(changed.mtime, created.mtime);
    c.create(root + "/n/kid");
    const auto parent = c.get(root + "/n").stat;
    EXPECT_EQ(parent.mzxid, changed.mzxid);  // a child's creation is not a data change
    EXPECT_GT(parent.pzxid, changed.mzxid);
    EXPECT_EQ(parent.cversion, 1);
  });
}

TYPED_TEST(Conformance, WatchesFireOnRemoval) {
  this->run([&](auto& c, const std::string& root) {
    auto writer = this->model_.open();
    c.create(root + "/d");
    c.create(root + "/d/kid");
    event_log data, exists, parent_children, kid_children;
    c.get(root + "/d/kid", data.watch());
    c.exists(root + "/d/kid", exists.watch());
    c.children(root + "/d", parent_children.watch());
    c.children(root + "/d/kid", kid_children.watch());
    writer->remove(root + "/d/kid");
    ASSERT_TRUE(this->settle(c, [&] {
      return data.size() >= 1 && exists.size() >= 1 && parent_children.size() >= 1 &&
             kid_children.size() >= 1;
    }));
    // ZooKeeper keeps one data watch per (path, watcher): the get and the exists watch of the
    // same session are distinct callbacks here, and each fires once.
    EXPECT_EQ(data.events().at(0).type, event_type::deleted);
    EXPECT_EQ(exists.events().at(0).type, event_type::deleted);
    EXPECT_EQ(parent_children.events().at(0).type, event_type::child);
    EXPECT_EQ(parent_children.events().at(0).path, root + "/d");
    EXPECT_EQ(kid_children.events().at(0).type, event_type::deleted);
    EXPECT_EQ(kid_children.events().at(0).path, root + "/d/kid");
  });
}

TYPED_TEST(Conformance, ExpiryIsSeenByAnotherSessionsWatch) {
  this->run([&](auto& c, const std::string& root) {
    auto owner = this->model_.open();
    owner->create(root + "/lock", "", create_mode::ephemeral);
    event_log log;
    ASSERT_TRUE(c.exists(root + "/lock", log.watch()).has_value());
    this->model_.expire(*owner);
    ASSERT_TRUE(this->settle(c, [&] { return log.size() >= 1; }));
    EXPECT_EQ(log.events().at(0).type, event_type::deleted);
    EXPECT_EQ(log.events().at(0).path, root + "/lock");
  });
}

TYPED_TEST(Conformance, ClosedSessionRefusesCalls) {
  this->run([&](auto& c, const std::string& root) {
    auto other = this->model_.open();
    EXPECT_NE(other->session_id(), c.session_id());
    other->create(root + "/x");
    other->close();
    EXPECT_EQ(other->state(), session_state::closed);
    std::error_code ec;
    other->get(root + "/x", ec);
    EXPECT_TRUE(ec == coordinator_errc::closing || ec == coordinator_errc::session_expired)
        << ec.message();
    EXPECT_TRUE(c.exists(root + "/x").has_value());  // persistent nodes stay
  });
}

TYPED_TEST(Conformance, InvalidAclsAreRefused) {
  this->run([&](auto& c, const std::string& root) {
    std::error_code ec;
    c.create(root + "/none", "", create_mode::persistent, dstm::acl_list{}, nullptr, ec);
    EXPECT_EQ(ec, coordinator_errc::invalid_acl);
    ec.clear();
    // "auth" names the creator's authenticated identities; without any it grants nobody.
    c.create(root + "/auth", "", create_mode::persistent, dstm::creator_all_acl(), nullptr, ec);
    EXPECT_EQ(ec, coordinator_errc::invalid_acl);
    EXPECT_FALSE(c.exists(root + "/none").has_value());
    EXPECT_FALSE(c.exists(root + "/auth").has_value());
  });
}

TYPED_TEST(Conformance, CreatorAclAdmitsTheSameCredentialsOnly) {
  this->run([&](auto& c, const std::string& root) {
    c.add_auth("digest", "alice:secret");
    c.create(root + "/mine", "m", create_mode::persistent, dstm::creator_all_acl(), nullptr);
    const auto acls = c.get_acl(root + "/mine");
    ASSERT_EQ(acls.size(), 1u);
    EXPECT_EQ(acls[0].scheme, "digest");
    EXPECT_EQ(acls[0].id, dstm::digest_id("alice:secret"));
    EXPECT_EQ(acls[0].permissions, dstm::perms::all);
    auto bob = this->model_.open();
    bob->add_auth("digest", "bob:secret");
    std::error_code ec;
    bob->get(root + "/mine", ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
    auto alice = this->model_.open();
    alice->add_auth("digest", "alice:secret");
    EXPECT_EQ(alice->get(root + "/mine").data, "m");
  });
}

TYPED_TEST(Conformance, SetAclChecksTheAclVersion) {
  this->run([&](auto& c, const std::string& root) {
    c.create(root + "/n", "");
    dstm::stat st;
    EXPECT_EQ(c.get_acl(root + "/n", &st), dstm::open_acl_unsafe());
    EXPECT_EQ(st.aversion, 0);
    std::error_code ec;
    c.set_acl(root + "/n", dstm::read_acl_unsafe(), 3, ec);
    EXPECT_EQ(ec, coordinator_errc::bad_version);
    c.set_acl(root + "/n", dstm::read_acl_unsafe(), 0);
    EXPECT_EQ(c.get_acl(root + "/n", &st), dstm::read_acl_unsafe());
    EXPECT_EQ(st.aversion, 1);
    ec.clear();
    c.set(root + "/n", "x", dstm::any_version, ec);
    EXPECT_EQ(ec, coordinator_errc::not_authorized);
  });
}

}  // namespace
