#pragma once
/// \file
/// `dstm::client`: one process's handle on the distributed STM. It owns the coordinator session
/// (and opens a new one after an expiry), the read cache, the per-client outcome records that
/// make commits exactly-once, and the metrics tests and benchmarks read.
///
/// **The cache.** path → (value, stat), filled by reads that leave an in-order watch and
/// dropped when the watch fires. The coordinator delivers a session's replies and watch events
/// in one order (`node::sequence`), and an entry is kept only when no invalidation followed the
/// read that filled it — so the valid entries always form a consistent snapshot, and a
/// read-only transaction on a warm cache costs no round trip. An expired session drops the cache.
///
/// **Outcome records.** `<root>/clients/<client id>/<lane>` are persistent znodes. Every commit's
/// `multi` also sets one lane's record to the transaction's sequence number, with the lane's
/// expected version. After a connection loss the client reads the record: its number says
/// whether the commit was applied; if not, the client bumps the record's version (a fence), so
/// the lost request can never be applied later. Concurrent transactions of one client use
/// different lanes, so they pipeline instead of conflicting on one record.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dstm/coordinator/any.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/detail/envelope.hpp"
#include "dstm/error.hpp"

namespace dstm {

/// Isolation of a transaction. `serializable` (default) checks every ref read at commit;
/// `snapshot` (Clojure's) checks only written and `ensure`d refs, so write skew is possible.
enum class isolation { serializable, snapshot };

struct client_options {
  /// Where the client keeps its outcome records (`<root>/clients/...`).
  std::string root = "/dstm";
  /// Conflicts a transaction may retry before `dosync` throws `retry_limit_exceeded`.
  int max_retries = 10000;
  /// Jittered exponential backoff between retries, in nanoseconds.
  std::int64_t backoff_min_ns = 20'000;
  std::int64_t backoff_max_ns = 20'000'000;
  /// After a conflict, back off in units of the client's commit round trip (a moving average
  /// of its multis' latency) when that is longer than `backoff_min_ns`: the winner needs about
  /// one round trip to commit, so a loser that comes back sooner collides again. Measured on
  /// one ref with 8 clients against ZooKeeper (`bench_stm`, contention/T:8, alter / commute
  /// over the raw CAS loop): a 20 µs base gave 0.81 / 0.73, a 1 ms base 1.19 / 1.15. false:
  /// `backoff_min_ns` alone.
  bool backoff_by_round_trip = true;
  /// Attempts to read the outcome record after a connection loss before giving up with
  /// `commit_outcome_unknown`.
  int outcome_attempts = 200;
  isolation default_isolation = isolation::serializable;
  /// Conflicts after which a transaction stops racing and queues for the gate, which
  /// guarantees it commits next (detail/contention.hpp); 0 never escalates. Closing the gate
  /// fails every commit in flight, so escalating early feeds itself: with 16 clients on one
  /// ref the simulation measured 14.2 round trips per commit at 8, 1.8 at 32 (docs in the
  /// README's benchmark section).
  int escalate_after = 32;
  /// Outcome records of clients idle longer than this (by the coordinator's clock, from the
  /// records' last change) are collected, so records of clients gone for good do not
  /// accumulate. A client whose records were collected recreates them when it commits again;
  /// only a commit whose reply is lost at the very moment its record is collected ends in
  /// `commit_outcome_unknown`. Choose it far above any pause of a live client.
  std::int64_t record_max_age_ms = 7LL * 24 * 3600 * 1000;
  /// Idle clients' records examined when a client starts (0: only `collect_records()`).
  int collect_on_start = 8;
};

/// Counters the engine keeps; read with `client::metrics()`.
struct client_metrics {
  std::uint64_t commits = 0;            ///< transactions that committed (read-only included)
  std::uint64_t read_only_commits = 0;  ///< ... of which needed no write
  std::uint64_t retries = 0;            ///< bodies run again (conflicts and doomed snapshots)
  std::uint64_t conflicts = 0;          ///< multis refused for a version check
  std::uint64_t commute_reapplies = 0;  ///< commit retries that re-applied commutes only
  std::uint64_t round_trips = 0;        ///< times the client waited on the coordinator
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t rearm_waits = 0;  ///< reads that waited for a commit's re-arming read of the ref
  std::uint64_t outcome_resolutions = 0;  ///< commits whose outcome had to be read back
  std::uint64_t reconnects = 0;           ///< new sessions after an expiry
  std::uint64_t escalations = 0;          ///< transactions that queued for the gate after conflicts
  std::uint64_t gate_waits = 0;           ///< commits deferred because another client held the gate
  /// Moving average of a commit's multi, in the coordinator's nanoseconds: the unit of the
  /// backoff after a conflict (`client_options::backoff_by_round_trip`); 0 before a commit.
  std::int64_t commit_round_trip_ns = 0;
};

namespace detail {

/// A value as read from the coordinator, immutable once published; the decoded form is
/// memoised per type so warm reads do not deserialize again.
class cached_value {
 public:
  cached_value(std::string data, dstm::stat st, std::uint64_t seq)
      : data_(std::move(data)), stat_(st), sequence_(seq) {}
  const std::string& data() const noexcept { return data_; }
  const dstm::stat& stat() const noexcept { return stat_; }
  std::uint64_t sequence() const noexcept { return sequence_; }

