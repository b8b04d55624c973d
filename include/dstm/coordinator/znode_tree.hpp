#pragma once
/// \file
/// `dstm::znode_tree`: ZooKeeper's data model as a deterministic state machine — the state of
/// the embedded coordinator and of every server of the simulated ensemble.
///
/// It has no threads, locks, clocks, I/O or randomness: the same calls give the same state, the
/// same results and the same zxids, so a follower replaying a leader's calls ends in the same
/// state (compare `digest()`). The real ZooKeeper 3.8 server is the reference; where this model
/// and the server disagree, the model is wrong. What it reproduces, measured against the server:
///
///  - the initial tree: "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config" (read-only
///    ACL), with the server's odd initial stats (root cversion -1, "/zookeeper" cversion -2,
///    "/zookeeper/config" aversion -1) — they fall out of the reported-cversion rule below;
///  - zxids: every request that reaches the server's transaction pipeline takes the next zxid,
///    also when it fails (ZooKeeper logs an error transaction), and so do opening and closing a
///    session; a multi takes exactly one for all its ops. Requests the client library rejects
///    before sending (malformed path, data over `max_data_size`, unknown create mode) and
///    requests of unknown sessions take none. Reads take none;
///  - cversion: the server counts child *creations* internally (that counter is the sequential
///    suffix) and reports `2 * creations - numChildren`, i.e. creations plus deletions. So a
///    sequential suffix does not advance on a delete although the reported cversion does;
///  - error precedence per operation (e.g. create: invalid_acl, then no_node for the parent,
///    then not_authorized, then node_exists, then no_children_for_ephemerals);
///  - ACLs: world:anyone, auth (expanded to the session's digest identities), digest, ip (IPv4
///    with an optional /bits mask; every session has the loopback identity 127.0.0.1, as every
///    client of an in-process server is local). Duplicates are dropped as the server does.
///    `get_acl` needs READ or ADMIN and, without ADMIN, masks digest hashes as "user:x";
///    `exists` needs no permission;
///  - watches: one-shot, per (session, path, kind, id), triggered as the server's DataTree does.
///
/// Not modelled: containers and TTL nodes, quotas, the "super" identity, IPv6 ip ACLs, SASL and
/// x509 schemes, reconfig (writes to "/zookeeper/config" fail with not_authorized, as on a
/// server with reconfig disabled).
///
/// Thread safety: none; the owner serialises calls (the embedded store holds a mutex; the
/// simulation runs one thread at a time).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dstm/coordinator/detail/sha1.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"

namespace dstm {

/// ZooKeeper's digest identity for a credential "user:password": "user:" followed by the
/// base64 of SHA-1 over the whole credential (DigestAuthenticationProvider.generateDigest).
/// Use it to build a ("digest", id) ACL; `add_auth("digest", "user:password")` grants it.
/// A credential without ':' is accepted as the server accepts it (the user is the whole text).
inline std::string digest_id(std::string_view credential) {
  const auto hash = detail::sha1(credential);
  std::string id(credential.substr(0, credential.find(':')));
  id.push_back(':');
  id += detail::base64_encode(hash.data(), hash.size());
  return id;
}

namespace detail {

/// splitmix64's finaliser: a bijective mix with good avalanche, cheap enough per field.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t hash_combine(std::uint64_t h, std::uint64_t v) noexcept {
  return mix64(h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

/// A 64-bit hash of bytes that is the same on every platform and run (std::hash is neither
/// promised), so digests can be compared across processes.
inline std::uint64_t stable_hash(std::string_view s, std::uint64_t seed = 0) noexcept {
  std::uint64_t h = mix64(seed ^ (s.size() * 0x9e3779b97f4a7c15ull));
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    for (int b = 0; b < 8; ++b) {
      w |= std::uint64_t{static_cast<unsigned char>(s[i + b])} << (8 * b);
    }
    h = mix64(h ^ w) + 0x632be59bd9b4e019ull;
  }
  std::uint64_t w = 0;
  for (int b = 0; i < s.size(); ++i, ++b) {
    w |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * b);
  }
  return mix64(h ^ w);
}

struct transparent_string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// Parses dotted-quad IPv4 as java's Integer.parseInt per part would (0..255 each).
inline bool parse_ipv4(std::string_view text, std::uint32_t& out) noexcept {
  std::uint32_t addr = 0;
  int parts = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const auto part = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
    if (part.empty() || part.size() > 9 || ++parts > 4) return false;
    std::uint32_t v = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v > 255) return false;
    addr = (addr << 8) | v;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts != 4) return false;
  out = addr;
  return true;
}

