#pragma once
/// \file
/// `dstm::zookeeper::coordinator`: the `dstm::coordinator` model over Apache ZooKeeper's
/// multi-threaded C client (libzookeeper-mt), through its asynchronous API only.
///
/// Link `dstm::zookeeper` (it adds the C client and defines THREADED).
///
/// **Threads.** The C client runs an I/O thread and a completion thread. Every completion and
/// every watch event of a session runs on the completion thread, in the order the server sent
/// them. A blocking call submits an asynchronous request and waits for its completion, so many
/// threads may share one session and their requests pipeline. The coordinator adds one
/// dispatcher thread for plain watches and session listeners (see `dstm::watch`).
///
/// **Why asynchronous calls only.** The C client hands the replies of its *synchronous* calls
/// over on the I/O thread, where they can overtake a watch event still queued for the
/// completion thread; the asynchronous path keeps ZooKeeper's promise that a client sees a
/// watch event before any reply reflecting the change. `in_order` watches rely on it.

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "dstm/client.hpp"
#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/interface.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/detail/thread_event.hpp"
#include "dstm/error.hpp"
#include "dstm/zookeeper/convert.hpp"
#include "dstm/zookeeper/dispatcher.hpp"
#include "dstm/zookeeper/request.hpp"

namespace dstm::zookeeper {

/// The C client's log levels (it logs to stderr).
enum class log_level : int { error = 1, warn = 2, info = 3, debug = 4 };

namespace detail {
inline std::once_flag& default_log_level_once() {
  static std::once_flag once;
  return once;
}
}  // namespace detail

/// Sets the C client's log level. The level is process-wide (a C client global); the first
/// coordinator lowers the client's chatty INFO default to `error` unless this was called first.
inline void set_log_level(log_level level) noexcept {
  std::call_once(detail::default_log_level_once(), [] {});
  zoo_set_debug_level(static_cast<ZooLogLevel>(static_cast<int>(level)));
}

/// A session's identity: what another client needs to resume it (or to end it, see
/// `coordinator::expire_session`). The password is 16 opaque bytes.
struct session_credentials {
  std::int64_t id = 0;
  std::string password;
};

/// How a `coordinator` connects and how long it waits.
struct options {
  /// The session timeout to ask for; the server clamps it to its [min, max] (by default 2 to
  /// 20 ticks). See `coordinator::negotiated_session_timeout`.
  std::chrono::milliseconds session_timeout{10000};
  /// A request without a reply by then fails with `operation_timeout` (the request itself is
  /// not cancelled: a write may still be applied). Zero or negative: wait for ever.
  std::chrono::milliseconds request_timeout{10000};
  /// How long the constructor waits for the first connection.
  std::chrono::milliseconds connect_timeout{15000};
  /// Resume this session instead of creating one (e.g. after a process restart).
  std::optional<session_credentials> session;
  /// Also accept a read-only server (one partitioned from its quorum); writes then fail with
  /// `not_readonly`. The state still reads `connected`.
  bool read_only = false;
};

/// The ZooKeeper model of `dstm::coordinator`: one ZooKeeper session.
///
/// Every operation comes in two flavours (from `coordinator_interface`): `f(args..., ec)`
/// reports errors through `ec` and never throws; `f(args...)` throws `dstm::coordinator_error`.
/// Error codes are ZooKeeper's numbers in `dstm::coordinator_category()`; paths and data sizes
/// are checked before sending (`bad_arguments`).
///
/// **Unknown outcomes.** `connection_loss` and `operation_timeout` on a write mean the write
/// may or may not have been applied. Reads may simply be retried.
///
/// **Session.** Disconnections are ridden out by the C client (state `connecting`, then
/// `connected` again with the same session id) as long as the session has not expired on the
/// server; requests in flight or issued meanwhile fail with `connection_loss` or are sent after
/// the reconnection, as the C client decides, bounded by `request_timeout`. After `expired`
/// (ephemerals and watches gone on the server) every call fails with `session_expired`: build a
/// new coordinator. After `close()` every call fails with `closing`.
///
/// **Threads.** Every member function is safe to call from any thread, except that `close()`
/// and the destructor must not run inside an `in_order` watch (the C client's completion
/// thread). Not copyable or movable: the C client's callbacks are bound to it for the life of
/// the session; share it with a `std::shared_ptr`.
class coordinator : public coordinator_interface<coordinator> {
 public:
  using event = dstm::detail::thread_event;
  using options = zookeeper::options;

