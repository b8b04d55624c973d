#pragma once
/// \file
/// What the recipes share: retrying reads through connection loss, deadlines on the
/// coordinator's clock, one-shot waits that watches, session events and cancellation all wake,
/// sequential node names, and the "protected" create that finds its node again after a lost
/// reply. Users never name anything here.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"

namespace dstm::recipes {

/// No deadline: wait for ever (the default of every blocking recipe call).
inline constexpr std::int64_t forever = std::numeric_limits<std::int64_t>::max();

/// The error a blocking recipe call throws when its `std::stop_token` was triggered.
inline std::error_code canceled_error() noexcept {
  return std::make_error_code(std::errc::operation_canceled);
}

namespace detail {

/// Errors after which the same read may simply be sent again (and a write's outcome is
/// unknown): the session lives on and reconnects.
inline bool transient(std::error_code ec) noexcept {
  return outcome_unknown(ec) || ec == coordinator_errc::session_moved ||
         ec == coordinator_errc::throttled;
}

/// Errors that end the session for good: ephemerals gone (or going), watches gone.
inline bool session_gone(std::error_code ec) noexcept {
  return ec == coordinator_errc::session_expired || ec == coordinator_errc::closing ||
         ec == coordinator_errc::auth_failed;
}

inline bool session_gone(session_state s) noexcept {
  return s == session_state::expired || s == session_state::closed ||
         s == session_state::auth_failed;
}

[[noreturn]] inline void throw_session_expired(const std::string& what) {
  throw dstm::error(make_error_code(errc::session_expired), what);
}

[[noreturn]] inline void throw_canceled(const std::string& what) {
  throw dstm::error(canceled_error(), what);
}

/// Throws the recipe-level error for a coordinator failure: `session_expired` for the end of
/// the session, `coordinator_error` otherwise.
[[noreturn]] inline void throw_failure(std::error_code ec, const std::string& what) {
  if (session_gone(ec)) throw_session_expired(what + ": " + ec.message());
  throw coordinator_error(ec, what);
}

/// An absolute deadline on the coordinator's clock (`forever` = none).
inline std::int64_t deadline_after(std::int64_t now, std::int64_t timeout_ns) noexcept {
  if (timeout_ns < 0) return forever;
  if (timeout_ns > forever - now) return forever;
  return now + timeout_ns;
}

/// Backoff between retries of a transient failure: 5 ms doubling to 200 ms, never past the
/// deadline. Deterministic (no jitter): the simulation's seed already varies the timing.
template <coordinator C>
class backoff {
 public:
  explicit backoff(C& c) : c_(&c) {}
  /// Sleeps; false when the deadline has passed (nothing slept).
  bool pause(std::int64_t deadline) {
    const auto now = c_->now();
    if (now >= deadline) return false;
    c_->sleep_for(std::min(next_, deadline - now));
    next_ = std::min<std::int64_t>(next_ * 2, 200'000'000);
    return true;
  }

