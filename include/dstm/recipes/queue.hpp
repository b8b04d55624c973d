#pragma once
/// \file
/// `dstm::recipes::queue`: a distributed FIFO work queue with at-least-once delivery (kazoo's
/// LockingQueue, Curator's DistributedQueue with lock-safety).
///
/// \code
/// dstm::recipes::queue jobs{zk, "/queues/jobs"};
/// jobs.put("resize photo 42");
/// if (auto job = jobs.take()) {   // blocks until an item is there
///   run(job->data());
///   job->ack();                   // done: removed for good
/// }                               // not acked (crash, exception): delivered again
/// \endcode

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"

namespace dstm::recipes {

/// A queue of byte strings under `path`: items are persistent-sequential children of
/// `path/items` (so FIFO), and a consumer claims one with an ephemeral child of `path/claims`
/// named like the item.
///
/// **At least once.** `take` claims the oldest unclaimed item and returns it; `ack` removes
/// item and claim in one `multi`. An item whose consumer's session ends before `ack` (a crash)
/// loses its claim and is delivered again, as is one whose `item` is destroyed without `ack`
/// (released at once). So every item put is acked at least once; one may be processed twice
/// when a consumer dies between its work and its `ack`.
///
/// **Exactly one item per put.** Each put creates its item together with an ephemeral receipt
/// (one `multi`); after a lost reply the receipt says whether the put was applied — the item
/// itself cannot, as a consumer may have taken it already — so it neither vanishes nor doubles.
/// When the session ends while a put is in flight, `put` throws `errc::commit_outcome_unknown`:
/// the item may exist. Likewise `ack`.
///
/// Waiting consumers watch the item and claim lists (every consumer wakes on a change: fine for
/// a handful of consumers per queue). Thread-safe; the queue must outlive its items.
template <coordinator C>
class queue {
  struct core;

 public:
  using coordinator_type = C;

  /// A claimed item: `ack()` when done, `release()` to give it back; the destructor releases
  /// an item not acked. Movable.
  class item {
   public:
    item() = default;
    item(item&& o) noexcept { *this = std::move(o); }
    item& operator=(item&& o) noexcept {
      if (this != &o) {
        release_noexcept();
        core_ = std::exchange(o.core_, nullptr);
        name_ = std::move(o.name_);
        data_ = std::move(o.data_);
      }
      return *this;
    }
    ~item() { release_noexcept(); }

    const std::string& data() const noexcept { return data_; }
    /// The item's node name (its sequence number orders the queue).
    const std::string& name() const noexcept { return name_; }
    explicit operator bool() const noexcept { return core_ != nullptr; }
    /// Claimed, not yet acked or released, and the session has not ended.
    bool is_valid() const { return core_ && !session_gone_or_lost(); }

    /// Removes the item for good. Throws `errc::session_expired` when the claim was lost with
    /// the session (the item will be, or was, delivered again), `errc::commit_outcome_unknown`
    /// when the session ended while the outcome of the removal was unknown.
    void ack() {
      if (!core_) return;
      auto k = std::exchange(core_, nullptr);
      k->ack(name_);
    }
    /// Gives the item back to the queue (delivered again, first in line).
    void release() {
      if (!core_) return;
      auto k = std::exchange(core_, nullptr);
      k->unclaim(name_);
    }

   private:
    friend class queue;
    bool session_gone_or_lost() const { return detail::session_gone(core_->c->state()); }
    void release_noexcept() noexcept {
      try {
        release();
      } catch (...) {
      }
    }
    std::shared_ptr<core> core_;
    std::string name_, data_;
  };

  queue(std::shared_ptr<C> c, std::string path)
      : core_(std::make_shared<core>(c, std::move(path))), link_(c) {}

