#pragma once
/// \file
/// `dstm::sim::ensemble`: a simulated ZooKeeper ensemble — servers, a leader that orders writes,
/// followers that replay its log (and lag), client sessions with their connections, and the
/// faults of a `fault_config`.
///
/// The model, in the terms of ZooKeeper's own design:
///  - every server holds a `dstm::znode_tree` replica. Writes (and `sync`, session creation and
///    closing, `add_auth`) travel from the session's server to the leader, which applies them
///    to its replica and appends the call to the log; each follower applies the log in order,
///    after a replication delay, so a follower's replica is a (possibly stale) prefix;
///  - reads are answered by the session's server from its own replica; a write's reply leaves
///    the session's server only once that server has applied the write, so a session always
///    reads its own writes; a session's later requests wait behind its pending write (session
///    FIFO), as ZooKeeper's CommitProcessor makes them;
///  - every message of one connection is delivered in order (TCP); different sessions'
///    messages are reordered freely by jitter;
///  - watches are registered on the session's server replica and forgotten when the
///    connection closes; on reconnection the client re-registers them with its last seen zxid
///    and the new server fires those whose node changed since (ZooKeeper's setWatches);
///  - a session migrates only to a server that has applied everything the session has seen;
///  - a leader needs a quorum: when it crashes or is cut off, every server drops its clients,
///    an election takes `election_ns`, and the most up-to-date server of the majority leads;
///    servers outside the majority stop serving;
///  - a disconnected session expires on the leader `session_timeout_ns` after it was last
///    connected (a new leader restarts the clocks, as ZooKeeper does).
///
/// Threads: everything runs on the world's scheduler thread; blocking entry points must be
/// called from simulated threads.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dstm/coordinator/types.hpp"
#include "dstm/coordinator/znode_tree.hpp"
#include "dstm/error.hpp"
#include "dstm/sim/faults.hpp"
#include "dstm/sim/random.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim {

/// Shape and timing of a simulated ensemble.
struct ensemble_options {
  int servers = 3;
  fault_config faults = fault_config::none();
  /// Default session timeout of the coordinators opened on the ensemble.
  std::int64_t session_timeout_ns = 4 * seconds;
  /// How long an election takes once a quorum is available again.
  std::int64_t election_ns = 200 * milliseconds;
  /// How long a client waits for a server's answer to a connection attempt.
  std::int64_t connect_timeout_ns = 500 * milliseconds;
  /// `ctime`/`mtime` = this + virtual time in ms (a plausible wall clock, the same every run).
  std::int64_t epoch_ms = 1'700'000'000'000;
};

/// Counters of what the ensemble did; tests use them to prove a fault actually happened.
struct ensemble_stats {
  std::uint64_t requests = 0;        ///< requests that reached a server
  std::uint64_t writes_applied = 0;  ///< log entries appended by a leader
  std::uint64_t lost_before = 0;     ///< connections dropped before a request reached a server
  std::uint64_t lost_after = 0;      ///< replies lost after the request was applied
  std::uint64_t disconnects = 0;     ///< connections broken for any reason
  std::uint64_t crashes = 0;
  std::uint64_t server_partitions = 0;
  std::uint64_t client_partitions = 0;
  std::uint64_t server_expiries = 0;  ///< sessions expired by the ensemble
  std::uint64_t client_expiries = 0;  ///< clients that wrongly believed their session expired
  std::uint64_t lags = 0;
  std::uint64_t elections = 0;
  std::uint64_t migrations_refused = 0;  ///< connects refused: server behind the session
};

namespace detail {

enum class req_kind : std::uint8_t {
  connect,
  create,
  get,
  set,
  remove,
  exists,
  children,
  multi,
  sync,
  add_auth,
  get_acl,
  set_acl,
  close,
  open_session,
  expire_session
};

inline bool is_read(req_kind k) noexcept {
  return k == req_kind::get || k == req_kind::exists || k == req_kind::children ||
         k == req_kind::get_acl;
}

/// What a server sends a client.
enum class message : std::uint8_t { reply, event, connected, expired };

struct request {
  std::uint64_t xid = 0;
  req_kind kind = req_kind::get;
  std::string path;
  std::string data;
  create_mode mode = create_mode::persistent;
  acl_list acls;
  std::int32_t version = any_version;
  std::vector<op> ops;
  std::uint64_t watch_id = 0;  // 0: no watch
  bool break_after = false;    // fault: apply, then drop the connection instead of replying
};

struct reply {
  std::uint64_t xid = 0;
  std::error_code ec;
  std::string path;
  node data;
  std::optional<dstm::stat> stat;
  children_list children;
  acl_list acls;
  std::vector<op_result> results;
  std::uint64_t watch_id = 0;
  bool watch_set = false;
  znode_tree::watch_kind watch_kind = znode_tree::watch_kind::data;
  std::int64_t zxid = 0;
  std::uint64_t position = 0;
};

/// A request a simulated thread waits for; lives on that thread's stack.
struct call {
  reply result;
  std::uint64_t watch_id = 0;
  bool done = false;
  world::wait_handle waiter;
};

struct watch_entry {
  std::string path;
  znode_tree::watch_kind kind = znode_tree::watch_kind::data;
  dstm::watch fn;
  /// Set when the reply that registered it arrived. Only active watches are re-registered on
  /// reconnection, as the C client activates a watcher only when its reply completes: a
  /// request still queued registers its own watch when it is sent, and re-registering it too
  /// could fire it early, leaving the server's second registration unheard.
  bool active = false;
};

struct watch_registration {
  std::uint64_t id;
  std::string path;
  znode_tree::watch_kind kind;
};

/// The client library's side of one session.
struct client_state {
  std::int64_t session = 0;
  std::int64_t timeout_ns = 0;
  session_state state = session_state::connecting;
  std::uint64_t conn = 0;     // established connection, 0 when none
  std::uint64_t attempt = 0;  // connection being attempted, 0 when none
  std::int64_t last_zxid = 0;
  std::uint64_t last_position = 0;
  std::uint64_t next_xid = 1;
  std::uint64_t next_watch_id = 1;
  /// Numbers replies and watch events in delivery order (node/watch_event::sequence).
  std::uint64_t delivered = 0;
  std::map<std::uint64_t, call*> inflight;       // sent or queued, by xid
  std::deque<request> unsent;                    // queued while connecting
  std::map<std::uint64_t, watch_entry> watches;  // outstanding, by id
  std::map<std::uint64_t, std::function<void(session_state)>> listeners;
  std::uint64_t next_listener = 1;
  std::deque<std::function<void()>> dispatch;  // plain watches and listeners, FIFO
  world::wait_handle dispatcher;               // set while the dispatcher waits
  bool dispatcher_waiting = false;
  rng random;
  std::int64_t skew_ns = 0;
  std::int32_t drift_ppm = 0;
  int next_server = 0;
  int failed_attempts = 0;  // in a row; a full round of servers is followed by a pause
  bool attached = true;     // false once its coordinator is gone
};

struct connection {
  std::uint64_t id = 0;
  std::int64_t session = 0;
  int server = 0;
  bool open = true;
  bool established = false;
  std::int64_t c2s_last = 0;  // delivery time of the last message each way (FIFO)
  std::int64_t s2c_last = 0;
  std::deque<request> queue;  // requests waiting at the server behind a pending write
  bool busy = false;          // a write of this connection is at the leader
  std::vector<watch_registration> registered;  // watches on the server's replica
  std::int64_t connect_zxid = 0;               // what the client had seen when connecting
  std::uint64_t connect_position = 0;
  std::vector<watch_registration> connect_watches;
};

struct pending_reply {
  std::uint64_t index = 0;  // sent once the server has applied this many log entries
  std::uint64_t conn = 0;
  bool accept = false;  // a new session's connection, not a reply
  bool break_after = false;
  reply r;
};

struct server_state {
  int id = 0;
  znode_tree tree;
  std::uint64_t applied = 0;
  bool up = true;
  bool isolated = false;
  std::int64_t lag_ns = 0;
  std::int64_t replication_last = 0;
  std::int64_t forward_last = 0;
  std::deque<pending_reply> pending;
  std::set<std::uint64_t> connections;
};

struct session_record {
  enum class status { open, expired, closed };
  status state = status::open;
  std::int64_t timeout_ns = 0;
  bool created = false;
  std::uint64_t conn = 0;
  std::uint64_t timer = 0;  // generation of the running expiry timer
};

struct log_entry {
  req_kind kind = req_kind::create;
  std::int64_t session = 0;
  std::int64_t time_ms = 0;
  request req;
};

}  // namespace detail