  /// Connects to `connect_string` ("host:port,host:port,...") and waits up to
  /// `opts.connect_timeout` for the session. Throws `coordinator_error`: `bad_arguments` for a
  /// malformed connect string, `session_expired` when `opts.session` names a session the
  /// server no longer has, `auth_failed`, or `connection_loss` when no server answered in time.
  explicit coordinator(std::string connect_string, options opts = {})
      : connect_string_(std::move(connect_string)), opts_(std::move(opts)) {
    std::call_once(detail::default_log_level_once(),
                   [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
    clientid_t resume{};
    if (opts_.session) {
      if (opts_.session->password.size() != sizeof resume.passwd) {
        throw coordinator_error(make_error_code(coordinator_errc::bad_arguments),
                                "zookeeper: a session password has 16 bytes");
      }
      resume.client_id = opts_.session->id;
      std::memcpy(resume.passwd, opts_.session->password.data(), sizeof resume.passwd);
    }
    const int timeout_ms = static_cast<int>(opts_.session_timeout.count());
    errno = 0;
    zh_ = zookeeper_init(connect_string_.c_str(), &coordinator::on_session_event, timeout_ms,
                         opts_.session ? &resume : nullptr, core_.get(),
                         opts_.read_only ? ZOO_READONLY : 0);
    if (!zh_) {
      const int err = errno;
      core_->dispatch.stop();
      throw coordinator_error(make_error_code(err == EINVAL ? coordinator_errc::bad_arguments
                                                            : coordinator_errc::system_error),
                              "zookeeper: cannot create a session for \"" + connect_string_ +
                                  "\": " + std::strerror(err));
    }
    core_->first_event.wait(opts_.connect_timeout.count() * 1'000'000);
    const auto st = static_cast<session_state>(core_->first_state.load());
    if (st != session_state::connected) {
      close();
      const auto code = st == session_state::expired       ? coordinator_errc::session_expired
                        : st == session_state::auth_failed ? coordinator_errc::auth_failed
                                                           : coordinator_errc::connection_loss;
      throw coordinator_error(make_error_code(code),
                              "zookeeper: no session with \"" + connect_string_ + "\" within " +
                                  std::to_string(opts_.connect_timeout.count()) + " ms");
    }
  }

  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;
  coordinator(coordinator&&) = delete;
  coordinator& operator=(coordinator&&) = delete;

  /// Closes the session (see `close`).
  ~coordinator() { close(); }

  /// The session id (0 before the first connection); unchanged after expiry or close.
  std::int64_t session_id() const noexcept { return core_->session_id.load(); }

  /// `multi(ops)` and then `get_many(paths, w)`, sent back to back without waiting in between:
  /// one round trip. The session's FIFO order means the reads see the multi's effect (and any
  /// later writes). The STM commits this way, re-arming its cache's watches in the same trip.
  /// `reads` is filled only when the multi succeeded.
  void multi_then_get(std::span<const op> ops, std::vector<op_result>& results,
                      std::error_code& multi_ec, std::span<const std::string> paths, const watch& w,
                      std::vector<get_result>& reads) {
    const auto until = deadline();
    auto call = send_multi(ops);
    std::vector<get_result> out(paths.size());
    std::vector<std::shared_ptr<detail::pending<node>>> sent(paths.size());
    if (!call.ec && !call.refused) send_gets(paths, w, out, sent);
    results = finish_multi(ops, call, until, multi_ec);
    std::error_code ec;
    finish_gets(out, sent, until, ec);
    if (multi_ec || ec) {
      reads.clear();
    } else {
      reads = std::move(out);
    }
  }

  /// `multi_then_get` that returns as soon as the multi's reply is in. The reads go out behind
  /// the multi all the same; each one's result is handed to `on_read(i, result)` on the
  /// completion thread when it arrives (after the multi's reply, in the session's order), or
  /// before returning if it could not be sent. `on_read` runs exactly once per path; it must be
  /// short, must not throw and must not wait for the coordinator. The STM commits this way: a
  /// transaction returns after its multi while the reads that re-arm the cache's watches are
  /// still on their way.
  void multi_then_get_async(std::span<const op> ops, std::vector<op_result>& results,
                            std::error_code& multi_ec, std::span<const std::string> paths,
                            const watch& w, const read_callback& on_read) {
    const auto until = deadline();
    auto call = send_multi(ops);
    // One copy of the callback for all the reads (each completion holds a reference).
    const auto deliver = std::make_shared<const read_callback>(on_read);
    for (std::size_t i = 0; i < paths.size(); ++i) {
      get_result unsent;
      if (call.ec || call.refused) {
        unsent.ec = call.ec ? call.ec : err(coordinator_errc::runtime_inconsistency);
      } else {
        auto st = std::make_shared<detail::pending<node>>();
        st->then([deliver, i](int rc, node& n) {
          (*deliver)(i,
                     get_result{rc == ZOK ? std::error_code() : detail::make_ec(rc), std::move(n)});
        });
        if (!(unsent.ec = send_get(paths[i], w, st))) continue;
      }
      on_read(i, std::move(unsent));
    }
    results = finish_multi(ops, call, until, multi_ec);
  }

  /// The session's 16-byte password: with `session_id`, what `options::session` and
  /// `expire_session` take.
  std::string session_password() const {
    std::lock_guard lock(core_->credentials_mutex);
    return core_->password;
  }

  session_credentials credentials() const { return {session_id(), session_password()}; }

  /// The session's state as the C client last reported it; readable from any thread.
  session_state state() const noexcept { return static_cast<session_state>(core_->state.load()); }

  /// The session timeout the server granted (0 after close).
  std::chrono::milliseconds negotiated_session_timeout() const {
    std::shared_lock lock(handle_mutex_);
    return std::chrono::milliseconds(zh_ ? zoo_recv_timeout(zh_) : 0);
  }

  const std::string& connect_string() const noexcept { return connect_string_; }

  /// Calls `fn(state)` on the dispatcher thread after every change of the session state
  /// (connecting, connected, expired, auth_failed, and closed at `close`), in order. `fn` may
  /// block or call the coordinator; it must not throw (an exception is dropped). Returns an id
  /// for `unsubscribe`.
  std::uint64_t subscribe(std::function<void(session_state)> fn) {
    return core_->listeners->add(std::move(fn));
  }

  /// Stops calls to the listener `id`. A notification already being dispatched on the
  /// dispatcher thread may still reach it once when `unsubscribe` runs on another thread.
  void unsubscribe(std::uint64_t id) { core_->listeners->remove(id); }

  /// Closes the session: the server removes its ephemeral nodes at once. Requests still
  /// waiting fail with `closing`; watches not yet fired are dropped without being called;
  /// listeners get `closed`, and the dispatcher runs what is queued, then stops. Idempotent;
  /// afterwards every call fails with `closing`. Must not be called from an `in_order` watch.
  void close() {
    zhandle_t* zh = nullptr;
    {
      std::unique_lock lock(handle_mutex_);
      zh = std::exchange(zh_, nullptr);
    }
    if (!zh) return;
    core_->closed.store(true);
    // Sends the close request (waiting for its reply, bounded by the session timeout), then
    // stops the C client's threads and fails what is still pending with ZCLOSING.
    zookeeper_close(zh);
    core_->state.store(static_cast<int>(session_state::closed));
    core_->watches->clear();
    core_->notify(session_state::closed);
    core_->dispatch.stop();
  }

  /// Nanoseconds of `std::chrono::steady_clock`.
  std::int64_t now() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void sleep_for(std::int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }
  std::shared_ptr<event> make_event() { return std::make_shared<event>(); }
  /// Waits until `e` is set or `timeout_ns` passed (negative: for ever); true when set.
  bool wait(event& e, std::int64_t timeout_ns) { return e.wait(timeout_ns); }

  /// Ends a session on the server, as if it had expired: its ephemeral nodes go and its own
  /// client sees `expired` when it next talks to the server. ZooKeeper has no "expire" request;
  /// a second handle that attaches to the session and closes it is the way. Attaching moves the
  /// session's connection away from its own client, which reconnects and may in turn push the
  /// second handle off before its close is sent — so this repeats until attaching once more
  /// finds the session gone. Throws `coordinator_error`: `session_expired` when the session
  /// was already gone at the first attempt, `operation_timeout` when it could not be ended
  /// within `timeout`, or the connection error.
  static void expire_session(const std::string& connect_string, std::int64_t id,
                             std::string_view password,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int attempt = 0;; ++attempt) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        throw coordinator_error(make_error_code(coordinator_errc::operation_timeout),
                                "zookeeper: could not expire session " + std::to_string(id));
      }
      options o;
      o.session = session_credentials{id, std::string(password)};
      o.connect_timeout = left;
      try {
        coordinator second(connect_string, std::move(o));
        second.close();
      } catch (const coordinator_error& e) {
        if (e.code() == coordinator_errc::session_expired && attempt > 0) return;
        throw;
      }
    }
  }

