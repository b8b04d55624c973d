// Unit tests of dstm::znode_tree. Expected stats, names and error orders were measured on a real
// ZooKeeper 3.8 server (kazoo against a standalone server); the comments name the observation.

#include <gtest/gtest.h>

#include <algorithm>
#include <dstm/coordinator/znode_tree.hpp>
#include <string>
#include <vector>

namespace {

using dstm::coordinator_errc;
using dstm::create_mode;
using dstm::event_type;
using dstm::op;
using kind = dstm::znode_tree::watch_kind;

constexpr std::int64_t s1 = 0x100;
constexpr std::int64_t s2 = 0x200;

class znode_tree_ops : public ::testing::Test {
 protected:
  void SetUp() override {
    t.open_session(s1);
    t.open_session(s2);
  }

  std::string create(std::string_view path, std::string_view data = {},
                     create_mode mode = create_mode::persistent,
                     const dstm::acl_list& acls = dstm::open_acl_unsafe(), std::int64_t who = s1,
                     std::int64_t time = 1000) {
    return t.create(who, path, data, mode, acls, nullptr, ec, fired, time);
  }
  void must_create(std::string_view path, std::string_view data = {},
                   create_mode mode = create_mode::persistent) {
    create(path, data, mode);
    ASSERT_FALSE(ec) << path << ": " << ec.message();
  }
  dstm::stat st(std::string_view path) {
    std::error_code e;
    auto s = t.exists(s1, path, e);
    EXPECT_FALSE(e);
    EXPECT_TRUE(s.has_value()) << path;
    return s.value_or(dstm::stat{});
  }
  std::vector<std::string> kids(std::string_view path) {
    std::error_code e;
    auto c = t.children(s1, path, e);
    EXPECT_FALSE(e) << e.message();
    return c.names;
  }

  dstm::znode_tree t;
  dstm::znode_tree::fired_list fired;
  std::error_code ec;
};

// ---- initial state --------------------------------------------------------------------------

TEST(znode_tree_initial, matches_a_fresh_server) {
  dstm::znode_tree t;
  EXPECT_EQ(t.node_count(), 4u);
  EXPECT_EQ(t.last_zxid(), 0);
  t.open_session(1);
  std::error_code ec;
  // `stat /` on a fresh server: cversion -1 (internal 0 creations, 1 child).
  auto root = t.exists(1, "/", ec);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->cversion, -1);
  EXPECT_EQ(root->num_children, 1);
  EXPECT_EQ(root->czxid, 0);
  EXPECT_EQ(t.exists(1, "/zookeeper", ec)->cversion, -2);
  EXPECT_EQ(t.exists(1, "/zookeeper", ec)->num_children, 2);
  EXPECT_EQ(t.exists(1, "/zookeeper/quota", ec)->cversion, 0);
  EXPECT_EQ(t.exists(1, "/zookeeper/config", ec)->aversion, -1);
  EXPECT_EQ(t.get_acl(1, "/zookeeper/config", nullptr, ec), dstm::read_acl_unsafe());
  EXPECT_EQ(t.get_acl(1, "/", nullptr, ec), dstm::open_acl_unsafe());
  EXPECT_EQ(t.children(1, "/", ec).names, std::vector<std::string>{"zookeeper"});
  EXPECT_EQ(t.children(1, "/zookeeper", ec).names, (std::vector<std::string>{"config", "quota"}));
  EXPECT_EQ(t.paths(),
            (std::vector<std::string>{"/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"}));
}

// ---- sessions and zxids -----------------------------------------------------------------------

TEST(znode_tree_sessions, open_and_close_take_a_zxid_like_the_server) {
  dstm::znode_tree t;
  t.open_session(7);
  EXPECT_EQ(t.last_zxid(), 1);
  t.open_session(7);  // already open: nothing
  EXPECT_EQ(t.last_zxid(), 1);
  EXPECT_TRUE(t.has_session(7));
  EXPECT_TRUE(t.close_session(7, 0).empty());
  EXPECT_EQ(t.last_zxid(), 2);
  EXPECT_FALSE(t.has_session(7));
  t.close_session(7, 0);  // unknown: nothing, no zxid
  EXPECT_EQ(t.last_zxid(), 2);
  EXPECT_THROW(t.open_session(0), std::invalid_argument);
}