/// An ip ACL id "a.b.c.d" or "a.b.c.d/bits" (IPAuthenticationProvider.isValid, IPv4 only).
inline bool parse_ip_acl(std::string_view id, std::uint32_t& addr, int& bits) noexcept {
  const auto slash = id.find('/');
  if (!parse_ipv4(id.substr(0, slash), addr)) return false;
  bits = 32;
  if (slash == std::string_view::npos) return true;
  const auto mask = id.substr(slash + 1);
  if (mask.empty() || mask.size() > 2) return false;
  int v = 0;
  for (char c : mask) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > 32) return false;
  bits = v;
  return true;
}

/// DigestAuthenticationProvider.isValid: `id.split(":").length == 2` with Java's split, which
/// drops trailing empty parts ("user:" is invalid, ":hash" is valid).
inline bool valid_digest_acl_id(std::string_view id) noexcept {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto colon = id.find(':', start);
    parts.push_back(id.substr(start, colon == id.npos ? id.npos : colon - start));
    if (colon == id.npos) break;
    start = colon + 1;
  }
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts.size() == 2;
}

}  // namespace detail

/// ZooKeeper's data model as a deterministic state machine (see the file comment for exactly
/// which server behaviours it reproduces).
///
/// Every operation takes the id of the session that issues it; the session must have been
/// opened with `open_session` (else: session_expired, and no zxid is taken). Errors are
/// reported through `ec` (values of `coordinator_errc`), never thrown. Writes append the watches
/// they trigger to `fired`, in the order the server would deliver them.
class znode_tree {
 public:
  enum class watch_kind { data, exists, child };
  /// A watch that fired: whose, which registration, what event.
  struct fired_watch {
    std::int64_t session;
    std::uint64_t watch_id;
    watch_event event;
  };
  using fired_list = std::vector<fired_watch>;

  /// The loopback identity every session has under the ip scheme.
  static constexpr std::uint32_t loopback_ip = 0x7f000001u;

  znode_tree() {
    auto add = [&](std::string path, std::int32_t aversion, acl_list acls) {
      znode n;
      n.st.aversion = aversion;
      n.acls = std::move(acls);
      n.path_hash = detail::stable_hash(path, 0x70617468);
      n.data_hash = detail::stable_hash({});
      n.acl_hash = hash_acls(n.acls);
      nodes_.emplace(std::move(path), std::move(n));
    };
    add("/", 0, open_acl_unsafe());
    add("/zookeeper", 0, open_acl_unsafe());
    add("/zookeeper/quota", 0, open_acl_unsafe());
    // The server sets the config node's ACL through setACL(-1) at startup, hence aversion -1.
    add("/zookeeper/config", -1, read_acl_unsafe());
    link_child("/", "zookeeper");
    link_child("/zookeeper", "config");
    link_child("/zookeeper", "quota");
    for (auto& [path, n] : nodes_) {
      refresh(n);
      nodes_digest_ += n.hash;
    }
  }

  // ---- sessions -------------------------------------------------------------------------

  /// Opens a session with the caller's id; like the server's createSession it takes a zxid.
  /// Opening an open session does nothing. Throws std::invalid_argument for id 0 (0 means "not
  /// ephemeral" in a stat).
  void open_session(std::int64_t session) {
    if (session == 0) {
      throw std::invalid_argument("dstm::znode_tree::open_session: session id 0 is reserved");
    }
    if (sessions_.contains(session)) return;
    sessions_.emplace(session, session_info{});
    sessions_digest_ += session_hash(session);
    ++last_zxid_;
  }

  /// Ends a session as the server's closeSession does: one zxid, its ephemerals removed (in
  /// path order) with the watches that triggers, its own watches forgotten first (nobody would
  /// receive them). Returns what fired. Unknown sessions: nothing happens, no zxid.
  /// `time_ms` is accepted for symmetry with the other writes; a close stamps no time.
  fired_list close_session(std::int64_t session, std::int64_t time_ms) {
    static_cast<void>(time_ms);
    fired_list fired;
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return fired;
    const std::int64_t zxid = ++last_zxid_;
    drop_watches(session);
    const auto ephemerals = std::move(it->second.ephemerals);
    it->second.ephemerals.clear();
    for (const auto& path : ephemerals) apply_remove(path, zxid, fired);
    sessions_.erase(it);
    sessions_digest_ -= session_hash(session);
    return fired;
  }

  bool has_session(std::int64_t session) const { return sessions_.contains(session); }

  /// The open sessions, ascending.
  std::vector<std::int64_t> sessions() const {
    std::vector<std::int64_t> out;
    out.reserve(sessions_.size());
    for (const auto& [id, s] : sessions_) out.push_back(id);
    return out;
  }

  /// The session's ephemeral nodes, in path order (empty for an unknown session).
  std::vector<std::string> ephemerals(std::int64_t session) const {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return {};
    return {it->second.ephemerals.begin(), it->second.ephemerals.end()};
  }

