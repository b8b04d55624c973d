#pragma once
/// \file
/// `dstm::recipes::semaphore`: at most N leases at a time across the cluster (Curator's
/// InterProcessSemaphoreV2, kazoo's Semaphore).
///
/// \code
/// dstm::recipes::semaphore pool{zk, "/limits/db", 4};
/// {
///   auto lease = pool.acquire();        // blocks while 4 leases are out
///   query(db, lease.token());
/// }                                     // released here
/// \endcode

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"
#include "dstm/recipes/mutex.hpp"

namespace dstm::recipes {

/// Options of `semaphore`.
struct semaphore_options {
  /// Stored in each lease node; `holders()` lists it.
  std::string identifier;
  /// How long a release retries through connection loss before retrying in the background.
  std::int64_t release_timeout_ns = 10'000'000'000;
  /// Called (on the coordinator's dispatcher) when the session ends while leases are out.
  std::function<void()> on_lost;
};

/// A counting semaphore over the coordinator.
///
/// **Protocol** (Curator's): an acquirer first takes an internal fair `mutex` at
/// `path/locks`, then creates its lease, an ephemeral-sequential child of `path/leases`; while
/// there are more than N leases it waits for the lease list to change, still holding the
/// mutex. Only the mutex holder ever waits on the list (no herd), and acquirers are served in
/// order. A lease whose session ends vanishes, freeing its place.
///
/// N is stored in `path`'s data by the first user; a semaphore with another N on the same
/// path throws `errc::invalid_argument` (data that is not a number is ignored, as kazoo does).
///
/// Leases are protected like lock nodes (see `mutex`): a lost create reply is found again by
/// the lease's unique name and adopted only when its ephemeral owner is the current session; a
/// timeout, exception or cancellation removes the lease; a release is retried through
/// connection loss, then in the background until it succeeds or the session ends.
///
/// A thread may hold several leases; with N leases out, asking for one more blocks — also the
/// thread that holds them. Thread-safe; the semaphore must outlive its leases.
template <coordinator C>
class semaphore {
  struct core;

 public:
  using coordinator_type = C;

