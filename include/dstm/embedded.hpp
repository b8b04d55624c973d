#pragma once
/// \file
/// The embedded coordinator: ZooKeeper's data model in process memory, shared by any number of
/// sessions and threads — dstm with no server (the quick start, unit tests, single-process
/// programs). It models `dstm::coordinator` and behaves as a standalone ZooKeeper server seen
/// through a perfect network: no connection loss, no stale reads, sessions end only when closed
/// or explicitly expired. Its state machine is `dstm::znode_tree`, the same one the simulated
/// ensemble runs, so stats, sequential names, errors and watch events match the real server.
///
/// \code
/// auto store = std::make_shared<dstm::embedded::store>();
/// auto zk = dstm::embedded::open(store);            // one session
/// zk->create("/counter", "0");
/// zk->get("/counter", dstm::watch{[](const dstm::watch_event& e) { /* changed */ }});
/// store->expire(zk->session_id());                  // as a server would: ephemerals go
/// \endcode

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/interface.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/coordinator/znode_tree.hpp"
#include "dstm/detail/thread_event.hpp"
#include "dstm/error.hpp"

namespace dstm::embedded {

class coordinator;

/// The shared data of embedded coordinators: one `znode_tree` under a mutex, the sessions, the
/// watch callbacks, and a dispatcher thread that runs plain watch callbacks and session
/// listeners in FIFO order, never under the lock.
///
/// Create it with `std::make_shared<store>()` and open sessions on it with `open(store)`. Each
/// coordinator keeps its store alive. Destroying the store waits for the callbacks already
/// queued. Thread-safe.
class store {
 public:
  store() : dispatch_(std::make_shared<dispatcher>()) {
    thread_ = std::thread([d = dispatch_] { d->run(); });
  }

  ~store() {
    {
      std::lock_guard lock(dispatch_->mutex);
      dispatch_->stop = true;
    }
    dispatch_->cv.notify_all();
    // The last owner may be a callback on the dispatcher itself (it held the last coordinator);
    // the thread owns the dispatcher's state, so it can finish the queue without us.
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Ends a session as the server does when it expires: its ephemerals are removed (the
  /// watches that triggers fire), its watches are forgotten, its listeners receive
  /// `session_state::expired` (on the dispatcher), and every later call of its coordinator
  /// fails with `session_expired`. Returns false when the session is not open (unknown,
  /// closed or already expired). Must not be called from an `in_order` watch callback.
  bool expire(std::int64_t session_id) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return false;
    auto rec = it->second;
    end_session_locked(*rec, session_state::expired);
    post_session_event(rec, session_state::expired);
    return true;
  }

  /// Runs `f(const znode_tree&)` under the store's lock and returns its result: for tests and
  /// tools that inspect the state (`digest()`, `node_count()`, `paths()`). `f` must not call
  /// a coordinator of this store.
  template <class F>
  decltype(auto) inspect(F&& f) const {
    std::lock_guard lock(mutex_);
    return std::forward<F>(f)(static_cast<const znode_tree&>(tree_));
  }

  /// Number of open sessions.
  std::size_t session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }

 private:
  friend class coordinator;

  /// One session's client-side state, shared by the store and its coordinator.
  struct session_rec {
    std::int64_t id = 0;
    std::atomic<session_state> state{session_state::connected};
    std::mutex listeners_mutex;
    std::map<std::uint64_t, std::function<void(session_state)>> listeners;
    std::uint64_t next_listener = 1;
    /// Last `sequence` handed out on this session's stream of replies and events; guarded by
    /// the store's mutex, so it orders a reply against every event the same lock produced.
    std::uint64_t sequence = 0;
  };

  struct watch_entry {
    std::int64_t session;
    watch w;
  };

  /// The dispatcher's state lives apart from the store so that a detached thread (see
  /// ~store) never touches a destroyed store.
  struct dispatcher {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stop = false;