  /// Appends `data`: exactly one item, also through lost replies. Costs two round trips (the
  /// item with its receipt, then the receipt's removal).
  void put(std::string_view data) {
    auto& c = *core_->c;
    prepare();
    const auto prefix =
        detail::owned_prefix("item-", c.session_id(), core_->instance, ++core_->numbers);
    const auto receipt = join_path(core_->receipts, prefix);
    const std::vector<op> ops{op::create(join_path(core_->items, prefix), std::string(data),
                                         create_mode::persistent_sequential),
                              op::create(receipt, {}, create_mode::ephemeral)};
    detail::backoff<C> b(c);
    for (;;) {
      std::error_code ec;
      c.multi(ops, ec);
      if (!ec) break;
      if (detail::session_gone(ec) || (detail::transient(ec) && detail::session_gone(c.state()))) {
        // In flight when the session ended: it may have been applied.
        throw dstm::error(make_error_code(errc::commit_outcome_unknown),
                          "dstm: put to " + core_->path + ": the session ended (" + ec.message() +
                              ") before the outcome was known");
      }
      if (!detail::transient(ec)) detail::throw_failure(ec, "dstm: put to " + core_->path);
      // Lost reply. A consumer may have taken and acked the item already, so the item cannot
      // tell; the receipt, made in the same multi and removed only by us, can.
      auto st = detail::retrying(c, forever, ec, [&](std::error_code& e) {
        c.sync(core_->receipts, e);
        return e ? std::optional<dstm::stat>{} : c.exists(receipt, {}, e);
      });
      if (ec && detail::session_gone(ec)) {
        throw dstm::error(
            make_error_code(errc::commit_outcome_unknown),
            "dstm: put to " + core_->path + ": the session ended before the outcome was known");
      }
      if (ec) detail::throw_failure(ec, "dstm: put to " + core_->path);
      if (st) {
        detail::require_current_owner(c, st->ephemeral_owner, receipt);
        break;
      }
      b.pause(forever);
    }
    if (!detail::remove_node(c, receipt, detail::deadline_after(c.now(), 10'000'000'000))) {
      core_->pending.add(core_->receipts, prefix);
    }
  }

  /// Claims the oldest unclaimed item, waiting up to `timeout_ns` (negative: for ever) for one;
  /// nullopt on timeout or `stop`.
  std::optional<item> take(std::int64_t timeout_ns = -1, std::stop_token stop = {}) {
    auto& c = *core_->c;
    prepare();
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    for (;;) {
      if (detail::session_gone(c.state())) {
        detail::throw_session_expired("dstm: take from " + core_->path);
      }
      typename detail::session_link<C>::slot slot(link_, stop);
      std::error_code ec;
      auto items = detail::retrying(c, deadline, ec, [&](std::error_code& e) {
        return c.children(core_->items, slot.watch(), e);
      });
      if (!ec) {
        auto claims = detail::retrying(c, deadline, ec, [&](std::error_code& e) {
          return c.children(core_->claims, slot.watch(), e);
        });
        if (!ec) {
          const std::set<std::string> claimed(claims.names.begin(), claims.names.end());
          for (const auto& k : detail::by_sequence(items.names)) {
            if (claimed.contains(k.name) && !core_->suspect(k.name)) continue;
            if (auto it = claim(k.name, deadline)) return it;
          }
        }
      }
      if (ec) {
        if (detail::transient(ec) && !detail::session_gone(c.state())) return std::nullopt;
        detail::throw_failure(ec, "dstm: take from " + core_->path);
      }
      if (stop.stop_requested()) return std::nullopt;
      if (!slot.wait(deadline) && c.now() >= deadline) return std::nullopt;
    }
  }

  /// An item if one is unclaimed now, else nullopt.
  std::optional<item> try_take() { return take(0); }

  /// Items put and not yet acked (claimed ones included).
  std::size_t size() const {
    auto& c = *core_->c;
    std::error_code ec;
    auto kids = detail::retrying(
        c, forever, ec, [&](std::error_code& e) { return c.children(core_->items, {}, e); });
    if (ec == coordinator_errc::no_node) return 0;
    if (ec) detail::throw_failure(ec, "dstm: size of " + core_->path);
    return detail::by_sequence(kids.names).size();
  }

  const std::string& path() const noexcept { return core_->path; }

 private:
  struct core {
    core(std::shared_ptr<C> cc, std::string p)
        : c(std::move(cc)),
          path(std::move(p)),
          items(path + "/items"),
          claims(path + "/claims"),
          receipts(path + "/receipts"),
          instance(detail::next_instance()) {}
    std::shared_ptr<C> c;
    std::string path, items, claims, receipts;
    detail::pending_removals pending;
    std::uint64_t instance;
    std::atomic<std::uint64_t> numbers{0};
    std::atomic<bool> ready{false};
    std::mutex mutex;
    std::set<std::string> held;  // items this object handed out and that are not finished

    /// What this object writes into its claims: its session and instance.
    std::string claim_tag() const {
      return detail::hex(static_cast<std::uint64_t>(c->session_id())) + "-" +
             std::to_string(instance);
    }

    /// Items whose claim this object may have made without knowing (a lost reply, then the
    /// take gave up): such a claim is taken over on the next look instead of blocking the item
    /// for the rest of the session.
    std::set<std::string> suspects;

    bool suspect(const std::string& name) {
      std::lock_guard lock(mutex);
      return suspects.contains(name);
    }

    void finish(const std::string& name) {
      std::lock_guard lock(mutex);
      held.erase(name);
    }

    void ack(const std::string& name) {
      struct done {
        core* k;
        const std::string& n;
        ~done() { k->finish(n); }
      } finish_on_exit{this, name};
      const auto claim_path = join_path(claims, name);
      const auto item_path = join_path(items, name);
      auto unknown_outcome = [&] {
        throw dstm::error(
            make_error_code(errc::commit_outcome_unknown),
            "dstm: ack " + item_path + ": the session ended before the outcome was known");
      };
      detail::backoff<C> b(*c);
      bool unknown = false;  // a multi whose reply was lost may have been applied
      for (;;) {
        std::error_code ec;
        if (unknown) {
          // Applied if the item is gone (only its claim holder removes it).
          auto item_st = detail::retrying(*c, forever, ec, [&](std::error_code& e) {
            c->sync(items, e);
            return e ? std::optional<dstm::stat>{} : c->exists(item_path, {}, e);
          });
          if (ec && detail::session_gone(ec)) unknown_outcome();
          if (ec) detail::throw_failure(ec, "dstm: ack " + item_path);
          if (!item_st) return;
        }
        // Ours still? A claim of an ended session is gone; one of another session is theirs.
        auto st = detail::retrying(
            *c, forever, ec, [&](std::error_code& e) { return c->exists(claim_path, {}, e); });
        if (ec) detail::throw_failure(ec, "dstm: ack " + item_path);
        if (!st || st->ephemeral_owner != c->session_id()) {
          detail::throw_session_expired("dstm: the claim on " + item_path +
                                        " was lost; the item is delivered again");
        }
        const std::vector<op> ops{op::remove(item_path), op::remove(claim_path)};
        c->multi(ops, ec);
        if (!ec) return;
        // A write in flight when the session ended may have been applied before it ended.
        if (detail::session_gone(ec)) unknown_outcome();
        if (!detail::transient(ec)) detail::throw_failure(ec, "dstm: ack " + item_path);
        unknown = true;
        b.pause(forever);
      }
    }

    void unclaim(const std::string& name) {
      struct done {
        core* k;
        const std::string& n;
        ~done() { k->finish(n); }
      } finish_on_exit{this, name};
      if (detail::session_gone(c->state())) return;
      const auto claim_path = join_path(claims, name);
      std::error_code ec;
      auto st = detail::retrying(*c, forever, ec,
                                 [&](std::error_code& e) { return c->exists(claim_path, {}, e); });
      if (ec || !st || st->ephemeral_owner != c->session_id()) return;
      detail::remove_node(*c, claim_path, forever);
    }
  };

  void prepare() {
    if (core_->ready) return;
    auto& c = *core_->c;
    std::error_code ec;
    detail::ensure_path(c, core_->items, forever, ec);
    if (!ec) detail::ensure_path(c, core_->claims, forever, ec);
    if (!ec) detail::ensure_path(c, core_->receipts, forever, ec);
    if (ec) detail::throw_failure(ec, "dstm: queue " + core_->path);
    core_->ready = true;
  }

  /// Claims `name`: ours when the create succeeds, or when a lost create turns out applied
  /// (the claim's owner is this session and its data our tag). nullopt when someone else has
  /// it or the item is gone.
  std::optional<item> claim(const std::string& name, std::int64_t deadline) {
    auto& c = *core_->c;
    const auto claim_path = join_path(core_->claims, name);
    const auto item_path = join_path(core_->items, name);
    const auto tag = core_->claim_tag();
    {
      std::lock_guard lock(core_->mutex);
      if (core_->held.contains(name)) return std::nullopt;  // another thread of ours has it
      core_->held.insert(name);
    }
    bool ours = false;
    bool unknown = false;
    try {
      detail::backoff<C> b(c);
      for (;;) {
        std::error_code ec;
        // The check makes the claim fail when the item is gone: the item list may have come
        // from a server that lags behind an ack, but a write is decided by the leader.
        const std::vector<op> ops{op::check(item_path, any_version),
                                  op::create(claim_path, tag, create_mode::ephemeral)};
        c.multi(ops, ec);
        if (!ec) {
          ours = true;
          break;
        }
        if (ec == coordinator_errc::no_node) break;  // acked by someone meanwhile
        if (ec != coordinator_errc::node_exists && !detail::transient(ec)) {
          detail::throw_failure(ec, "dstm: claim " + item_path);
        }
        if (detail::transient(ec)) {
          unknown = true;
          detail::retrying(c, deadline, ec, [&](std::error_code& e) {
            c.sync(core_->claims, e);
            return 0;
          });
        }
        auto n = detail::retrying(c, deadline, ec,
                                  [&](std::error_code& e) { return c.get(claim_path, {}, e); });
        if (ec == coordinator_errc::no_node) {
          if (!b.pause(deadline)) break;
          continue;  // not created: try again
        }
        if (ec) break;
        if (n.stat.ephemeral_owner == c.session_id() && n.data == tag) ours = true;
        break;
      }
      {
        std::lock_guard lock(core_->mutex);
        if (ours) {
          core_->suspects.erase(name);
        } else if (unknown) {
          core_->suspects.insert(name);
        }
      }
      if (!ours) {
        core_->finish(name);
        return std::nullopt;
      }
      std::error_code ec;
      auto n = detail::retrying(c, forever, ec,
                                [&](std::error_code& e) { return c.get(item_path, {}, e); });
      if (ec) {
        // Acked by its previous consumer just before we claimed it: let go of the claim.
        core_->unclaim(name);
        if (ec == coordinator_errc::no_node) return std::nullopt;
        detail::throw_failure(ec, "dstm: take " + item_path);
      }
      item it;
      it.core_ = core_;
      it.name_ = name;
      it.data_ = std::move(n.data);
      return it;
    } catch (...) {
      if (ours) {
        core_->unclaim(name);
      } else {
        core_->finish(name);
      }
      throw;
    }
  }

  std::shared_ptr<core> core_;
  detail::session_link<C> link_;
};

template <class C>
queue(std::shared_ptr<C>, std::string) -> queue<C>;

}  // namespace dstm::recipes