/// A simulated ZooKeeper ensemble living in a `world`. Construct it, open `coordinator`s on it
/// (sim/coordinator.hpp), optionally `start_faults()`, then run the world.
///
/// The fault methods (`crash`, `isolate`, `cut`, `expire_session`, ...) may be called by tests
/// from anywhere on the world's thread; the nemesis calls them on its own from
/// `start_faults()` on.
class ensemble {
 public:
  ensemble(world& w, ensemble_options options = {})
      : world_(w),
        options_(std::move(options)),
        net_rng_(w.stream("ensemble/network")),
        nemesis_rng_(w.stream("ensemble/nemesis")),
        client_rng_(w.stream("ensemble/clients")) {
    if (options_.servers < 1) throw std::invalid_argument("dstm::sim::ensemble: servers < 1");
    for (int i = 0; i < options_.servers; ++i) {
      servers_.push_back(std::make_unique<detail::server_state>());
      servers_.back()->id = i;
    }
    leader_ = 0;
  }
  ensemble(const ensemble&) = delete;
  ensemble& operator=(const ensemble&) = delete;

  /// Ends the simulation of the world: its blocked threads are unwound and its pending events
  /// dropped (they refer to this ensemble). Destroy the ensemble's coordinators first, and the
  /// world after it.
  ~ensemble() {
    if (!world_.in_thread()) world_.cancel_all();
  }

  world& get_world() noexcept { return world_; }
  const ensemble_options& options() const noexcept { return options_; }
  const fault_config& faults() const noexcept { return options_.faults; }
  const ensemble_stats& stats() const noexcept { return stats_; }

  // ---- inspection ---------------------------------------------------------------------------