TEST_F(znode_tree_ops, unknown_session_is_expired_and_takes_no_zxid) {
  const auto z = t.last_zxid();
  std::error_code e;
  t.create(99, "/x", "", create_mode::persistent, dstm::open_acl_unsafe(), nullptr, e, fired, 0);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.set(99, "/", "", -1, e, fired, 0);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.remove(99, "/x", -1, e, fired);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.set_acl(99, "/", dstm::open_acl_unsafe(), -1, e);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  const std::vector<op> ops{op::check("/", -1)};
  auto r = t.multi(99, ops, e, fired, 0);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].ec, coordinator_errc::session_expired);
  EXPECT_EQ(t.last_zxid(), z);
  t.get(99, "/", e);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.exists(99, "/", e);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.children(99, "/", e);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  t.get_acl(99, "/", nullptr, e);
  EXPECT_EQ(e, coordinator_errc::session_expired);
  EXPECT_EQ(t.add_auth(99, "digest", "a:b"), coordinator_errc::session_expired);
}

TEST_F(znode_tree_ops, failed_writes_take_a_zxid_client_side_rejections_do_not) {
  // Server: create /a at 3, a failing create of /a takes 4, /b is created at 5; a set with a
  // bad version takes 6; a failing multi takes one more.
  must_create("/a", "x");
  const auto za = st("/a").czxid;
  EXPECT_EQ(za, t.last_zxid());
  create("/a");
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  must_create("/b");
  EXPECT_EQ(st("/b").czxid, za + 2);
  t.set(s1, "/a", "y", 5, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  EXPECT_EQ(t.last_zxid(), za + 3);
  const std::vector<op> ops{op::create("/d", ""), op::create("/d", "")};
  t.multi(s1, ops, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  EXPECT_EQ(t.last_zxid(), za + 4);
  // Rejected before sending: malformed paths, oversized data.
  create("no-slash");
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  create("/big", std::string(dstm::max_data_size + 1, 'x'));
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  t.set(s1, "/a", std::string(dstm::max_data_size + 1, 'x'), -1, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  t.remove(s1, "/a/", -1, ec, fired);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  create("/c", "", static_cast<create_mode>(7));
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(t.last_zxid(), za + 4);
  // Exactly at the limit is fine.
  must_create("/max", std::string(dstm::max_data_size, 'x'));
  EXPECT_EQ(st("/max").data_length, static_cast<std::int32_t>(dstm::max_data_size));
}

// ---- create -----------------------------------------------------------------------------------

TEST_F(znode_tree_ops, create_sets_stats_and_bumps_the_parent) {
  const auto root_before = st("/");
  dstm::stat out;
  const auto path = t.create(s1, "/a", "xyz", create_mode::persistent, dstm::open_acl_unsafe(),
                             &out, ec, fired, 1234);
  ASSERT_FALSE(ec);
  EXPECT_EQ(path, "/a");
  const auto z = t.last_zxid();
  EXPECT_EQ(out, st("/a"));
  EXPECT_EQ(out.czxid, z);
  EXPECT_EQ(out.mzxid, z);
  EXPECT_EQ(out.pzxid, z);
  EXPECT_EQ(out.ctime, 1234);
  EXPECT_EQ(out.mtime, 1234);
  EXPECT_EQ(out.version, 0);
  EXPECT_EQ(out.cversion, 0);
  EXPECT_EQ(out.aversion, 0);
  EXPECT_EQ(out.ephemeral_owner, 0);
  EXPECT_EQ(out.data_length, 3);
  EXPECT_EQ(out.num_children, 0);
  const auto root = st("/");
  EXPECT_EQ(root.cversion, root_before.cversion + 1);
  EXPECT_EQ(root.num_children, root_before.num_children + 1);
  EXPECT_EQ(root.pzxid, z);
  EXPECT_EQ(root.mzxid, root_before.mzxid);
  EXPECT_EQ(root.version, root_before.version);
  std::error_code e;
  EXPECT_EQ(t.get(s1, "/a", e).data, "xyz");
  EXPECT_EQ(t.node_count(), 5u);
}

TEST_F(znode_tree_ops, create_errors_in_server_order) {
  create("/missing/x");
  EXPECT_EQ(ec, coordinator_errc::no_node);
  // invalid_acl is checked before the parent (server: InvalidACL for /missing/x + world:foo).
  create("/missing/x", "", create_mode::persistent, {{dstm::perms::all, "world", "foo"}});
  EXPECT_EQ(ec, coordinator_errc::invalid_acl);
  must_create("/e", "", create_mode::ephemeral);
  create("/e");  // exists is checked before the ephemeral parent
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  create("/e/x");
  EXPECT_EQ(ec, coordinator_errc::no_children_for_ephemerals);
  create("/e/x", "", create_mode::ephemeral_sequential);
  EXPECT_EQ(ec, coordinator_errc::no_children_for_ephemerals);
  create("/");
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  for (const char* bad : {"", "a", "/a/", "//", "/a//b", "/a/./b", "/a/..", "/a\x01"}) {
    create(bad);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments) << bad;
  }
}

TEST_F(znode_tree_ops, sequential_names_count_creations_not_deletions) {
  // Server: multi {create /f, create /f/g}; delete /f/g -> /f cversion 2; then a sequential
  // child of /f is named ...0000000001 (one creation so far).
  must_create("/f");
  must_create("/f/g");
  t.remove(s1, "/f/g", -1, ec, fired);
  ASSERT_FALSE(ec);
  EXPECT_EQ(st("/f").cversion, 2);
  EXPECT_EQ(create("/f/q-", "", create_mode::persistent_sequential), "/f/q-0000000001");
  EXPECT_EQ(create("/f/q-", "", create_mode::ephemeral_sequential), "/f/q-0000000002");
  EXPECT_EQ(create("/f/", "", create_mode::persistent_sequential), "/f/0000000003");
  EXPECT_EQ(st("/f").cversion, 5);  // 4 creations + 1 deletion (2 * 4 - 3 children)
  EXPECT_EQ(st("/f").num_children, 3);
  // A failed create does not advance the counter.
  create("/f/q-0000000004/x", "", create_mode::persistent_sequential);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  EXPECT_EQ(create("/f/q-", "", create_mode::persistent_sequential), "/f/q-0000000004");
  // Sequential under "/": the root has one creation of its own (/f) before.
  EXPECT_EQ(create("/", "", create_mode::persistent_sequential), "/0000000001");
  // The sequential name may collide with an existing node.
  must_create("/c");
  must_create("/c/n0000000001");
  EXPECT_EQ(create("/c/n", "", create_mode::persistent_sequential), "");
  EXPECT_EQ(ec, coordinator_errc::node_exists);
  EXPECT_EQ(dstm::sequence_suffix(42), "0000000042");
}

// ---- set ----------------------------------------------------------------------------------

TEST_F(znode_tree_ops, set_bumps_version_and_mzxid) {
  must_create("/a", "1");
  const auto before = st("/a");
  auto s = t.set(s1, "/a", "22", 0, ec, fired, 5000);
  ASSERT_FALSE(ec);
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.mzxid, t.last_zxid());
  EXPECT_EQ(s.czxid, before.czxid);
  EXPECT_EQ(s.pzxid, before.pzxid);
  EXPECT_EQ(s.mtime, 5000);
  EXPECT_EQ(s.ctime, before.ctime);
  EXPECT_EQ(s.data_length, 2);
  EXPECT_EQ(s, st("/a"));
  s = t.set(s1, "/a", "", dstm::any_version, ec, fired, 6000);
  EXPECT_EQ(s.version, 2);
  t.set(s1, "/a", "x", 1, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  t.set(s1, "/a", "x", -2, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  t.set(s1, "/nope", "x", -1, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  EXPECT_EQ(st("/a").version, 2);
  std::error_code e;
  EXPECT_EQ(t.get(s1, "/a", e).data, "");
  // Allowed on the server: "/zookeeper" is open; "/zookeeper/config" is read-only.
  t.set(s1, "/zookeeper", "q", -1, ec, fired, 0);
  EXPECT_FALSE(ec);
  t.set(s1, "/zookeeper/config", "q", -1, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
}

// ---- remove -------------------------------------------------------------------------------

TEST_F(znode_tree_ops, remove_checks_version_then_children) {
  must_create("/p");
  must_create("/p/c");
  t.remove(s1, "/p", 7, ec, fired);  // server: BadVersion before NotEmpty
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  t.remove(s1, "/p", -1, ec, fired);
  EXPECT_EQ(ec, coordinator_errc::not_empty);
  t.remove(s1, "/p/nope", -1, ec, fired);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  t.remove(s1, "/nope/x", -1, ec, fired);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  const auto before = st("/p");
  t.remove(s1, "/p/c", 0, ec, fired);
  ASSERT_FALSE(ec);
  const auto after = st("/p");
  EXPECT_EQ(after.num_children, 0);
  EXPECT_EQ(after.cversion, before.cversion + 1);
  EXPECT_EQ(after.pzxid, t.last_zxid());
  EXPECT_EQ(after.mzxid, before.mzxid);
  std::error_code e;
  EXPECT_FALSE(t.exists(s1, "/p/c", e).has_value());
  t.remove(s1, "/p", 0, ec, fired);
  EXPECT_FALSE(ec);
  EXPECT_EQ(t.node_count(), 4u);
}

TEST_F(znode_tree_ops, built_in_nodes_cannot_be_removed) {
  for (const char* p : {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}) {
    const auto z = t.last_zxid();
    t.remove(s1, p, -1, ec, fired);
    EXPECT_EQ(ec, coordinator_errc::bad_arguments) << p;
    EXPECT_EQ(t.last_zxid(), z + 1) << "refused by the server, so it takes a zxid";
  }
  must_create("/zookeeper/quota/x");
  t.remove(s1, "/zookeeper/quota/x", -1, ec, fired);
  EXPECT_FALSE(ec);
}

// ---- ephemerals and sessions ------------------------------------------------------------

TEST_F(znode_tree_ops, close_session_removes_ephemerals_in_one_zxid) {
  must_create("/h");
  create("/h/e1", "", create_mode::ephemeral, dstm::open_acl_unsafe(), s2);
  ASSERT_FALSE(ec);
  create("/h/e2", "", create_mode::ephemeral_sequential, dstm::open_acl_unsafe(), s2);
  ASSERT_FALSE(ec);
  create("/mine", "", create_mode::ephemeral);
  ASSERT_FALSE(ec);
  EXPECT_EQ(st("/h/e1").ephemeral_owner, s2);
  EXPECT_EQ(t.ephemerals(s2), (std::vector<std::string>{"/h/e1", "/h/e20000000001"}));
  t.add_watch(s1, "/h", kind::child, 1);
  t.add_watch(s1, "/h/e1", kind::data, 2);
  t.add_watch(s2, "/h", kind::child, 3);  // the closing session's own: dropped, not fired

  auto f = t.close_session(s2, 0);
  const auto z = t.last_zxid();
  EXPECT_EQ(st("/h").pzxid, z);
  EXPECT_EQ(st("/h").num_children, 0);
  EXPECT_EQ(st("/h").cversion, 4);  // 2 creations + 2 deletions
  EXPECT_EQ(t.node_count(), 6u);    // built-ins, /h, /mine
  EXPECT_TRUE(t.ephemerals(s2).empty());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].watch_id, 2u);
  EXPECT_EQ(f[0].event.type, event_type::deleted);
  EXPECT_EQ(f[0].event.path, "/h/e1");
  EXPECT_EQ(f[1].watch_id, 1u);
  EXPECT_EQ(f[1].event.type, event_type::child);
  EXPECT_EQ(f[1].event.path, "/h");
  EXPECT_EQ(t.watch_count(), 0u);
  EXPECT_EQ(t.ephemerals(s1), std::vector<std::string>{"/mine"});
  // A deleted ephemeral leaves its session's list.
  t.remove(s1, "/mine", -1, ec, fired);
  EXPECT_TRUE(t.ephemerals(s1).empty());
}

// ---- multi --------------------------------------------------------------------------------

TEST_F(znode_tree_ops, multi_applies_all_ops_under_one_zxid) {
  must_create("/x");
  const std::vector<op> ops{op::check("/x", 0),
                            op::create("/f", ""),
                            op::create("/f/g", "a"),
                            op::set("/f/g", "zz", 0),
                            op::create("/f/s-", "", create_mode::persistent_sequential),
                            op::remove("/x", 0),
                            op::create("/x", "again")};
  const auto z = t.last_zxid() + 1;
  auto r = t.multi(s1, ops, ec, fired, 77);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(r.size(), ops.size());
  for (const auto& one : r) EXPECT_FALSE(one.ec);
  EXPECT_EQ(t.last_zxid(), z);
  EXPECT_EQ(r[1].path, "/f");
  EXPECT_EQ(r[2].path, "/f/g");
  EXPECT_EQ(r[3].stat.version, 1);
  EXPECT_EQ(r[3].stat.mzxid, z);
  EXPECT_EQ(r[3].stat.data_length, 2);
  EXPECT_EQ(r[4].path, "/f/s-0000000001");
  EXPECT_EQ(r[6].path, "/x");
  const auto f = st("/f");
  EXPECT_EQ(f.czxid, z);
  EXPECT_EQ(f.pzxid, z);
  EXPECT_EQ(f.cversion, 2);
  EXPECT_EQ(f.num_children, 2);
  EXPECT_EQ(st("/f/g").version, 1);
  EXPECT_EQ(st("/x").czxid, z);
  EXPECT_EQ(st("/x").version, 0);
  std::error_code e;
  EXPECT_EQ(t.get(s1, "/x", e).data, "again");
}

TEST_F(znode_tree_ops, failed_multi_changes_nothing_and_reports_per_op) {
  must_create("/x", "v");
  t.add_watch(s2, "/x", kind::data, 9);
  const auto digest = t.digest();
  const auto paths = t.paths();
  const std::vector<op> ops{op::set("/x", "new"), op::create("/y", ""), op::check("/x", 0),
                            op::create("/z", "")};
  auto r = t.multi(s1, ops, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);  // the set made /x version 1
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].ec);
  EXPECT_FALSE(r[1].ec);
  EXPECT_TRUE(r[1].path.empty());
  EXPECT_EQ(r[2].ec, coordinator_errc::bad_version);
  EXPECT_EQ(r[3].ec, coordinator_errc::runtime_inconsistency);
  EXPECT_EQ(r[3].ec, coordinator_errc::multi_not_executed);
  EXPECT_EQ(t.paths(), paths);
  EXPECT_EQ(st("/x").version, 0);
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(t.watch_count(), 1u);
  // The only change is the zxid, exactly as a failed single write.
  dstm::znode_tree u;
  u.open_session(s1);
  u.open_session(s2);
  u.create(s1, "/x", "v", create_mode::persistent, dstm::open_acl_unsafe(), nullptr, ec, fired,
           1000);
  u.add_watch(s2, "/x", kind::data, 9);
  ASSERT_EQ(u.digest(), digest);
  u.set(s1, "/x", "w", 5, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  EXPECT_EQ(u.digest(), t.digest());
}

TEST_F(znode_tree_ops, multi_edge_cases) {
  // Empty multi: succeeds, takes a zxid (server: the next create's czxid skipped one).
  auto z = t.last_zxid();
  auto r = t.multi(s1, {}, ec, fired, 0);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(t.last_zxid(), z + 1);
  // A malformed path is refused before sending: no zxid, ZooKeeper's per-op shape.
  z = t.last_zxid();
  const std::vector<op> bad{op::create("/ok", ""), op::create("bad", ""), op::check("/", -1)};
  r = t.multi(s1, bad, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  EXPECT_FALSE(r[0].ec);
  EXPECT_EQ(r[1].ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(r[2].ec, coordinator_errc::runtime_inconsistency);
  EXPECT_EQ(t.last_zxid(), z);
  // Later ops see earlier removes: removing a parent's only child, then the parent.
  must_create("/p");
  must_create("/p/c");
  const std::vector<op> rm{op::remove("/p/c"), op::remove("/p"), op::create("/p/again", "")};
  r = t.multi(s1, rm, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  EXPECT_EQ(r[2].ec, coordinator_errc::no_node);
  const std::vector<op> rm_wrong_order{op::remove("/p"), op::remove("/p/c")};
  r = t.multi(s1, rm_wrong_order, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::not_empty);
  const std::vector<op> rm_ok{op::remove("/p/c"), op::remove("/p")};
  t.multi(s1, rm_ok, ec, fired, 0);
  EXPECT_FALSE(ec);
  EXPECT_EQ(t.node_count(), 4u);
  // A check needs READ (server: check on a write-only node is NoAuth).
  create("/w", "", create_mode::persistent, {{dstm::perms::write, "world", "anyone"}});
  const std::vector<op> chk{op::check("/w", 0)};
  t.multi(s1, chk, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  // Ephemeral created in a multi: no children for it later in the same multi.
  const std::vector<op> eph{op::create("/e", "", create_mode::ephemeral), op::create("/e/c", "")};
  r = t.multi(s1, eph, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::no_children_for_ephemerals);
  // A set on a node created earlier in the multi with a version other than 0 fails.
  const std::vector<op> cs{op::create("/n", ""), op::set("/n", "x", 1)};
  t.multi(s1, cs, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
}

// ---- watches ------------------------------------------------------------------------------

TEST_F(znode_tree_ops, watches_trigger_like_the_server) {
  t.add_watch(s2, "/w", kind::exists, 1);  // on a missing node: fires on creation
  t.add_watch(s2, "/", kind::child, 2);
  must_create("/w", "a");
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].session, s2);
  EXPECT_EQ(fired[0].watch_id, 1u);
  EXPECT_EQ(fired[0].event.type, event_type::created);
  EXPECT_EQ(fired[0].event.path, "/w");
  EXPECT_EQ(fired[0].event.state, dstm::session_state::connected);
  EXPECT_EQ(fired[1].watch_id, 2u);
  EXPECT_EQ(fired[1].event.type, event_type::child);
  EXPECT_EQ(fired[1].event.path, "/");
  fired.clear();

  t.add_watch(s1, "/w", kind::data, 3);
  t.add_watch(s2, "/w", kind::exists, 4);
  t.add_watch(s2, "/w", kind::exists, 4);  // the same registration twice is one
  t.add_watch(s2, "/w", kind::child, 5);
  t.set(s1, "/w", "b", -1, ec, fired, 0);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].watch_id, 3u);
  EXPECT_EQ(fired[0].event.type, event_type::changed);
  EXPECT_EQ(fired[1].watch_id, 4u);
  fired.clear();
  t.set(s1, "/w", "c", -1, ec, fired, 0);  // one-shot: nothing left for data changes
  EXPECT_TRUE(fired.empty());

  // Server order on `delete /w/c` then `delete /w`: child on /w; then deleted on /w.
  must_create("/w/c");
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].watch_id, 5u);
  EXPECT_EQ(fired[0].event.type, event_type::child);
  fired.clear();
  t.add_watch(s1, "/w", kind::data, 6);
  t.add_watch(s1, "/w", kind::child, 7);
  t.add_watch(s2, "/w/c", kind::exists, 8);
  t.add_watch(s2, "/", kind::child, 10);
  t.remove(s1, "/w/c", -1, ec, fired);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].watch_id, 8u);
  EXPECT_EQ(fired[0].event.type, event_type::deleted);
  EXPECT_EQ(fired[1].watch_id, 7u);
  EXPECT_EQ(fired[1].event.type, event_type::child);
  fired.clear();
  t.add_watch(s1, "/w", kind::child, 11);
  t.remove(s1, "/w", -1, ec, fired);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0].watch_id, 6u);  // data watches of the path,
  EXPECT_EQ(fired[0].event.type, event_type::deleted);
  EXPECT_EQ(fired[1].watch_id, 11u);  // then its child watches,
  EXPECT_EQ(fired[1].event.type, event_type::deleted);
  EXPECT_EQ(fired[2].watch_id, 10u);  // then the parent's child watches
  EXPECT_EQ(fired[2].event.type, event_type::child);
  EXPECT_EQ(fired[2].event.path, "/");
  EXPECT_EQ(t.watch_count(), 0u);
}

