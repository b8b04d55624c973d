#pragma once
/// \file
/// The engine of `mutex` and `shared_mutex`: ZooKeeper's lock recipe. Each acquisition is an
/// ephemeral-sequential child of the lock node; it holds the lock when no child it must yield
/// to precedes it, and otherwise waits on exactly one predecessor (no herd). Exclusive
/// acquisitions yield to every earlier child; shared ones only to earlier exclusive children.

#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"
#include "dstm/recipes/detail/common.hpp"

namespace dstm::recipes {

/// Options of `mutex` and `shared_mutex`.
struct lock_options {
  /// Stored in each lock node; `contenders()` lists it (kazoo's identifier). Any bytes.
  std::string identifier;
  /// How long `unlock()` (and the cleanup of a failed acquisition) retries a removal through
  /// connection loss before handing it to the background retry (on every reconnection and at
  /// every later call, until the node is gone or the session ends). Nanoseconds.
  std::int64_t release_timeout_ns = 10'000'000'000;
  /// Called (on the coordinator's dispatcher thread) when the session ends while this object
  /// holds the lock in some thread: the lock is gone, `is_held()` is false from then on. Keep
  /// it short; it must not call this object.
  std::function<void()> on_lost;
};

namespace detail {

enum class lock_kind { exclusive, shared };

inline std::string_view kind_tag(lock_kind k) noexcept {
  return k == lock_kind::exclusive ? "write-" : "read-";
}

/// The kind a lock child's name says, or nullopt for a name of no lock (ignored).
inline std::optional<lock_kind> kind_of(std::string_view name) noexcept {
  if (sequence_of(name) < 0) return std::nullopt;
  if (name.starts_with("write-")) return lock_kind::exclusive;
  if (name.starts_with("read-")) return lock_kind::shared;
  return std::nullopt;
}

/// The child a new acquisition of `kind` at position `mine` must wait for, if any: the nearest
/// earlier exclusive child for a shared acquisition, the nearest earlier child of either kind
/// for an exclusive one. Children in `own` (held by the same owner: a downgrade) are skipped.
inline std::optional<std::string> predecessor(lock_kind kind, const std::vector<seq_child>& kids,
                                              std::size_t mine, const std::set<std::string>& own) {
  for (std::size_t j = mine; j-- > 0;) {
    const auto k = kind_of(kids[j].name);
    if (!k) continue;
    if (kind == lock_kind::exclusive) return kids[j].name;
    if (*k == lock_kind::exclusive && !own.contains(kids[j].name)) return kids[j].name;
  }
  return std::nullopt;
}

template <coordinator C>
class queue_lock {
 public:
  using owner_key = std::thread::id;

  queue_lock(std::shared_ptr<C> c, std::string path, lock_options o)
      : core_(std::make_shared<core>(std::move(c), std::move(path), std::move(o))),
        link_(core_->c, handler(core_)) {
    if (auto ec = validate_path(core_->path); ec || core_->path == "/") {
      throw dstm::error(
          make_error_code(errc::invalid_argument),
          "dstm: a lock needs a node path other than \"/\", not \"" + core_->path + "\"");
    }
  }

  queue_lock(const queue_lock&) = delete;
  queue_lock& operator=(const queue_lock&) = delete;

  const std::string& path() const noexcept { return core_->path; }
  C& coord() const noexcept { return *core_->c; }