  int server_count() const noexcept { return static_cast<int>(servers_.size()); }
  /// The leader, or -1 during an election or without a quorum.
  int leader() const noexcept { return leader_; }
  /// Server `s`'s replica (a prefix of the leader's history).
  const znode_tree& replica(int s) const { return server(s).tree; }
  /// Log entries server `s` has applied.
  std::uint64_t applied(int s) const { return server(s).applied; }
  /// Log entries the leader has appended.
  std::uint64_t log_size() const noexcept { return log_base_ + log_.size(); }
  bool up(int s) const { return server(s).up; }
  bool serving(int s) const {
    const auto& sv = server(s);
    return leader_ >= 0 && sv.up && !sv.isolated;
  }
  /// The server session `session` is connected to, or -1.
  int server_of(std::int64_t session) const {
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.conn == 0) return -1;
    auto c = connections_.find(it->second.conn);
    return c == connections_.end() ? -1 : c->second.server;
  }
  /// True while the ensemble considers `session` alive (not expired or closed).
  bool session_alive(std::int64_t session) const {
    auto it = sessions_.find(session);
    return it != sessions_.end() && it->second.state == detail::session_record::status::open;
  }
  /// A digest of the leader's state (or of server 0's without a leader) for trace hashes.
  std::uint64_t digest() const { return server(leader_ >= 0 ? leader_ : 0).tree.digest(); }

  // ---- faults, by hand ----------------------------------------------------------------------

  /// Crashes server `s`: its connections drop; its replica survives (ZooKeeper persists it).
  void crash(int s) {
    auto& sv = server(s);
    if (!sv.up) return;
    sv.up = false;
    ++stats_.crashes;
    trace_fault(1, s);
    drop_server_connections(sv);
    sv.pending.clear();
    reconsider();
  }
  /// Restarts a crashed server: it catches up from the log, then serves again.
  void restart(int s) {
    auto& sv = server(s);
    if (sv.up) return;
    sv.up = true;
    trace_fault(2, s);
    catch_up_later(sv);
    reconsider();
  }
  /// Cuts server `s` off from the other servers (true) or heals it (false). A cut-off server
  /// serves nobody; if it led, the majority elects another leader.
  void isolate(int s, bool cut) {
    auto& sv = server(s);
    if (sv.isolated == cut) return;
    sv.isolated = cut;
    if (cut) ++stats_.server_partitions;
    trace_fault(cut ? 3 : 4, s);
    if (cut) {
      drop_server_connections(sv);
      sv.pending.clear();
    } else {
      catch_up_later(sv);
    }
    reconsider();
  }
  /// Cuts (true) or heals (false) the network between `session`'s client and server `s`. A
  /// connection over the cut breaks; the client notices after a third of its session timeout
  /// (missed pings) and tries another server.
  void cut(std::int64_t session, int s, bool cut_link) {
    server(s);
    const auto key = std::make_pair(session, s);
    if (cut_link) {
      if (!cuts_.insert(key).second) return;
      ++stats_.client_partitions;
      trace_fault(5, s, session);
      auto it = sessions_.find(session);
      if (it != sessions_.end() && it->second.conn != 0) {
        auto c = connections_.find(it->second.conn);
        if (c != connections_.end() && c->second.server == s) {
          auto client = clients_.find(session);
          const std::int64_t detect = client != clients_.end() ? client->second->timeout_ns / 3 : 0;
          break_connection(it->second.conn, detect);
        }
      }
    } else if (cuts_.erase(key) != 0) {
      trace_fault(6, s, session);
    }
  }
  /// Expires `session` on the ensemble as the leader does after a timeout: its ephemerals are
  /// removed and its watches dropped; the client learns it when it next reaches a server.
  void expire_session(std::int64_t session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.state != detail::session_record::status::open) return;
    if (!it->second.created || leader_ < 0) return;  // only a leader expires sessions
    ++stats_.server_expiries;
    trace_fault(7, 0, session);
    it->second.state = detail::session_record::status::expired;
    submit_internal(detail::req_kind::expire_session, session);
    if (it->second.conn != 0) break_connection(it->second.conn, latency());
  }
  /// Makes `session`'s client believe its session expired (a wrong local timeout): the client
  /// fails its calls with session_expired and stops, while the ensemble keeps the session and
  /// its ephemerals until the session times out there.
  void client_believes_expired(std::int64_t session) {
    auto it = clients_.find(session);
    if (it == clients_.end()) return;
    auto& c = *it->second;
    if (c.state == session_state::expired || c.state == session_state::closed) return;
    ++stats_.client_expiries;
    trace_fault(8, 0, session);
    const std::uint64_t conn = c.conn ? c.conn : c.attempt;
    client_expired(c);
    if (conn != 0) break_connection(conn, 0);
  }
  /// Adds `extra_ns` to every replication to follower `s` (0 removes the lag).
  void set_lag(int s, std::int64_t extra_ns) {
    auto& sv = server(s);
    if (extra_ns > 0 && sv.lag_ns == 0) ++stats_.lags;
    sv.lag_ns = std::max<std::int64_t>(extra_ns, 0);
    trace_fault(9, s, extra_ns);
  }

  /// Starts the nemesis of `faults()` (if its interval is non-zero); it keeps injecting timed
  /// faults until `stop_faults()`. Its timer does not keep `world::run()` going.
  void start_faults() {
    quiet_ = false;
    if (options_.faults.nemesis_interval_ns <= 0 || nemesis_on_) return;
    nemesis_on_ = true;
    schedule_nemesis();
  }
  /// Stops injecting — the nemesis and the per-message faults (connection loss, slow messages)
  /// — and heals every fault still active (servers restart, partitions heal, lags end) so the
  /// ensemble can settle. Latency and jitter stay.
  void stop_faults() {
    nemesis_on_ = false;
    quiet_ = true;
    ++nemesis_generation_;
    for (auto& sv : servers_) {
      if (sv->isolated) isolate(sv->id, false);
      if (!sv->up) restart(sv->id);
      if (sv->lag_ns) set_lag(sv->id, 0);
    }
    while (!cuts_.empty()) {
      auto k = *cuts_.begin();
      cut(k.first, k.second, false);
    }
  }

  // ---- the client library (used by sim::coordinator) ----------------------------------------

  /// Replaces the fault configuration (e.g. a test turns reply loss on for one call). Takes
  /// effect for the next message; a running nemesis keeps its schedule.
  void set_faults(const fault_config& f) { options_.faults = f; }

  /// Opens a client session and starts connecting it, first to server `first_server` (-1: a
  /// seeded choice). Does not block.
  detail::client_state& open_client(std::int64_t timeout_ns, int first_server = -1) {
    const std::int64_t id = next_session_++;
    auto c = std::make_unique<detail::client_state>();
    c->session = id;
    c->timeout_ns = timeout_ns > 0 ? timeout_ns : options_.session_timeout_ns;
    c->random = client_rng_.fork("client/" + std::to_string(id));
    const auto& f = options_.faults;
    if (f.max_clock_skew_ns > 0)
      c->skew_ns = c->random.between(-f.max_clock_skew_ns, f.max_clock_skew_ns);
    if (f.max_clock_drift_ppm > 0) {
      c->drift_ppm = static_cast<std::int32_t>(
          c->random.between(-f.max_clock_drift_ppm, f.max_clock_drift_ppm));
    }
    c->next_server = first_server >= 0 && first_server < server_count()
                         ? first_server
                         : static_cast<int>(c->random.below(servers_.size()));
    auto& rec = sessions_[id];
    rec.timeout_ns = c->timeout_ns;
    detail::client_state& ref = *c;
    clients_.emplace(id, std::move(c));
    world_.spawn_daemon("dispatcher/" + std::to_string(id), [this, &ref] { dispatcher_loop(ref); });
    connect(ref);
    return ref;
  }

  /// The client's view of virtual time: true time skewed by the client's offset and drift.
  std::int64_t client_now(const detail::client_state& c) const noexcept {
    const std::int64_t t = world_.now();
    return t + c.skew_ns + t / 1'000'000 * c.drift_ppm;
  }

  /// Sends `reqs` in order (pipelined) and blocks the calling simulated thread until every
  /// reply arrived or the connection failed. Watches named in the requests must already be in
  /// `c.watches`.
  std::vector<detail::reply> call(detail::client_state& c, std::vector<detail::request> reqs) {
    const auto first = world_.prepare_block("a dstm::sim::coordinator call");
    static_cast<void>(first);
    std::vector<detail::call> calls(reqs.size());
    struct guard {
      detail::client_state& c;
      std::vector<detail::request>& reqs;
      std::vector<detail::call>& calls;
      ~guard() {
        for (std::size_t i = 0; i < calls.size(); ++i) {
          if (!calls[i].done) {
            c.inflight.erase(reqs[i].xid);
            std::erase_if(c.unsent, [&](const detail::request& r) { return r.xid == reqs[i].xid; });
          }
        }
      }
    } cleanup{c, reqs, calls};
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      reqs[i].xid = c.next_xid++;
      std::error_code refused = refuse(c);
      if (refused) {
        calls[i].result.ec = refused;
        calls[i].done = true;
        if (reqs[i].watch_id) c.watches.erase(reqs[i].watch_id);
        continue;
      }
      calls[i].watch_id = reqs[i].watch_id;
      c.inflight.emplace(reqs[i].xid, &calls[i]);
      if (c.state == session_state::connected && c.conn != 0) {
        send_request(c, reqs[i]);
      } else {
        c.unsent.push_back(reqs[i]);
      }
    }
    for (auto& one : calls) {
      while (!one.done) {
        one.waiter = world_.prepare_block("a dstm::sim::coordinator call");
        world_.block();
      }
    }
    std::vector<detail::reply> out;
    out.reserve(calls.size());
    for (auto& one : calls) out.push_back(std::move(one.result));
    return out;
  }

  /// Closes the session: the ensemble removes its ephemerals once the close arrives when
  /// connected; otherwise the session times out there. With `wait` (inside a simulated thread)
  /// blocks until the close is acknowledged or the connection drops.
  void close_client(detail::client_state& c, bool wait) {
    if (c.state == session_state::closed) return;
    const bool was_live =
        c.state == session_state::connected || c.state == session_state::connecting;
    // Not while the calling thread unwinds (an exception, or the world cancelling it): a
    // destructor that closes a session must not block, and a thread switch with an exception
    // in flight would share the C++ runtime's per-OS-thread exception state with other threads.
    if (was_live && c.conn != 0 && wait && world_.in_thread() && std::uncaught_exceptions() == 0) {
      detail::request r;
      r.kind = detail::req_kind::close;
      r.xid = c.next_xid++;
      detail::call one;
      c.inflight.emplace(r.xid, &one);
      // `one` lives on this thread's stack: unregister it also when the world unwinds the
      // thread from `block()`, or a later fail_all (the coordinator's destructor) writes to it.
      struct forget {
        detail::client_state& c;
        std::uint64_t xid;
        ~forget() { c.inflight.erase(xid); }
      } cleanup{c, r.xid};
      send_request(c, r);
      // The close either completes or the connection drops; either way the session is ours no
      // more. Bound the wait so a close never hangs a run.
      while (!one.done) {
        one.waiter = world_.prepare_block("close");
        world_.wake_at(one.waiter, world_.now() + c.timeout_ns);
        world_.block();
        if (!one.done) break;
      }
    } else if (was_live && c.conn != 0) {
      detail::request r;
      r.kind = detail::req_kind::close;
      r.xid = c.next_xid++;
      send_request(c, r);
    }
    c.state = session_state::closed;
    fail_all(c, make_error_code(coordinator_errc::closing));
    const std::uint64_t conn = c.conn ? c.conn : c.attempt;
    c.conn = c.attempt = 0;
    if (conn != 0) break_connection(conn, -1);
    c.watches.clear();
  }

  /// Forgets everything user-supplied of a client whose coordinator is gone.
  void detach_client(detail::client_state& c) {
    c.attached = false;
    c.watches.clear();
    c.listeners.clear();
    c.dispatch.clear();
    // Let the dispatcher thread finish, so its stack is reused.
    if (c.dispatcher_waiting) {
      c.dispatcher_waiting = false;
      world_.wake(c.dispatcher);
    }
  }

  /// Queues `fn` to the client's dispatcher thread (FIFO with plain watches).
  void post(detail::client_state& c, std::function<void()> fn) {
    c.dispatch.push_back(std::move(fn));
    if (c.dispatcher_waiting) {
      c.dispatcher_waiting = false;
      world_.wake(c.dispatcher);
    }
  }

  /// The error a call made now would fail with before being sent, if any.
  static std::error_code refuse(const detail::client_state& c) {
    switch (c.state) {
      case session_state::closed:
        return make_error_code(coordinator_errc::closing);
      case session_state::expired:
        return make_error_code(coordinator_errc::session_expired);
      case session_state::auth_failed:
        return make_error_code(coordinator_errc::auth_failed);
      default:
        return {};
    }
  }

 private:
  using status = detail::session_record::status;

  detail::server_state& server(int s) {
    if (s < 0 || s >= static_cast<int>(servers_.size())) {
      throw std::out_of_range("dstm::sim::ensemble: no server " + std::to_string(s));
    }
    return *servers_[static_cast<std::size_t>(s)];
  }
  const detail::server_state& server(int s) const { return const_cast<ensemble*>(this)->server(s); }

  void trace_fault(std::uint64_t kind, int s, std::int64_t arg = 0) {
    world_.trace().add_all(0xfa017ULL, kind, s, arg);
  }

  std::int64_t latency() {
    const auto& f = options_.faults;
    std::int64_t d = f.latency_ns;
    if (f.jitter_ns > 0) d += net_rng_.between(0, f.jitter_ns);
    if (!quiet_ && f.slow_per_million && net_rng_.chance_per_million(f.slow_per_million)) {
      d += net_rng_.between(0, f.slow_ns);
    }
    return d;
  }

  bool link_cut(std::int64_t session, int s) const {
    return !cuts_.empty() && cuts_.contains(std::make_pair(session, s));
  }

  // ---- client side ---------------------------------------------------------------------------

  void dispatcher_loop(detail::client_state& c) {
    while (c.attached) {
      while (c.dispatch.empty()) {
        if (!c.attached) return;
        c.dispatcher = world_.prepare_block("dispatcher");
        c.dispatcher_waiting = true;
        world_.block();
      }
      auto fn = std::move(c.dispatch.front());
      c.dispatch.pop_front();
      fn();
    }
  }

  void notify(detail::client_state& c, session_state s) {
    if (!c.attached) return;
    for (const auto& [id, fn] : c.listeners) {
      post(c, [fn = fn, s] { fn(s); });
    }
  }

  void fail_all(detail::client_state& c, std::error_code ec) {
    auto inflight = std::move(c.inflight);
    c.inflight.clear();
    c.unsent.clear();
    for (auto& [xid, one] : inflight) {
      world_.trace().add_all(0xc0ULL, c.session, xid, static_cast<std::int64_t>(ec.value()));
      // A read that failed leaves no watch the caller could expect (the server dropped the
      // connection's registrations anyway).
      if (one->watch_id) c.watches.erase(one->watch_id);
      one->result = detail::reply{};
      one->result.xid = xid;
      one->result.ec = ec;
      one->done = true;
      world_.wake(one->waiter);
    }
  }

  void connect(detail::client_state& c) {
    if (c.state == session_state::closed || c.state == session_state::expired) return;
    const int s = c.next_server;
    c.next_server = (c.next_server + 1) % server_count();
    const std::uint64_t id = next_conn_++;
    auto& conn = connections_[id];
    conn.id = id;
    conn.session = c.session;
    conn.server = s;
    conn.connect_zxid = c.last_zxid;
    conn.connect_position = c.last_position;
    for (const auto& [wid, w] : c.watches) {
      if (w.active) conn.connect_watches.push_back({wid, w.path, w.kind});
    }
    c.attempt = id;
    const std::int64_t when = std::max(conn.c2s_last, world_.now() + latency());
    conn.c2s_last = when;
    world_.at(when, [this, id] { server_connect(id); });
    world_.after(options_.connect_timeout_ns, [this, id, session = c.session] {
      auto it = clients_.find(session);
      if (it == clients_.end() || it->second->attempt != id) return;
      connect_failed(*it->second, id);
    });
  }

  void connect_failed(detail::client_state& c, std::uint64_t id) {
    if (c.attempt != id) return;
    c.attempt = 0;
    auto it = connections_.find(id);
    if (it != connections_.end() && it->second.open) close_connection(it->second);
    // Calls queued during this attempt fail, as the C client fails its queue on each failed
    // attempt; then the next server is tried.
    fail_all(c, make_error_code(coordinator_errc::connection_loss));
    // Like the C client: the next server at once, but a pause after every server failed.
    const bool round = ++c.failed_attempts % server_count() == 0;
    const std::int64_t pause =
        round ? c.random.between(100, 300) * milliseconds : c.random.between(0, 10) * milliseconds;
    world_.after(pause, [this, session = c.session] {
      auto cl = clients_.find(session);
      if (cl == clients_.end()) return;
      auto& cc = *cl->second;
      if (cc.conn == 0 && cc.attempt == 0) connect(cc);
    });
  }

  void client_connected(detail::client_state& c, std::uint64_t id, const detail::reply& r) {
    if (c.attempt != id) return;
    c.attempt = 0;
    c.conn = id;
    c.failed_attempts = 0;
    // Not the zxid: what the client has seen is what replies told it. The setWatches events
    // follow this message; should the connection break before they arrive, the next
    // reconnection must still fire them (the C client's last_zxid comes from reply headers only).
    c.last_position = std::max(c.last_position, r.position);
    const bool was = c.state == session_state::connected;
    c.state = session_state::connected;
    if (!was) notify(c, session_state::connected);
    auto unsent = std::move(c.unsent);
    c.unsent.clear();
    for (auto& req : unsent) send_request(c, req);
  }

  void client_disconnected(std::uint64_t id, std::int64_t session) {
    auto it = clients_.find(session);
    if (it == clients_.end()) return;
    auto& c = *it->second;
    if (c.attempt == id) {
      connect_failed(c, id);
      return;
    }
    if (c.conn != id) return;
    c.conn = 0;
    fail_all(c, make_error_code(coordinator_errc::connection_loss));
    if (c.state == session_state::connected) {
      c.state = session_state::connecting;
      notify(c, session_state::connecting);
    }
    world_.after(c.random.between(0, 10 * milliseconds), [this, session] {
      auto cl = clients_.find(session);
      if (cl == clients_.end()) return;
      auto& cc = *cl->second;
      if (cc.conn == 0 && cc.attempt == 0) connect(cc);
    });
  }

  void client_expired(detail::client_state& c) {
    if (c.state == session_state::expired || c.state == session_state::closed) return;
    c.state = session_state::expired;
    c.conn = c.attempt = 0;
    fail_all(c, make_error_code(coordinator_errc::session_expired));
    // Every outstanding watch learns that it will never fire (its registration died with the
    // session), so a cache built on watches knows to drop what it holds.
    auto watches = std::move(c.watches);
    c.watches.clear();
    for (auto& [wid, w] : watches) {
      watch_event ev{event_type::session, session_state::expired, w.path};
      deliver_watch(c, w.fn, ev);
    }
    notify(c, session_state::expired);
  }

  void deliver_watch(detail::client_state& c, const dstm::watch& w, watch_event ev) {
    if (!c.attached || !w) return;
    ev.sequence = ++c.delivered;
    if (w.in_order) {
      w.fn(ev);
    } else {
      post(c, [fn = w.fn, ev] { fn(ev); });
    }
  }

  void send_request(detail::client_state& c, detail::request req) {
    auto it = connections_.find(c.conn);
    if (it == connections_.end() || !it->second.open) return;  // the disconnect will fail it
    const auto& f = options_.faults;
    if (!quiet_ && f.loss_before_per_million &&
        net_rng_.chance_per_million(f.loss_before_per_million)) {
      ++stats_.lost_before;
      world_.trace().add_all(0x1055ULL, c.session, req.xid);
      break_connection(c.conn, latency());
      return;
    }
    if (!quiet_ && f.loss_after_per_million && req.kind != detail::req_kind::close &&
        net_rng_.chance_per_million(f.loss_after_per_million)) {
      req.break_after = true;
    }
    auto& conn = it->second;
    const std::int64_t when = std::max(conn.c2s_last, world_.now() + latency());
    conn.c2s_last = when;
    world_.at(when, [this, id = conn.id, req = std::move(req)]() mutable {
      server_receive(id, std::move(req));
    });
  }

  void client_receive(std::uint64_t conn_id, std::int64_t session, detail::message kind,
                      detail::reply r, std::uint64_t watch_id, const watch_event* ev) {
    auto it = clients_.find(session);
    if (it == clients_.end()) return;
    auto& c = *it->second;
    if (kind == detail::message::connected) {
      if (c.attempt == conn_id) client_connected(c, conn_id, r);
      return;
    }
    if (kind == detail::message::expired) {
      if (c.attempt != conn_id && c.conn != conn_id) return;
      client_expired(c);
      break_connection(conn_id, -1);
      return;
    }
    if (c.conn != conn_id) return;
    if (kind == detail::message::event) {
      world_.trace().add_all(0xe7ULL, session, watch_id, static_cast<int>(ev->type));
      auto w = c.watches.find(watch_id);
      if (w == c.watches.end()) return;  // fired already (a duplicate registration)
      auto fn = std::move(w->second.fn);
      c.watches.erase(w);
      deliver_watch(c, fn, *ev);
      return;
    }
    c.last_zxid = std::max(c.last_zxid, r.zxid);
    c.last_position = std::max(c.last_position, r.position);
    auto call_it = c.inflight.find(r.xid);
    if (call_it == c.inflight.end()) return;  // the caller gave up (unwound)
    world_.trace().add_all(0x4e91ULL, session, r.xid, static_cast<std::int64_t>(r.ec.value()));
    detail::call* one = call_it->second;
    c.inflight.erase(call_it);
    if (r.watch_id != 0) {
      auto w = c.watches.find(r.watch_id);
      if (w != c.watches.end()) {
        if (r.watch_set) {
          w->second.kind = r.watch_kind;
          w->second.active = true;
        } else {
          c.watches.erase(w);
        }
      }
    }
    r.data.sequence = ++c.delivered;
    one->result = std::move(r);
    one->done = true;
    world_.wake(one->waiter);
  }

  // ---- network and connections -------------------------------------------------------------

  void send_to_client(detail::connection& conn, detail::message kind, detail::reply r,
                      std::uint64_t watch_id = 0, std::optional<watch_event> ev = std::nullopt) {
    const std::int64_t when = std::max(conn.s2c_last, world_.now() + latency());
    conn.s2c_last = when;
    world_.at(when, [this, id = conn.id, session = conn.session, kind, r = std::move(r), watch_id,
                     ev = std::move(ev)]() mutable {
      auto c = connections_.find(id);
      if (c == connections_.end() || !c->second.open) return;
      if (link_cut(session, c->second.server)) return;
      client_receive(id, session, kind, std::move(r), watch_id, ev ? &*ev : nullptr);
    });
  }

  /// Closes a connection at once on the server side; the client notices after `detect_ns`
  /// (negative: it closed the connection itself and needs no notice).
  void break_connection(std::uint64_t id, std::int64_t detect_ns) {
    auto it = connections_.find(id);
    if (it == connections_.end() || !it->second.open) return;
    ++stats_.disconnects;
    world_.trace().add_all(0xd15cULL, id);
    const std::int64_t session = it->second.session;
    close_connection(it->second);
    if (detect_ns >= 0) {
      world_.after(detect_ns, [this, id, session] { client_disconnected(id, session); });
    }
  }

  void close_connection(detail::connection& conn) {
    conn.open = false;
    auto& sv = server(conn.server);
    sv.connections.erase(conn.id);
    for (const auto& w : conn.registered) sv.tree.remove_watch(conn.session, w.path, w.kind, w.id);
    conn.registered.clear();
    conn.queue.clear();
    auto rec = sessions_.find(conn.session);
    if (rec != sessions_.end() && rec->second.conn == conn.id) {
      rec->second.conn = 0;
      start_expiry_timer(conn.session, rec->second);
    }
    const std::uint64_t id = conn.id;
    // Messages still in flight look the connection up and find it gone.
    connections_.erase(id);
  }

  void drop_server_connections(detail::server_state& sv) {
    const std::vector<std::uint64_t> ids(sv.connections.begin(), sv.connections.end());
    for (auto id : ids) break_connection(id, latency());
    // Connection attempts in flight to this server are refused too.
    std::vector<std::uint64_t> attempts;
    for (const auto& [id, conn] : connections_) {
      if (conn.server == sv.id && !conn.established) attempts.push_back(id);
    }
    for (auto id : attempts) break_connection(id, latency());
  }

  // ---- servers -------------------------------------------------------------------------------

  void server_connect(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end() || !it->second.open) return;
    auto& conn = it->second;
    auto& sv = server(conn.server);
    if (link_cut(conn.session, sv.id)) return;  // silence: the client times out
    if (!sv.up || sv.isolated || leader_ < 0) {
      break_connection(id, latency());  // refused at once: not running or no quorum
      return;
    }
    auto& rec = sessions_[conn.session];
    if (rec.state != status::open) {
      detail::reply r;
      r.ec = make_error_code(coordinator_errc::session_expired);
      send_to_client(conn, detail::message::expired, std::move(r));
      return;
    }
    if (!rec.created) {
      detail::request open;
      open.kind = detail::req_kind::open_session;
      conn.busy = true;
      forward(sv, conn, std::move(open));
      return;
    }
    if (sv.applied < conn.connect_position) {
      // ZooKeeper refuses a client that has seen a later zxid than the server.
      ++stats_.migrations_refused;
      break_connection(id, latency());
      return;
    }
    accept(sv, conn);
  }

  void accept(detail::server_state& sv, detail::connection& conn) {
    auto& rec = sessions_[conn.session];
    if (rec.conn != 0 && rec.conn != conn.id) break_connection(rec.conn, latency());
    rec.conn = conn.id;
    ++rec.timer;  // connected: no expiry timer
    conn.established = true;
    conn.busy = false;
    sv.connections.insert(conn.id);
    detail::reply r;
    r.zxid = sv.tree.last_zxid();
    r.position = sv.applied;
    send_to_client(conn, detail::message::connected, std::move(r));
    // setWatches: fire what changed since the client last looked, register the rest.
    for (auto& w : conn.connect_watches) {
      std::error_code ec;
      const auto st = sv.tree.exists(conn.session, w.path, ec);
      std::optional<watch_event> ev;
      using wk = znode_tree::watch_kind;
      if (ec) {
        continue;
      } else if (w.kind == wk::exists) {
        if (st) ev = watch_event{event_type::created, session_state::connected, w.path};
      } else if (!st) {
        ev = watch_event{event_type::deleted, session_state::connected, w.path};
      } else if (w.kind == wk::data && st->mzxid > conn.connect_zxid) {
        ev = watch_event{event_type::changed, session_state::connected, w.path};
      } else if (w.kind == wk::child && st->pzxid > conn.connect_zxid) {
        ev = watch_event{event_type::child, session_state::connected, w.path};
      }
      if (ev) {
        send_to_client(conn, detail::message::event, {}, w.id, ev);
      } else {
        sv.tree.add_watch(conn.session, w.path, w.kind, w.id);
        conn.registered.push_back(w);
      }
    }
    conn.connect_watches.clear();
    process(conn.id);
  }

  void server_receive(std::uint64_t id, detail::request req) {
    auto it = connections_.find(id);
    if (it == connections_.end() || !it->second.open) return;
    auto& conn = it->second;
    if (link_cut(conn.session, conn.server)) return;
    ++stats_.requests;
    world_.trace().add_all(0x5e7ULL, conn.session, req.xid, static_cast<int>(req.kind));
    conn.queue.push_back(std::move(req));
    process(id);
  }

  /// Serves the connection's queue in order: reads at once from the server's replica, writes
  /// through the leader — and nothing behind a write until its reply is out (session FIFO).
  void process(std::uint64_t id) {
    for (;;) {
      auto it = connections_.find(id);
      if (it == connections_.end() || !it->second.open) return;
      auto& cn = it->second;
      if (cn.busy || !cn.established || cn.queue.empty()) return;
      detail::request req = std::move(cn.queue.front());
      cn.queue.pop_front();
      auto& sv = server(cn.server);
      if (detail::is_read(req.kind)) {
        detail::reply r = read(sv, cn, req);
        reply_to(cn, std::move(r), req.break_after);
      } else {
        cn.busy = true;
        forward(sv, cn, std::move(req));
      }
    }
  }

  void reply_to(detail::connection& conn, detail::reply r, bool break_after) {
    if (break_after) {
      ++stats_.lost_after;
      world_.trace().add_all(0x1a7eULL, conn.session, r.xid);
      break_connection(conn.id, latency());
      return;
    }
    send_to_client(conn, detail::message::reply, std::move(r));
  }

  detail::reply read(detail::server_state& sv, detail::connection& conn, const detail::request& q) {
    detail::reply r;
    r.xid = q.xid;
    r.watch_id = q.watch_id;
    using wk = znode_tree::watch_kind;
    auto watch = [&](wk kind) {
      if (!q.watch_id) return;
      sv.tree.add_watch(conn.session, q.path, kind, q.watch_id);
      conn.registered.push_back({q.watch_id, q.path, kind});
      r.watch_set = true;
      r.watch_kind = kind;
    };
    switch (q.kind) {
      case detail::req_kind::get:
        r.data = sv.tree.get(conn.session, q.path, r.ec);
        if (!r.ec) watch(wk::data);
        break;
      case detail::req_kind::exists:
        r.stat = sv.tree.exists(conn.session, q.path, r.ec);
        if (!r.ec) watch(r.stat ? wk::data : wk::exists);
        break;
      case detail::req_kind::children:
        r.children = sv.tree.children(conn.session, q.path, r.ec);
        if (!r.ec) watch(wk::child);
        break;
      case detail::req_kind::get_acl: {
        dstm::stat st;
        r.acls = sv.tree.get_acl(conn.session, q.path, &st, r.ec);
        r.stat = st;
        break;
      }
      default:
        break;
    }
    r.zxid = sv.tree.last_zxid();
    r.position = sv.applied;
    return r;
  }

  void forward(detail::server_state& sv, detail::connection& conn, detail::request req) {
    const std::uint64_t epoch = epoch_;
    if (sv.id == leader_) {
      lead(sv.id, conn.id, conn.session, std::move(req));
      return;
    }
    const std::int64_t when = std::max(sv.forward_last, world_.now() + hop(sv));
    sv.forward_last = when;
    world_.at(when, [this, s = sv.id, id = conn.id, session = conn.session, epoch,
                     req = std::move(req)]() mutable {
      if (epoch != epoch_ || leader_ < 0) return;  // lost with the old leader
      lead(s, id, session, std::move(req));
    });
  }

  std::int64_t hop(const detail::server_state& sv) {
    const auto& f = options_.faults;
    std::int64_t d = f.replication_ns + sv.lag_ns;
    if (f.replication_jitter_ns > 0) d += net_rng_.between(0, f.replication_jitter_ns);
    return d;
  }

  std::int64_t time_ms() const { return options_.epoch_ms + world_.now() / milliseconds; }

  /// The leader applies a request from server `origin`'s connection `conn_id`: to its replica,
  /// then to the log; the reply waits on `origin` until it has applied that far.
  void lead(int origin, std::uint64_t conn_id, std::int64_t session, detail::request req) {
    auto& ld = server(leader_);
    detail::log_entry e;
    e.kind = req.kind;
    e.session = session;
    e.time_ms = time_ms();
    const bool break_after = req.break_after;
    detail::reply r;
    r.xid = req.xid;
    auto rec = sessions_.find(session);
    if (req.kind == detail::req_kind::sync) {
      // Nothing to log: the reply just waits until the origin has caught up to here.
      r.path = req.path;
    } else {
      if (req.kind == detail::req_kind::close && rec != sessions_.end()) {
        rec->second.state = status::closed;
      }
      if (req.kind == detail::req_kind::open_session && rec != sessions_.end()) {
        rec->second.created = true;
        // Until its connection is accepted the new session runs down its timeout, like any
        // session without a connection.
        if (rec->second.conn == 0) start_expiry_timer(session, rec->second);
      }
      e.req = std::move(req);
      znode_tree::fired_list fired;
      apply(ld.tree, e, fired, &r);
      log_.push_back(std::move(e));
      ld.applied = log_size();
      ++stats_.writes_applied;
      world_.trace().add_all(0x109ULL, ld.applied, ld.tree.last_zxid());
      deliver(ld, fired);
      flush(ld);
      replicate();
    }
    const std::uint64_t index = log_size();
    auto& og = server(origin);
    detail::pending_reply p;
    p.index = index;
    p.conn = conn_id;
    p.accept = e.kind == detail::req_kind::open_session;
    p.break_after = break_after;
    p.r = std::move(r);
    og.pending.push_back(std::move(p));
    if (e.kind == detail::req_kind::sync && origin != leader_) {
      // sync: the leader pushes everything up to here to the origin straight away.
      world_.after(hop(og), [this, origin, index, epoch = epoch_] {
        auto& sv = server(origin);
        if (epoch == epoch_ && sv.up && !sv.isolated) apply_upto(sv, index);
      });
    }
    flush(og);
  }

  /// Appends an internal write (expiry) at the leader, if there is one.
  void submit_internal(detail::req_kind kind, std::int64_t session) {
    if (leader_ < 0) return;  // retried by the expiry timer once a leader exists
    auto& ld = server(leader_);
    detail::log_entry e;
    e.kind = kind;
    e.session = session;
    e.time_ms = time_ms();
    znode_tree::fired_list fired;
    apply(ld.tree, e, fired, nullptr);
    log_.push_back(std::move(e));
    ld.applied = log_size();
    ++stats_.writes_applied;
    deliver(ld, fired);
    flush(ld);
    replicate();
  }

  void apply(znode_tree& t, const detail::log_entry& e, znode_tree::fired_list& fired,
             detail::reply* out) {
    detail::reply scratch;
    detail::reply& r = out ? *out : scratch;
    const auto& q = e.req;
    using k = detail::req_kind;
    switch (e.kind) {
      case k::open_session:
        t.open_session(e.session);
        break;
      case k::close:
      case k::expire_session:
        fired = t.close_session(e.session, e.time_ms);
        break;
      case k::create: {
        dstm::stat st;
        r.path = t.create(e.session, q.path, q.data, q.mode, q.acls, &st, r.ec, fired, e.time_ms);
        r.stat = st;
        break;
      }
      case k::set:
        r.stat = t.set(e.session, q.path, q.data, q.version, r.ec, fired, e.time_ms);
        break;
      case k::remove:
        t.remove(e.session, q.path, q.version, r.ec, fired);
        break;
      case k::set_acl:
        t.set_acl(e.session, q.path, q.acls, q.version, r.ec);
        break;
      case k::multi:
        r.results = t.multi(e.session, q.ops, r.ec, fired, e.time_ms);
        break;
      case k::add_auth:
        r.ec = t.add_auth(e.session, q.path, q.data);
        break;
      default:
        break;
    }
  }

  /// Sends the watch events a replica fired to the sessions connected to that server.
  void deliver(detail::server_state& sv, const znode_tree::fired_list& fired) {
    for (const auto& f : fired) {
      auto rec = sessions_.find(f.session);
      if (rec == sessions_.end() || rec->second.conn == 0) continue;
      auto c = connections_.find(rec->second.conn);
      if (c == connections_.end() || !c->second.open || c->second.server != sv.id) continue;
      auto& regs = c->second.registered;
      std::erase_if(regs, [&](const detail::watch_registration& w) { return w.id == f.watch_id; });
      send_to_client(c->second, detail::message::event, {}, f.watch_id, f.event);
    }
  }

  /// Sends the replies (and accepts) of `sv` whose log position it has reached.
  void flush(detail::server_state& sv) {
    while (!sv.pending.empty() && sv.pending.front().index <= sv.applied) {
      auto p = std::move(sv.pending.front());
      sv.pending.pop_front();
      auto it = connections_.find(p.conn);
      if (it == connections_.end() || !it->second.open) continue;
      auto& conn = it->second;
      p.r.zxid = sv.tree.last_zxid();
      p.r.position = sv.applied;
      if (p.accept) {
        accept(sv, conn);
        continue;
      }
      conn.busy = false;
      reply_to(conn, std::move(p.r), p.break_after);
      process(p.conn);
    }
  }

  void replicate() {
    const std::uint64_t index = log_size();
    for (auto& sp : servers_) {
      auto& sv = *sp;
      if (sv.id == leader_ || !sv.up || sv.isolated) continue;
      const std::int64_t when = std::max(sv.replication_last, world_.now() + hop(sv));
      sv.replication_last = when;
      world_.at(when, [this, s = sv.id, index] {
        auto& f = server(s);
        if (f.up && !f.isolated) apply_upto(f, index);
      });
    }
  }

  void catch_up_later(detail::server_state& sv) {
    const std::int64_t when = std::max(sv.replication_last, world_.now() + hop(sv));
    sv.replication_last = when;
    world_.at(when, [this, s = sv.id] {
      auto& f = server(s);
      if (f.up && !f.isolated) apply_upto(f, log_size());
    });
  }

  void apply_upto(detail::server_state& sv, std::uint64_t index) {
    index = std::min(index, log_size());
    while (sv.applied < index) {
      const auto& e = log_[sv.applied - log_base_];
      znode_tree::fired_list fired;
      apply(sv.tree, e, fired, nullptr);
      ++sv.applied;
      deliver(sv, fired);
    }
    flush(sv);
    trim_log();
  }

  void trim_log() {
    std::uint64_t low = log_size();
    for (const auto& sv : servers_) low = std::min(low, sv->applied);
    // Trim in chunks: deque front erasure is cheap, but not free.
    if (low > log_base_ + 1024) {
      log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(low - log_base_));
      log_base_ = low;
    }
  }

  // ---- leadership and sessions ---------------------------------------------------------------

  /// Re-evaluates leadership after a crash, restart or partition change.
  void reconsider() {
    int available = 0;
    for (const auto& sv : servers_) available += (sv->up && !sv->isolated) ? 1 : 0;
    const bool quorum = 2 * available > server_count();
    if (leader_ >= 0) {
      const auto& ld = server(leader_);
      if (quorum && ld.up && !ld.isolated) return;
      // The leader is gone or lost its quorum: every server drops its clients.
      leader_ = -1;
      ++epoch_;
      for (auto& sv : servers_) {
        drop_server_connections(*sv);
        sv->pending.clear();
      }
    }
    if (quorum && !electing_) {
      electing_ = true;
      world_.after(options_.election_ns, [this] { elect(); });
    }
  }

  void elect() {
    electing_ = false;
    if (leader_ >= 0) return;
    int best = -1;
    for (const auto& sv : servers_) {
      if (!sv->up || sv->isolated) continue;
      if (best < 0 || sv->applied > server(best).applied) best = sv->id;
    }
    int available = 0;
    for (const auto& sv : servers_) available += (sv->up && !sv->isolated) ? 1 : 0;
    if (best < 0 || 2 * available <= server_count()) return;
    ++stats_.elections;
    // Every committed entry is on a quorum, and the new leader syncs with its quorum before it
    // leads; the model's log is that committed history.
    auto& ld = server(best);
    apply_upto(ld, log_size());
    leader_ = best;
    ++epoch_;
    trace_fault(10, best);
    for (auto& sv : servers_) {
      if (sv->id != best && sv->up && !sv->isolated) catch_up_later(*sv);
    }
    // A new leader restarts every session's expiry clock.
    for (auto& [id, rec] : sessions_) {
      if (rec.state == status::open && rec.conn == 0) start_expiry_timer(id, rec);
    }
  }

  void start_expiry_timer(std::int64_t session, detail::session_record& rec) {
    if (rec.state != status::open) return;
    const std::uint64_t gen = ++rec.timer;
    world_.after(rec.timeout_ns, [this, session, gen] {
      auto it = sessions_.find(session);
      if (it == sessions_.end()) return;
      auto& r = it->second;
      if (r.timer != gen || r.state != status::open || r.conn != 0) return;
      if (leader_ < 0) {
        start_expiry_timer(session, r);  // no leader, no expiry; the next one restarts it
        return;
      }
      if (!r.created) return;
      ++stats_.server_expiries;
      trace_fault(11, 0, session);
      r.state = status::expired;
      submit_internal(detail::req_kind::expire_session, session);
    });
  }

  // ---- the nemesis ---------------------------------------------------------------------------

  void schedule_nemesis() {
    const auto interval = options_.faults.nemesis_interval_ns;
    world_.after(nemesis_rng_.between(interval / 2, interval * 3 / 2),
                 [this, gen = nemesis_generation_] {
                   if (!nemesis_on_ || gen != nemesis_generation_) return;
                   nemesis_strike();
                   schedule_nemesis();
                 });
  }

  void nemesis_strike() {
    const auto& f = options_.faults;
    const std::uint32_t weights[] = {
        f.weight_crash,  f.weight_server_partition, f.weight_client_partition,
        f.weight_expire, f.weight_client_expire,    f.weight_lag};
    std::uint64_t total = 0;
    for (auto w : weights) total += w;
    if (total == 0) return;
    std::uint64_t pick = nemesis_rng_.below(total);
    int kind = 0;
    while (pick >= weights[kind]) pick -= weights[kind++];
    const std::int64_t duration = nemesis_rng_.between(
        f.fault_duration_ns / 4, std::max<std::int64_t>(f.fault_duration_ns, 1));
    const int s = static_cast<int>(nemesis_rng_.below(servers_.size()));
    const auto gen = nemesis_generation_;
    auto heal_later = [&](std::function<void()> heal) {
      world_.after(duration, [this, gen, heal = std::move(heal)] {
        if (gen == nemesis_generation_) heal();
      });
    };
    switch (kind) {
      case 0:
        if (!server(s).up) return;
        crash(s);
        heal_later([this, s] { restart(s); });
        break;
      case 1:
        if (server(s).isolated) return;
        isolate(s, true);
        heal_later([this, s] { isolate(s, false); });
        break;
      case 2: {
        const auto session = pick_session(true);
        if (!session) return;
        const int at = server_of(*session);
        if (at < 0) return;
        cut(*session, at, true);
        heal_later([this, session = *session, at] { cut(session, at, false); });
        break;
      }
      case 3:
        if (auto session = pick_session(false)) expire_session(*session);
        break;
      case 4:
        if (auto session = pick_session(true)) client_believes_expired(*session);
        break;
      case 5:
        if (s == leader_ || server(s).lag_ns > 0) return;
        set_lag(s, nemesis_rng_.between(f.lag_ns / 4, std::max<std::int64_t>(f.lag_ns, 1)));
        heal_later([this, s] { set_lag(s, 0); });
        break;
      default:
        break;
    }
  }

  std::optional<std::int64_t> pick_session(bool connected) {
    std::vector<std::int64_t> candidates;
    for (const auto& [id, rec] : sessions_) {
      if (rec.state != status::open || !rec.created) continue;
      if (connected && rec.conn == 0) continue;
      auto c = clients_.find(id);
      if (c == clients_.end() || c->second->state == session_state::closed) continue;
      candidates.push_back(id);
    }
    if (candidates.empty()) return std::nullopt;
    return candidates[nemesis_rng_.below(candidates.size())];
  }

  world& world_;
  ensemble_options options_;
  rng net_rng_;
  rng nemesis_rng_;
  rng client_rng_;
  ensemble_stats stats_;
  std::vector<std::unique_ptr<detail::server_state>> servers_;
  int leader_ = -1;
  std::uint64_t epoch_ = 1;
  bool electing_ = false;
  std::deque<detail::log_entry> log_;
  std::uint64_t log_base_ = 0;
  std::map<std::int64_t, detail::session_record> sessions_;
  std::map<std::int64_t, std::unique_ptr<detail::client_state>> clients_;
  std::map<std::uint64_t, detail::connection> connections_;
  std::set<std::pair<std::int64_t, int>> cuts_;
  std::int64_t next_session_ = 0x100000001LL;
  std::uint64_t next_conn_ = 1;
  bool nemesis_on_ = false;
  bool quiet_ = false;  // stop_faults() was called
  std::uint64_t nemesis_generation_ = 0;
};

}  // namespace dstm::sim