  template <class T, class Decode>
  std::shared_ptr<const T> decoded(Decode&& decode) const {
    {
      std::lock_guard lock(mutex_);
      if (type_ == &typeid(T)) return std::static_pointer_cast<const T>(decoded_);
    }
    auto value = std::make_shared<const T>(decode(data_));
    std::lock_guard lock(mutex_);
    decoded_ = value;
    type_ = &typeid(T);
    return value;
  }

 private:
  std::string data_;
  dstm::stat stat_;
  std::uint64_t sequence_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const void> decoded_;
  mutable const std::type_info* type_ = nullptr;
};

/// The watch-invalidated cache (see the file comment).
class value_cache {
 public:
  /// Keeps `v` unless an invalidation of `path` came after the read that produced it.
  void store(const std::string& path, std::uint64_t incarnation,
             std::shared_ptr<const cached_value> v) {
    std::lock_guard lock(mutex_);
    if (incarnation != incarnation_) return;
    keep(slots_[path], std::move(v));
  }

  /// Marks `paths` as being read back after a commit (the reads that re-arm their watches),
  /// so that a reader missing one waits for that read instead of sending its own.
  void begin_rearm(std::span<const std::string> paths, std::uint64_t incarnation) {
    std::lock_guard lock(mutex_);
    if (incarnation != incarnation_) return;
    for (const auto& p : paths) ++slots_[p].rearming;
  }

  /// One of `begin_rearm`'s reads arrived (`v`) or failed (null). Runs on the coordinator's
  /// completion thread.
  void end_rearm(const std::string& path, std::uint64_t incarnation,
                 std::shared_ptr<const cached_value> v) {
    {
      std::lock_guard lock(mutex_);
      if (incarnation != incarnation_) return;  // reset() forgot the marks
      auto& slot = slots_[path];
      if (v) keep(slot, std::move(v));
      if (slot.rearming > 0) --slot.rearming;
      if (slot.rearming > 0) return;
    }
    rearmed_.notify_all();
  }

  /// The valid entry for `path`; if there is none while a read of it begun by `begin_rearm` is
  /// in flight, the entry that read brings (waiting at most `patience`). Null: the caller reads
  /// it itself. `waited` tells whether a read was in flight. One lock when nothing is awaited.
  std::shared_ptr<const cached_value> lookup(const std::string& path,
                                             std::chrono::nanoseconds patience, bool& waited) {
    std::unique_lock lock(mutex_);
    waited = false;
    auto it = slots_.find(path);
    if (it == slots_.end()) return nullptr;
    if (it->second.value || it->second.rearming == 0) return it->second.value;
    waited = true;
    const std::uint64_t incarnation = incarnation_.load();
    rearmed_.wait_for(lock, patience, [&] {
      if (incarnation != incarnation_) return true;
      it = slots_.find(path);  // reset() may have cleared the map
      return it == slots_.end() || it->second.rearming == 0 || it->second.value != nullptr;
    });
    if (incarnation != incarnation_ || it == slots_.end()) return nullptr;
    return it->second.value;
  }

  /// Runs on the coordinator's completion thread (an in-order watch): short, never blocks long.
  void invalidate(const std::string& path, std::uint64_t incarnation, std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    if (incarnation != incarnation_) return;
    auto& slot = slots_[path];
    if (seq > slot.invalidated_at) slot.invalidated_at = seq;
    if (slot.value && slot.value->sequence() < seq) slot.value.reset();
    epoch_.fetch_add(1, std::memory_order_release);
  }