 private:
  friend class coordinator_interface<coordinator>;
  using clock = std::chrono::steady_clock;

  struct listener_table {
    std::mutex mutex;
    std::map<std::uint64_t, std::shared_ptr<std::function<void(session_state)>>> map;
    std::uint64_t next = 1;

    std::uint64_t add(std::function<void(session_state)> fn) {
      std::lock_guard lock(mutex);
      const auto id = next++;
      map.emplace(id, std::make_shared<std::function<void(session_state)>>(std::move(fn)));
      return id;
    }
    void remove(std::uint64_t id) {
      std::shared_ptr<std::function<void(session_state)>> gone;
      std::lock_guard lock(mutex);
      if (auto it = map.find(id); it != map.end()) {
        gone = std::move(it->second);
        map.erase(it);
      }
    }
    using entry = std::pair<std::uint64_t, std::shared_ptr<std::function<void(session_state)>>>;

    /// The listeners subscribed now: an event goes to those subscribed when it happened, so a
    /// listener added after the constructor returned never sees the initial `connected`.
    std::vector<entry> snapshot() {
      std::lock_guard lock(mutex);
      return {map.begin(), map.end()};
    }
    void notify(const std::vector<entry>& targets, session_state s) {
      for (const auto& [id, fn] : targets) {
        {
          std::lock_guard lock(mutex);
          if (!map.count(id)) continue;  // unsubscribed meanwhile
        }
        try {
          (*fn)(s);
        } catch (...) {
        }
      }
    }
  };

