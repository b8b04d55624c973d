#pragma once
/// \file
/// `dstm::recipes::group`: group membership (zookeeper-clj's example, kazoo's Party): members
/// join with an ephemeral node, leave by removing it or by dying, and anyone can list or watch
/// the members.
///
/// \code
/// dstm::recipes::group workers{zk, "/groups/workers", "worker-7", "10.0.0.7:8080"};
/// workers.join();
/// auto id = workers.watch([](const std::vector<std::string>& members) { rebalance(members); });
/// \endcode

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"

namespace dstm::recipes {

/// One member's view of a group at `path`: its children are the members, each an ephemeral
/// node named by the member's id and holding its data.
///
/// `join` is safe through a lost reply (the node is found by its name and taken only when its
/// ephemeral owner is this session) and never takes over a node of another session — not even
/// one a previous session of this process left behind: it waits for that node to go. A member
/// whose session ends is out of the group (its node is gone); `is_member()` turns false.
///
/// Thread-safe. `watch` callbacks run on the coordinator's dispatcher thread (never on its
/// completion thread); they may call the coordinator but should be short.
template <coordinator C>
class group {
 public:
  using coordinator_type = C;

  group(std::shared_ptr<C> c, std::string path, std::string member, std::string data = {})
      : c_(std::move(c)),
        path_(std::move(path)),
        member_(std::move(member)),
        node_(join_path(path_, member_)),
        data_(std::move(data)),
        link_(c_) {
    if (validate_path(node_) || member_.empty() || member_.find('/') != std::string::npos) {
      throw dstm::error(make_error_code(errc::invalid_argument),
                        "dstm: bad group path or member id: " + node_);
    }
  }

  ~group() {
    std::lock_guard lock(watchers_mutex_);
    for (auto& [id, w] : watchers_) w->stop();
  }

  /// Joins the group. If another session holds this member id, waits up to `timeout_ns` for it
  /// to leave, then throws `errc::node_exists` (at once for a persistent node of that name).
  /// Throws `errc::session_expired`, `operation_canceled`, or `coordinator_error`.
  void join(std::int64_t timeout_ns = 0, std::stop_token stop = {}) {
    auto& c = *c_;
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    std::error_code ec;
    detail::ensure_path(c, path_, forever, ec);
    if (ec) detail::throw_failure(ec, "dstm: group " + path_);
    for (;;) {
      if (stop.stop_requested()) detail::throw_canceled("dstm: join " + node_);
      dstm::stat st;
      ec.clear();
      c.create(node_, data_, create_mode::ephemeral, open_acl_unsafe(), &st, ec);
      if (!ec) {
        joined_ = true;
        return;
      }
      if (detail::session_gone(ec)) detail::throw_failure(ec, "dstm: join " + node_);
      if (ec != coordinator_errc::node_exists && !detail::transient(ec)) {
        detail::throw_failure(ec, "dstm: join " + node_);
      }
      if (detail::transient(ec)) {
        // Maybe created: look (after catching up, so a lagging server cannot hide it).
        detail::retrying(c, forever, ec, [&](std::error_code& e) {
          c.sync(path_, e);
          return 0;
        });
      }
      typename detail::session_link<C>::slot slot(link_, stop);
      auto found = detail::retrying(
          c, forever, ec, [&](std::error_code& e) { return c.exists(node_, slot.watch(), e); });
      if (ec) detail::throw_failure(ec, "dstm: exists " + node_);
      if (!found) continue;
      if (found->ephemeral_owner == c.session_id()) {
        joined_ = true;
        return;
      }
      if (found->ephemeral_owner == 0) {
        throw dstm::error(make_error_code(errc::node_exists),
                          "dstm: " + node_ + " exists and is not a member's (ephemeral) node");
      }
      if (!slot.wait(deadline) && c.now() >= deadline) {
        throw dstm::error(make_error_code(errc::node_exists),
                          "dstm: member id " + member_ + " is held by session 0x" +
                              detail::hex(static_cast<std::uint64_t>(found->ephemeral_owner)));
      }
    }
  }

  /// Leaves the group (removes this member's node, retried through connection loss). Nothing
  /// happens when not a member; a node removed by someone else is fine.
  void leave() {
    if (!joined_.exchange(false)) return;
    auto& c = *c_;
    if (detail::session_gone(c.state())) return;
    // Only our own node: a member id taken over by another session is not ours to remove.
    std::error_code ec;
    auto st = detail::retrying(c, forever, ec,
                               [&](std::error_code& e) { return c.exists(node_, {}, e); });
    if (ec || !st || st->ephemeral_owner != c.session_id()) return;
    detail::remove_node(c, node_, forever);
  }

  /// Joined, not left, and the session has not ended.
  bool is_member() const { return joined_ && !detail::session_gone(c_->state()); }

  /// The members' ids, sorted.
  std::vector<std::string> members() const { return read(false).first; }

  /// The members' ids with their data.
  std::map<std::string, std::string> members_with_data() const {
    auto [names, data] = read(true);
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < names.size(); ++i) out.emplace(names[i], data[i]);
    return out;
  }