  /// True while no invalidation of `path` followed the read at `read_seq` (same session).
  bool still_valid(const std::string& path, std::uint64_t incarnation,
                   std::uint64_t read_seq) const {
    std::lock_guard lock(mutex_);
    if (incarnation != incarnation_) return false;
    auto it = slots_.find(path);
    return it != slots_.end() && it->second.invalidated_at < read_seq;
  }

  /// Counts invalidations: a transaction re-validates its reads only when it moved.
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

  /// Lock-free: read once per transactional read (it is changed under the mutex, so a store
  /// compared against it under the mutex still sees every reset).
  std::uint64_t incarnation() const noexcept {
    return incarnation_.load(std::memory_order_acquire);
  }

  /// Forgets everything (a new session: the old watches are gone). Returns the new incarnation.
  std::uint64_t reset() {
    std::uint64_t next = 0;
    {
      std::lock_guard lock(mutex_);
      slots_.clear();
      epoch_.fetch_add(1, std::memory_order_release);
      next = incarnation_.fetch_add(1, std::memory_order_acq_rel) + 1;
    }
    rearmed_.notify_all();  // nothing of the old session is worth waiting for
    return next;
  }

 private:
  struct slot {
    std::shared_ptr<const cached_value> value;
    std::uint64_t invalidated_at = 0;
    int rearming = 0;  ///< reads begun by begin_rearm still in flight
  };

  /// Keeps `v` unless an invalidation came after the read that produced it, or a newer read.
  static void keep(slot& s, std::shared_ptr<const cached_value> v) {
    if (v->sequence() > s.invalidated_at && (!s.value || s.value->sequence() < v->sequence())) {
      s.value = std::move(v);
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable rearmed_;
  std::unordered_map<std::string, slot> slots_;
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<std::uint64_t> incarnation_{1};
};

struct atomic_metrics {
  std::atomic<std::uint64_t> commits{0}, read_only_commits{0}, retries{0}, conflicts{0},
      commute_reapplies{0}, round_trips{0}, cache_hits{0}, cache_misses{0}, rearm_waits{0},
      outcome_resolutions{0}, reconnects{0}, escalations{0}, gate_waits{0};
};

}  // namespace detail

/// A client of the distributed STM. Thread-safe: many threads may run transactions on one
/// client at once (their requests pipeline on its one session). Create it with
/// `dstm::connect(...)`, `dstm::zookeeper::connect(...)` or `dstm::embedded::connect(...)`.
class client : public std::enable_shared_from_this<client> {
 public:
  using session_factory = std::function<std::shared_ptr<any_coordinator>()>;

  /// Opens a session with `factory` (called again after a session expiry) and creates the
  /// client's record directory under `options.root` (and the root's missing parents). Throws
  /// `dstm::error` (errc::invalid_argument) for bad options, coordinator_error when the
  /// coordinator refuses.
  explicit client(session_factory factory, client_options options = {})
      : factory_(std::move(factory)), options_(std::move(options)) {
    check_options(options_);
    open_session();
    std::uint64_t seed = static_cast<std::uint64_t>(session_->session_id()) ^
                         static_cast<std::uint64_t>(session_->now());
    id_ = detail::splitmix64(seed) | 1;  // never 0: 0 means "no writer"
    rng_ = detail::splitmix64(seed);
    if (options_.root != "/") {
      for (auto at = options_.root.find('/', 1); at != std::string::npos;
           at = options_.root.find('/', at + 1)) {
        ensure_path(options_.root.substr(0, at));
      }
      ensure_path(options_.root);
    }
    ensure_path(join_path(options_.root, "clients"));
    ensure_path(record_dir());
    ensure_path(gate_path());
    if (options_.collect_on_start > 0) {
      try {
        collect_records(options_.collect_on_start);
      } catch (const std::system_error&) {
        // Housekeeping only: a client that cannot collect still works.
      }
    }
  }

  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client() {
    {
      std::lock_guard lock(alive_->mutex);
      alive_->live = false;
    }
    close();
  }

  /// This client's id: the name of its outcome records and the writer id in every envelope.
  std::uint64_t id() const noexcept { return id_; }
  const client_options& options() const noexcept { return options_; }