  /// One lease; released by `release()` or the destructor. Movable.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept { *this = std::move(o); }
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release_noexcept();
        core_ = std::exchange(o.core_, nullptr);
        node_ = std::move(o.node_);
        prefix_ = std::move(o.prefix_);
        number_ = o.number_;
        token_ = o.token_;
        uncertain_ = o.uncertain_;
      }
      return *this;
    }
    ~lease() { release_noexcept(); }

    /// Gives the lease back (retried through connection loss). Idempotent.
    void release() {
      if (!core_) return;
      auto k = std::exchange(core_, nullptr);
      k->release(node_, prefix_, number_, uncertain_);
    }
    /// True until released, and while its session has not ended and is connected.
    bool is_valid() const {
      return core_ && !core_->is_lost(number_) && core_->c->state() == session_state::connected;
    }
    explicit operator bool() const noexcept { return core_ != nullptr; }
    /// The lease node's czxid: a fencing token.
    std::int64_t token() const noexcept { return token_; }
    const std::string& node() const noexcept { return node_; }

   private:
    friend class semaphore;
    void release_noexcept() noexcept {
      try {
        release();
      } catch (...) {
      }
    }
    std::shared_ptr<core> core_;
    std::string node_, prefix_;
    std::uint64_t number_ = 0;
    std::int64_t token_ = 0;
    bool uncertain_ = false;
  };

  /// A semaphore of `max_leases` (>= 1) at `path`. Throws `errc::invalid_argument`.
  semaphore(std::shared_ptr<C> c, std::string path, int max_leases, semaphore_options o = {})
      : core_(std::make_shared<core>(c, std::move(path), max_leases, std::move(o))),
        link_(c, handler(core_)),
        gate_(c, core_->path + "/locks") {
    if (max_leases < 1) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: a semaphore needs at least one lease");
    }
  }

  /// Blocks until a lease is free. Throws `operation_canceled` when `stop` is triggered.
  lease acquire(std::stop_token stop = {}) {
    auto l = acquire_until(forever, true, stop);
    if (!l) detail::throw_canceled("dstm: semaphore " + core_->path + " cancelled");
    return std::move(*l);
  }
  /// A lease if one is free and nobody is queued for one; otherwise nullopt at once.
  std::optional<lease> try_acquire() { return acquire_until(core_->c->now(), false, {}); }
  /// Waits up to `timeout_ns`; nullopt when none was free by then or `stop` was triggered.
  std::optional<lease> try_acquire_for(std::int64_t timeout_ns, std::stop_token stop = {}) {
    return acquire_until(detail::deadline_after(core_->c->now(), timeout_ns < 0 ? 0 : timeout_ns),
                         true, stop);
  }
  template <class Rep, class Period>
  std::optional<lease> try_acquire_for(std::chrono::duration<Rep, Period> t,
                                       std::stop_token stop = {}) {
    return try_acquire_for(std::chrono::duration_cast<std::chrono::nanoseconds>(t).count(), stop);
  }

  /// The identifiers of the current lease holders (not of waiters), oldest first.
  std::vector<std::string> holders() const {
    auto& c = *core_->c;
    std::error_code ec;
    auto kids = detail::retrying(
        c, forever, ec, [&](std::error_code& e) { return c.children(core_->leases, {}, e); });
    if (ec == coordinator_errc::no_node) return {};
    if (ec) detail::throw_failure(ec, "dstm: children of " + core_->leases);
    // A lease beyond the first N is an acquirer still waiting.
    std::vector<std::string> paths;
    for (const auto& k : detail::by_sequence(kids.names)) {
      if (paths.size() == static_cast<std::size_t>(core_->max)) break;
      paths.push_back(join_path(core_->leases, k.name));
    }
    auto got = detail::retrying(c, forever, ec,
                                [&](std::error_code& e) { return c.get_many(paths, {}, e); });
    if (ec) detail::throw_failure(ec, "dstm: holders of " + core_->path);
    std::vector<std::string> out;
    for (auto& g : got) {
      if (!g.ec) out.push_back(std::move(g.node.data));
    }
    return out;
  }

  int max_leases() const noexcept { return core_->max; }
  const std::string& path() const noexcept { return core_->path; }

 private:
  struct core {
    core(std::shared_ptr<C> cc, std::string p, int m, semaphore_options o)
        : c(std::move(cc)),
          path(std::move(p)),
          leases(path + "/leases"),
          max(m),
          options(std::move(o)),
          instance(detail::next_instance()) {}
    std::shared_ptr<C> c;
    std::string path, leases;
    int max;
    semaphore_options options;
    std::uint64_t instance;
    std::atomic<std::uint64_t> numbers{0};
    std::atomic<bool> ready{false};
    std::mutex mutex;
    std::set<std::uint64_t> active;  // lease numbers being acquired or held
    std::set<std::uint64_t> lost;    // held leases whose session ended
    detail::pending_removals pending;

    bool is_lost(std::uint64_t n) {
      std::lock_guard lock(mutex);
      return lost.contains(n);
    }
    void retire(std::uint64_t n) {
      std::lock_guard lock(mutex);
      active.erase(n);
      lost.erase(n);
    }
    void release(const std::string& node, const std::string& prefix, std::uint64_t n,
                 bool uncertain) {
      const bool was_lost = is_lost(n);
      if (!was_lost && !detail::session_gone(c->state())) {
        const auto deadline = detail::deadline_after(c->now(), options.release_timeout_ns);
        bool done = false;
        try {
          done = uncertain ? detail::remove_prefixed(*c, leases, prefix, deadline)
                           : detail::remove_node(*c, node, deadline);
        } catch (...) {
          done = false;
        }
        if (!done) pending.add(leases, prefix);
      }
      retire(n);
    }
  };

  static typename detail::session_link<C>::handler handler(const std::shared_ptr<core>& k) {
    std::weak_ptr<core> weak = k;
    return [weak](session_state s) {
      auto k = weak.lock();
      if (!k) return;
      if (detail::session_gone(s)) {
        bool any = false;
        {
          std::lock_guard lock(k->mutex);
          for (auto n : k->active) any = k->lost.insert(n).second || any;
        }
        k->pending.clear();
        if (any && k->options.on_lost) k->options.on_lost();
      } else if (s == session_state::connected && !k->pending.empty()) {
        k->pending.flush(*k->c, detail::deadline_after(k->c->now(), k->options.release_timeout_ns));
      }
    };
  }

  /// Creates `path` with N as its data (or checks the N found there) and `path/leases`. False
  /// when the deadline passed first (the connection is down).
  bool prepare(std::int64_t deadline) {
    if (core_->ready) return true;
    auto& c = *core_->c;
    std::error_code ec;
    detail::ensure_path(c, parent_path(core_->path), deadline, ec);
    if (!ec) {
      detail::retrying(c, deadline, ec, [&](std::error_code& e) {
        c.create(core_->path, std::to_string(core_->max), create_mode::persistent,
                 open_acl_unsafe(), nullptr, e);
        if (e == coordinator_errc::node_exists) e.clear();
        return 0;
      });
    }
    node n;
    if (!ec) {
      n = detail::retrying(c, deadline, ec,
                           [&](std::error_code& e) { return c.get(core_->path, {}, e); });
    }
    if (!ec) detail::ensure_path(c, core_->leases, deadline, ec);
    if (ec && detail::transient(ec) && !detail::session_gone(c.state())) return false;
    if (ec) detail::throw_failure(ec, "dstm: semaphore " + core_->path);
    int stored = 0;
    const auto* b = n.data.data();
    const auto r = std::from_chars(b, b + n.data.size(), stored);
    if (r.ec == std::errc{} && r.ptr == b + n.data.size() && stored != core_->max) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: semaphore " + core_->path + " has " + std::to_string(stored) +
                            " leases, not " + std::to_string(core_->max));
    }
    core_->ready = true;
    return true;
  }

  std::optional<lease> acquire_until(std::int64_t deadline, bool wait, std::stop_token stop) {
    auto& c = *core_->c;
    if (detail::session_gone(c.state())) {
      detail::throw_session_expired("dstm: semaphore " + core_->path);
    }
    core_->pending.flush(c, detail::deadline_after(c.now(), 0));
    if (!prepare(wait ? deadline : forever)) return std::nullopt;
    bool in_time = false;
    if (!wait) {
      in_time = gate_.try_lock();
    } else if (deadline == forever) {
      try {
        gate_.lock(stop);
        in_time = true;
      } catch (const dstm::error& e) {
        if (e.code() != canceled_error()) throw;
      }
    } else {
      in_time = gate_.try_lock_for(std::max<std::int64_t>(deadline - c.now(), 0), stop);
    }
    if (!in_time) return std::nullopt;
    struct unlock_gate {
      mutex<C>* m;
      ~unlock_gate() {
        try {
          m->unlock();
        } catch (...) {
        }
      }
    } unlocker{&gate_};
    return take_lease(deadline, wait, stop);
  }

  /// With the gate held: creates the lease and waits until it is among the first N.
  std::optional<lease> take_lease(std::int64_t deadline, bool wait, std::stop_token stop) {
    auto& c = *core_->c;
    lease l;
    l.number_ = ++core_->numbers;
    l.prefix_ = detail::owned_prefix("lease-", c.session_id(), core_->instance, l.number_);
    {
      std::lock_guard lock(core_->mutex);
      core_->active.insert(l.number_);
    }
    auto give_up = [&] {
      core_->release(l.node_, l.prefix_, l.number_, l.uncertain_ || l.node_.empty());
    };
    try {
      std::error_code ec;
      auto node = detail::protected_create(c, core_->leases, l.prefix_, core_->options.identifier,
                                           create_mode::ephemeral_sequential,
                                           wait ? deadline : forever, &l.uncertain_, ec);
      if (!node) {
        give_up();
        return std::nullopt;
      }
      l.node_ = node->path;
      l.token_ = node->stat.czxid;
      const auto owner = node->stat.ephemeral_owner;
      for (;;) {
        detail::require_current_owner(c, owner, l.node_);
        typename detail::session_link<C>::slot slot(link_, stop);
        auto kids = detail::retrying(c, wait ? deadline : forever, ec, [&](std::error_code& e) {
          return c.children(core_->leases, slot.watch(), e);
        });
        if (ec) {
          if (detail::transient(ec) && !detail::session_gone(c.state())) {
            give_up();
            return std::nullopt;
          }
          detail::throw_failure(ec, "dstm: children of " + core_->leases);
        }
        const auto sorted = detail::by_sequence(kids.names);
        if (remove_leftovers(sorted, deadline)) continue;
        const auto mine = std::string_view(l.node_).substr(core_->leases.size() + 1);
        std::size_t index = sorted.size();
        for (std::size_t i = 0; i < sorted.size(); ++i) {
          if (sorted[i].name == mine) index = i;
        }
        if (index == sorted.size()) {
          if (detail::session_gone(c.state())) {
            detail::throw_session_expired("dstm: semaphore " + core_->path);
          }
          // Removed by someone else while the session lives: ask again.
          give_up();
          return acquire_again(deadline, wait, stop);
        }
        // Only the gate holder adds leases, so ours is the newest: it counts when the others
        // leave room for it.
        if (sorted.size() <= static_cast<std::size_t>(core_->max)) {
          l.core_ = core_;
          return l;
        }
        if (!wait || stop.stop_requested()) {
          give_up();
          return std::nullopt;
        }
        if (!slot.wait(deadline) && c.now() >= deadline) {
          give_up();
          return std::nullopt;
        }
        if (detail::session_gone(c.state())) {
          detail::throw_session_expired("dstm: semaphore " + core_->path);
        }
      }
    } catch (...) {
      give_up();
      throw;
    }
  }

  std::optional<lease> acquire_again(std::int64_t deadline, bool wait, std::stop_token stop) {
    return take_lease(deadline, wait, stop);
  }

  /// Removes leases this object created in this session for acquisitions that are over.
  bool remove_leftovers(const std::vector<detail::seq_child>& sorted, std::int64_t deadline) {
    auto& c = *core_->c;
    const auto session = detail::hex(static_cast<std::uint64_t>(c.session_id()));
    std::vector<std::string> leftovers;
    {
      std::lock_guard lock(core_->mutex);
      for (const auto& k : sorted) {
        const auto p = detail::parse_owned_name(k.name);
        if (p && p->tag == "lease-" && p->session == session && p->instance == core_->instance &&
            !core_->active.contains(p->number)) {
          leftovers.push_back(k.name);
        }
      }
    }
    for (const auto& name : leftovers) {
      try {
        detail::remove_node(c, join_path(core_->leases, name), deadline);
      } catch (...) {
      }
    }
    return !leftovers.empty();
  }

  std::shared_ptr<core> core_;
  detail::session_link<C> link_;
  mutex<C> gate_;
};

template <class C>
semaphore(std::shared_ptr<C>, std::string, int, semaphore_options = {}) -> semaphore<C>;

}  // namespace dstm::recipes