TEST_F(znode_tree_ops, watches_in_a_multi_fire_in_op_order_and_set_acl_fires_none) {
  must_create("/a");
  t.add_watch(s2, "/a", kind::data, 1);
  t.add_watch(s2, "/b", kind::exists, 2);
  t.add_watch(s2, "/", kind::child, 3);
  const std::vector<op> ops{op::set("/a", "x"), op::create("/b", ""), op::remove("/a")};
  t.multi(s1, ops, ec, fired, 0);
  ASSERT_FALSE(ec);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0].watch_id, 1u);
  EXPECT_EQ(fired[0].event.type, event_type::changed);
  EXPECT_EQ(fired[1].watch_id, 2u);
  EXPECT_EQ(fired[2].watch_id, 3u);  // child of "/" from the create; one-shot after that
  fired.clear();
  t.add_watch(s2, "/b", kind::data, 4);
  t.set_acl(s1, "/b", dstm::read_acl_unsafe(), -1, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(t.watch_count(), 1u);
  EXPECT_TRUE(t.remove_watch(s2, "/b", kind::data, 4));
  EXPECT_FALSE(t.remove_watch(s2, "/b", kind::data, 4));
  EXPECT_EQ(t.watch_count(), 0u);
  t.add_watch(999, "/b", kind::data, 5);  // unknown session: ignored
  EXPECT_EQ(t.watch_count(), 0u);
}

