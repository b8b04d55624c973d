#pragma once
/// \file
/// `dstm::sim::coordinator`: one client session of a simulated ZooKeeper ensemble, a model of
/// the `dstm::coordinator` concept for code running in simulated threads.
///
/// It behaves as the ZooKeeper C client does through its asynchronous API (see
/// sim/ensemble.hpp for the server side): requests of one session are answered in order; an
/// `in_order` watch runs when its event is delivered — on the scheduler, before any later reply
/// of the session is handed over; plain watches and session listeners run in FIFO order on the
/// session's own dispatcher thread, so they may block and call the coordinator. Calls made while
/// the session reconnects wait for the connection (and fail with `connection_loss` if that
/// attempt fails); after expiry every call fails with `session_expired`, after `close()` with
/// `closing`.
///
/// Differences a user may notice: when the session expires, every outstanding watch is called
/// once with a session event (`event_type::session`, `session_state::expired`, its path), as the
/// C client does, so caches built on watches learn that their watches are gone. Blocking calls
/// (every operation, `sleep_for`, `wait`, a connected `close`) must be made from a simulated
/// thread (`world::spawn`); elsewhere they throw std::logic_error.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/interface.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim {

/// Per-session options.
struct coordinator_options {
  /// Session timeout; 0 takes the ensemble's default.
  std::int64_t session_timeout_ns = 0;
  /// The server to try first (-1: a seeded choice). Tests use it to pin a session to a
  /// follower; the session still migrates when that server fails.
  int server = -1;
};

class coordinator : public coordinator_interface<coordinator> {
 public:
  /// The concept's one-shot flag: waiting on it blocks only the calling simulated thread.
  using event = sim::event;

  /// Opens a new session on `ens` and starts connecting (does not block; calls made before the
  /// connection is up wait for it).
  explicit coordinator(ensemble& ens, coordinator_options options = {})
      : ens_(&ens), client_(&ens.open_client(options.session_timeout_ns, options.server)) {}

  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;

  /// Closes the session without waiting (the ensemble drops its ephemerals when the close
  /// arrives) and forgets the watches and listeners.
  ~coordinator() {
    if (client_->state != session_state::closed && client_->state != session_state::expired) {
      ens_->close_client(*client_, /*wait=*/false);
    }
    ens_->detach_client(*client_);
  }

  std::int64_t session_id() const noexcept { return client_->session; }
  session_state state() const noexcept { return client_->state; }
  ensemble& get_ensemble() const noexcept { return *ens_; }

  /// Calls `fn` with each later session state change, on the session's dispatcher thread.
  std::uint64_t subscribe(std::function<void(session_state)> fn) {
    const auto id = client_->next_listener++;
    client_->listeners.emplace(id, std::move(fn));
    return id;
  }
  void unsubscribe(std::uint64_t id) { client_->listeners.erase(id); }

  /// Ends the session: its ephemerals are removed when the ensemble receives the close. Inside
  /// a simulated thread it waits for that (bounded by the session timeout). Idempotent; later
  /// calls fail with `closing`.
  void close() { ens_->close_client(*client_, world_().in_thread()); }

  /// Virtual time as this client's clock shows it: true time plus the client's skew (see
  /// `fault_config::max_clock_skew_ns`). Monotonic.
  std::int64_t now() const noexcept { return ens_->client_now(*client_); }
  /// Blocks the calling simulated thread for `ns` of virtual time.
  void sleep_for(std::int64_t ns) { world_().sleep_for(ns); }
  std::shared_ptr<event> make_event() { return std::make_shared<event>(world_()); }
  /// Waits until `e` is set or `timeout_ns` passed (negative: forever); true when set.
  bool wait(event& e, std::int64_t timeout_ns) { return e.wait(timeout_ns); }

  // ---- the primitives coordinator_interface builds on ---------------------------------------

  std::string do_create(std::string_view path, std::string_view data, create_mode mode,
                        const acl_list& acls, dstm::stat* out, std::error_code& ec) {
    if (!precheck(path, is_sequential(mode), ec) || !check_size(data, ec)) return {};
    detail::request q;
    q.kind = detail::req_kind::create;
    q.path = std::string(path);
    q.data = std::string(data);
    q.mode = mode;
    q.acls = acls;
    auto r = one(std::move(q));
    ec = r.ec;
    if (!ec && out && r.stat) *out = *r.stat;
    return ec ? std::string{} : std::move(r.path);
  }