  /// Adds credentials to a session. "digest" with "user:password" grants the identity
  /// `digest_id(credential)`; "ip" is accepted and changes nothing (the session already has
  /// the loopback identity). Other schemes: auth_failed (the session stays open here; a real
  /// server would also drop the connection). Unknown session: session_expired. No zxid.
  std::error_code add_auth(std::int64_t session, std::string_view scheme, std::string_view cred) {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return make_error_code(coordinator_errc::session_expired);
    if (scheme == "ip") return {};
    if (scheme != "digest") return make_error_code(coordinator_errc::auth_failed);
    std::pair<std::string, std::string> identity{"digest", digest_id(cred)};
    auto& ids = it->second.ids;
    for (const auto& existing : ids) {
      if (existing == identity) return {};
    }
    ids.push_back(std::move(identity));
    return {};
  }

  // ---- reads (no zxid) ------------------------------------------------------------------

  /// Data and stat. Errors: bad_arguments (path), session_expired, no_node, not_authorized
  /// (READ). A watch is registered by the caller afterwards, on success only (`add_watch`).
  node get(std::int64_t session, std::string_view path, std::error_code& ec) const {
    const znode* n = readable_target(session, path, ec);
    if (!n) return {};
    return {n->data, n->st};
  }

  /// The stat, or nullopt for a missing node (not an error). Needs no permission, as on the
  /// server. Errors: bad_arguments, session_expired. The caller registers an `exists` watch
  /// afterwards either way.
  std::optional<dstm::stat> exists(std::int64_t session, std::string_view path,
                                   std::error_code& ec) const {
    ec.clear();
    if (auto bad = validate_path(path)) {
      ec = bad;
      return std::nullopt;
    }
    if (!sessions_.contains(session)) {
      ec = make_error_code(coordinator_errc::session_expired);
      return std::nullopt;
    }
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return std::nullopt;
    return it->second.st;
  }

  /// Child names (sorted, which is one of the orders ZooKeeper may return) and the stat.
  /// Errors: bad_arguments, session_expired, no_node, not_authorized (READ).
  children_list children(std::int64_t session, std::string_view path, std::error_code& ec) const {
    const znode* n = readable_target(session, path, ec);
    if (!n) return {};
    children_list out;
    out.names.assign(n->children.begin(), n->children.end());
    out.stat = n->st;
    return out;
  }

  /// The ACL (and stat into `out` when given). Needs READ or ADMIN; without ADMIN, digest ids
  /// come back as "user:x" (ZOOKEEPER-1392). Errors: bad_arguments, session_expired, no_node,
  /// not_authorized.
  acl_list get_acl(std::int64_t session, std::string_view path, dstm::stat* out,
                   std::error_code& ec) const {
    const session_info* s = nullptr;
    const znode* n = read_target(session, path, s, ec);
    if (!n) return {};
    if (!permitted(n->acls, perms::read | perms::admin, *s)) {
      ec = make_error_code(coordinator_errc::not_authorized);
      return {};
    }
    if (out) *out = n->st;
    acl_list acls = n->acls;
    if (!permitted(n->acls, perms::admin, *s)) {
      for (auto& a : acls) {
        if (a.scheme == "digest") a.id = a.id.substr(0, a.id.find(':')) + ":x";
      }
    }
    return acls;
  }

  /// Registers a one-shot watch. `data` and `exists` watches fire on created, changed and
  /// deleted events of `path`; `child` watches on child events of `path` and on its deletion.
  /// Registering the same (session, path, kind, id) twice keeps one. Unknown session: ignored.
  /// The tree does not check that the node exists: the caller registers after a read, as the
  /// server does (get/children only on success, exists always).
  void add_watch(std::int64_t session, std::string_view path, watch_kind kind,
                 std::uint64_t watch_id) {
    if (!sessions_.contains(session)) return;
    auto& table = kind == watch_kind::child ? child_watches_ : data_watches_;
    auto it = table.find(path);
    if (it == table.end()) it = table.emplace(std::string(path), std::vector<watch_reg>{}).first;
    for (const auto& r : it->second) {
      if (r.session == session && r.id == watch_id && r.kind == kind) return;
    }
    it->second.push_back({session, watch_id, kind});
  }

  /// Forgets one registration without firing it; true if it was there.
  bool remove_watch(std::int64_t session, std::string_view path, watch_kind kind,
                    std::uint64_t watch_id) {
    auto& table = kind == watch_kind::child ? child_watches_ : data_watches_;
    auto it = table.find(path);
    if (it == table.end()) return false;
    auto& regs = it->second;
    for (auto r = regs.begin(); r != regs.end(); ++r) {
      if (r->session == session && r->id == watch_id && r->kind == kind) {
        regs.erase(r);
        if (regs.empty()) table.erase(it);
        return true;
      }
    }
    return false;
  }

  /// Registered watches (all sessions, all kinds).
  std::size_t watch_count() const {
    std::size_t n = 0;
    for (const auto& [p, regs] : data_watches_) n += regs.size();
    for (const auto& [p, regs] : child_watches_) n += regs.size();
    return n;
  }