// ---- ACLs ---------------------------------------------------------------------------------

TEST(znode_tree_digest, sha1_base64_and_digest_ids) {
  // FIPS 180 test vectors (one block, two blocks of padding).
  const auto hex = [](std::string_view s) {
    const auto h = dstm::detail::sha1(s);
    std::string out;
    for (auto b : h) {
      const char* digits = "0123456789abcdef";
      out.push_back(digits[b >> 4]);
      out.push_back(digits[b & 15]);
    }
    return out;
  };
  EXPECT_EQ(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  const auto b64 = [](std::string_view s) {
    return dstm::detail::base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  // Printed by `java ... DigestAuthenticationProvider user:password alice:s3cr3t:x "" bob`.
  EXPECT_EQ(dstm::digest_id("user:password"), "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=");
  EXPECT_EQ(dstm::digest_id("alice:s3cr3t:x"), "alice:cRh6V+KybeAusS6PuM/DCsTQm0k=");
  EXPECT_EQ(dstm::digest_id(""), ":2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  EXPECT_EQ(dstm::digest_id("bob"), "bob:SBgazSKz7a68ikR4aKfffOYpkgo=");
}

TEST_F(znode_tree_ops, digest_acl_guards_every_op_but_exists) {
  ASSERT_FALSE(t.add_auth(s1, "digest", "user:password"));
  const dstm::acl_list secret{{dstm::perms::all, "digest", dstm::digest_id("user:password")}};
  create("/d", "secret", create_mode::persistent, secret);
  ASSERT_FALSE(ec);
  std::error_code e;
  EXPECT_EQ(t.get(s1, "/d", e).data, "secret");
  EXPECT_EQ(t.get_acl(s1, "/d", nullptr, e), secret);

  // Server, from a session without the credential:
  EXPECT_TRUE(t.exists(s2, "/d", e).has_value());
  EXPECT_FALSE(e);
  t.get(s2, "/d", e);
  EXPECT_EQ(e, coordinator_errc::not_authorized);
  t.get_acl(s2, "/d", nullptr, e);
  EXPECT_EQ(e, coordinator_errc::not_authorized);
  t.children(s2, "/d", e);
  EXPECT_EQ(e, coordinator_errc::not_authorized);
  t.set(s2, "/d", "x", 9, ec, fired, 0);  // ACL before version
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  create("/d/c", "", create_mode::persistent, dstm::open_acl_unsafe(), s2);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  create("/d/c/e", "", create_mode::persistent, dstm::open_acl_unsafe(), s2);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  t.remove(s2, "/d/zz", -1, ec, fired);  // DELETE on the parent before the node's existence
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  t.set_acl(s2, "/d", dstm::open_acl_unsafe(), -1, ec);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  const std::vector<op> chk{op::check("/d", 0)};
  t.multi(s2, chk, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  // The same credential grants the same identity.
  ASSERT_FALSE(t.add_auth(s2, "digest", "user:password"));
  EXPECT_EQ(t.get(s2, "/d", e).data, "secret");
  EXPECT_EQ(t.add_auth(s2, "kerberos", "x"), coordinator_errc::auth_failed);
  EXPECT_FALSE(t.add_auth(s2, "ip", "127.0.0.1"));
}

TEST_F(znode_tree_ops, acl_validation_and_auth_expansion) {
  const auto try_acl = [&](dstm::acl_list acls) {
    create("/n", "", create_mode::persistent, acls, s2);
    const auto e = ec;
    if (!e) t.remove(s1, "/n", -1, ec, fired);
    return e;
  };
  using acl = dstm::acl;
  const auto invalid = make_error_code(coordinator_errc::invalid_acl);
  EXPECT_EQ(try_acl({}), invalid);
  EXPECT_EQ(try_acl({acl{31, "auth", ""}}), invalid);  // s2 has no digest identity
  EXPECT_EQ(try_acl({acl{31, "world", "foo"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "digest", "nocolon"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "digest", "user:"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "digest", "a:b:c"}}), invalid);
  EXPECT_FALSE(try_acl({acl{31, "digest", ":abc"}}));
  EXPECT_FALSE(try_acl({acl{31, "ip", "127.0.0.1"}}));
  EXPECT_FALSE(try_acl({acl{31, "ip", "10.0.0.0/8"}}));
  EXPECT_EQ(try_acl({acl{31, "ip", "300.0.0.1"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "ip", "1.2.3"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "ip", "1.2.3.4/33"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "ip", "::1"}}), invalid);  // IPv6: not modelled
  EXPECT_EQ(try_acl({acl{31, "foo", "bar"}}), invalid);
  EXPECT_EQ(try_acl({acl{31, "world", "anyone"}, acl{31, "foo", "bar"}}), invalid);

  // Server: [world:anyone x2, auth] with digests user:password and nocolon -> deduplicated,
  // auth expanded to both identities in the order they were added.
  ASSERT_FALSE(t.add_auth(s1, "digest", "user:password"));
  ASSERT_FALSE(t.add_auth(s1, "digest", "nocolon"));
  ASSERT_FALSE(t.add_auth(s1, "digest", "user:password"));  // not twice
  create("/dup", "", create_mode::persistent,
         {acl{31, "world", "anyone"}, acl{31, "world", "anyone"}, acl{5, "auth", "ignored"}});
  ASSERT_FALSE(ec);
  std::error_code e;
  EXPECT_EQ(t.get_acl(s1, "/dup", nullptr, e),
            (dstm::acl_list{acl{31, "world", "anyone"},
                            acl{5, "digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="},
                            acl{5, "digest", "nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g="}}));

  // ip ACLs match the loopback identity every session has.
  create("/lo", "x", create_mode::persistent, {acl{31, "ip", "127.0.0.0/8"}}, s2);
  ASSERT_FALSE(ec);
  EXPECT_EQ(t.get(s2, "/lo", e).data, "x");
  create("/far", "x", create_mode::persistent, {acl{31, "ip", "10.1.2.3"}}, s2);
  ASSERT_FALSE(ec);
  t.get(s2, "/far", e);
  EXPECT_EQ(e, coordinator_errc::not_authorized);
}

TEST_F(znode_tree_ops, permission_bits_per_operation) {
  using acl = dstm::acl;
  // Read-only node: reads fine, no create/delete of children, no set, no set_acl.
  create("/ro", "", create_mode::persistent, {acl{dstm::perms::read, "world", "anyone"}});
  ASSERT_FALSE(ec);
  create("/ro/c");
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  t.set(s1, "/ro", "x", -1, ec, fired, 0);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  t.set_acl(s1, "/ro", dstm::open_acl_unsafe(), 9, ec);  // ADMIN before the version
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  std::error_code e;
  t.get_acl(s1, "/ro", nullptr, e);
  EXPECT_FALSE(e);
  // Admin-only node: get_acl allowed (READ or ADMIN), get refused.
  create("/ad", "", create_mode::persistent, {acl{dstm::perms::admin, "world", "anyone"}});
  t.get_acl(s1, "/ad", nullptr, e);
  EXPECT_FALSE(e);
  t.get(s1, "/ad", e);
  EXPECT_EQ(e, coordinator_errc::not_authorized);
  t.set_acl(s1, "/ad", dstm::open_acl_unsafe(), 3, ec);
  EXPECT_EQ(ec, coordinator_errc::bad_version);
  const auto before = st("/ad");
  t.set_acl(s1, "/ad", dstm::open_acl_unsafe(), 0, ec);
  ASSERT_FALSE(ec);
  const auto after = st("/ad");
  EXPECT_EQ(after.aversion, 1);
  EXPECT_EQ(after.mzxid, before.mzxid);
  EXPECT_EQ(after.version, before.version);
  // set_acl order: invalid_acl, then no_node.
  t.set_acl(s1, "/none", {acl{31, "world", "foo"}}, -1, ec);
  EXPECT_EQ(ec, coordinator_errc::invalid_acl);
  t.set_acl(s1, "/none", dstm::open_acl_unsafe(), -1, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  // Delete needs DELETE on the parent only; create needs CREATE on the parent only.
  create("/nd", "", create_mode::persistent,
         {acl{dstm::perms::all & ~dstm::perms::remove, "world", "anyone"}});
  must_create("/nd/c");
  t.remove(s1, "/nd/c", -1, ec, fired);
  EXPECT_EQ(ec, coordinator_errc::not_authorized);
  // Without ADMIN, get_acl masks digest hashes.
  ASSERT_FALSE(t.add_auth(s2, "digest", "user:password"));
  create("/m", "", create_mode::persistent,
         {acl{dstm::perms::read, "world", "anyone"},
          acl{dstm::perms::admin, "digest", dstm::digest_id("user:password")}},
         s2);
  ASSERT_FALSE(ec);
  EXPECT_EQ(t.get_acl(s1, "/m", nullptr, e)[1].id, "user:x");
  EXPECT_EQ(t.get_acl(s2, "/m", nullptr, e)[1].id, dstm::digest_id("user:password"));
}

// ---- reads ---------------------------------------------------------------------------------

TEST_F(znode_tree_ops, reads_report_errors) {
  std::error_code e;
  t.get(s1, "/nope", e);
  EXPECT_EQ(e, coordinator_errc::no_node);
  t.children(s1, "/nope", e);
  EXPECT_EQ(e, coordinator_errc::no_node);
  t.get_acl(s1, "/nope", nullptr, e);
  EXPECT_EQ(e, coordinator_errc::no_node);
  EXPECT_FALSE(t.exists(s1, "/nope", e).has_value());
  EXPECT_FALSE(e);
  for (const char* bad : {"", "x", "/x/", "/x//y"}) {
    t.get(s1, bad, e);
    EXPECT_EQ(e, coordinator_errc::bad_arguments);
    t.exists(s1, bad, e);
    EXPECT_EQ(e, coordinator_errc::bad_arguments);
    t.children(s1, bad, e);
    EXPECT_EQ(e, coordinator_errc::bad_arguments);
  }
  must_create("/k");
  for (const char* c : {"b", "a", "c"}) must_create(std::string("/k/") + c);
  EXPECT_EQ(kids("/k"), (std::vector<std::string>{"a", "b", "c"}));
  dstm::stat s;
  t.get_acl(s1, "/k", &s, e);
  EXPECT_EQ(s, st("/k"));
}

TEST_F(znode_tree_ops, digest_tracks_state) {
  dstm::znode_tree u;
  u.open_session(s1);
  u.open_session(s2);
  EXPECT_EQ(t.digest(), u.digest());
  const auto d0 = t.digest();
  must_create("/a", "1");
  EXPECT_NE(t.digest(), d0);
  u.create(s1, "/a", "2", create_mode::persistent, dstm::open_acl_unsafe(), nullptr, ec, fired,
           1000);
  EXPECT_NE(t.digest(), u.digest());  // differs only in the data
  u.set(s1, "/a", "1", -1, ec, fired, 1000);
  EXPECT_NE(t.digest(), u.digest());  // now in version and mzxid
  // Removing and recreating gives back equal digests only when everything matches.
  t.remove(s1, "/a", -1, ec, fired);
  u.remove(s1, "/a", -1, ec, fired);
  EXPECT_NE(t.digest(), u.digest());  // zxids and the root's counters differ
  dstm::znode_tree v;
  v.open_session(s1);
  v.open_session(s2);
  v.create(s1, "/a", "1", create_mode::persistent, dstm::open_acl_unsafe(), nullptr, ec, fired,
           1000);
  v.remove(s1, "/a", -1, ec, fired);
  EXPECT_EQ(t.digest(), v.digest());
  v.set_acl(s1, "/", dstm::read_acl_unsafe(), -1, ec);
  EXPECT_NE(t.digest(), v.digest());
}

}  // namespace