  /// Acquires for the calling thread. `wait` false: only if free now. Returns false when not
  /// acquired (timeout, not free, or cancelled with `throw_on_cancel` false).
  bool acquire(lock_kind kind, std::int64_t timeout_ns, bool wait, std::stop_token stop,
               bool throw_on_cancel) {
    auto& c = *core_->c;
    const auto self = std::this_thread::get_id();
    {
      std::lock_guard lock(core_->mutex);
      if (auto it = core_->holds.find({self, kind}); it != core_->holds.end()) {
        if (it->second.lost) {
          throw_session_expired("dstm: the lock " + core_->path +
                                " this thread holds was lost with its session");
        }
        ++it->second.count;
        return true;
      }
      if (kind == lock_kind::exclusive && core_->holds.contains({self, lock_kind::shared})) {
        throw dstm::error(make_error_code(errc::invalid_argument),
                          "dstm: " + core_->path +
                              ": upgrading a read lock to a write lock would deadlock; release "
                              "the read lock first");
      }
    }
    if (session_gone(c.state())) throw_session_expired("dstm: lock " + core_->path);
    const std::int64_t deadline = deadline_after(c.now(), timeout_ns);
    core_->pending.flush(c, deadline_after(c.now(), 0));
    if (stop.stop_requested()) return cancelled(throw_on_cancel);

    std::error_code ec;
    if (!core_->parent_ready) {
      ensure_path(c, core_->path, deadline, ec);
      if (ec) {
        if (transient(ec) && !session_gone(c.state())) return false;
        throw_failure(ec, "dstm: create " + core_->path);
      }
      core_->parent_ready = true;
    }

    hold h;
    h.kind = kind;
    renumber(h);
    // Unless the acquisition succeeds, its number is retired on every way out.
    struct retire {
      queue_lock* self;
      hold* h;
      bool keep = false;
      ~retire() {
        if (keep) return;
        std::lock_guard lock(self->core_->mutex);
        self->core_->active.erase(h->number);
      }
    } retire_on_failure{this, &h};
    {
      auto node = protected_create(c, core_->path, h.prefix, core_->options.identifier,
                                   create_mode::ephemeral_sequential, deadline, &h.uncertain, ec);
      if (!node) {
        cleanup(h);
        return false;
      }
      h.node = std::move(node->path);
      h.token = node->stat.czxid;
      h.session = node->stat.ephemeral_owner;
    }
    try {
      if (run_queue(h, deadline, wait, stop)) {
        h.count = 1;
        retire_on_failure.keep = true;
        std::lock_guard lock(core_->mutex);
        core_->holds.emplace(std::make_pair(self, kind), std::move(h));
        return true;
      }
    } catch (...) {
      cleanup(h);
      throw;
    }
    cleanup(h);
    if (stop.stop_requested()) return cancelled(throw_on_cancel);
    return false;
  }

  /// Releases one level of the calling thread's hold; the node goes with the last.
  void release(lock_kind kind) {
    hold h;
    {
      std::lock_guard lock(core_->mutex);
      auto it = core_->holds.find({std::this_thread::get_id(), kind});
      if (it == core_->holds.end()) {
        throw dstm::error(make_error_code(errc::invalid_argument),
                          "dstm: unlock of " + core_->path + " by a thread that does not hold it");
      }
      if (--it->second.count > 0) return;
      h = std::move(it->second);
      core_->holds.erase(it);
    }
    if (!h.lost) cleanup(h);  // else gone with the session
    std::lock_guard lock(core_->mutex);
    core_->active.erase(h.number);
  }

  /// The calling thread holds it, the hold was not lost, and the session is connected now.
  bool is_held(lock_kind kind) const {
    {
      std::lock_guard lock(core_->mutex);
      auto it = core_->holds.find({std::this_thread::get_id(), kind});
      if (it == core_->holds.end() || it->second.lost) return false;
    }
    return core_->c->state() == session_state::connected;
  }

  /// The calling thread's fencing token (its node's czxid), or 0 when it holds nothing.
  std::int64_t token(lock_kind kind) const {
    std::lock_guard lock(core_->mutex);
    auto it = core_->holds.find({std::this_thread::get_id(), kind});
    return it == core_->holds.end() ? 0 : it->second.token;
  }

  /// The path of the calling thread's lock node ("" when none).
  std::string node(lock_kind kind) const {
    std::lock_guard lock(core_->mutex);
    auto it = core_->holds.find({std::this_thread::get_id(), kind});
    return it == core_->holds.end() ? std::string{} : it->second.node;
  }

  /// Identifiers of the children, in queue order (the holder first).
  std::vector<std::string> contenders() const {
    auto& c = *core_->c;
    std::error_code ec;
    auto kids = retrying(c, forever, ec,
                         [&](std::error_code& e) { return c.children(core_->path, {}, e); });
    if (ec == coordinator_errc::no_node) return {};
    if (ec) throw_failure(ec, "dstm: children of " + core_->path);
    std::vector<std::string> paths;
    for (const auto& k : by_sequence(kids.names)) {
      if (kind_of(k.name)) paths.push_back(join_path(core_->path, k.name));
    }
    auto got =
        retrying(c, forever, ec, [&](std::error_code& e) { return c.get_many(paths, {}, e); });
    if (ec) throw_failure(ec, "dstm: contenders of " + core_->path);
    std::vector<std::string> out;
    for (auto& g : got) {
      if (!g.ec) out.push_back(std::move(g.node.data));
    }
    return out;
  }

