#pragma once
// A coordinator wrapper for the recipe tests that injects scripted faults into another model:
// a request lost before it reaches the server, a reply lost after it was applied, a session
// replaced by a new one while the old one lives on at the server (what a client that believes
// its session expired, or a reconnecting framework, does), and a record of any coordinator
// call made from inside a watch callback (a recipe must never block the completion thread).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/interface.hpp"
#include "dstm/coordinator/types.hpp"

namespace dstm_recipes_test {

enum class fault_op { create, remove, get, exists, children, set, multi, sync };

/// One scripted fault: the next `times` calls of `op` on a path starting with `path` fail with
/// connection_loss, after being applied (`applied`) or not; `then` runs after each.
struct scripted_fault {
  fault_op op = fault_op::create;
  std::string path;
  bool applied = false;
  int times = 1;
  std::function<void()> then;
  /// What the call reports (connection_loss unless told otherwise).
  std::error_code error = make_error_code(dstm::coordinator_errc::connection_loss);
};

inline thread_local int inside_watch = 0;

template <dstm::coordinator C>
class faulty : public dstm::coordinator_interface<faulty<C>> {
 public:
  using event = typename C::event;

  /// `open` makes a new inner session (called now, and by `replace_session`).
  explicit faulty(std::function<std::shared_ptr<C>()> open) : open_(std::move(open)) {
    attach(open_());
  }
  ~faulty() {
    std::lock_guard lock(mutex_);
    if (inner_) inner_->unsubscribe(inner_sub_);
  }

