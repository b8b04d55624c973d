#pragma once
/// \file
/// The vocabulary of the coordinator concept: ZooKeeper's data model (stat, create modes,
/// ACLs, watch events, session states) and the operations of a `multi`.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/error.hpp"

namespace dstm {

/// A znode's metadata, field for field ZooKeeper's `Stat`.
struct stat {
  std::int64_t czxid = 0;            ///< zxid of the create
  std::int64_t mzxid = 0;            ///< zxid of the last data change
  std::int64_t pzxid = 0;            ///< zxid of the last change to the children
  std::int64_t ctime = 0;            ///< creation time, milliseconds since the epoch
  std::int64_t mtime = 0;            ///< last data change, milliseconds since the epoch
  std::int32_t version = 0;          ///< number of data changes
  std::int32_t cversion = 0;         ///< number of changes to the children
  std::int32_t aversion = 0;         ///< number of ACL changes
  std::int64_t ephemeral_owner = 0;  ///< owning session id for an ephemeral node, else 0
  std::int32_t data_length = 0;
  std::int32_t num_children = 0;

  friend bool operator==(const stat&, const stat&) = default;
};

/// Matches any version in `set`, `remove` and `check`.
inline constexpr std::int32_t any_version = -1;

/// ZooKeeper's limit on a znode's data (the server's `jute.maxbuffer` default, 1 MB less the
/// room a request needs for its path and header). Larger data is refused before sending.
inline constexpr std::size_t max_data_size = 1024 * 1024 - 1024;

/// How `create` makes a node. Values are ZooKeeper's flags (ephemeral = 1, sequential = 2).
enum class create_mode : int {
  persistent = 0,
  ephemeral = 1,
  persistent_sequential = 2,
  ephemeral_sequential = 3,
};
constexpr bool is_ephemeral(create_mode m) noexcept { return (static_cast<int>(m) & 1) != 0; }
constexpr bool is_sequential(create_mode m) noexcept { return (static_cast<int>(m) & 2) != 0; }

/// ACL permission bits, ZooKeeper's values.
namespace perms {
inline constexpr std::uint32_t read = 1;
inline constexpr std::uint32_t write = 2;
inline constexpr std::uint32_t create = 4;
inline constexpr std::uint32_t remove = 8;  // ZooKeeper's DELETE
inline constexpr std::uint32_t admin = 16;
inline constexpr std::uint32_t all = 31;
}  // namespace perms

/// One ACL entry: permissions granted to an identity (`scheme`:`id`), e.g. ("world",
/// "anyone"), ("digest", "user:base64(sha1(user:password))"), ("auth", "").
struct acl {
  std::uint32_t permissions = perms::all;
  std::string scheme;
  std::string id;
  friend bool operator==(const acl&, const acl&) = default;
};
using acl_list = std::vector<acl>;

/// Everyone may do everything (ZooKeeper's OPEN_ACL_UNSAFE); the default of `create`.
inline acl_list open_acl_unsafe() { return {{perms::all, "world", "anyone"}}; }
/// Everyone may read (READ_ACL_UNSAFE).
inline acl_list read_acl_unsafe() { return {{perms::read, "world", "anyone"}}; }
/// The creator's authenticated identities get everything (CREATOR_ALL_ACL).
inline acl_list creator_all_acl() { return {{perms::all, "auth", ""}}; }

/// Kinds of watch event; values are ZooKeeper's.
enum class event_type : int {
  created = 1,
  deleted = 2,
  changed = 3,
  child = 4,
  session = -1,
  not_watching = -2,
};

/// A session's state as the client sees it.
enum class session_state : int {
  connecting = 1,  ///< not yet connected, or reconnecting ("suspended": exclusivity is lost)
  connected = 3,   ///< requests flow
  expired = -112,  ///< the server ended the session: ephemerals are gone, watches too
  auth_failed = -113,
  closed = 0,  ///< closed by this client
};

/// What a watch callback or a session listener receives.
struct watch_event {
  event_type type = event_type::session;
  session_state state = session_state::connected;
  std::string path;  ///< empty for session events
  /// Position of this event in the session's stream of replies and events (see `node::sequence`).
  std::uint64_t sequence = 0;
};

/// A one-shot watch set by a read (`get`, `exists`, `children`).
///
/// `fn` runs once, when the node changes (or, for `children`, its child list). A plain watch is
/// dispatched off the coordinator's completion thread, in event order, and may block or call the
/// coordinator. An `in_order` watch runs on the completion thread itself, before the completion
/// of any later reply on the same session; it must be short and must not block or call the
/// coordinator. The STM's cache invalidates through `in_order` watches: that is what makes the
/// valid entries of a session's cache a consistent snapshot.
struct watch {
  std::function<void(const watch_event&)> fn;
  bool in_order = false;
  explicit operator bool() const noexcept { return static_cast<bool>(fn); }
};

/// A znode's data with its stat.
struct node {
  std::string data;
  dstm::stat stat;
  /// Position of this reply in the session's stream of replies and watch events: strictly
  /// increasing in the order the session receives them, shared with `watch_event::sequence`.
  /// An event with a larger sequence than a reply reports a change made after that read; one
  /// with a smaller sequence, a change the read already reflects. The STM's cache relies on it
  /// to keep an entry only when no invalidation followed the read. 0 = the model provides none.
  std::uint64_t sequence = 0;
};

/// A node's children (names, not paths; unordered as ZooKeeper returns them) with its stat.
struct children_list {
  std::vector<std::string> names;
  dstm::stat stat;
};

/// One operation of a `multi`.
struct op {
  enum class kind : int { create = 1, remove = 2, set = 5, check = 13 };  // ZooKeeper's opcodes
  kind type = kind::check;
  std::string path;
  std::string data;
  std::int32_t version = any_version;
  create_mode mode = create_mode::persistent;
  acl_list acls;