  /// What the C client's callbacks reach: it outlives the handle (the coordinator destroys it
  /// only after `zookeeper_close` returned, and no callback runs after that).
  struct core {
    std::atomic<int> state{static_cast<int>(session_state::connecting)};
    std::atomic<std::int64_t> session_id{0};
    std::atomic<bool> closed{false};
    mutable std::mutex credentials_mutex;
    std::string password;
    // The first connected/expired/auth_failed: what the constructor waits for. Kept apart from
    // `state`, which may already have moved on (another handle attaching to the same session
    // pushes this one off at once).
    dstm::detail::thread_event first_event;
    std::atomic<int> first_state{static_cast<int>(session_state::connecting)};
    std::shared_ptr<detail::watch_table> watches = std::make_shared<detail::watch_table>();
    std::shared_ptr<listener_table> listeners = std::make_shared<listener_table>();
    detail::dispatcher dispatch;

    void notify(session_state s) {
      try {
        dispatch.post(
            [ls = listeners, targets = listeners->snapshot(), s] { ls->notify(targets, s); });
      } catch (...) {
      }
    }
  };

  // ---- callbacks (completion thread; never block, never throw) ----

  static void on_session_event(zhandle_t* zh, int type, int state, const char*,
                               void* context) noexcept {
    auto* c = static_cast<core*>(context);
    if (type != ZOO_SESSION_EVENT || c->closed.load()) return;
    const auto s = detail::state_from_c(state);
    if (s == session_state::connected) {
      try {
        const clientid_t* id = zoo_client_id(zh);
        std::lock_guard lock(c->credentials_mutex);
        c->password.assign(id->passwd, sizeof id->passwd);
        c->session_id.store(id->client_id);
      } catch (...) {
      }
    }
    const int old = c->state.exchange(static_cast<int>(s));
    // Listeners are snapshotted before the constructor may return, so one subscribed right
    // after construction never receives the initial `connected`.
    if (old != static_cast<int>(s)) c->notify(s);
    if (s != session_state::connecting && !c->first_event.is_set()) {
      c->first_state.store(static_cast<int>(s));
      c->first_event.set();
    }
  }

  static void on_watch_event(zhandle_t* zh, int type, int state, const char* path,
                             void* context) noexcept {
    auto* c = static_cast<core*>(const_cast<void*>(zoo_get_context(zh)));
    if (!c) return;
    if (type == ZOO_SESSION_EVENT) {
      // The C client shows every session event to every armed watch and keeps it armed;
      // only the end of the session is the watch's end.
      if (state != ZOO_EXPIRED_SESSION_STATE && state != ZOO_AUTH_FAILED_STATE) return;
    }
    try {
      auto w = c->watches->take(reinterpret_cast<std::uintptr_t>(context));
      if (!w) return;
      watch_event ev{detail::event_from_c(type), detail::state_from_c(state),
                     type == ZOO_SESSION_EVENT || !path ? std::string() : std::string(path),
                     next_sequence()};
      if (w->in_order) {
        w->fn(ev);
      } else {
        c->dispatch.post([fn = std::move(w->fn), ev = std::move(ev)] { fn(ev); });
      }
    } catch (...) {
    }
  }

  struct created {
    std::string path;
    dstm::stat stat;
  };
  struct none {};
  struct multi_buffers {
    std::vector<zoo_op_result_t> results;
    std::vector<std::string> paths;  // the created paths, written by the C client
    std::vector<::Stat> stats;       // the new stats of set ops
  };

  static void on_created(int rc, const char* value, const ::Stat* st, const void* data) noexcept {
    detail::adopt<created>(data)->complete(rc, [&](created& out) {
      if (rc != ZOK) return;
      if (value) out.path = value;
      if (st) out.stat = detail::from_c(*st);
    });
  }
  static void on_data(int rc, const char* value, int len, const ::Stat* st,
                      const void* data) noexcept {
    auto p = detail::adopt<node>(data);
    p->drop_watch_unless(rc == ZOK);
    p->complete(rc, [&](node& out) {
      if (rc != ZOK) return;
      if (value && len > 0) out.data.assign(value, static_cast<std::size_t>(len));
      if (st) out.stat = detail::from_c(*st);
      out.sequence = next_sequence();
    });
  }