  client_metrics metrics() const noexcept {
    client_metrics m;
    m.commits = metrics_.commits.load();
    m.read_only_commits = metrics_.read_only_commits.load();
    m.retries = metrics_.retries.load();
    m.conflicts = metrics_.conflicts.load();
    m.commute_reapplies = metrics_.commute_reapplies.load();
    m.round_trips = metrics_.round_trips.load();
    m.cache_hits = metrics_.cache_hits.load();
    m.cache_misses = metrics_.cache_misses.load();
    m.rearm_waits = metrics_.rearm_waits.load();
    m.outcome_resolutions = metrics_.outcome_resolutions.load();
    m.reconnects = metrics_.reconnects.load();
    m.escalations = metrics_.escalations.load();
    m.gate_waits = metrics_.gate_waits.load();
    m.commit_round_trip_ns = commit_round_trip_ns_.load(std::memory_order_relaxed);
    return m;
  }

  /// The current session (a new one after an expiry). Throws coordinator_error (closing)
  /// after `close()`.
  std::shared_ptr<any_coordinator> session() {
    std::vector<std::function<void()>> hooks;
    std::shared_ptr<any_coordinator> s, old;
    {
      std::lock_guard lock(session_mutex_);
      if (closed_) {
        throw coordinator_error(make_error_code(coordinator_errc::closing), "client closed");
      }
      if (expired_) {
        old = reopen_locked();
        hooks = new_session_hooks_;
      }
      s = session_;
    }
    // Closed outside the lock: closing joins the old session's dispatcher, which may be
    // waiting for this lock in its expiry listener.
    if (old) old->close();
    for (auto& h : hooks) h();
    return s;
  }

  /// Call after `s` failed a request with `ec`: true when `ec` says the session has expired, in
  /// which case `s` is marked so that the next `session()` opens a new one (the expiry listener
  /// runs on the dispatcher and may not have run yet). The caller then retries.
  bool session_lost(const std::shared_ptr<any_coordinator>& s, std::error_code ec) {
    if (ec != coordinator_errc::session_expired) return false;
    mark_expired(s.get());
    return true;
  }

  /// Runs `hook` after each new session (to re-arm watches the expired session lost).
  void on_new_session(std::function<void()> hook) {
    std::lock_guard lock(session_mutex_);
    new_session_hooks_.push_back(std::move(hook));
  }

  /// Closes the session (the outcome records stay: they are persistent).
  void close() {
    std::shared_ptr<any_coordinator> s;
    {
      std::lock_guard lock(session_mutex_);
      s = std::move(session_);
      closed_ = true;
    }
    if (s) s->close();
  }

  /// The coordinator's clock (virtual in the simulation).
  std::int64_t now() { return session()->now(); }

  // ----- used by the transaction engine and refs (not part of the user API) -----

  /// How long a read waits for a commit's re-arming read of the same ref before sending its
  /// own (the coordinator completes every request it accepted, so this bounds only a stall).
  static constexpr std::chrono::seconds rearm_patience{5};

  /// The valid cache entry for `path`, else reads it (with an in-order invalidation watch).
  /// Throws coordinator_error (no_node, session errors) after counting the round trip.
  std::shared_ptr<const detail::cached_value> read(const std::string& path) {
    return read(path, *session());
  }

  /// `read` through `s`, a session the caller took from `session()` and holds (a transaction
  /// takes it once, not per read: the copy and the lock were a third of a warm read).
  std::shared_ptr<const detail::cached_value> read(const std::string& path, any_coordinator& s) {
    // An expired session's cache no longer hears about changes: never serve from it, even
    // before the expiry listener (on the dispatcher) has told us. Any state but a live one
    // goes through `session()`, which opens the next session (dropping the cache) or throws
    // once the client is closed.
    if (const auto state = s.state();
        state != session_state::connected && state != session_state::connecting) {
      if (state == session_state::expired) mark_expired(&s);
      session();
    }
    // A commit of this client may be reading the ref back right now (re-arming its watch):
    // that read is already on its way, so the lookup waits for it rather than send another.
    bool waited = false;
    auto hit = cache_->lookup(path, rearm_patience, waited);
    if (waited) ++metrics_.rearm_waits;
    if (hit) {
      ++metrics_.cache_hits;
      return hit;
    }
    ++metrics_.cache_misses;
    return fetch(path);
  }