  static op create(std::string path, std::string data, create_mode mode = create_mode::persistent,
                   acl_list acls = open_acl_unsafe()) {
    return {kind::create, std::move(path), std::move(data), any_version, mode, std::move(acls)};
  }
  static op set(std::string path, std::string data, std::int32_t version = any_version) {
    return {kind::set, std::move(path), std::move(data), version, create_mode::persistent, {}};
  }
  static op remove(std::string path, std::int32_t version = any_version) {
    return {kind::remove, std::move(path), {}, version, create_mode::persistent, {}};
  }
  static op check(std::string path, std::int32_t version) {
    return {kind::check, std::move(path), {}, version, create_mode::persistent, {}};
  }
};

/// The result of one operation of a `multi`. When the multi fails, the failing op carries its
/// error, the ops before it carry `ok` (rolled back; nothing was applied) and the ops after it
/// carry `coordinator_errc::runtime_inconsistency`, as ZooKeeper reports them.
struct op_result {
  std::error_code ec;
  std::string path;  ///< the created path (create)
  dstm::stat stat;   ///< the new stat (set)
};

/// The result of one read of a batched `get_many`.
struct get_result {
  std::error_code ec;
  dstm::node node;
};

/// Receives the reads of `multi_then_get_async`: `(index of the path, its result)`, once per path.
using read_callback = std::function<void(std::size_t, get_result&&)>;

/// Checks a path the way ZooKeeper does (PathUtils.validatePath): absolute, no empty, "." or
/// ".." component, no trailing slash but on "/", no NUL or control characters. A sequential
/// create may end in "/" (the server appends the counter). Returns `bad_arguments` or success.
inline std::error_code validate_path(std::string_view path, bool sequential = false) noexcept {
  const auto bad = make_error_code(coordinator_errc::bad_arguments);
  if (path.empty() || path.front() != '/') return bad;
  if (path.size() == 1) return {};
  if (path.back() == '/' && !sequential) return bad;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const auto part = path.substr(start, end - start);
    const bool last = end == path.size();
    if (part.empty() && !(last && sequential)) return bad;
    if (part == "." || part == "..") return bad;
    for (unsigned char ch : part) {
      if (ch == 0 || (ch > 0 && ch < 0x20) || ch == 0x7f) return bad;
    }
    start = end + 1;
  }
  return {};
}

/// The parent of a valid absolute path ("/a/b" -> "/a", "/a" -> "/").
inline std::string_view parent_path(std::string_view path) noexcept {
  const auto slash = path.rfind('/');
  return slash == 0 ? std::string_view{"/"} : path.substr(0, slash);
}

/// Joins a parent path and a child name.
inline std::string join_path(std::string_view parent, std::string_view name) {
  std::string p(parent);
  if (p.empty() || p.back() != '/') p.push_back('/');
  p.append(name);
  return p;
}

/// The suffix ZooKeeper appends to a sequential node's name: the number of children ever
/// created under the parent before this one (not the reported cversion, which also counts
/// deletions), formatted "%010d".
inline std::string sequence_suffix(std::int32_t counter) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%010d", static_cast<int>(counter));
  return buf;
}

}  // namespace dstm