    void run() {
      std::unique_lock lock(mutex);
      while (true) {
        cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;  // stopping, and everything queued has run
        auto task = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        try {
          task();
        } catch (...) {
          // A watch callback or listener has nobody to report to; the next one must still run.
        }
        task = nullptr;  // release captures (maybe the last coordinator) outside the lock
        lock.lock();
      }
    }
  };

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(dispatch_->mutex);
      dispatch_->queue.push_back(std::move(task));
    }
    dispatch_->cv.notify_one();
  }

  void post_session_event(const std::shared_ptr<session_rec>& rec, session_state state) {
    post([rec, state] {
      std::vector<std::function<void(session_state)>> fns;
      {
        std::lock_guard lock(rec->listeners_mutex);
        for (const auto& [id, fn] : rec->listeners) fns.push_back(fn);
      }
      for (const auto& fn : fns) fn(state);
    });
  }

  static std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Everything below runs with mutex_ held.

  std::shared_ptr<session_rec> open_session_locked() {
    auto rec = std::make_shared<session_rec>();
    rec->id = next_session_++;
    tree_.open_session(rec->id);
    sessions_.emplace(rec->id, rec);
    return rec;
  }

  /// Closes the session in the tree, forgets its callbacks and delivers what its ephemerals'
  /// removal fired. `final_state` is closed (by its client) or expired (by the server).
  void end_session_locked(session_rec& rec, session_state final_state) {
    rec.state.store(final_state);
    auto fired = tree_.close_session(rec.id, wall_ms());
    std::erase_if(watches_, [&](const auto& entry) { return entry.second.session == rec.id; });
    sessions_.erase(rec.id);
    deliver_locked(fired);
  }

  std::uint64_t register_watch_locked(std::int64_t session, std::string_view path,
                                      znode_tree::watch_kind kind, watch w) {
    const std::uint64_t id = next_watch_++;
    watches_.emplace(id, watch_entry{session, std::move(w)});
    tree_.add_watch(session, path, kind, id);
    return id;
  }

  /// In-order callbacks run here, on the writer's thread under the lock, so they precede any
  /// later reply; plain ones go to the dispatcher, in the order the tree fired them.
  void deliver_locked(znode_tree::fired_list& fired) {
    for (auto& f : fired) {
      auto it = watches_.find(f.watch_id);
      if (it == watches_.end()) continue;
      watch w = std::move(it->second.w);
      watches_.erase(it);
      if (auto rec = sessions_.find(f.session); rec != sessions_.end()) {
        f.event.sequence = ++rec->second->sequence;
      }
      if (w.in_order) {
        try {
          w.fn(f.event);
        } catch (...) {
          // By contract in-order callbacks do not throw; if one does, the write still stands
          // and the other sessions' callbacks must still run.
        }
      } else {
        post([fn = std::move(w.fn), event = std::move(f.event)] { fn(event); });
      }
    }
  }

  mutable std::mutex mutex_;
  znode_tree tree_;
  std::map<std::int64_t, std::shared_ptr<session_rec>> sessions_;
  std::unordered_map<std::uint64_t, watch_entry> watches_;
  std::uint64_t next_watch_ = 1;
  std::int64_t next_session_ = 1;
  std::shared_ptr<dispatcher> dispatch_;
  std::thread thread_;
};

/// One session on a `store`: the in-process model of `dstm::coordinator`.
///
/// Thread-safe: any thread may call any member. Real time: `now()` is `steady_clock` in
/// nanoseconds, `sleep_for` sleeps, and stats carry `system_clock` milliseconds. Watches:
/// `in_order` callbacks run synchronously when the triggering write is applied (on the
/// writer's thread, under the store's lock — they must be short and must not call a
/// coordinator of this store); plain callbacks and session listeners run on the store's
/// dispatcher thread in FIFO order and may block or call the coordinator. Calls never fail
/// with connection_loss. After `close()` calls fail with `closing`; after the store expired
/// the session, with `session_expired`. Destroying the coordinator closes its session.
class coordinator : public coordinator_interface<coordinator> {
 public:
  using event = detail::thread_event;