  /// Sends `ops` and, behind them, reads of `rearm` that re-arm the cache's watches on the
  /// written refs (`incarnation`: the cache's when the transaction read). Returns after the
  /// multi's reply, with the round trips waited for; on coordinators that can, the reads
  /// complete into the cache later, and a reader of one of those refs meanwhile waits for its
  /// read (`read`) instead of sending another.
  int commit_multi(any_coordinator& session, std::span<const op> ops,
                   std::vector<op_result>& results, std::error_code& ec,
                   std::span<const std::string> rearm, std::uint64_t incarnation) {
    const bool later = session.completes_reads_later();
    if (later) cache_->begin_rearm(rearm, incarnation);
    std::weak_ptr<detail::value_cache> cache = cache_;
    std::vector<std::string> paths(rearm.begin(), rearm.end());
    auto on_read = [cache, paths = std::move(paths), incarnation, later](std::size_t i,
                                                                         get_result&& r) {
      auto c = cache.lock();
      if (!c) return;
      std::shared_ptr<const detail::cached_value> v;
      if (!r.ec) {
        v = std::make_shared<const detail::cached_value>(std::move(r.node.data), r.node.stat,
                                                         r.node.sequence);
      }
      if (later) {
        c->end_rearm(paths[i], incarnation, std::move(v));
      } else if (v) {
        c->store(paths[i], incarnation, std::move(v));
      }
    };
    return session.multi_then_get_async(ops, results, ec, rearm, invalidation_watch(incarnation),
                                        on_read);
  }

  /// Reads `path` from the coordinator and caches it, bypassing the cache. An expired session
  /// is replaced and the read retried (the cache of the old session is gone with it).
  std::shared_ptr<const detail::cached_value> fetch(const std::string& path) {
    for (int attempt = 1;; ++attempt) {
      auto s = session();
      const auto incarnation = cache_->incarnation();
      std::error_code ec;
      ++metrics_.round_trips;
      auto n = s->get(path, invalidation_watch(incarnation), ec);
      if (ec) {
        if (session_lost(s, ec) && attempt < options_.outcome_attempts) continue;
        throw coordinator_error(ec, "read " + path);
      }
      auto v = std::make_shared<const detail::cached_value>(std::move(n.data), n.stat, n.sequence);
      cache_->store(path, incarnation, v);
      return v;
    }
  }

  /// Reads `path` as of now: a `sync` then a read (two round trips), so the value is at least as
  /// new as every write that completed before the call — a linearizable read, where `read`
  /// returns the session's view, which may lag other sessions' commits. Caches the result.
  std::shared_ptr<const detail::cached_value> read_latest(const std::string& path) {
    for (int attempt = 1;; ++attempt) {
      auto s = session();
      std::error_code ec;
      ++metrics_.round_trips;
      s->sync(path, ec);
      if (!ec) return fetch(path);
      if (!session_lost(s, ec) || attempt >= options_.outcome_attempts)
        throw coordinator_error(ec, "sync " + path);
    }
  }

  /// The in-order watch that drops a cache entry when its node changes (one serves many paths:
  /// the event names the path).
  watch invalidation_watch(std::uint64_t incarnation) {
    // Holds the cache, not the client: the callback runs on the completion thread (under the
    // embedded store's lock), where dropping the last reference to a client would close its
    // session from inside the coordinator.
    std::weak_ptr<detail::value_cache> cache = cache_;
    return watch{[cache, incarnation](const watch_event& e) {
                   if (e.type == event_type::session || e.type == event_type::not_watching) return;
                   if (auto c = cache.lock()) c->invalidate(e.path, incarnation, e.sequence);
                 },
                 true};
  }

  detail::value_cache& cache() noexcept { return *cache_; }
  detail::atomic_metrics& counters() noexcept { return metrics_; }

  /// A jittered backoff for retry `attempt` (1-based), from the client's seeded generator.
  std::int64_t backoff_ns(int attempt) { return jittered(options_.backoff_min_ns, attempt); }

  /// The backoff after `attempt` conflicts (1-based): `backoff_ns` whose base is the commit
  /// round trip when that is longer (`client_options::backoff_by_round_trip`).
  std::int64_t conflict_backoff_ns(int attempt) {
    const std::int64_t rtt = commit_round_trip_ns_.load(std::memory_order_relaxed);
    if (!options_.backoff_by_round_trip || rtt <= options_.backoff_min_ns) {
      return backoff_ns(attempt);
    }
    return jittered(std::min(rtt, options_.backoff_max_ns), attempt);
  }