  // ---- writes ---------------------------------------------------------------------------

  /// Creates a node; returns its path (with the 10-digit suffix, the parent's count of child
  /// creations, for a sequential mode) and its stat into `out`. Errors, in the server's order:
  /// bad_arguments (path, data size, mode: no zxid), session_expired (no zxid), invalid_acl,
  /// no_node (parent), not_authorized (CREATE on the parent), node_exists,
  /// no_children_for_ephemerals. Fires created (data/exists watches of the path), then child
  /// (child watches of the parent).
  std::string create(std::int64_t session, std::string_view path, std::string_view data,
                     create_mode mode, const acl_list& acls, dstm::stat* out, std::error_code& ec,
                     fired_list& fired, std::int64_t time_ms) {
    ec = client_check(op::kind::create, path, data, mode);
    if (ec) return {};
    session_info* s = begin_write(session, ec);
    if (!s) return {};
    prepared p;
    ec = prepare_create(session, *s, path, data, mode, acls, p, nullptr);
    if (ec) return {};
    const znode& n = apply_create(session, p, last_zxid_, time_ms, fired);
    if (out) *out = n.st;
    return std::move(p.path);
  }

  /// Replaces data if the version matches (`any_version` matches all); returns the new stat.
  /// Errors: bad_arguments (path, size: no zxid), session_expired, no_node, not_authorized
  /// (WRITE), bad_version. Fires changed on data/exists watches.
  dstm::stat set(std::int64_t session, std::string_view path, std::string_view data,
                 std::int32_t version, std::error_code& ec, fired_list& fired,
                 std::int64_t time_ms) {
    ec = client_check(op::kind::set, path, data, create_mode::persistent);
    if (ec) return {};
    session_info* s = begin_write(session, ec);
    if (!s) return {};
    ec = prepare_set(*s, path, version, nullptr);
    if (ec) return {};
    return apply_set(path, data, last_zxid_, time_ms, fired);
  }

  /// Removes a childless node if the version matches. Errors: bad_arguments (path: no zxid;
  /// "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config": with a zxid, as the server
  /// refuses them), session_expired, no_node (parent), not_authorized (DELETE on the parent),
  /// no_node, bad_version, not_empty. Fires deleted on the path's data/exists and child
  /// watches, then child on the parent's child watches.
  void remove(std::int64_t session, std::string_view path, std::int32_t version,
              std::error_code& ec, fired_list& fired) {
    ec = client_check(op::kind::remove, path, {}, create_mode::persistent);
    if (ec) return;
    session_info* s = begin_write(session, ec);
    if (!s) return;
    ec = prepare_remove(*s, path, version, nullptr);
    if (ec) return;
    apply_remove(path, last_zxid_, fired);
  }

