#pragma once
/// \file
/// Conversions between the ZooKeeper C client's structures and dstm's vocabulary: stat, ACLs,
/// session states, event types, error numbers, and the size of a request on the wire.
/// Part of the `dstm::zookeeper` target (needs the C client's headers, THREADED defined).

#include <zookeeper/zookeeper.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"

namespace dstm::zookeeper::detail {

inline dstm::stat from_c(const ::Stat& s) noexcept {
  dstm::stat out;
  out.czxid = s.czxid;
  out.mzxid = s.mzxid;
  out.pzxid = s.pzxid;
  out.ctime = s.ctime;
  out.mtime = s.mtime;
  out.version = s.version;
  out.cversion = s.cversion;
  out.aversion = s.aversion;
  out.ephemeral_owner = s.ephemeralOwner;
  out.data_length = s.dataLength;
  out.num_children = s.numChildren;
  return out;
}

inline std::error_code make_ec(int rc) noexcept {
  return rc == ZOK ? std::error_code{} : std::error_code{rc, coordinator_category()};
}

/// An `ACL_vector` that owns its strings. The C client takes `char*` members but only reads
/// them while serialising a request, so pointing into our own strings is enough; the object
/// must outlive the `zoo_a*` call only, not the reply.
class acl_vector {
 public:
  explicit acl_vector(const acl_list& acls) : strings_(acls.size() * 2), entries_(acls.size()) {
    for (std::size_t i = 0; i < acls.size(); ++i) {
      strings_[2 * i] = acls[i].scheme;
      strings_[2 * i + 1] = acls[i].id;
      entries_[i].perms = static_cast<std::int32_t>(acls[i].permissions);
      entries_[i].id.scheme = strings_[2 * i].data();
      entries_[i].id.id = strings_[2 * i + 1].data();
    }
    vector_.count = static_cast<std::int32_t>(entries_.size());
    vector_.data = entries_.empty() ? nullptr : entries_.data();
  }
  acl_vector(const acl_vector&) = delete;
  acl_vector& operator=(const acl_vector&) = delete;

  ::ACL_vector* get() noexcept { return &vector_; }

 private:
  std::vector<std::string> strings_;
  std::vector<::ACL> entries_;
  ::ACL_vector vector_{};
};

inline acl_list from_c(const ::ACL_vector* v) {
  acl_list out;
  if (!v) return out;
  out.reserve(static_cast<std::size_t>(v->count));
  for (std::int32_t i = 0; i < v->count; ++i) {
    const ::ACL& a = v->data[i];
    out.push_back({static_cast<std::uint32_t>(a.perms), a.id.scheme ? a.id.scheme : "",
                   a.id.id ? a.id.id : ""});
  }
  return out;
}

/// The C client's state constants are `extern const int`, not constant expressions, hence the
/// chain of comparisons instead of a switch.
inline session_state state_from_c(int state) noexcept {
  if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) return session_state::connected;
  if (state == ZOO_EXPIRED_SESSION_STATE) return session_state::expired;
  if (state == ZOO_AUTH_FAILED_STATE) return session_state::auth_failed;
  return session_state::connecting;  // CONNECTING, ASSOCIATING, NOTCONNECTED, 0 (just created)
}

inline event_type event_from_c(int type) noexcept {
  if (type == ZOO_CREATED_EVENT) return event_type::created;
  if (type == ZOO_DELETED_EVENT) return event_type::deleted;
  if (type == ZOO_CHANGED_EVENT) return event_type::changed;
  if (type == ZOO_CHILD_EVENT) return event_type::child;
  if (type == ZOO_NOTWATCHING_EVENT) return event_type::not_watching;
  return event_type::session;
}

/// The largest request a server accepts with its default `jute.maxbuffer` (0xfffff): a larger
/// one makes the server drop the connection ("Len error"), which the client would see as
/// `connection_loss` — an outcome the caller could not tell from a lost reply. Refusing it
/// before sending keeps the answer certain.
inline constexpr std::size_t max_request_size = 0xfffff;

/// Bytes of a request on the wire as the jute encoding lays it out (strings and buffers carry a
/// 4-byte length), excluding the 4-byte frame length.
namespace wire {
inline constexpr std::size_t request_header = 8;  // xid, type
inline constexpr std::size_t multi_header = 9;    // type, done, err
inline std::size_t string(std::size_t n) noexcept { return 4 + n; }
inline std::size_t acls(const acl_list& acls) noexcept {
  std::size_t n = 4;
  for (const auto& a : acls) n += 4 + string(a.scheme.size()) + string(a.id.size());
  return n;
}
inline std::size_t create_body(std::size_t path, std::size_t data, const acl_list& a) noexcept {
  return string(path) + string(data) + acls(a) + 4;
}
inline std::size_t set_body(std::size_t path, std::size_t data) noexcept {
  return string(path) + string(data) + 4;
}
inline std::size_t versioned_body(std::size_t path) noexcept { return string(path) + 4; }

inline std::size_t multi(std::span<const op> ops) noexcept {
  std::size_t n = request_header + multi_header;
  for (const auto& o : ops) {
    n += multi_header;
    switch (o.type) {
      case op::kind::create: n += create_body(o.path.size(), o.data.size(), o.acls); break;
      case op::kind::set: n += set_body(o.path.size(), o.data.size()); break;
      case op::kind::remove:
      case op::kind::check: n += versioned_body(o.path.size()); break;
    }
  }
  return n;
}
}  // namespace wire

}  // namespace dstm::zookeeper::detail