  /// Feeds the moving average of the commit round trip (one multi, by the coordinator's
  /// clock: virtual in the simulation, so its runs stay deterministic).
  void note_commit_round_trip(std::int64_t ns) {
    if (ns <= 0) return;
    const auto old = commit_round_trip_ns_.load(std::memory_order_relaxed);
    commit_round_trip_ns_.store(old == 0 ? ns : old + (ns - old) / 8, std::memory_order_relaxed);
  }

  /// An outcome-record lane, held by one committing transaction at a time.
  struct lane {
    std::string path;
    std::int32_t version = 0;
    std::uint64_t sequence = 0;  ///< the last transaction number written to it
  };

  /// Takes a free lane (creating its record the first time).
  lane acquire_lane() {
    {
      std::lock_guard lock(lanes_mutex_);
      if (!free_lanes_.empty()) {
        lane l = std::move(free_lanes_.back());
        free_lanes_.pop_back();
        return l;
      }
    }
    lane l;
    {
      std::lock_guard lock(lanes_mutex_);
      l.path = record_dir() + "/" + std::to_string(lane_count_++);
    }
    open_lane(l);
    return l;
  }

  /// Creates `l`'s record unless it exists, and loads its version and last sequence number.
  /// Also recreates a record (and its directory) that somebody removed: a removed record can
  /// only be met by a multi that then failed, so nothing is lost by starting it afresh.
  void open_lane(lane& l) {
    bool directory_created = false;
    for (int attempt = 1;; ++attempt) {
      auto s = session();
      std::error_code ec;
      ++metrics_.round_trips;
      s->create(l.path, "0", create_mode::persistent, open_acl_unsafe(), nullptr, ec);
      if (!ec) {
        l.version = 0;
        l.sequence = 0;
        return;
      }
      if (ec == coordinator_errc::no_node && !directory_created) {
        ensure_path(record_dir());
        directory_created = true;
        continue;
      }
      if (ec == coordinator_errc::node_exists || outcome_unknown(ec)) {
        // Created by a lost reply or an earlier incarnation: adopt it as it is now.
        ++metrics_.round_trips;
        auto n = s->get(l.path, {}, ec);
        if (!ec) {
          l.version = n.stat.version;
          l.sequence = parse_sequence(n.data);
          return;
        }
        // The lost create was not applied after all: create it again.
        if (ec == coordinator_errc::no_node && attempt < options_.outcome_attempts) continue;
      }
      const bool transient = session_lost(s, ec) || outcome_unknown(ec);
      if (!transient || attempt >= options_.outcome_attempts) {
        throw coordinator_error(ec, "outcome record " + l.path);
      }
      s->sleep_for(backoff_ns(attempt < 8 ? attempt : 8));
    }
  }
  void release_lane(lane l) {
    std::lock_guard lock(lanes_mutex_);
    free_lanes_.push_back(std::move(l));
  }
  /// Next transaction number of this client (unique per client, never reused).
  std::uint64_t next_sequence() noexcept { return ++sequence_; }

  /// After an unknown outcome: reads `l`'s record until it says whether transaction `seq` was
  /// applied. Not applied → fences the record (bumps its version) so the lost request can
  /// never apply later. Returns true if applied. Throws `commit_outcome_unknown` (errc) when the
  /// coordinator stays unreachable for `outcome_attempts` tries.
  bool resolve_outcome(lane& l, std::uint64_t seq) {
    ++metrics_.outcome_resolutions;
    for (int attempt = 1; attempt <= options_.outcome_attempts; ++attempt) {
      std::error_code ec;
      auto s = session();
      ++metrics_.round_trips;
      auto n = s->get(l.path, {}, ec);
      if (!ec) {
        if (parse_sequence(n.data) == seq) {
          l.version = n.stat.version;
          l.sequence = seq;
          return true;
        }
        ++metrics_.round_trips;
        auto st = s->set(l.path, std::to_string(l.sequence), n.stat.version, ec);
        if (!ec) {
          l.version = st.version;
          return false;
        }
        if (ec == coordinator_errc::bad_version) continue;  // the lost multi landed: re-read
      }
      if (session_lost(s, ec)) continue;  // the record is persistent: read it on a new session
      s->sleep_for(backoff_ns(attempt < 8 ? attempt : 8));
    }
    throw error(make_error_code(errc::commit_outcome_unknown),
                "could not read outcome record " + l.path);
  }