  /// Replaces the ACL if the ACL version matches; bumps aversion only (no mzxid change, no
  /// watch). Errors: bad_arguments (no zxid), session_expired, invalid_acl, no_node,
  /// not_authorized (ADMIN), bad_version.
  void set_acl(std::int64_t session, std::string_view path, const acl_list& acls,
               std::int32_t aversion, std::error_code& ec) {
    ec = client_check(op::kind::check, path, {}, create_mode::persistent);
    if (ec) return;
    session_info* s = begin_write(session, ec);
    if (!s) return;
    acl_list fixed = fixup_acl(*s, acls, ec);
    if (ec) return;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
      ec = make_error_code(coordinator_errc::no_node);
      return;
    }
    znode& n = it->second;
    if (!permitted(n.acls, perms::admin, *s)) {
      ec = make_error_code(coordinator_errc::not_authorized);
      return;
    }
    if (aversion != any_version && aversion != n.st.aversion) {
      ec = make_error_code(coordinator_errc::bad_version);
      return;
    }
    nodes_digest_ -= n.hash;
    n.acls = std::move(fixed);
    n.acl_hash = hash_acls(n.acls);
    n.st.aversion = next_version(n.st.aversion);
    refresh(n);
    nodes_digest_ += n.hash;
  }

  /// Applies all ops atomically under one zxid, or none. Each op is validated against the
  /// state as the earlier ops of the same multi left it (a create may be followed by a set of
  /// the created node). On failure: `ec` is the failing op's error; results before it are ok,
  /// its own carries the error, later ones runtime_inconsistency; nothing changed (but the zxid
  /// is taken, as the server logs an error transaction, unless the failure is a client-side
  /// one: bad_arguments from a path, data size or mode). A request-level failure
  /// (session_expired) sets `ec` and every result to it. On success, a create's result carries
  /// the created path and a set's the stat right after that set. An empty multi succeeds and
  /// takes a zxid. Watches fire in op order, as the server applies a multi's ops one by one.
  std::vector<op_result> multi(std::int64_t session, std::span<const op> ops, std::error_code& ec,
                               fired_list& fired, std::int64_t time_ms) {
    ec.clear();
    std::vector<op_result> results(ops.size());
    const auto fail_at = [&](std::size_t i, std::error_code e) {
      for (std::size_t j = 0; j < results.size(); ++j) {
        results[j].ec = j < i    ? std::error_code{}
                        : j == i ? e
                                 : make_error_code(coordinator_errc::runtime_inconsistency);
      }
      ec = e;
    };
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (auto e = client_check(ops[i].type, ops[i].path, ops[i].data, ops[i].mode)) {
        fail_at(i, e);
        return results;
      }
    }
    session_info* s = begin_write(session, ec);
    if (!s) {
      for (auto& r : results) r.ec = ec;
      return results;
    }
    overlay ov;
    std::vector<prepared> prep;
    prep.reserve(ops.size());  // the overlay points into prepared ACL lists: no reallocation
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const op& o = ops[i];
      prep.emplace_back();
      prepared& p = prep.back();
      std::error_code e;
      switch (o.type) {
        case op::kind::create:
          e = prepare_create(session, *s, o.path, o.data, o.mode, o.acls, p, &ov);
          break;
        case op::kind::remove:
          e = prepare_remove(*s, o.path, o.version, &ov);
          break;
        case op::kind::set:
          e = prepare_set(*s, o.path, o.version, &ov);
          break;
        case op::kind::check:
          e = prepare_check(*s, o.path, o.version, &ov);
          break;
      }
      if (e) {
        fail_at(i, e);
        return results;
      }
    }
    const std::int64_t zxid = last_zxid_;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const op& o = ops[i];
      switch (o.type) {
        case op::kind::create:
          apply_create(session, prep[i], zxid, time_ms, fired);
          results[i].path = std::move(prep[i].path);
          break;
        case op::kind::remove:
          apply_remove(o.path, zxid, fired);
          break;
        case op::kind::set:
          results[i].stat = apply_set(o.path, o.data, zxid, time_ms, fired);
          break;
        case op::kind::check:
          break;
      }
    }
    return results;
  }

  // ---- inspection -----------------------------------------------------------------------

  /// The zxid of the last transaction (0 on a fresh tree).
  std::int64_t last_zxid() const { return last_zxid_; }

  /// Deterministic digest of the whole state: every node's path, data, stat, internal child
  /// counter and ACL, the set of open sessions and the last zxid. Maintained incrementally
  /// (O(1) to read), equal across processes and platforms for equal states.
  std::uint64_t digest() const {
    return detail::hash_combine(nodes_digest_ + sessions_digest_,
                                static_cast<std::uint64_t>(last_zxid_));
  }

  /// Number of nodes, the four built-in ones included.
  std::size_t node_count() const { return nodes_.size(); }

  /// Every path, sorted (for dumps and tests).
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    out.reserve(nodes_.size());
    for (const auto& [p, n] : nodes_) out.push_back(p);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct znode {
    std::string data;
    dstm::stat st;  ///< as reported: cversion = 2 * creates - num_children
    /// The server's internal cversion: children ever created here; the sequential suffix.
    std::int32_t creates = 0;
    acl_list acls;
    std::set<std::string, std::less<>> children;
    std::uint64_t path_hash = 0, data_hash = 0, acl_hash = 0, hash = 0;
  };
  struct session_info {
    std::vector<std::pair<std::string, std::string>> ids;  ///< (scheme, id) from add_auth
    std::set<std::string, std::less<>> ephemerals;
  };
  struct watch_reg {
    std::int64_t session;
    std::uint64_t id;
    watch_kind kind;
  };
  /// What validation needs to know of a node, as the server's ChangeRecord.
  struct view {
    bool exists = false;
    std::int32_t version = 0, aversion = 0, creates = 0, num_children = 0;
    std::int64_t ephemeral_owner = 0;
    const acl_list* acls = nullptr;
  };
  /// The effects of the earlier ops of a multi, by path (the server's outstanding changes).
  using overlay = std::map<std::string, view, std::less<>>;
  struct prepared {
    std::string path;  ///< final path of a create
    acl_list acls;     ///< fixed-up ACL of a create
    std::string_view data;
    create_mode mode = create_mode::persistent;
  };
  using watch_table = std::unordered_map<std::string, std::vector<watch_reg>,
                                         detail::transparent_string_hash, std::equal_to<>>;

  static std::int32_t next_version(std::int32_t v) {
    // Java int arithmetic: wraps.
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) + 1u);
  }
  static std::uint64_t session_hash(std::int64_t session) {
    return detail::mix64(static_cast<std::uint64_t>(session) ^ 0x5e55101a5e55101aull);
  }
  static std::uint64_t hash_acls(const acl_list& acls) {
    std::uint64_t h = detail::mix64(acls.size());
    for (const auto& a : acls) {
      h = detail::hash_combine(h, a.permissions);
      h = detail::hash_combine(h, detail::stable_hash(a.scheme));
      h = detail::hash_combine(h, detail::stable_hash(a.id));
    }
    return h;
  }
  static void refresh(znode& n) {
    n.st.num_children = static_cast<std::int32_t>(n.children.size());
    n.st.cversion = static_cast<std::int32_t>(2u * static_cast<std::uint32_t>(n.creates) -
                                              static_cast<std::uint32_t>(n.st.num_children));
    n.st.data_length = static_cast<std::int32_t>(n.data.size());
    std::uint64_t h = detail::hash_combine(n.path_hash, n.data_hash);
    h = detail::hash_combine(h, n.acl_hash);
    for (std::int64_t v :
         {n.st.czxid, n.st.mzxid, n.st.pzxid, n.st.ctime, n.st.mtime, std::int64_t{n.st.version},
          std::int64_t{n.st.cversion}, std::int64_t{n.st.aversion}, n.st.ephemeral_owner,
          std::int64_t{n.st.data_length}, std::int64_t{n.st.num_children},
          std::int64_t{n.creates}}) {
      h = detail::hash_combine(h, static_cast<std::uint64_t>(v));
    }
    n.hash = h;
  }
  void link_child(std::string_view parent, std::string name) {
    nodes_.find(parent)->second.children.insert(std::move(name));
  }

  static std::string_view parent_of(std::string_view path) { return parent_path(path); }
  static std::string_view name_of(std::string_view path) {
    return path.substr(path.rfind('/') + 1);
  }
  static bool special_path(std::string_view path) {
    return path == "/" || path == "/zookeeper" || path == "/zookeeper/quota" ||
           path == "/zookeeper/config";
  }

  /// What a client library rejects before sending: no zxid.
  static std::error_code client_check(op::kind type, std::string_view path, std::string_view data,
                                      create_mode mode) {
    const auto bad = make_error_code(coordinator_errc::bad_arguments);
    switch (type) {
      case op::kind::create: {
        const int m = static_cast<int>(mode);
        if (m < 0 || m > 3) return bad;
        if (auto e = validate_path(path, is_sequential(mode))) return e;
        break;
      }
      case op::kind::set:
      case op::kind::remove:
      case op::kind::check:
        if (auto e = validate_path(path)) return e;
        break;
      default:
        return bad;
    }
    if (data.size() > max_data_size) return bad;
    return {};
  }

  session_info* begin_write(std::int64_t session, std::error_code& ec) {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) {
      ec = make_error_code(coordinator_errc::session_expired);
      return nullptr;
    }
    ++last_zxid_;
    return &it->second;
  }

  /// The node at `path` if the session may READ it; else null with the error (bad_arguments,
  /// session_expired, no_node, not_authorized) — what `get` and `children` both require.
  const znode* readable_target(std::int64_t session, std::string_view path,
                               std::error_code& ec) const {
    const session_info* s = nullptr;
    const znode* n = read_target(session, path, s, ec);
    if (n && !permitted(n->acls, perms::read, *s)) {
      ec = make_error_code(coordinator_errc::not_authorized);
      return nullptr;
    }
    return n;
  }

  const znode* read_target(std::int64_t session, std::string_view path, const session_info*& s,
                           std::error_code& ec) const {
    ec.clear();
    if (auto bad = validate_path(path)) {
      ec = bad;
      return nullptr;
    }
    auto sit = sessions_.find(session);
    if (sit == sessions_.end()) {
      ec = make_error_code(coordinator_errc::session_expired);
      return nullptr;
    }
    s = &sit->second;
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
      ec = make_error_code(coordinator_errc::no_node);
      return nullptr;
    }
    return &it->second;
  }

  view lookup(std::string_view path, const overlay* ov) const {
    if (ov) {
      auto it = ov->find(path);
      if (it != ov->end()) return it->second;
    }
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return {};
    const znode& n = it->second;
    return {true,   n.st.version, n.st.aversion, n.creates, n.st.num_children, n.st.ephemeral_owner,
            &n.acls};
  }

  /// CheckACL: an empty ACL admits everyone; otherwise some entry sharing a bit with `perm`
  /// must match one of the session's identities.
  static bool permitted(const acl_list& acls, std::uint32_t perm, const session_info& s) {
    if (acls.empty()) return true;
    for (const auto& a : acls) {
      if ((a.permissions & perm) == 0) continue;
      if (a.scheme == "world") {
        if (a.id == "anyone") return true;
      } else if (a.scheme == "digest") {
        for (const auto& [scheme, id] : s.ids) {
          if (scheme == "digest" && id == a.id) return true;
        }
      } else if (a.scheme == "ip") {
        std::uint32_t addr = 0;
        int bits = 0;
        if (detail::parse_ip_acl(a.id, addr, bits)) {
          const std::uint32_t mask = bits == 0 ? 0u : ~std::uint32_t{0} << (32 - bits);
          if ((addr & mask) == (loopback_ip & mask)) return true;
        }
      }
    }
    return false;
  }

  static bool valid_ip_acl(std::string_view id) {
    std::uint32_t addr = 0;
    int bits = 0;
    return detail::parse_ip_acl(id, addr, bits);
  }

  /// PrepRequestProcessor.fixupACL: drops duplicates, expands "auth" to the session's digest
  /// identities, validates the rest.
  static acl_list fixup_acl(const session_info& s, const acl_list& acls, std::error_code& ec) {
    const auto invalid = make_error_code(coordinator_errc::invalid_acl);
    acl_list unique;
    for (const auto& a : acls) {
      bool seen = false;
      for (const auto& u : unique) seen = seen || u == a;
      if (!seen) unique.push_back(a);
    }
    if (unique.empty()) {
      ec = invalid;
      return {};
    }
    acl_list out;
    for (const auto& a : unique) {
      if (a.scheme == "world" && a.id == "anyone") {
        out.push_back(a);
      } else if (a.scheme == "auth") {
        bool any = false;
        for (const auto& [scheme, id] : s.ids) {
          if (scheme != "digest") continue;
          out.push_back({a.permissions, scheme, id});
          any = true;
        }
        if (!any) {
          ec = invalid;
          return {};
        }
      } else if (a.scheme == "digest" && detail::valid_digest_acl_id(a.id)) {
        out.push_back(a);
      } else if (a.scheme == "ip" && valid_ip_acl(a.id)) {
        out.push_back(a);
      } else {
        ec = invalid;
        return {};
      }
    }
    return out;
  }

  std::error_code prepare_create(std::int64_t session, const session_info& s, std::string_view path,
                                 std::string_view data, create_mode mode, const acl_list& acls,
                                 prepared& out, overlay* ov) const {
    std::error_code ec;
    out.acls = fixup_acl(s, acls, ec);
    if (ec) return ec;
    const std::string_view parent = parent_of(path);
    const view p = lookup(parent, ov);
    if (!p.exists) return make_error_code(coordinator_errc::no_node);
    if (!permitted(*p.acls, perms::create, s)) {
      return make_error_code(coordinator_errc::not_authorized);
    }
    out.path.assign(path);
    if (is_sequential(mode)) out.path += sequence_suffix(p.creates);
    if (lookup(out.path, ov).exists) return make_error_code(coordinator_errc::node_exists);
    if (p.ephemeral_owner != 0) {
      return make_error_code(coordinator_errc::no_children_for_ephemerals);
    }
    out.data = data;
    out.mode = mode;
    if (ov) {
      view np = p;
      ++np.creates;
      ++np.num_children;
      (*ov)[std::string(parent)] = np;
      view child;
      child.exists = true;
      child.ephemeral_owner = is_ephemeral(mode) ? session : 0;
      child.acls = &out.acls;
      (*ov)[out.path] = child;
    }
    return {};
  }

  std::error_code prepare_remove(const session_info& s, std::string_view path, std::int32_t version,
                                 overlay* ov) const {
    if (special_path(path)) return make_error_code(coordinator_errc::bad_arguments);
    const std::string_view parent = parent_of(path);
    const view p = lookup(parent, ov);
    if (!p.exists) return make_error_code(coordinator_errc::no_node);
    if (!permitted(*p.acls, perms::remove, s)) {
      return make_error_code(coordinator_errc::not_authorized);
    }
    const view n = lookup(path, ov);
    if (!n.exists) return make_error_code(coordinator_errc::no_node);
    if (version != any_version && version != n.version) {
      return make_error_code(coordinator_errc::bad_version);
    }
    if (n.num_children > 0) return make_error_code(coordinator_errc::not_empty);
    if (ov) {
      view np = p;
      --np.num_children;
      (*ov)[std::string(parent)] = np;
      (*ov)[std::string(path)] = view{};
    }
    return {};
  }

  std::error_code prepare_set(const session_info& s, std::string_view path, std::int32_t version,
                              overlay* ov) const {
    const view n = lookup(path, ov);
    if (!n.exists) return make_error_code(coordinator_errc::no_node);
    if (!permitted(*n.acls, perms::write, s)) {
      return make_error_code(coordinator_errc::not_authorized);
    }
    if (version != any_version && version != n.version) {
      return make_error_code(coordinator_errc::bad_version);
    }
    if (ov) {
      view nn = n;
      nn.version = next_version(n.version);
      (*ov)[std::string(path)] = nn;
    }
    return {};
  }

  std::error_code prepare_check(const session_info& s, std::string_view path, std::int32_t version,
                                const overlay* ov) const {
    const view n = lookup(path, ov);
    if (!n.exists) return make_error_code(coordinator_errc::no_node);
    if (!permitted(*n.acls, perms::read, s)) {
      return make_error_code(coordinator_errc::not_authorized);
    }
    if (version != any_version && version != n.version) {
      return make_error_code(coordinator_errc::bad_version);
    }
    return {};
  }

  const znode& apply_create(std::int64_t session, prepared& p, std::int64_t zxid,
                            std::int64_t time_ms, fired_list& fired) {
    const std::string_view parent_path_view = parent_of(p.path);
    znode& parent = nodes_.find(parent_path_view)->second;
    nodes_digest_ -= parent.hash;
    ++parent.creates;
    parent.children.emplace(name_of(p.path));
    parent.st.pzxid = zxid;
    refresh(parent);
    nodes_digest_ += parent.hash;

    znode n;
    n.data.assign(p.data);
    n.st.czxid = n.st.mzxid = n.st.pzxid = zxid;
    n.st.ctime = n.st.mtime = time_ms;
    n.st.ephemeral_owner = is_ephemeral(p.mode) ? session : 0;
    n.acls = std::move(p.acls);
    n.path_hash = detail::stable_hash(p.path, 0x70617468);
    n.data_hash = detail::stable_hash(n.data);
    n.acl_hash = hash_acls(n.acls);
    refresh(n);
    nodes_digest_ += n.hash;
    // unordered_map keeps references stable across rehashing, so `parent` stays valid.
    znode& created = nodes_.emplace(p.path, std::move(n)).first->second;
    if (is_ephemeral(p.mode)) sessions_.find(session)->second.ephemerals.insert(p.path);

    trigger(data_watches_, p.path, event_type::created, fired);
    trigger(child_watches_, parent_path_view, event_type::child, fired);
    return created;
  }

  dstm::stat apply_set(std::string_view path, std::string_view data, std::int64_t zxid,
                       std::int64_t time_ms, fired_list& fired) {
    znode& n = nodes_.find(path)->second;
    nodes_digest_ -= n.hash;
    n.data.assign(data);
    n.data_hash = detail::stable_hash(n.data);
    n.st.version = next_version(n.st.version);
    n.st.mzxid = zxid;
    n.st.mtime = time_ms;
    refresh(n);
    nodes_digest_ += n.hash;
    const dstm::stat st = n.st;
    trigger(data_watches_, path, event_type::changed, fired);
    return st;
  }

  void apply_remove(std::string_view path_in, std::int64_t zxid, fired_list& fired) {
    // `path_in` may point into the node or a session's ephemeral set, both erased below.
    const std::string path(path_in);
    auto it = nodes_.find(path);
    const std::int64_t owner = it->second.st.ephemeral_owner;
    nodes_digest_ -= it->second.hash;
    nodes_.erase(it);

    const std::string_view parent_path_view = parent_of(path);
    znode& parent = nodes_.find(parent_path_view)->second;
    nodes_digest_ -= parent.hash;
    if (auto c = parent.children.find(name_of(path)); c != parent.children.end()) {
      parent.children.erase(c);
    }
    parent.st.pzxid = zxid;
    refresh(parent);
    nodes_digest_ += parent.hash;

    if (owner != 0) {
      if (auto s = sessions_.find(owner); s != sessions_.end()) {
        if (auto e = s->second.ephemerals.find(path); e != s->second.ephemerals.end()) {
          s->second.ephemerals.erase(e);
        }
      }
    }
    trigger(data_watches_, path, event_type::deleted, fired);
    trigger(child_watches_, path, event_type::deleted, fired);
    trigger(child_watches_, parent_path_view, event_type::child, fired);
  }

  static void trigger(watch_table& table, std::string_view path, event_type type,
                      fired_list& fired) {
    auto it = table.find(path);
    if (it == table.end()) return;
    const auto regs = std::move(it->second);
    table.erase(it);
    for (const auto& r : regs) {
      fired.push_back({r.session, r.id, {type, session_state::connected, std::string(path)}});
    }
  }

  void drop_watches(std::int64_t session) {
    for (auto* table : {&data_watches_, &child_watches_}) {
      for (auto it = table->begin(); it != table->end();) {
        auto& regs = it->second;
        std::erase_if(regs, [&](const watch_reg& r) { return r.session == session; });
        it = regs.empty() ? table->erase(it) : std::next(it);
      }
    }
  }

  std::unordered_map<std::string, znode, detail::transparent_string_hash, std::equal_to<>> nodes_;
  std::map<std::int64_t, session_info> sessions_;
  watch_table data_watches_;  ///< data and exists registrations (the server's dataWatches)
  watch_table child_watches_;
  std::int64_t last_zxid_ = 0;
  std::uint64_t nodes_digest_ = 0;     ///< sum of node hashes: order-free, updated per write
  std::uint64_t sessions_digest_ = 0;  ///< sum of open session hashes
};

}  // namespace dstm
