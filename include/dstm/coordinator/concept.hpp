#pragma once
/// \file
/// The Coordinator concept.
///
/// **What it is.** A ZooKeeper-shaped namespace service seen through one session: a tree of
/// znodes with data and `stat`, created persistent, ephemeral (removed when the session ends) or
/// sequential (a 10-digit per-parent counter appended to the name); reads that leave one-shot
/// watches; version-checked writes; an atomic `multi`; session events; ACLs with digest auth;
/// and the session's clock. dstm's STM and recipes are written against this concept only.
///
/// **Requirements** (every call exists in a throwing form and a `std::error_code&` form; the
/// engine uses the latter; `coordinator_interface` provides both from a model's `do_*`):
///  1. `create(path, data, mode, acls, stat*, ec) -> std::string` (the created path)
///  2. `get(path, watch, ec) -> node`
///  3. `set(path, data, version, ec) -> stat`
///  4. `remove(path, version, ec)`
///  5. `exists(path, watch, ec) -> std::optional<stat>`
///  6. `children(path, watch, ec) -> children_list`
///  7. `multi(ops, ec) -> std::vector<op_result>` — all or nothing
///  8. `get_many(paths, watch, ec) -> std::vector<get_result>` — one round trip
///  9. `sync(path, ec)`, `add_auth(scheme, credential, ec)`, `get_acl`, `set_acl`
/// 10. `session_id()`, `state()`, `subscribe(fn) -> id`, `unsubscribe(id)`, `close()`
/// 11. `now()` (nanoseconds, monotonic: the only clock the engine reads), `sleep_for(ns)`
/// 12. `typename C::event`, `make_event()`, `wait(event&, timeout_ns) -> bool`: a one-shot flag
///     a watch callback sets and a caller blocks on (the simulation schedules around it).
///
/// **Laws** (tests/conformance runs them against every model):
///  - a session sees its own writes, and replies and watch events in the order the server
///    produced them; an `in_order` watch runs before the completion of any later reply on the
///    same session, so a cache invalidated by it always holds a consistent snapshot;
///  - `multi` applies every op or none, and reports ZooKeeper's per-op results;
///  - `set`/`remove`/`check` with a version other than the node's fail with `bad_version`;
///  - sequential names are unique and increasing per parent; ephemerals vanish with their
///    session, on close and on expiry;
///  - `connection_loss` (and `operation_timeout`) on a write: the write may have been applied.
///
/// **Models.** `dstm::zookeeper::coordinator` (<dstm/zookeeper.hpp>, the C client),
/// `dstm::embedded::coordinator` (in-process), `dstm::sim::coordinator` (sim/).

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dstm/coordinator/types.hpp"

namespace dstm {

template <class C>
concept coordinator = requires(C& c, const C& cc, std::string_view path, std::string_view data,
                               create_mode mode, const acl_list& acls, dstm::stat* st, watch w,
                               const watch& cw, std::int32_t version, std::span<const op> ops,
                               std::span<const std::string> paths, std::error_code& ec,
                               std::function<void(session_state)> listener, std::uint64_t id,
                               std::int64_t ns, typename C::event& e) {
  { c.create(path, data, mode, acls, st, ec) } -> std::same_as<std::string>;
  { c.get(path, w, ec) } -> std::same_as<node>;
  { c.set(path, data, version, ec) } -> std::same_as<dstm::stat>;
  { c.remove(path, version, ec) };
  { c.exists(path, w, ec) } -> std::same_as<std::optional<dstm::stat>>;
  { c.children(path, w, ec) } -> std::same_as<children_list>;
  { c.multi(ops, ec) } -> std::same_as<std::vector<op_result>>;
  { c.get_many(paths, cw, ec) } -> std::same_as<std::vector<get_result>>;
  { c.sync(path, ec) };
  { c.add_auth(path, data, ec) };
  { c.get_acl(path, st, ec) } -> std::same_as<acl_list>;
  { c.set_acl(path, acls, version, ec) };
  { cc.session_id() } -> std::same_as<std::int64_t>;
  { cc.state() } -> std::same_as<session_state>;
  { c.subscribe(listener) } -> std::same_as<std::uint64_t>;
  { c.unsubscribe(id) };
  { c.close() };
  { c.now() } -> std::same_as<std::int64_t>;
  { c.sleep_for(ns) };
  { c.make_event() } -> std::same_as<std::shared_ptr<typename C::event>>;
  { e.set() };
  { e.is_set() } -> std::same_as<bool>;
  { c.wait(e, ns) } -> std::same_as<bool>;
};

/// Fails compilation with a sentence naming the fix when `C` does not model `coordinator`.
template <class C>
constexpr bool assert_coordinator() {
  static_assert(coordinator<C>,
                "dstm: the coordinator policy does not model dstm::coordinator; it needs create, "
                "get, set, remove, exists, children, multi, get_many, sync, add_auth, get_acl, "
                "set_acl (each with a std::error_code& overload), session_id, state, subscribe, "
                "unsubscribe, close, now, sleep_for, event, make_event and wait; see "
                "include/dstm/coordinator/concept.hpp");
  return true;
}

}  // namespace dstm