  /// Opens a new session on `s`. Throws std::invalid_argument for a null store.
  explicit coordinator(std::shared_ptr<store> s) : store_(std::move(s)) {
    if (!store_) throw std::invalid_argument("dstm::embedded::coordinator: null store");
    std::lock_guard lock(store_->mutex_);
    rec_ = store_->open_session_locked();
  }

  ~coordinator() { close(); }

  coordinator(const coordinator&) = delete;
  coordinator& operator=(const coordinator&) = delete;

  /// The session's id (never 0), as the tree and `store::expire` know it.
  std::int64_t session_id() const { return rec_->id; }

  /// connected until closed (`closed`) or expired by the store (`expired`).
  session_state state() const { return rec_->state.load(); }

  /// Adds a session listener; it runs on the dispatcher with the new state (here: only
  /// `expired`; `close()` notifies nobody, as the caller knows). Returns an id for
  /// `unsubscribe`.
  std::uint64_t subscribe(std::function<void(session_state)> listener) {
    std::lock_guard lock(rec_->listeners_mutex);
    const auto id = rec_->next_listener++;
    rec_->listeners.emplace(id, std::move(listener));
    return id;
  }

  /// Removes a listener; a notification already being delivered may still reach it.
  void unsubscribe(std::uint64_t id) {
    std::lock_guard lock(rec_->listeners_mutex);
    rec_->listeners.erase(id);
  }

  /// Ends the session: its ephemerals are removed (firing others' watches) and its own watches
  /// are dropped. Idempotent; later calls fail with `closing`. Must not be called from an
  /// `in_order` watch callback.
  void close() {
    std::lock_guard lock(store_->mutex_);
    if (rec_->state.load() != session_state::connected) return;
    store_->end_session_locked(*rec_, session_state::closed);
  }

  /// Monotonic nanoseconds (steady_clock).
  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void sleep_for(std::int64_t ns) {
    if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
  }

  std::shared_ptr<event> make_event() { return std::make_shared<event>(); }

  /// Blocks until `e` is set or `timeout_ns` passed (negative: no limit); true when set.
  bool wait(event& e, std::int64_t timeout_ns) { return e.wait(timeout_ns); }

  /// The store this session lives on.
  const std::shared_ptr<store>& get_store() const noexcept { return store_; }

  /// `multi(ops)` then `get_many(paths, w)` as one step under the store's lock: one round trip,
  /// as the ZooKeeper and simulated models pipeline it, and the reads see the multi. `reads`
  /// is filled only when the multi succeeded. The STM commits this way.
  void multi_then_get(std::span<const op> ops, std::vector<op_result>& results,
                      std::error_code& multi_ec, std::span<const std::string> paths, const watch& w,
                      std::vector<get_result>& reads) {
    reads.clear();
    multi_ec.clear();
    std::lock_guard lock(store_->mutex_);
    if (!usable(multi_ec)) {
      results.assign(ops.size(), op_result{multi_ec, {}, {}});
      return;
    }
    znode_tree::fired_list fired;
    results = store_->tree_.multi(rec_->id, ops, multi_ec, fired, store::wall_ms());
    store_->deliver_locked(fired);
    if (multi_ec) return;
    reads = read_locked(paths, w);
  }

 private:
  friend class coordinator_interface<coordinator>;
  using kind = znode_tree::watch_kind;

  /// Fails `ec` unless the session is usable; call with the store's lock held.
  bool usable(std::error_code& ec) const {
    switch (rec_->state.load()) {
      case session_state::connected:
        ec.clear();
        return true;
      case session_state::expired:
        ec = make_error_code(coordinator_errc::session_expired);
        return false;
      default:
        ec = make_error_code(coordinator_errc::closing);
        return false;
    }
  }