  /// Blocks until the member list differs from `known` (or `timeout_ns` passed, or `stop`) and
  /// returns the current list.
  std::vector<std::string> wait_for_change(const std::vector<std::string>& known,
                                           std::int64_t timeout_ns = -1,
                                           std::stop_token stop = {}) const {
    auto& c = *c_;
    const auto deadline = detail::deadline_after(c.now(), timeout_ns);
    for (;;) {
      typename detail::session_link<C>::slot slot(link_, stop);
      std::error_code ec;
      auto kids = detail::retrying(
          c, deadline, ec, [&](std::error_code& e) { return c.children(path_, slot.watch(), e); });
      if (ec == coordinator_errc::no_node) {
        kids.names.clear();
        ec.clear();
        c.exists(path_, slot.watch(), ec);
      }
      if (ec && !detail::transient(ec)) detail::throw_failure(ec, "dstm: members of " + path_);
      auto names = std::move(kids.names);
      std::sort(names.begin(), names.end());
      if (names != known || stop.stop_requested()) return names;
      if (!slot.wait(deadline) && c.now() >= deadline) return names;
      if (detail::session_gone(c.state())) detail::throw_session_expired("dstm: group " + path_);
    }
  }

  /// Calls `fn(members)` now and after every change of the member list, on the coordinator's
  /// dispatcher thread, until `unwatch(id)`, the object's destruction or the session's end.
  std::uint64_t watch(std::function<void(const std::vector<std::string>&)> fn) {
    auto w = std::make_shared<watcher>(c_, path_, std::move(fn));
    std::uint64_t id;
    {
      std::lock_guard lock(watchers_mutex_);
      id = ++next_watcher_;
      watchers_.emplace(id, w);
    }
    w->start();
    return id;
  }

  void unwatch(std::uint64_t id) {
    std::shared_ptr<watcher> w;
    {
      std::lock_guard lock(watchers_mutex_);
      auto it = watchers_.find(id);
      if (it == watchers_.end()) return;
      w = it->second;
      watchers_.erase(it);
    }
    w->stop();
  }

  const std::string& path() const noexcept { return path_; }
  const std::string& member() const noexcept { return member_; }

 private:
  /// Re-arms a child watch from its own (plain, dispatcher-thread) callback and after every
  /// reconnection, calling the user's function whenever the list changed.
  class watcher : public std::enable_shared_from_this<watcher> {
   public:
    watcher(std::shared_ptr<C> c, std::string path,
            std::function<void(const std::vector<std::string>&)> fn)
        : c_(std::move(c)), path_(std::move(path)), fn_(std::move(fn)) {}

    void start() {
      std::weak_ptr<watcher> weak = this->shared_from_this();
      sub_ = c_->subscribe([weak](session_state s) {
        if (auto w = weak.lock(); w && s == session_state::connected) w->arm();
      });
      arm();
    }
    void stop() {
      {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        stopped_ = true;
      }
      c_->unsubscribe(sub_);
    }

   private:
    void arm() {
      {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
      }
      std::weak_ptr<watcher> weak = this->shared_from_this();
      dstm::watch again{[weak](const watch_event& e) {
        if (e.type == event_type::session) return;  // the session ended: nothing to re-arm
        if (auto w = weak.lock()) w->arm();
      }};
      auto& c = *c_;
      std::error_code ec;
      auto kids = detail::retrying(c, detail::deadline_after(c.now(), 1'000'000'000), ec,
                                   [&](std::error_code& e) { return c.children(path_, again, e); });
      if (ec == coordinator_errc::no_node) {
        kids.names.clear();
        ec.clear();
        c.exists(path_, again, ec);
      }
      if (ec) return;  // the next reconnection re-arms
      auto names = std::move(kids.names);
      std::sort(names.begin(), names.end());
      std::function<void(const std::vector<std::string>&)> fn;
      {
        std::lock_guard lock(mutex_);
        if (stopped_ || (seen_ && names == last_)) return;
        seen_ = true;
        last_ = names;
        fn = fn_;
      }
      fn(names);
    }

    std::shared_ptr<C> c_;
    std::string path_;
    std::function<void(const std::vector<std::string>&)> fn_;
    std::mutex mutex_;
    bool stopped_ = false;
    bool seen_ = false;
    std::vector<std::string> last_;
    std::uint64_t sub_ = 0;
  };

  std::pair<std::vector<std::string>, std::vector<std::string>> read(bool with_data) const {
    auto& c = *c_;
    std::error_code ec;
    auto kids = detail::retrying(c, forever, ec,
                                 [&](std::error_code& e) { return c.children(path_, {}, e); });
    if (ec == coordinator_errc::no_node) return {};
    if (ec) detail::throw_failure(ec, "dstm: members of " + path_);
    auto names = std::move(kids.names);
    std::sort(names.begin(), names.end());
    if (!with_data) return {names, {}};
    std::vector<std::string> paths;
    for (const auto& n : names) paths.push_back(join_path(path_, n));
    auto got = detail::retrying(c, forever, ec,
                                [&](std::error_code& e) { return c.get_many(paths, {}, e); });
    if (ec) detail::throw_failure(ec, "dstm: members of " + path_);
    std::vector<std::string> kept, data;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i].ec) continue;
      kept.push_back(names[i]);
      data.push_back(std::move(got[i].node.data));
    }
    return {kept, data};
  }

  std::shared_ptr<C> c_;
  std::string path_, member_, node_, data_;
  std::atomic<bool> joined_{false};
  mutable detail::session_link<C> link_;
  std::mutex watchers_mutex_;
  std::map<std::uint64_t, std::shared_ptr<watcher>> watchers_;
  std::uint64_t next_watcher_ = 0;
};

template <class C>
group(std::shared_ptr<C>, std::string, std::string, std::string = {}) -> group<C>;

}  // namespace dstm::recipes