 private:
  struct hold {
    lock_kind kind = lock_kind::exclusive;
    std::string node;
    std::string prefix;
    std::uint64_t number = 0;
    std::int64_t token = 0;
    std::int64_t session = 0;
    int count = 0;
    bool uncertain = false;
    bool lost = false;
  };

  struct core {
    core(std::shared_ptr<C> cc, std::string p, lock_options o)
        : c(std::move(cc)), path(std::move(p)), options(std::move(o)), instance(next_instance()) {}
    std::shared_ptr<C> c;
    std::string path;
    lock_options options;
    std::uint64_t instance;
    std::atomic<std::uint64_t> acquisitions{0};
    std::atomic<bool> parent_ready{false};
    std::mutex mutex;
    std::map<std::pair<owner_key, lock_kind>, hold> holds;
    /// Acquisition numbers in progress or held: a child of this object and session whose
    /// number is not here is a leftover (a create applied after its acquisition gave up).
    std::set<std::uint64_t> active;
    pending_removals pending;
  };

  static typename session_link<C>::handler handler(const std::shared_ptr<core>& k) {
    std::weak_ptr<core> weak = k;
    return [weak](session_state s) {
      auto k = weak.lock();
      if (!k) return;
      if (session_gone(s)) {
        bool any = false;
        {
          std::lock_guard lock(k->mutex);
          for (auto& [key, h] : k->holds) {
            any = any || !h.lost;
            h.lost = true;
          }
        }
        k->pending.clear();
        if (any && k->options.on_lost) k->options.on_lost();
      } else if (s == session_state::connected && !k->pending.empty()) {
        k->pending.flush(*k->c, deadline_after(k->c->now(), k->options.release_timeout_ns));
      }
    };
  }

  /// Gives `h` a new acquisition number and the node-name prefix that carries it.
  void renumber(hold& h) {
    h.number = ++core_->acquisitions;
    h.prefix = owned_prefix(kind_tag(h.kind), core_->c->session_id(), core_->instance, h.number);
    std::lock_guard lock(core_->mutex);
    core_->active.insert(h.number);
  }

  /// Removes children this object created in this session for acquisitions that are over (a
  /// create applied after its acquisition gave up on it): left alone, such a node would block
  /// the lock for as long as the session lives. True when one was removed.
  bool remove_leftovers(const std::vector<seq_child>& sorted, std::int64_t deadline) {
    auto& c = *core_->c;
    const auto session = hex(static_cast<std::uint64_t>(c.session_id()));
    std::vector<std::string> leftovers;
    {
      std::lock_guard lock(core_->mutex);
      for (const auto& k : sorted) {
        const auto p = parse_owned_name(k.name);
        if (p && kind_of(k.name) && p->session == session && p->instance == core_->instance &&
            !core_->active.contains(p->number)) {
          leftovers.push_back(k.name);
        }
      }
    }
    for (const auto& name : leftovers) {
      try {
        remove_node(c, join_path(core_->path, name), deadline);
      } catch (...) {
      }
    }
    return !leftovers.empty();
  }

  bool cancelled(bool throw_on_cancel) {
    if (throw_on_cancel) throw_canceled("dstm: lock " + core_->path + " cancelled");
    return false;
  }

  /// The own nodes a shared acquisition may pass: the calling thread's exclusive hold.
  std::set<std::string> own_nodes() const {
    std::set<std::string> own;
    std::lock_guard lock(core_->mutex);
    for (const auto& [key, h] : core_->holds) {
      if (key.first == std::this_thread::get_id()) own.insert(std::string(basename(h.node)));
    }
    return own;
  }

  static std::string_view basename(std::string_view path) {
    return path.substr(path.rfind('/') + 1);
  }