  void inject(scripted_fault f) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(f));
  }
  void clear_faults() {
    std::lock_guard lock(mutex_);
    script_.clear();
  }
  /// Faults still scripted (not yet consumed).
  std::size_t pending_faults() const {
    std::lock_guard lock(mutex_);
    return script_.size();
  }

  /// Opens a new inner session and uses it from now on; the old one stays open at the server
  /// (its ephemerals live on) and is returned. Listeners see `expired`, then `connected`.
  std::shared_ptr<C> replace_session() {
    auto old = inner();
    attach(open_());
    notify(dstm::session_state::expired);
    notify(dstm::session_state::connected);
    return old;
  }

  std::shared_ptr<C> inner() const {
    std::lock_guard lock(mutex_);
    return inner_;
  }

  /// Called before (`before` true) and after every scripted-fault-capable call; tests use it
  /// to change the world around one request. Set it before sharing the wrapper.
  std::function<void(fault_op, std::string_view path, bool before)> on_call;

  /// Calls of `op` on paths starting with `prefix` that the inner session applied (also those
  /// whose reply a scripted fault then lost).
  std::size_t applied(fault_op op, std::string_view prefix) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [o, path] : applied_) n += o == op && path.starts_with(prefix);
    return n;
  }

  /// Tells the listeners of a state change the inner session did not make (e.g. `connected`
  /// after a reconnection).
  void announce(dstm::session_state s) { notify(s); }

  /// Coordinator calls made while a watch callback of this wrapper was running.
  int calls_inside_watches() const { return violations_.load(); }

  std::int64_t session_id() const { return inner()->session_id(); }
  dstm::session_state state() const { return inner()->state(); }
  std::uint64_t subscribe(std::function<void(dstm::session_state)> fn) {
    std::lock_guard lock(mutex_);
    const auto id = next_listener_++;
    listeners_.emplace(id, std::move(fn));
    return id;
  }
  void unsubscribe(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    listeners_.erase(id);
  }
  void close() { inner()->close(); }
  std::int64_t now() const { return inner()->now(); }
  void sleep_for(std::int64_t ns) { inner()->sleep_for(ns); }
  std::shared_ptr<event> make_event() { return inner()->make_event(); }
  bool wait(event& e, std::int64_t timeout_ns) {
    note_call();
    return inner()->wait(e, timeout_ns);
  }

  // ---- the primitives ----
  std::string do_create(std::string_view path, std::string_view data, dstm::create_mode mode,
                        const dstm::acl_list& acls, dstm::stat* out, std::error_code& ec) {
    note_call();
    return run(fault_op::create, path, ec,
               [&](std::error_code& e) { return inner()->create(path, data, mode, acls, out, e); });
  }
  dstm::node do_get(std::string_view path, dstm::watch w, std::error_code& ec) {
    note_call();
    return run(fault_op::get, path, ec,
               [&](std::error_code& e) { return inner()->get(path, wrap(std::move(w)), e); });
  }
  dstm::stat do_set(std::string_view path, std::string_view data, std::int32_t version,
                    std::error_code& ec) {
    note_call();
    return run(fault_op::set, path, ec,
               [&](std::error_code& e) { return inner()->set(path, data, version, e); });
  }
  void do_remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    note_call();
    run(fault_op::remove, path, ec, [&](std::error_code& e) {
      inner()->remove(path, version, e);
      return 0;
    });
  }
  std::optional<dstm::stat> do_exists(std::string_view path, dstm::watch w, std::error_code& ec) {
    note_call();
    return run(fault_op::exists, path, ec,
               [&](std::error_code& e) { return inner()->exists(path, wrap(std::move(w)), e); });
  }
  dstm::children_list do_children(std::string_view path, dstm::watch w, std::error_code& ec) {
    note_call();
    return run(fault_op::children, path, ec,
               [&](std::error_code& e) { return inner()->children(path, wrap(std::move(w)), e); });
  }
  std::vector<dstm::op_result> do_multi(std::span<const dstm::op> ops, std::error_code& ec) {
    note_call();
    const std::string first = ops.empty() ? std::string() : ops.front().path;
    auto r =
        run(fault_op::multi, first, ec, [&](std::error_code& e) { return inner()->multi(ops, e); });
    if (ec && r.size() != ops.size()) r.assign(ops.size(), dstm::op_result{ec, {}, {}});
    return r;
  }
  std::vector<dstm::get_result> do_get_many(std::span<const std::string> paths,
                                            const dstm::watch& w, std::error_code& ec) {
    note_call();
    return inner()->get_many(paths, wrap(w), ec);
  }
  void do_sync(std::string_view path, std::error_code& ec) {
    note_call();
    run(fault_op::sync, path, ec, [&](std::error_code& e) {
      inner()->sync(path, e);
      return 0;
    });
  }
  void do_add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    inner()->add_auth(scheme, credential, ec);
  }
  dstm::acl_list do_get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    return inner()->get_acl(path, out, ec);
  }
  void do_set_acl(std::string_view path, const dstm::acl_list& acls, std::int32_t v,
                  std::error_code& ec) {
    inner()->set_acl(path, acls, v, ec);
  }

 private:
  void attach(std::shared_ptr<C> next) {
    std::lock_guard lock(mutex_);
    if (inner_) inner_->unsubscribe(inner_sub_);
    inner_ = std::move(next);
    inner_sub_ = inner_->subscribe([this](dstm::session_state s) { notify(s); });
  }

  void notify(dstm::session_state s) {
    std::vector<std::function<void(dstm::session_state)>> fns;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, fn] : listeners_) fns.push_back(fn);
    }
    for (const auto& fn : fns) fn(s);
  }

  void record(fault_op op, std::string_view path) {
    std::lock_guard lock(mutex_);
    applied_.emplace_back(op, std::string(path));
  }

  void note_call() {
    if (inside_watch > 0) ++violations_;
  }

  dstm::watch wrap(dstm::watch w) {
    if (!w) return w;
    return dstm::watch{[fn = std::move(w.fn)](const dstm::watch_event& e) {
                         ++inside_watch;
                         try {
                           fn(e);
                         } catch (...) {
                         }
                         --inside_watch;
                       },
                       w.in_order};
  }

  template <class F>
  auto run(fault_op op, std::string_view path, std::error_code& ec, F&& f) -> decltype(f(ec)) {
    if (on_call) {
      on_call(op, path, true);
      struct after {
        faulty* self;
        fault_op op;
        std::string_view path;
        ~after() { self->on_call(op, path, false); }
      } guard{this, op, path};
      return run_scripted(op, path, ec, std::forward<F>(f));
    }
    return run_scripted(op, path, ec, std::forward<F>(f));
  }

  template <class F>
  auto run_scripted(fault_op op, std::string_view path, std::error_code& ec, F&& f)
      -> decltype(f(ec)) {
    std::optional<scripted_fault> hit;
    {
      std::lock_guard lock(mutex_);
      for (auto it = script_.begin(); it != script_.end(); ++it) {
        if (it->op == op && path.starts_with(it->path)) {
          hit = *it;
          if (--it->times <= 0) script_.erase(it);
          break;
        }
      }
    }
    if (!hit) {
      auto r = f(ec);
      if (!ec) record(op, path);
      return r;
    }
    using R = decltype(f(ec));
    if (hit->applied) {
      std::error_code applied_ec;
      (void)f(applied_ec);
      if (!applied_ec) record(op, path);
    }
    ec = hit->error;
    if (hit->then) hit->then();
    return R{};
  }

  std::function<std::shared_ptr<C>()> open_;
  mutable std::mutex mutex_;
  std::shared_ptr<C> inner_;
  std::uint64_t inner_sub_ = 0;
  std::deque<scripted_fault> script_;
  std::map<std::uint64_t, std::function<void(dstm::session_state)>> listeners_;
  std::uint64_t next_listener_ = 1;
  std::atomic<int> violations_{0};
  std::vector<std::pair<fault_op, std::string>> applied_;
};

}  // namespace dstm_recipes_test