  std::string do_create(std::string_view path, std::string_view data, create_mode mode,
                        const acl_list& acls, dstm::stat* out, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    znode_tree::fired_list fired;
    auto created =
        store_->tree_.create(rec_->id, path, data, mode, acls, out, ec, fired, store::wall_ms());
    store_->deliver_locked(fired);
    return created;
  }

  node do_get(std::string_view path, watch w, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    auto n = store_->tree_.get(rec_->id, path, ec);
    n.sequence = ++rec_->sequence;
    if (!ec && w) store_->register_watch_locked(rec_->id, path, kind::data, std::move(w));
    return n;
  }

  dstm::stat do_set(std::string_view path, std::string_view data, std::int32_t version,
                    std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    znode_tree::fired_list fired;
    auto s = store_->tree_.set(rec_->id, path, data, version, ec, fired, store::wall_ms());
    store_->deliver_locked(fired);
    return s;
  }

  void do_remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return;
    znode_tree::fired_list fired;
    store_->tree_.remove(rec_->id, path, version, ec, fired);
    store_->deliver_locked(fired);
  }

  std::optional<dstm::stat> do_exists(std::string_view path, watch w, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return std::nullopt;
    auto s = store_->tree_.exists(rec_->id, path, ec);
    if (!ec && w) store_->register_watch_locked(rec_->id, path, kind::exists, std::move(w));
    return s;
  }

  children_list do_children(std::string_view path, watch w, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    auto c = store_->tree_.children(rec_->id, path, ec);
    if (!ec && w) store_->register_watch_locked(rec_->id, path, kind::child, std::move(w));
    return c;
  }

  std::vector<op_result> do_multi(std::span<const op> ops, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return std::vector<op_result>(ops.size(), op_result{ec, {}, {}});
    znode_tree::fired_list fired;
    auto r = store_->tree_.multi(rec_->id, ops, ec, fired, store::wall_ms());
    store_->deliver_locked(fired);
    return r;
  }

  std::vector<get_result> do_get_many(std::span<const std::string> paths, const watch& w,
                                      std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    return read_locked(paths, w);
  }

  std::vector<get_result> read_locked(std::span<const std::string> paths, const watch& w) {
    std::vector<get_result> out(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
      out[i].node = store_->tree_.get(rec_->id, paths[i], out[i].ec);
      out[i].node.sequence = ++rec_->sequence;
      if (!out[i].ec && w) store_->register_watch_locked(rec_->id, paths[i], kind::data, w);
    }
    return out;
  }

  /// One server, no lag: nothing to catch up with; only the session's state is checked.
  void do_sync(std::string_view, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    usable(ec);
  }

  void do_add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return;
    ec = store_->tree_.add_auth(rec_->id, scheme, credential);
  }

  acl_list do_get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return {};
    return store_->tree_.get_acl(rec_->id, path, out, ec);
  }

  void do_set_acl(std::string_view path, const acl_list& acls, std::int32_t aversion,
                  std::error_code& ec) {
    std::lock_guard lock(store_->mutex_);
    if (!usable(ec)) return;
    store_->tree_.set_acl(rec_->id, path, acls, aversion, ec);
  }

  std::shared_ptr<store> store_;
  std::shared_ptr<store::session_rec> rec_;
};

static_assert(assert_coordinator<coordinator>());

/// Opens a new session on `s`. Throws std::invalid_argument for a null store.
inline std::shared_ptr<coordinator> open(std::shared_ptr<store> s) {
  return std::make_shared<coordinator>(std::move(s));
}

/// The process-wide store that `open()` without arguments (and, later, `connect()`) uses:
/// created on first use, destroyed at exit.
inline std::shared_ptr<store> default_store() {
  static const std::shared_ptr<store> instance = std::make_shared<store>();
  return instance;
}

/// Opens a new session on the process-wide store.
inline std::shared_ptr<coordinator> open() { return open(default_store()); }

}  // namespace dstm::embedded