  /// Numbers replies and watch events in the order the session delivers them. Both run on the
  /// handle's one completion thread, in the server's order, so a counter of that thread is the
  /// session's order (each handle has its own completion thread).
  static std::uint64_t next_sequence() noexcept {
    thread_local std::uint64_t counter = 0;
    return ++counter;
  }
  static void on_stat(int rc, const ::Stat* st, const void* data) noexcept {
    detail::adopt<dstm::stat>(data)->complete(rc, [&](dstm::stat& out) {
      if (rc == ZOK && st) out = detail::from_c(*st);
    });
  }
  static void on_exists(int rc, const ::Stat* st, const void* data) noexcept {
    auto p = detail::adopt<dstm::stat>(data);
    p->drop_watch_unless(rc == ZOK || rc == ZNONODE);
    p->complete(rc, [&](dstm::stat& out) {
      if (rc == ZOK && st) out = detail::from_c(*st);
    });
  }
  static void on_children(int rc, const String_vector* names, const ::Stat* st,
                          const void* data) noexcept {
    auto p = detail::adopt<children_list>(data);
    p->drop_watch_unless(rc == ZOK);
    p->complete(rc, [&](children_list& out) {
      if (rc != ZOK) return;
      if (names) {
        out.names.reserve(static_cast<std::size_t>(names->count));
        for (std::int32_t i = 0; i < names->count; ++i) out.names.emplace_back(names->data[i]);
      }
      if (st) out.stat = detail::from_c(*st);
    });
  }
  static void on_void(int rc, const void* data) noexcept {
    detail::adopt<none>(data)->complete(rc);
  }
  static void on_multi(int rc, const void* data) noexcept {
    detail::adopt<multi_buffers>(data)->complete(rc);
  }
  static void on_sync(int rc, const char*, const void* data) noexcept {
    detail::adopt<none>(data)->complete(rc);
  }
  static void on_acl(int rc, ACL_vector* acls, ::Stat* st, const void* data) noexcept {
    detail::adopt<std::pair<acl_list, dstm::stat>>(data)->complete(
        rc, [&](std::pair<acl_list, dstm::stat>& out) {
          if (rc != ZOK) return;
          out.first = detail::from_c(acls);
          if (st) out.second = detail::from_c(*st);
        });
  }

  // ---- submission and waiting ----

  static std::error_code err(coordinator_errc e) noexcept { return make_error_code(e); }

  /// The error for a call that cannot be sent: closed, expired, or refused by the C client.
  /// `zh` is the handle the call was refused by, if any: its state can be ahead of the session
  /// event still queued for the completion thread.
  std::error_code refuse(int rc, zhandle_t* zh = nullptr) const noexcept {
    auto s = state();
    if (zh && rc == ZINVALIDSTATE) {
      const int raw = zoo_state(zh);
      if (raw == ZOO_EXPIRED_SESSION_STATE) s = session_state::expired;
      if (raw == ZOO_AUTH_FAILED_STATE) s = session_state::auth_failed;
    }
    if (s == session_state::closed) return err(coordinator_errc::closing);
    if (s == session_state::expired) return err(coordinator_errc::session_expired);
    if (s == session_state::auth_failed) return err(coordinator_errc::auth_failed);
    return detail::make_ec(rc);
  }

  std::optional<clock::time_point> deadline() const {
    if (opts_.request_timeout.count() <= 0) return std::nullopt;
    return clock::now() + opts_.request_timeout;
  }

  /// Hands `p` to the C client through `send(zh, data)` (a `zoo_a*` call), holding the handle
  /// shared so `close` cannot free it meanwhile. Returns the submission's error.
  template <class T, class Send>
  std::error_code submit(const std::shared_ptr<detail::pending<T>>& p, Send&& send) {
    const auto s = state();
    if (s == session_state::expired || s == session_state::auth_failed) return refuse(ZOK);
    auto holder = std::make_unique<std::shared_ptr<detail::pending<T>>>(p);
    std::shared_lock lock(handle_mutex_);
    if (!zh_) return err(coordinator_errc::closing);
    const int rc = send(zh_, static_cast<const void*>(holder.get()));
    if (rc != ZOK) return refuse(rc, zh_);
    holder.release();  // the completion owns it now
    return {};
  }

  /// Waits for `p`'s completion until `until`; `operation_timeout` when it did not come (the
  /// request stays in flight; its state is freed by the late completion).
  template <class T>
  std::error_code await(detail::pending<T>& p, const std::optional<clock::time_point>& until,
                        bool* arrived = nullptr) {
    const bool done = p.wait_until(until);
    if (arrived) *arrived = done;
    if (!done) {
      p.drop_watch();  // the caller saw a failure: its watch must not fire later
      return err(coordinator_errc::operation_timeout);
    }
    if (p.rc() == ZINVALIDSTATE || p.rc() == ZSESSIONEXPIRED || p.rc() == ZCLOSING) {
      // The C client fails pending requests with these when the session ends; report the
      // state the session ended in (closing vs expired) consistently with later calls.
      const auto s = state();
      if (s == session_state::expired) return err(coordinator_errc::session_expired);
      if (s == session_state::closed) return err(coordinator_errc::closing);
    }
    return detail::make_ec(p.rc());
  }