  node do_get(std::string_view path, watch w, std::error_code& ec) {
    if (!precheck(path, false, ec)) return {};
    detail::request q;
    q.kind = detail::req_kind::get;
    q.path = std::string(path);
    q.watch_id = add_watch(path, w);
    auto r = one(std::move(q));
    ec = r.ec;
    return ec ? node{} : std::move(r.data);
  }

  dstm::stat do_set(std::string_view path, std::string_view data, std::int32_t version,
                    std::error_code& ec) {
    if (!precheck(path, false, ec) || !check_size(data, ec)) return {};
    detail::request q;
    q.kind = detail::req_kind::set;
    q.path = std::string(path);
    q.data = std::string(data);
    q.version = version;
    auto r = one(std::move(q));
    ec = r.ec;
    return (!ec && r.stat) ? *r.stat : dstm::stat{};
  }

  void do_remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    if (!precheck(path, false, ec)) return;
    detail::request q;
    q.kind = detail::req_kind::remove;
    q.path = std::string(path);
    q.version = version;
    ec = one(std::move(q)).ec;
  }

  std::optional<dstm::stat> do_exists(std::string_view path, watch w, std::error_code& ec) {
    if (!precheck(path, false, ec)) return std::nullopt;
    detail::request q;
    q.kind = detail::req_kind::exists;
    q.path = std::string(path);
    q.watch_id = add_watch(path, w, znode_tree::watch_kind::exists);
    auto r = one(std::move(q));
    ec = r.ec;
    return ec ? std::nullopt : r.stat;
  }

  children_list do_children(std::string_view path, watch w, std::error_code& ec) {
    if (!precheck(path, false, ec)) return {};
    detail::request q;
    q.kind = detail::req_kind::children;
    q.path = std::string(path);
    q.watch_id = add_watch(path, w, znode_tree::watch_kind::child);
    auto r = one(std::move(q));
    ec = r.ec;
    return ec ? children_list{} : std::move(r.children);
  }

  std::vector<op_result> do_multi(std::span<const op> ops, std::error_code& ec) {
    ec.clear();
    for (const auto& o : ops) {
      if (!precheck(o.path, o.type == op::kind::create && is_sequential(o.mode), ec) ||
          !check_size(o.data, ec)) {
        return std::vector<op_result>(ops.size(), op_result{ec, {}, {}});
      }
    }
    detail::request q;
    q.kind = detail::req_kind::multi;
    q.ops.assign(ops.begin(), ops.end());
    auto r = one(std::move(q));
    ec = r.ec;
    if (r.results.size() != ops.size()) {
      // The request never reached the ensemble: every op shares the request's error.
      return std::vector<op_result>(ops.size(), op_result{ec, {}, {}});
    }
    return std::move(r.results);
  }

  /// `multi(ops)` then `get_many(paths, w)` in one batch: the session pipelines them (one
  /// round trip), and FIFO order makes the reads see the multi. `reads` is filled only when the
  /// multi succeeded. The STM commits this way.
  void multi_then_get(std::span<const op> ops, std::vector<op_result>& results,
                      std::error_code& multi_ec, std::span<const std::string> paths,
                      const watch& w, std::vector<get_result>& reads) {
    multi_ec.clear();
    reads.clear();
    for (const auto& o : ops) {
      if (!precheck(o.path, o.type == op::kind::create && is_sequential(o.mode), multi_ec) ||
          !check_size(o.data, multi_ec)) {
        results.assign(ops.size(), op_result{multi_ec, {}, {}});
        return;
      }
    }
    std::vector<detail::request> qs;
    detail::request m;
    m.kind = detail::req_kind::multi;
    m.ops.assign(ops.begin(), ops.end());
    qs.push_back(std::move(m));
    for (const auto& p : paths) {
      std::error_code ignored;
      if (!precheck(p, false, ignored)) continue;
      detail::request q;
      q.kind = detail::req_kind::get;
      q.path = p;
      q.watch_id = add_watch(p, w);
      qs.push_back(std::move(q));
    }
    auto rs = ens_->call(*client_, std::move(qs));
    auto& r = rs.front();
    multi_ec = r.ec;
    if (r.results.size() != ops.size()) {
      results.assign(ops.size(), op_result{multi_ec, {}, {}});
    } else {
      results = std::move(r.results);
    }
    if (multi_ec || rs.size() != paths.size() + 1) return;
    for (std::size_t k = 1; k < rs.size(); ++k) {
      get_result g;
      g.ec = rs[k].ec;
      if (!g.ec) g.node = std::move(rs[k].data);
      reads.push_back(std::move(g));
    }
  }

  std::vector<get_result> do_get_many(std::span<const std::string> paths, const watch& w,
                                      std::error_code& ec) {
    ec.clear();
    std::vector<get_result> out(paths.size());
    std::vector<detail::request> qs;
    std::vector<std::size_t> sent;
    qs.reserve(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if (!precheck(paths[i], false, out[i].ec)) continue;
      detail::request q;
      q.kind = detail::req_kind::get;
      q.path = paths[i];
      q.watch_id = add_watch(paths[i], w);
      qs.push_back(std::move(q));
      sent.push_back(i);
    }
    if (qs.empty()) return out;
    auto rs = ens_->call(*client_, std::move(qs));
    for (std::size_t k = 0; k < rs.size(); ++k) {
      auto& res = out[sent[k]];
      res.ec = rs[k].ec;
      if (!res.ec) res.node = std::move(rs[k].data);
      // A batch fails as a whole only when the session does.
      if (rs[k].ec == coordinator_errc::connection_loss ||
          rs[k].ec == coordinator_errc::session_expired || rs[k].ec == coordinator_errc::closing) {
        ec = rs[k].ec;
      }
    }
    return out;
  }

  void do_sync(std::string_view path, std::error_code& ec) {
    if (!precheck(path, false, ec)) return;
    detail::request q;
    q.kind = detail::req_kind::sync;
    q.path = std::string(path);
    ec = one(std::move(q)).ec;
  }

  void do_add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    ec.clear();
    if (auto refused = ensemble::refuse(*client_)) {
      ec = refused;
      return;
    }
    detail::request q;
    q.kind = detail::req_kind::add_auth;
    q.path = std::string(scheme);
    q.data = std::string(credential);
    ec = one(std::move(q)).ec;
  }

  acl_list do_get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    if (!precheck(path, false, ec)) return {};
    detail::request q;
    q.kind = detail::req_kind::get_acl;
    q.path = std::string(path);
    auto r = one(std::move(q));
    ec = r.ec;
    if (!ec && out && r.stat) *out = *r.stat;
    return ec ? acl_list{} : std::move(r.acls);
  }

  void do_set_acl(std::string_view path, const acl_list& acls, std::int32_t aversion,
                  std::error_code& ec) {
    if (!precheck(path, false, ec)) return;
    detail::request q;
    q.kind = detail::req_kind::set_acl;
    q.path = std::string(path);
    q.acls = acls;
    q.version = aversion;
    ec = one(std::move(q)).ec;
  }

 private:
  world& world_() const noexcept { return ens_->get_world(); }

  /// What the C client checks before sending: the session is usable and the path valid.
  bool precheck(std::string_view path, bool sequential, std::error_code& ec) const {
    ec = ensemble::refuse(*client_);
    if (!ec) ec = validate_path(path, sequential);
    return !ec;
  }
  static bool check_size(std::string_view data, std::error_code& ec) {
    if (data.size() > max_data_size) ec = make_error_code(coordinator_errc::bad_arguments);
    return !ec;
  }

  std::uint64_t add_watch(std::string_view path, const watch& w,
                          znode_tree::watch_kind kind = znode_tree::watch_kind::data) {
    if (!w) return 0;
    const auto id = client_->next_watch_id++;
    client_->watches.emplace(id, detail::watch_entry{std::string(path), kind, w});
    return id;
  }

  detail::reply one(detail::request q) {
    std::vector<detail::request> qs;
    qs.push_back(std::move(q));
    auto rs = ens_->call(*client_, std::move(qs));
    return std::move(rs.front());
  }

  ensemble* ens_;
  detail::client_state* client_;
};

static_assert(dstm::coordinator<coordinator>);
static_assert(assert_coordinator<coordinator>());

/// Opens a session on `ens` as a shared coordinator (the spelling the STM's client takes).
inline std::shared_ptr<coordinator> open(ensemble& ens, coordinator_options options = {}) {
  return std::make_shared<coordinator>(ens, options);
}

}  // namespace dstm::sim