 private:
  C* c_;
  std::int64_t next_ = 5'000'000;
};

/// Calls `f(ec)` until it succeeds, fails for good, or `deadline` passes, sleeping between
/// transient failures (connection loss, timeouts). Only for idempotent calls: reads, and writes
/// whose repetition the caller makes harmless.
template <coordinator C, class F>
auto retrying(C& c, std::int64_t deadline, std::error_code& ec, F&& f) {
  backoff<C> b(c);
  for (;;) {
    ec.clear();
    auto r = f(ec);
    if (!ec || !transient(ec) || session_gone(c.state()) || !b.pause(deadline)) return r;
  }
}

/// Creates `path` and its missing ancestors as empty persistent nodes; an existing node is
/// fine. Retries through connection loss until `deadline`.
template <coordinator C>
void ensure_path(C& c, std::string_view path, std::int64_t deadline, std::error_code& ec) {
  ec.clear();
  if (path.empty() || path == "/") return;
  std::error_code probe;
  if (retrying(c, deadline, probe, [&](std::error_code& e) { return c.exists(path, {}, e); }) &&
      !probe) {
    return;
  }
  std::size_t pos = 1;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    const auto prefix = path.substr(0, slash);
    retrying(c, deadline, ec, [&](std::error_code& e) {
      c.create(prefix, {}, create_mode::persistent, open_acl_unsafe(), nullptr, e);
      if (e == coordinator_errc::node_exists) e.clear();
      return 0;
    });
    if (ec) return;
    pos = slash + 1;
  }
}

/// Lowercase hexadecimal of `v`, for session ids in node names.
inline std::string hex(std::uint64_t v) {
  char buf[17];
  auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

/// A number unique in this process, naming one recipe object (its nodes carry it).
inline std::uint64_t next_instance() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

/// The 10-digit counter ZooKeeper appended to a sequential node's name, or -1.
inline std::int64_t sequence_of(std::string_view name) noexcept {
  if (name.size() < 10) return -1;
  const auto digits = name.substr(name.size() - 10);
  std::int64_t v = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

/// The name prefix of a node one recipe object creates for one operation:
/// "<tag><session hex>-<object>-<number>__" (the server appends the sequence). Unique in the
/// cluster (the session id) and in the process (object and operation numbers), so a create
/// whose reply was lost can be found again by it.
inline std::string owned_prefix(std::string_view tag, std::int64_t session, std::uint64_t instance,
                                std::uint64_t number) {
  return std::string(tag) + hex(static_cast<std::uint64_t>(session)) + "-" +
         std::to_string(instance) + "-" + std::to_string(number) + "__";
}

/// The parts of a name made from `owned_prefix`.
struct owned_name {
  std::string_view tag;  ///< including its trailing '-'
  std::string_view session;
  std::uint64_t instance = 0;
  std::uint64_t number = 0;
};

inline std::optional<owned_name> parse_owned_name(std::string_view name) noexcept {
  const auto dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  owned_name out;
  out.tag = name.substr(0, dash + 1);
  name.remove_prefix(dash + 1);
  const auto end = name.find("__");
  if (end == std::string_view::npos) return std::nullopt;
  const auto body = name.substr(0, end);
  const auto d1 = body.find('-');
  if (d1 == std::string_view::npos) return std::nullopt;
  const auto d2 = body.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  out.session = body.substr(0, d1);
  const auto inst = body.substr(d1 + 1, d2 - d1 - 1);
  const auto num = body.substr(d2 + 1);
  if (std::from_chars(inst.data(), inst.data() + inst.size(), out.instance).ec != std::errc{} ||
      std::from_chars(num.data(), num.data() + num.size(), out.number).ec != std::errc{}) {
    return std::nullopt;
  }
  return out;
}

/// A child of a queue-like recipe: its name and sequence number.
struct seq_child {
  std::string name;
  std::int64_t seq = -1;
};

/// The children that carry a sequence suffix, in sequence order (unrelated names are ignored).
inline std::vector<seq_child> by_sequence(const std::vector<std::string>& names) {
  std::vector<seq_child> out;
  out.reserve(names.size());
  for (const auto& n : names) {
    const auto s = sequence_of(n);
    if (s >= 0) out.push_back({n, s});
  }
  std::sort(out.begin(), out.end(), [](const seq_child& a, const seq_child& b) {
    return a.seq != b.seq ? a.seq < b.seq : a.name < b.name;
  });
  return out;
}

/// The registry of a recipe object's current waits, subscribed to the session: every session
/// state change (suspended, reconnected, expired, closed) sets every registered event, so a
/// waiter re-checks instead of sleeping through the end of its session (the embedded
/// coordinator, for one, forgets an expired session's watches without calling them). An
/// optional handler sees each state first. The listener runs on the coordinator's dispatcher,
/// never on its completion thread, and only sets flags.
template <coordinator C>
class session_link {
 public:
  using event = typename C::event;
  using handler = std::function<void(session_state)>;

  explicit session_link(std::shared_ptr<C> c, handler h = {})
      : c_(std::move(c)), shared_(std::make_shared<shared>()) {
    shared_->on_state = std::move(h);
    std::weak_ptr<shared> weak = shared_;
    id_ = c_->subscribe([weak](session_state s) {
      if (auto sh = weak.lock()) sh->notify(s);
    });
  }
  ~session_link() { c_->unsubscribe(id_); }
  session_link(const session_link&) = delete;
  session_link& operator=(const session_link&) = delete;

  /// Sets `h` as the handler (replacing any); it runs on the dispatcher, before waiters wake.
  void set_handler(handler h) {
    std::lock_guard lock(shared_->mutex);
    shared_->on_state = std::move(h);
  }

  /// One wait: an event set by a watch (`watch()`), any session state change, or `stop`.
  class slot {
   public:
    slot(session_link& link, std::stop_token stop) : link_(&link), ev_(link.c_->make_event()) {
      {
        std::lock_guard lock(link_->shared_->mutex);
        id_ = ++link_->shared_->next;
        link_->shared_->waiters.emplace(id_, ev_);
      }
      if (stop.stop_possible()) stop_.emplace(stop, stopper{ev_});
    }
    ~slot() {
      std::lock_guard lock(link_->shared_->mutex);
      link_->shared_->waiters.erase(id_);
    }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

    /// A one-shot watch that sets this slot's event. It runs in order on the completion thread
    /// and only sets a flag: nothing blocks there.
    dstm::watch watch() const {
      return dstm::watch{[ev = ev_](const watch_event&) { ev->set(); }, true};
    }
    /// Waits until set or the deadline; true when set.
    bool wait(std::int64_t deadline) {
      if (ev_->is_set()) return true;
      const auto now = link_->c_->now();
      if (deadline != forever && now >= deadline) return false;
      return link_->c_->wait(*ev_, deadline == forever ? -1 : deadline - now);
    }

   private:
    struct stopper {
      std::shared_ptr<event> ev;
      void operator()() const noexcept {
        try {
          ev->set();
        } catch (...) {
        }
      }
    };
    session_link* link_;
    std::shared_ptr<event> ev_;
    std::uint64_t id_ = 0;
    std::optional<std::stop_callback<stopper>> stop_;
  };

 private:
  struct shared {
    std::mutex mutex;
    std::map<std::uint64_t, std::shared_ptr<event>> waiters;
    std::uint64_t next = 0;
    handler on_state;

    void notify(session_state s) {
      std::vector<std::shared_ptr<event>> wake;
      handler h;
      {
        std::lock_guard lock(mutex);
        h = on_state;
        for (const auto& [id, ev] : waiters) wake.push_back(ev);
      }
      // Waiters first: a handler may call the coordinator (and so take a while).
      for (const auto& ev : wake) ev->set();
      if (h) h(s);
    }
  };

  std::shared_ptr<C> c_;
  std::shared_ptr<shared> shared_;
  std::uint64_t id_ = 0;
};

/// What `protected_create` found or made.
struct owned_node {
  std::string path;
  dstm::stat stat;
  bool gone = false;  ///< created, and already removed by someone else (persistent modes)
};

/// Throws `session_expired` unless `owner` (a node's ephemeral owner) is the coordinator's
/// current session: a node left by a previous session — still listed because its expiry is
/// being processed, or because a follower lags — must never be taken for ours (CURATOR-498).
template <coordinator C>
void require_current_owner(const C& c, std::int64_t owner, std::string_view path) {
  if (owner != c.session_id()) {
    throw_session_expired("dstm: " + std::string(path) + " belongs to session 0x" +
                          hex(static_cast<std::uint64_t>(owner)) +
                          ", not to the current session 0x" +
                          hex(static_cast<std::uint64_t>(c.session_id())) +
                          " (the session that created it has ended)");
  }
}

/// The children of `parent` whose name starts with `prefix`, in sequence order.
inline std::vector<seq_child> with_prefix(const std::vector<std::string>& names,
                                          std::string_view prefix) {
  std::vector<seq_child> out;
  for (auto& c : by_sequence(names)) {
    if (std::string_view(c.name).starts_with(prefix)) out.push_back(std::move(c));
  }
  return out;
}

/// Creates `parent/prefix` + ZooKeeper's sequence suffix, ephemeral-sequential, such that a
/// reply lost to a connection loss neither leaves an orphan nor makes a second node: the name
/// carries `prefix`, unique to this attempt, so after a loss the node is looked for (after a
/// `sync`, so a lagging follower cannot hide it) and adopted if the create was applied —
/// provided its ephemeral owner is the current session. Returns nullopt when `deadline`
/// passed first (`ec` = the last transient error); a node created meanwhile is then removed
/// by the caller's cleanup (it still carries `prefix`). `*uncertain` is set when any create
/// had an unknown outcome (a late duplicate could appear: the caller looks again later).
template <coordinator C>
std::optional<owned_node> protected_create(C& c, const std::string& parent,
                                           const std::string& prefix, std::string_view data,
                                           create_mode mode, std::int64_t deadline, bool* uncertain,
                                           std::error_code& ec) {
  backoff<C> b(c);
  bool lost = false;
  for (;;) {
    if (lost) {
      std::error_code sec;
      retrying(c, deadline, sec, [&](std::error_code& e) {
        c.sync(parent, e);
        return 0;
      });
      if (sec) {
        if (session_gone(sec) || !transient(sec)) throw_failure(sec, "dstm: sync " + parent);
        ec = sec;
        return std::nullopt;
      }
      auto kids =
          retrying(c, deadline, ec, [&](std::error_code& e) { return c.children(parent, {}, e); });
      if (ec) {
        if (session_gone(ec) || !transient(ec)) throw_failure(ec, "dstm: children of " + parent);
        return std::nullopt;
      }
      auto mine = with_prefix(kids.names, prefix);
      if (!mine.empty()) {
        const auto path = join_path(parent, mine.front().name);
        auto st =
            retrying(c, deadline, ec, [&](std::error_code& e) { return c.exists(path, {}, e); });
        if (ec) {
          if (session_gone(ec) || !transient(ec)) throw_failure(ec, "dstm: exists " + path);
          return std::nullopt;
        }
        if (st) {
          if (is_ephemeral(mode)) require_current_owner(c, st->ephemeral_owner, path);
          return owned_node{path, *st};
        }
        // Created, then removed before we looked: a persistent node was consumed (a queue
        // item) and must not be made again; an ephemeral one went with its session or was
        // removed, and creating it again under the same unique name makes no duplicate.
        if (!is_ephemeral(mode)) return owned_node{path, {}, true};
      }
    }
    dstm::stat st;
    ec.clear();
    auto created = c.create(join_path(parent, prefix), data, mode, open_acl_unsafe(), &st, ec);
    if (!ec) {
      if (is_ephemeral(mode)) require_current_owner(c, st.ephemeral_owner, created);
      return owned_node{std::move(created), st};
    }
    if (!transient(ec) || session_gone(c.state())) throw_failure(ec, "dstm: create in " + parent);
    lost = true;
    if (uncertain) *uncertain = true;
    if (!b.pause(deadline)) return std::nullopt;
  }
}

/// Removes `path`, retrying through connection loss until it is gone, the session ended (the
/// node, ephemeral, went with it) or `deadline` passed. True when the node is known gone.
template <coordinator C>
bool remove_node(C& c, const std::string& path, std::int64_t deadline, bool ephemeral = true) {
  backoff<C> b(c);
  for (;;) {
    std::error_code ec;
    c.remove(path, any_version, ec);
    if (!ec || ec == coordinator_errc::no_node) return true;
    if (ephemeral && (session_gone(ec) || session_gone(c.state()))) return true;
    if (!transient(ec)) throw_failure(ec, "dstm: remove " + path);
    if (!b.pause(deadline)) return false;
  }
}

/// Removes every child of `parent` named with `prefix` (late duplicates of a create whose reply
/// was lost). True when none is left.
template <coordinator C>
bool remove_prefixed(C& c, const std::string& parent, const std::string& prefix,
                     std::int64_t deadline) {
  std::error_code ec;
  // A lagging follower may not list a node whose create's reply was lost: catch up first.
  retrying(c, deadline, ec, [&](std::error_code& e) {
    c.sync(parent, e);
    return 0;
  });
  if (ec) {
    if (session_gone(ec)) return true;
    if (transient(ec)) return false;
    throw_failure(ec, "dstm: sync " + parent);
  }
  auto kids =
      retrying(c, deadline, ec, [&](std::error_code& e) { return c.children(parent, {}, e); });
  if (ec == coordinator_errc::no_node) return true;
  if (ec) {
    if (session_gone(ec)) return true;
    if (transient(ec)) return false;
    throw_failure(ec, "dstm: children of " + parent);
  }
  bool all = true;
  for (const auto& k : with_prefix(kids.names, prefix)) {
    all = remove_node(c, join_path(parent, k.name), deadline) && all;
  }
  return all;
}

/// Nodes whose removal failed for now (the connection was down longer than the caller would
/// wait): retried at every later call of the owning recipe and on every reconnection, until
/// removed or the session ends. This is the "guaranteed delete" of a release.
class pending_removals {
 public:
  void add(std::string parent, std::string prefix) {
    std::lock_guard lock(mutex_);
    items_.emplace_back(std::move(parent), std::move(prefix));
  }
  void clear() {
    std::lock_guard lock(mutex_);
    items_.clear();
  }
  bool empty() const {
    std::lock_guard lock(mutex_);
    return items_.empty();
  }
  /// One attempt for each (bounded by `deadline`); keeps what still failed.
  template <coordinator C>
  void flush(C& c, std::int64_t deadline) {
    std::vector<std::pair<std::string, std::string>> todo;
    {
      std::lock_guard lock(mutex_);
      todo.swap(items_);
    }
    std::vector<std::pair<std::string, std::string>> left;
    for (auto& item : todo) {
      bool done = false;
      try {
        done = remove_prefixed(c, item.first, item.second, deadline);
      } catch (...) {
        done = false;
      }
      if (!done) left.push_back(std::move(item));
    }
    if (left.empty()) return;
    std::lock_guard lock(mutex_);
    for (auto& item : left) items_.push_back(std::move(item));
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> items_;
};

}  // namespace detail
}  // namespace dstm::recipes