  /// Waits in the queue until `h` is first among those it must yield to. False on timeout,
  /// on "not free now" (`!wait`) and on cancellation.
  bool run_queue(hold& h, std::int64_t deadline, bool wait, std::stop_token stop) {
    auto& c = *core_->c;
    const auto own = own_nodes();
    for (;;) {
      if (stop.stop_requested()) return false;
      require_current_owner(c, h.session, h.node);
      std::error_code ec;
      auto kids = retrying(c, deadline, ec,
                           [&](std::error_code& e) { return c.children(core_->path, {}, e); });
      if (ec) {
        if (transient(ec) && !session_gone(c.state())) return false;  // deadline
        throw_failure(ec, "dstm: children of " + core_->path);
      }
      const auto sorted = by_sequence(kids.names);
      if (remove_leftovers(sorted, deadline)) continue;
      const auto name = basename(h.node);
      std::optional<std::size_t> mine;
      std::vector<std::string> duplicates;
      for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (sorted[i].name == name) {
          mine = i;
        } else if (std::string_view(sorted[i].name).starts_with(h.prefix)) {
          duplicates.push_back(sorted[i].name);
        }
      }
      if (!duplicates.empty() && adopt_first(h, sorted, deadline)) continue;
      if (!mine) {
        if (session_gone(c.state())) throw_session_expired("dstm: lock " + core_->path);
        // Our node vanished while the session lives (someone removed it, or the server ended
        // the session and we have not heard yet): queue again; a dead session fails the create.
        {
          std::lock_guard lock(core_->mutex);
          core_->active.erase(h.number);
        }
        renumber(h);
        auto node = protected_create(c, core_->path, h.prefix, core_->options.identifier,
                                     create_mode::ephemeral_sequential, deadline, &h.uncertain, ec);
        if (!node) return false;
        h.node = std::move(node->path);
        h.token = node->stat.czxid;
        h.session = node->stat.ephemeral_owner;
        continue;
      }
      const auto pred = predecessor(h.kind, sorted, *mine, own);
      if (!pred) return true;
      if (!wait) return false;
      typename session_link<C>::slot slot(link_, stop);
      const auto pred_path = join_path(core_->path, *pred);
      auto st = retrying(c, deadline, ec,
                         [&](std::error_code& e) { return c.exists(pred_path, slot.watch(), e); });
      if (ec) {
        if (transient(ec) && !session_gone(c.state())) return false;
        throw_failure(ec, "dstm: exists " + pred_path);
      }
      if (!st) continue;
      if (!slot.wait(deadline) && c.now() >= deadline) return false;
      if (session_gone(c.state())) throw_session_expired("dstm: lock " + core_->path);
    }
  }

  /// Several children carry `h`'s prefix: a create whose reply was lost was applied late. The
  /// earliest is the one in the queue's order; adopt it and remove the others. True when `h`
  /// changed (look at the queue again).
  bool adopt_first(hold& h, const std::vector<seq_child>& sorted, std::int64_t deadline) {
    auto& c = *core_->c;
    std::vector<std::string> all;
    for (const auto& k : sorted) {
      if (std::string_view(k.name).starts_with(h.prefix)) all.push_back(k.name);
    }
    const auto first = join_path(core_->path, all.front());
    bool changed = false;
    if (first != h.node) {
      std::error_code ec;
      auto st =
          retrying(c, deadline, ec, [&](std::error_code& e) { return c.exists(first, {}, e); });
      if (ec) throw_failure(ec, "dstm: exists " + first);
      if (!st) return true;
      require_current_owner(c, st->ephemeral_owner, first);
      h.node = first;
      h.token = st->czxid;
      h.session = st->ephemeral_owner;
      changed = true;
    }
    for (std::size_t i = 1; i < all.size(); ++i) {
      remove_node(c, join_path(core_->path, all[i]), deadline);
    }
    return changed;
  }

  /// Removes `h`'s node (all nodes with its prefix when a create's outcome was unknown),
  /// retrying through connection loss; what does not succeed in time is retried later.
  void cleanup(const hold& h) {
    auto& c = *core_->c;
    if (session_gone(c.state())) return;
    const auto deadline = deadline_after(c.now(), core_->options.release_timeout_ns);
    bool done = false;
    try {
      if (h.uncertain || h.node.empty()) {
        done = remove_prefixed(c, core_->path, h.prefix, deadline);
      } else {
        done = remove_node(c, h.node, deadline);
      }
    } catch (...) {
      done = false;
    }
    if (!done) core_->pending.add(core_->path, h.prefix);
  }

  std::shared_ptr<core> core_;
  session_link<C> link_;
};

}  // namespace detail
}  // namespace dstm::recipes