  static std::uint64_t parse_sequence(std::string_view data) noexcept {
    std::uint64_t v = 0;
    for (char ch : data) {
      if (ch < '0' || ch > '9') break;
      v = v * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return v;
  }

  /// The client id as 16 hex digits: the name of its record directory.
  std::string record_name() const {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (int i = 15; i >= 0; --i) s.push_back(hex[(id_ >> (4 * i)) & 0xf]);
    return s;
  }
  std::string record_dir() const { return records_root() + "/" + record_name(); }
  /// Where every client's record directory lives.
  std::string records_root() const { return join_path(options_.root, "clients"); }
  /// The contention gate every write commit checks (detail/contention.hpp).
  std::string gate_path() const { return join_path(options_.root, "gate"); }
  /// The queue of escalated transactions.
  std::string escalation_dir() const { return join_path(options_.root, "escalation"); }

  /// Escalations of this client in progress, by their queue nodes' prefix: a queue node of this
  /// client whose prefix is not among them is an orphan (its create's reply was lost, or its
  /// session was abandoned) that would block the queue while that session lives.
  void escalation_started(const std::string& prefix) {
    std::lock_guard lock(lanes_mutex_);
    escalations_.insert(prefix);
  }
  void escalation_ended(const std::string& prefix) {
    std::lock_guard lock(lanes_mutex_);
    escalations_.erase(prefix);
  }
  bool escalation_active(const std::string& prefix) const {
    std::lock_guard lock(lanes_mutex_);
    return escalations_.contains(prefix);
  }

  /// Examines up to `max_clients` other clients (from a random start) and removes the records
  /// of those whose records have not changed for `options().record_max_age_ms`, and returns how
  /// many clients' records it removed. A record that changes meanwhile is kept (its removal is
  /// version-checked). Throws coordinator_error when the coordinator fails.
  int collect_records(int max_clients = 1 << 30) {
    auto s = session();
    std::error_code ec;
    // The coordinator's clock, from a write's mtime: the records' ages are measured with the
    // same clock that stamped them.
    ++metrics_.round_trips;
    const auto now_ms = s->set(record_dir(), "", any_version, ec).mtime;
    if (ec) throw coordinator_error(ec, "collect records: touch " + record_dir());
    ++metrics_.round_trips;
    auto clients = s->children(records_root(), {}, ec);
    if (ec) throw coordinator_error(ec, "collect records: list " + records_root());
    int removed = 0;
    const std::size_t n = clients.names.size();
    std::size_t start = 0;
    if (n > 0) {
      // A random start: successive clients examine different ones.
      std::lock_guard lock(rng_mutex_);
      start = static_cast<std::size_t>(detail::splitmix64(rng_) % n);
    }
    for (std::size_t i = 0; i < n && static_cast<std::int64_t>(i) < max_clients; ++i) {
      const auto& name = clients.names[(start + i) % n];
      if (name == record_name()) continue;
      const std::string dir = records_root() + "/" + name;
      ++metrics_.round_trips;
      auto dir_stat = s->exists(dir, {}, ec);
      if (ec || !dir_stat) continue;
      if (now_ms - dir_stat->mtime <= options_.record_max_age_ms) continue;
      ++metrics_.round_trips;
      auto lanes = s->children(dir, {}, ec);
      if (ec) continue;
      std::vector<std::pair<std::string, std::int32_t>> old;
      bool idle = true;
      for (const auto& lane : lanes.names) {
        ++metrics_.round_trips;
        auto st = s->exists(dir + "/" + lane, {}, ec);
        if (ec || !st) continue;
        if (now_ms - st->mtime <= options_.record_max_age_ms) idle = false;
        old.emplace_back(dir + "/" + lane, st->version);
      }
      if (!idle) continue;
      std::vector<op> ops;
      for (auto& [path, version] : old) ops.push_back(op::remove(path, version));
      ops.push_back(op::remove(dir, dir_stat->version));
      ++metrics_.round_trips;
      s->multi(ops, ec);  // all or nothing: a record that moved keeps the whole client
      if (!ec) ++removed;
    }
    return removed;
  }

  /// Creates `path` (and only it) as an empty persistent node unless it exists.
  void ensure_path(const std::string& path) {
    for (int attempt = 1;; ++attempt) {
      auto s = session();
      std::error_code ec;
      ++metrics_.round_trips;
      s->create(path, "", create_mode::persistent, open_acl_unsafe(), nullptr, ec);
      if (!ec || ec == coordinator_errc::node_exists) return;
      const bool transient = session_lost(s, ec) || outcome_unknown(ec);
      if (!transient || attempt > options_.outcome_attempts)
        throw coordinator_error(ec, "create " + path);
      s->sleep_for(backoff_ns(attempt < 8 ? attempt : 8));
    }
  }

 private:
  static void check_options(const client_options& o) {
    auto bad = [](const std::string& what) {
      throw error(make_error_code(errc::invalid_argument), "dstm::client_options: " + what);
    };
    if (validate_path(o.root)) bad("root '" + o.root + "' is not a valid absolute path");
    if (o.max_retries < 0) bad("max_retries must be >= 0");
    if (o.escalate_after < 0) bad("escalate_after must be >= 0");
    if (o.outcome_attempts < 1) bad("outcome_attempts must be >= 1");
    if (o.backoff_min_ns < 0 || o.backoff_max_ns <= 0 || o.backoff_min_ns > o.backoff_max_ns)
      bad("backoff needs 0 <= backoff_min_ns <= backoff_max_ns and backoff_max_ns > 0");
  }

  void open_session() {
    session_ = factory_();
    subscribe_locked();
  }

  void subscribe_locked() {
    auto* raw = this;
    auto alive = alive_;
    // The listener names its session: a late notice about an old session must not end the
    // one that replaced it.
    const std::uint64_t generation = ++generation_;
    session_->subscribe([raw, alive, generation](session_state s) {
      if (s != session_state::expired) return;
      std::lock_guard lock(alive->mutex);
      if (alive->live) raw->mark_expired(generation);
    });
  }

  /// base/2 plus a uniform draw below min(base << attempt, backoff_max_ns), from the client's
  /// seeded generator.
  std::int64_t jittered(std::int64_t base, int attempt) {
    const int shift = attempt < 16 ? attempt : 16;
    std::int64_t cap = base << shift;
    if (cap > options_.backoff_max_ns || cap <= 0) cap = options_.backoff_max_ns;
    std::lock_guard lock(rng_mutex_);
    return base / 2 +
           static_cast<std::int64_t>(detail::splitmix64(rng_) % static_cast<std::uint64_t>(cap));
  }

  void mark_expired(std::uint64_t generation) {
    std::lock_guard lock(session_mutex_);
    if (generation_ == generation) expired_ = true;
  }

  // `s` is held by the caller, so its address cannot have been reused by a newer session.
  void mark_expired(const any_coordinator* s) {
    std::lock_guard lock(session_mutex_);
    if (session_.get() == s) expired_ = true;
  }

  /// Replaces the session; returns the old one, for the caller to close after unlocking.
  [[nodiscard]] std::shared_ptr<any_coordinator> reopen_locked() {
    if (closed_)
      throw coordinator_error(make_error_code(coordinator_errc::closing), "client closed");
    // A factory that throws leaves the expired session in place, to be replaced next time.
    auto fresh = factory_();
    auto old = std::exchange(session_, std::move(fresh));
    cache_->reset();
    expired_ = false;
    ++metrics_.reconnects;
    subscribe_locked();
    return old;
  }

  // Session listeners run on the coordinator's dispatcher and may outlive the client.
  struct liveness {
    std::mutex mutex;
    bool live = true;
  };

  session_factory factory_;
  client_options options_;
  std::shared_ptr<liveness> alive_ = std::make_shared<liveness>();
  std::mutex session_mutex_;
  std::shared_ptr<any_coordinator> session_;
  bool expired_ = false;
  bool closed_ = false;
  std::uint64_t generation_ = 0;  ///< sessions opened so far; guarded by session_mutex_
  std::vector<std::function<void()>> new_session_hooks_;
  std::shared_ptr<detail::value_cache> cache_ = std::make_shared<detail::value_cache>();
  std::atomic<std::int64_t> commit_round_trip_ns_{0};
  detail::atomic_metrics metrics_;
  std::uint64_t id_ = 0;
  std::mutex rng_mutex_;
  std::uint64_t rng_ = 0;
  mutable std::mutex lanes_mutex_;
  std::set<std::string> escalations_;  ///< guarded by lanes_mutex_
  std::vector<lane> free_lanes_;
  int lane_count_ = 0;
  std::atomic<std::uint64_t> sequence_{0};
};

/// A client over sessions made by `factory` (any model of `dstm::coordinator`).
template <class Factory>
std::shared_ptr<client> connect_with(Factory factory, client_options options = {}) {
  return std::make_shared<client>([f = std::move(factory)]() { return make_any_coordinator(f()); },
                                  std::move(options));
}

}  // namespace dstm