  template <class T>
  std::error_code run(const std::shared_ptr<detail::pending<T>>& p, auto&& send) {
    if (auto ec = submit(p, send)) return ec;
    return await(*p, deadline());
  }

  /// Registers `w` for a read; the C client gets its id as the watcher context.
  template <class T>
  void* arm(detail::pending<T>& p, watch&& w) {
    if (!w) return nullptr;
    const auto id = core_->watches->add(std::move(w));
    p.track_watch(core_->watches, id);
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
  }

  static bool data_fits(std::string_view data) noexcept { return data.size() <= max_data_size; }
  /// Data for the C client: a non-null pointer even for empty data (NULL would mean "no data").
  static const char* bytes(std::string_view data) noexcept {
    return data.empty() ? "" : data.data();
  }

  // ---- the primitives ----

  std::string do_create(std::string_view path, std::string_view data, create_mode mode,
                        const acl_list& acls, dstm::stat* out, std::error_code& ec) {
    const int flags = static_cast<int>(mode);
    if ((ec = validate_path(path, is_sequential(mode)))) return {};
    if (flags < 0 || flags > 3 || !data_fits(data) ||
        detail::wire::request_header + detail::wire::create_body(path.size(), data.size(), acls) >
            detail::max_request_size) {
      ec = err(coordinator_errc::bad_arguments);
      return {};
    }
    const std::string p(path);
    detail::acl_vector cacl(acls);
    auto st = std::make_shared<detail::pending<created>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_acreate2(zh, p.c_str(), bytes(data), static_cast<int>(data.size()), cacl.get(),
                          flags, &coordinator::on_created, d);
    });
    if (ec) return {};
    if (out) *out = st->value().stat;
    return std::move(st->value().path);
  }

  node do_get(std::string_view path, watch w, std::error_code& ec) {
    if ((ec = validate_path(path))) return {};
    const std::string p(path);
    auto st = std::make_shared<detail::pending<node>>();
    void* ctx = arm(*st, std::move(w));
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_awget(zh, p.c_str(), ctx ? &coordinator::on_watch_event : nullptr, ctx,
                       &coordinator::on_data, d);
    });
    if (ec) {
      st->drop_watch();
      return {};
    }
    return std::move(st->value());
  }

  dstm::stat do_set(std::string_view path, std::string_view data, std::int32_t version,
                    std::error_code& ec) {
    if ((ec = validate_path(path))) return {};
    if (!data_fits(data) ||
        detail::wire::request_header + detail::wire::set_body(path.size(), data.size()) >
            detail::max_request_size) {
      ec = err(coordinator_errc::bad_arguments);
      return {};
    }
    const std::string p(path);
    auto st = std::make_shared<detail::pending<dstm::stat>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_aset(zh, p.c_str(), bytes(data), static_cast<int>(data.size()), version,
                      &coordinator::on_stat, d);
    });
    return ec ? dstm::stat{} : st->value();
  }

  void do_remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    if ((ec = validate_path(path))) return;
    const std::string p(path);
    auto st = std::make_shared<detail::pending<none>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_adelete(zh, p.c_str(), version, &coordinator::on_void, d);
    });
  }

  std::optional<dstm::stat> do_exists(std::string_view path, watch w, std::error_code& ec) {
    if ((ec = validate_path(path))) return std::nullopt;
    const std::string p(path);
    auto st = std::make_shared<detail::pending<dstm::stat>>();
    void* ctx = arm(*st, std::move(w));
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_awexists(zh, p.c_str(), ctx ? &coordinator::on_watch_event : nullptr, ctx,
                          &coordinator::on_exists, d);
    });
    if (ec == coordinator_errc::no_node) {
      ec.clear();
      return std::nullopt;
    }
    if (ec) {
      st->drop_watch();
      return std::nullopt;
    }
    return st->value();
  }

  children_list do_children(std::string_view path, watch w, std::error_code& ec) {
    if ((ec = validate_path(path))) return {};
    const std::string p(path);
    auto st = std::make_shared<detail::pending<children_list>>();
    void* ctx = arm(*st, std::move(w));
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_awget_children2(zh, p.c_str(), ctx ? &coordinator::on_watch_event : nullptr, ctx,
                                 &coordinator::on_children, d);
    });
    if (ec) {
      st->drop_watch();
      return {};
    }
    return std::move(st->value());
  }

  /// The results of a multi refused before sending, shaped like the server's: ops before the
  /// bad one `ok`, the bad one `bad_arguments`, the rest not executed.
  static std::vector<op_result> refused_multi(std::size_t count, std::size_t bad) {
    std::vector<op_result> r(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (i == bad) r[i].ec = err(coordinator_errc::bad_arguments);
      if (i > bad) r[i].ec = err(coordinator_errc::runtime_inconsistency);
    }
    return r;
  }

  /// A multi on its way: sent (st set, ec clear), or refused before sending (`refused`).
  struct multi_call {
    std::shared_ptr<detail::pending<multi_buffers>> st;
    std::error_code ec;
    std::optional<std::vector<op_result>> refused;
  };

  std::vector<op_result> do_multi(std::span<const op> ops, std::error_code& ec) {
    auto call = send_multi(ops);
    return finish_multi(ops, call, deadline(), ec);
  }

  /// Validates and sends a multi without waiting for its reply.
  multi_call send_multi(std::span<const op> ops) {
    multi_call call;
    std::error_code& ec = call.ec;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const op& o = ops[i];
      const bool sequential = o.type == op::kind::create && is_sequential(o.mode);
      const int mode = static_cast<int>(o.mode);
      const bool kind_ok = o.type == op::kind::create || o.type == op::kind::set ||
                           o.type == op::kind::remove || o.type == op::kind::check;
      if (!kind_ok || validate_path(o.path, sequential) || !data_fits(o.data) ||
          (o.type == op::kind::create && (mode < 0 || mode > 3))) {
        ec = err(coordinator_errc::bad_arguments);
        call.refused = refused_multi(ops.size(), i);
        return call;
      }
    }
    if (detail::wire::multi(ops) > detail::max_request_size) {
      // No single op is at fault; the whole request would not fit the server's buffer.
      ec = err(coordinator_errc::bad_arguments);
      std::vector<op_result> r(ops.size());
      for (auto& x : r) x.ec = ec;
      call.refused = std::move(r);
      return call;
    }
    if (ops.empty()) {
      // The C client cannot send an empty multi; applying nothing atomically is a no-op.
      if (state() == session_state::closed) ec = err(coordinator_errc::closing);
      if (state() == session_state::expired) ec = err(coordinator_errc::session_expired);
      call.refused = std::vector<op_result>{};
      return call;
    }

    auto st = std::make_shared<detail::pending<multi_buffers>>();
    auto& buf = st->value();
    buf.results.assign(ops.size(), zoo_op_result_t{});
    buf.paths.resize(ops.size());
    buf.stats.assign(ops.size(), ::Stat{});
    std::vector<zoo_op_t> cops(ops.size());
    std::vector<std::unique_ptr<detail::acl_vector>> acls(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const op& o = ops[i];
      switch (o.type) {
        case op::kind::create:
          // Room for the path, the 10-digit suffix (or "-" and 10 digits) and the NUL.
          buf.paths[i].assign(o.path.size() + 16, '\0');
          acls[i] = std::make_unique<detail::acl_vector>(o.acls);
          zoo_create_op_init(&cops[i], o.path.c_str(), bytes(o.data),
                             static_cast<int>(o.data.size()), acls[i]->get(),
                             static_cast<int>(o.mode), buf.paths[i].data(),
                             static_cast<int>(buf.paths[i].size()));
          break;
        case op::kind::set:
          zoo_set_op_init(&cops[i], o.path.c_str(), bytes(o.data), static_cast<int>(o.data.size()),
                          o.version, &buf.stats[i]);
          break;
        case op::kind::remove:
          zoo_delete_op_init(&cops[i], o.path.c_str(), o.version);
          break;
        case op::kind::check:
          zoo_check_op_init(&cops[i], o.path.c_str(), o.version);
          break;
      }
    }
    ec = submit(st, [&](zhandle_t* zh, const void* d) {
      return zoo_amulti(zh, static_cast<int>(cops.size()), cops.data(), buf.results.data(),
                        &coordinator::on_multi, d);
    });
    call.st = std::move(st);
    return call;
  }

  /// Waits for a sent multi's reply and reports it as `op_result`s.
  std::vector<op_result> finish_multi(std::span<const op> ops, multi_call& call,
                                      const std::optional<clock::time_point>& until,
                                      std::error_code& ec) {
    ec = call.ec;
    if (call.refused) return std::move(*call.refused);
    bool arrived = false;
    if (!ec) ec = await(*call.st, until, &arrived);
    auto& buf = call.st->value();

    std::vector<op_result> out(ops.size());
    // Only a reply from the server carries per-op results; `buf` may be read only once the
    // completion ran (a timed-out request may still be written to by the C client).
    const bool replied = arrived && !outcome_unknown(ec) &&
                         ec != coordinator_errc::session_expired &&
                         ec != coordinator_errc::closing && ec != coordinator_errc::invalid_state;
    bool any_op_error = false;
    if (replied) {
      for (const auto& r : buf.results) any_op_error = any_op_error || r.err != ZOK;
    }
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (!ec) {
        if (ops[i].type == op::kind::create) out[i].path = buf.paths[i].c_str();
        if (ops[i].type == op::kind::set) out[i].stat = detail::from_c(buf.stats[i]);
      } else if (replied && any_op_error) {
        out[i].ec = detail::make_ec(buf.results[i].err);
      } else {
        // No per-op answer (connection loss, timeout, session end): every op shares the fate.
        out[i].ec = ec;
      }
    }
    return out;
  }

  std::vector<get_result> do_get_many(std::span<const std::string> paths, const watch& w,
                                      std::error_code& ec) {
    std::vector<get_result> out(paths.size());
    std::vector<std::shared_ptr<detail::pending<node>>> sent(paths.size());
    const auto until = deadline();
    send_gets(paths, w, out, sent);
    finish_gets(out, sent, until, ec);
    return out;
  }

  /// Sends one read per path back to back (the C client pipelines them on the connection).
  void send_gets(std::span<const std::string> paths, const watch& w, std::vector<get_result>& out,
                 std::vector<std::shared_ptr<detail::pending<node>>>& sent) {
    for (std::size_t i = 0; i < paths.size(); ++i) {
      auto st = std::make_shared<detail::pending<node>>();
      if (!(out[i].ec = send_get(paths[i], w, st))) sent[i] = std::move(st);
    }
  }

  /// Sends one read of `path`, leaving watch `w`, into `st` without waiting: back to back, the
  /// C client pipelines reads on the one connection. On failure the watch is dropped.
  std::error_code send_get(const std::string& path, const watch& w,
                           const std::shared_ptr<detail::pending<node>>& st) {
    if (auto ec = validate_path(path)) return ec;
    void* ctx = arm(*st, watch(w));
    auto ec = submit(st, [&](zhandle_t* zh, const void* d) {
      return zoo_awget(zh, path.c_str(), ctx ? &coordinator::on_watch_event : nullptr, ctx,
                       &coordinator::on_data, d);
    });
    if (ec) st->drop_watch();
    return ec;
  }

  void finish_gets(std::vector<get_result>& out,
                   std::vector<std::shared_ptr<detail::pending<node>>>& sent,
                   const std::optional<clock::time_point>& until, std::error_code& ec) {
    ec.clear();
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!sent[i]) continue;
      out[i].ec = await(*sent[i], until);
      if (out[i].ec) {
        sent[i]->drop_watch();
      } else {
        out[i].node = std::move(sent[i]->value());
      }
    }
    // A failure of the batch as a whole: the session could not carry it. Per-node errors
    // (no_node, not_authorized, bad_arguments) stay per result.
    for (const auto& r : out) {
      if (outcome_unknown(r.ec) || r.ec == coordinator_errc::session_expired ||
          r.ec == coordinator_errc::closing || r.ec == coordinator_errc::auth_failed ||
          r.ec == coordinator_errc::invalid_state) {
        ec = r.ec;
        break;
      }
    }
  }

  void do_sync(std::string_view path, std::error_code& ec) {
    if ((ec = validate_path(path))) return;
    const std::string p(path);
    auto st = std::make_shared<detail::pending<none>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_async(zh, p.c_str(), &coordinator::on_sync, d);
    });
  }

  void do_add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    if (scheme.empty()) {
      ec = err(coordinator_errc::bad_arguments);
      return;
    }
    const std::string s(scheme);
    auto st = std::make_shared<detail::pending<none>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_add_auth(zh, s.c_str(), bytes(credential), static_cast<int>(credential.size()),
                          &coordinator::on_void, d);
    });
  }

  acl_list do_get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    if ((ec = validate_path(path))) return {};
    const std::string p(path);
    auto st = std::make_shared<detail::pending<std::pair<acl_list, dstm::stat>>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_aget_acl(zh, p.c_str(), &coordinator::on_acl, d);
    });
    if (ec) return {};
    if (out) *out = st->value().second;
    return std::move(st->value().first);
  }

  void do_set_acl(std::string_view path, const acl_list& acls, std::int32_t aversion,
                  std::error_code& ec) {
    if ((ec = validate_path(path))) return;
    const std::string p(path);
    detail::acl_vector cacl(acls);
    auto st = std::make_shared<detail::pending<none>>();
    ec = run(st, [&](zhandle_t* zh, const void* d) {
      return zoo_aset_acl(zh, p.c_str(), aversion, cacl.get(), &coordinator::on_void, d);
    });
  }

  std::string connect_string_;
  options opts_;
  std::unique_ptr<core> core_ = std::make_unique<core>();
  mutable std::shared_mutex handle_mutex_;  // shared: submitting; exclusive: close
  zhandle_t* zh_ = nullptr;
};

static_assert(dstm::assert_coordinator<coordinator>());

/// An STM client on a ZooKeeper ensemble: `auto client =
/// dstm::zookeeper::connect("h1:2181,h2:2181");`. Opens a session now (throws coordinator_error
/// when none can be established within `opts.connect_timeout`) and a new one after an expiry.
inline std::shared_ptr<dstm::client> connect(std::string connect_string, options opts = {},
                                             client_options stm = {}) {
  return connect_with(
      [cs = std::move(connect_string), opts] { return std::make_shared<coordinator>(cs, opts); },
      std::move(stm));
}

}  // namespace dstm::zookeeper
