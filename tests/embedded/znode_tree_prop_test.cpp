// Properties of dstm::znode_tree over random operation sequences: determinism (two trees fed
// the same calls agree on every result and digest) and agreement with a small, independent
// reference model of ZooKeeper's create/set/remove/multi/session semantics.

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <dstm/coordinator/znode_tree.hpp>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace {

using dstm::coordinator_errc;
using dstm::create_mode;
using dstm::op;

// A handful of paths at three depths, so no_node, not_empty, node_exists and ephemeral
// parents all come up often.
const std::vector<std::string> k_paths{"/a", "/b", "/a/x", "/a/y", "/a/x/z", "/b/s-", "/a/s-"};

/// (kind, path index, mode, version choice, data, multi length)
using command = std::tuple<int, int, int, int, int, int>;

rc::Gen<std::vector<command>> commands() {
  return rc::gen::container<std::vector<command>>(
      rc::gen::tuple(rc::gen::inRange(0, 8), rc::gen::inRange(0, static_cast<int>(k_paths.size())),
                     rc::gen::inRange(0, 4), rc::gen::inRange(0, 3), rc::gen::inRange(0, 4),
                     rc::gen::inRange(1, 4)));
}

/// The reference: a plain map of nodes with ZooKeeper's rules written the obvious way.
struct reference {
  struct node {
    std::string data;
    std::int32_t version = 0;
    std::int32_t creates = 0;
    std::set<std::string> kids;
    std::int64_t owner = 0;
    std::int64_t czxid = 0, mzxid = 0, pzxid = 0;
  };
  std::map<std::string, node> nodes;
  std::set<std::int64_t> sessions;
  std::int64_t zxid = 0;

  reference() {
    nodes["/"].kids = {"zookeeper"};
    nodes["/zookeeper"].kids = {"config", "quota"};
    nodes["/zookeeper/config"];
    nodes["/zookeeper/quota"];
  }
  static std::string parent(const std::string& p) {
    const auto s = p.rfind('/');
    return s == 0 ? "/" : p.substr(0, s);
  }
  std::error_code create(std::int64_t s, const std::string& path, create_mode mode,
                         const std::string& data, std::int64_t z, std::string& created) {
    auto par = nodes.find(parent(path));
    if (par == nodes.end()) return coordinator_errc::no_node;
    std::string name = path;
    if (dstm::is_sequential(mode)) name += dstm::sequence_suffix(par->second.creates);
    if (nodes.contains(name)) return coordinator_errc::node_exists;
    if (par->second.owner != 0) return coordinator_errc::no_children_for_ephemerals;
    par->second.creates++;
    par->second.kids.insert(name.substr(name.rfind('/') + 1));
    par->second.pzxid = z;
    node n;
    n.data = data;
    n.owner = dstm::is_ephemeral(mode) ? s : 0;
    n.czxid = n.mzxid = n.pzxid = z;
    nodes[name] = n;
    created = name;
    return {};
  }
  std::error_code set(const std::string& path, std::int32_t version, const std::string& data,
                      std::int64_t z) {
    auto it = nodes.find(path);
    if (it == nodes.end()) return coordinator_errc::no_node;
    if (version != -1 && version != it->second.version) return coordinator_errc::bad_version;
    it->second.version++;
    it->second.data = data;
    it->second.mzxid = z;
    return {};
  }
  std::error_code remove(const std::string& path, std::int32_t version, std::int64_t z) {
    if (!nodes.contains(parent(path))) return coordinator_errc::no_node;
    auto it = nodes.find(path);
    if (it == nodes.end()) return coordinator_errc::no_node;
    if (version != -1 && version != it->second.version) return coordinator_errc::bad_version;
    if (!it->second.kids.empty()) return coordinator_errc::not_empty;
    nodes.erase(it);
    auto& par = nodes[parent(path)];
    par.kids.erase(path.substr(path.rfind('/') + 1));
    par.pzxid = z;
    return {};
  }
  void close(std::int64_t s) {
    ++zxid;
    std::vector<std::string> mine;
    for (const auto& [p, n] : nodes) {
      if (n.owner == s) mine.push_back(p);
    }
    for (const auto& p : mine) remove(p, -1, zxid);
    sessions.erase(s);
  }
  std::int32_t version_of(const std::string& path) const {
    auto it = nodes.find(path);
    return it == nodes.end() ? 0 : it->second.version;
  }
};

std::int32_t pick_version(const reference& ref, const std::string& path, int choice) {
  if (choice == 0) return dstm::any_version;
  return ref.version_of(path) + (choice == 2 ? 1 : 0);
}

/// Checks every node of the reference against the tree, and that the tree has no other node.
void compare(const dstm::znode_tree& t, const reference& ref, std::int64_t reader) {
  RC_ASSERT(t.node_count() == ref.nodes.size());
  RC_ASSERT(t.last_zxid() == ref.zxid);
  for (const auto& [path, n] : ref.nodes) {
    std::error_code ec;
    auto got = t.get(reader, path, ec);
    RC_ASSERT(!ec);
    RC_ASSERT(got.data == n.data);
    RC_ASSERT(got.stat.version == n.version);
    RC_ASSERT(got.stat.num_children == static_cast<std::int32_t>(n.kids.size()));
    RC_ASSERT(got.stat.cversion == 2 * n.creates - static_cast<std::int32_t>(n.kids.size()));
    RC_ASSERT(got.stat.ephemeral_owner == n.owner);
    RC_ASSERT(got.stat.czxid == n.czxid);
    RC_ASSERT(got.stat.mzxid == n.mzxid);
    RC_ASSERT(got.stat.pzxid == n.pzxid);
    auto kids = t.children(reader, path, ec);
    RC_ASSERT(std::set<std::string>(kids.names.begin(), kids.names.end()) == n.kids);
  }
}

/// Runs `cmds` against a tree and the reference; returns the tree's digest after each step.
std::vector<std::uint64_t> run(const std::vector<command>& cmds, dstm::znode_tree& t,
                               bool check_reference) {
  reference ref;
  std::vector<std::int64_t> sessions{11, 22, 33};
  std::int64_t next_session = 100;
  for (auto s : sessions) {
    t.open_session(s);
    ref.sessions.insert(s);
    ++ref.zxid;
  }
  std::vector<std::uint64_t> digests;
  dstm::znode_tree::fired_list fired;
  std::int64_t time = 0;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const auto [k, pi, mode_i, vchoice, data_i, mlen] = cmds[i];
    const std::string& path = k_paths[static_cast<std::size_t>(pi)];
    const auto mode = static_cast<create_mode>(mode_i);
    const std::string data(static_cast<std::size_t>(data_i), 'd');
    const std::int64_t s = sessions[static_cast<std::size_t>(mode_i) % sessions.size()];
    ++time;
    std::error_code ec;
    switch (k) {
      case 0:
      case 1: {
        const auto created =
            t.create(s, path, data, mode, dstm::open_acl_unsafe(), nullptr, ec, fired, time);
        if (check_reference) {
          std::string expect;
          const auto z = ++ref.zxid;
          const auto want = ref.create(s, path, mode, data, z, expect);
          RC_ASSERT(ec == want);
          RC_ASSERT(created == expect);
        }
        break;
      }
      case 2: {
        const auto v = pick_version(ref, path, vchoice);
        t.set(s, path, data, v, ec, fired, time);
        if (check_reference) RC_ASSERT(ec == ref.set(path, v, data, ++ref.zxid));
        break;
      }
      case 3:
      case 4: {
        const auto v = pick_version(ref, path, vchoice);
        t.remove(s, path, v, ec, fired);
        if (check_reference) RC_ASSERT(ec == ref.remove(path, v, ++ref.zxid));
        break;
      }
      case 5:
      case 6: {
        // A multi of the next `mlen` commands (creates, sets, removes, checks).
        std::vector<op> ops;
        reference trial = ref;
        const auto z = ++ref.zxid;
        trial.zxid = z;
        std::error_code want;
        std::vector<std::string> want_paths;
        for (int j = 0; j < mlen && i + 1 < cmds.size(); ++j) {
          const auto [k2, p2, m2, v2, d2, unused] = cmds[++i];
          const std::string& path2 = k_paths[static_cast<std::size_t>(p2)];
          const std::string data2(static_cast<std::size_t>(d2), 'm');
          const auto ver = pick_version(trial, path2, v2);
          std::error_code e;
          std::string created;
          switch (k2 % 4) {
            case 0:
              ops.push_back(op::create(path2, data2, static_cast<create_mode>(m2)));
              if (!want)
                e = trial.create(s, path2, static_cast<create_mode>(m2), data2, z, created);
              break;
            case 1:
              ops.push_back(op::set(path2, data2, ver));
              if (!want) e = trial.set(path2, ver, data2, z);
              break;
            case 2:
              ops.push_back(op::remove(path2, ver));
              if (!want) e = trial.remove(path2, ver, z);
              break;
            default:
              ops.push_back(op::check(path2, ver));
              if (!want && !trial.nodes.contains(path2)) e = coordinator_errc::no_node;
              if (!want && !e && ver != -1 && ver != trial.version_of(path2)) {
                e = coordinator_errc::bad_version;
              }
              break;
          }
          if (!want && e) want = e;
          want_paths.push_back(created);
        }
        auto results = t.multi(s, ops, ec, fired, time);
        if (check_reference) {
          RC_ASSERT(ec == want);
          RC_ASSERT(results.size() == ops.size());
          if (!want) {
            trial.zxid = ref.zxid;
            ref = trial;
            for (std::size_t j = 0; j < ops.size(); ++j) {
              if (ops[j].type == op::kind::create) RC_ASSERT(results[j].path == want_paths[j]);
            }
          }
        }
        break;
      }
      default: {
        // Session turnover: the middle session closes, a new one takes its place.
        const auto old = sessions[1];
        t.close_session(old, time);
        sessions[1] = next_session++;
        t.open_session(sessions[1]);
        if (check_reference) {
          ref.close(old);
          ref.sessions.insert(sessions[1]);
          ++ref.zxid;
        }
        break;
      }
    }
    if (check_reference) compare(t, ref, sessions[0]);
    digests.push_back(t.digest());
  }
  return digests;
}

RC_GTEST_PROP(znode_tree_prop, agrees_with_the_reference_model, ()) {
  const auto cmds = *commands();
  dstm::znode_tree t;
  run(cmds, t, true);
}

RC_GTEST_PROP(znode_tree_prop, same_calls_same_digests, ()) {
  const auto cmds = *commands();
  dstm::znode_tree a;
  dstm::znode_tree b;
  const auto da = run(cmds, a, false);
  const auto db = run(cmds, b, false);
  RC_ASSERT(da == db);
  RC_ASSERT(a.paths() == b.paths());
  RC_ASSERT(a.last_zxid() == b.last_zxid());
  // Every write changes the digest (at least its zxid), so consecutive digests differ.
  for (std::size_t i = 1; i < da.size(); ++i) RC_ASSERT(da[i] != da[i - 1]);
}

}  // namespace
