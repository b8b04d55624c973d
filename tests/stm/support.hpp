#pragma once
// Test support for the STM tests: a coordinator decorator that lets a test act at the one moment
// that matters (just before a commit's multi reaches the store, or just after it applied), and
// a few small synchronisation helpers.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <dstm/dstm.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace dstm_test {

/// What a `hooked_coordinator` does to the next multis of its session. Shared by every session
/// the client opens (the factory hands the same hooks to each), and thread-safe.
struct multi_hooks {
  /// `lose_*`: the reply is a connection_loss. `unattributed_*`: the reply is a refusal that
  /// names no op — every op `runtime_inconsistency` (seen from a real ensemble during a leader
  /// change) — whether or not the multi was applied.
  enum class fault {
    none,
    lose_before_apply,
    lose_after_apply,
    unattributed_before_apply,
    unattributed_after_apply
  };

  /// Runs `fn` (once) right before the next multi is applied: e.g. another client commits.
  void before_next_multi(std::function<void()> fn) {
    std::lock_guard lock(mutex);
    before.push_back(std::move(fn));
  }
  /// Runs `fn` (once) right after the next multi was applied, before its reply is returned.
  void after_next_multi(std::function<void()> fn) {
    std::lock_guard lock(mutex);
    after.push_back(std::move(fn));
  }
  /// The next multi's reply is lost or unattributed, applied or not.
  void fail_next_multi(fault f) {
    std::lock_guard lock(mutex);
    faults.push_back(f);
  }

  std::mutex mutex;
  std::deque<std::function<void()>> before;
  std::deque<std::function<void()>> after;
  std::deque<fault> faults;
  std::uint64_t multis = 0;  ///< multis seen (guarded by mutex)
};

/// A coordinator (`Inner`) with `multi_hooks`: everything else is forwarded unchanged.
template <class Inner>
class basic_hooked_coordinator
    : public dstm::coordinator_interface<basic_hooked_coordinator<Inner>> {
 public:
  using event = typename Inner::event;

  basic_hooked_coordinator(std::shared_ptr<Inner> inner, std::shared_ptr<multi_hooks> hooks)
      : inner_(std::move(inner)), hooks_(std::move(hooks)) {}

  std::int64_t session_id() const { return inner_->session_id(); }
  dstm::session_state state() const { return inner_->state(); }
  std::uint64_t subscribe(std::function<void(dstm::session_state)> fn) {
    return inner_->subscribe(std::move(fn));
  }
  void unsubscribe(std::uint64_t id) { inner_->unsubscribe(id); }
  void close() { inner_->close(); }
  std::int64_t now() const { return inner_->now(); }
  void sleep_for(std::int64_t ns) { inner_->sleep_for(ns); }
  std::shared_ptr<event> make_event() { return inner_->make_event(); }
  bool wait(event& e, std::int64_t timeout_ns) { return inner_->wait(e, timeout_ns); }

 private:
  friend class dstm::coordinator_interface<basic_hooked_coordinator>;
  using fault = multi_hooks::fault;

  std::string do_create(std::string_view path, std::string_view data, dstm::create_mode mode,
                        const dstm::acl_list& acls, dstm::stat* out, std::error_code& ec) {
    return inner_->create(path, data, mode, acls, out, ec);
  }
  dstm::node do_get(std::string_view path, dstm::watch w, std::error_code& ec) {
    return inner_->get(path, std::move(w), ec);
  }
  dstm::stat do_set(std::string_view path, std::string_view data, std::int32_t version,
                    std::error_code& ec) {
    return inner_->set(path, data, version, ec);
  }
  void do_remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    inner_->remove(path, version, ec);
  }
  std::optional<dstm::stat> do_exists(std::string_view path, dstm::watch w, std::error_code& ec) {
    return inner_->exists(path, std::move(w), ec);
  }
  dstm::children_list do_children(std::string_view path, dstm::watch w, std::error_code& ec) {
    return inner_->children(path, std::move(w), ec);
  }
  std::vector<dstm::op_result> do_multi(std::span<const dstm::op> ops, std::error_code& ec) {
    std::function<void()> before;
    std::function<void()> after;
    fault f = fault::none;
    {
      std::lock_guard lock(hooks_->mutex);
      ++hooks_->multis;
      if (!hooks_->before.empty()) {
        before = std::move(hooks_->before.front());
        hooks_->before.pop_front();
      }
      if (!hooks_->after.empty()) {
        after = std::move(hooks_->after.front());
        hooks_->after.pop_front();
      }
      if (!hooks_->faults.empty()) {
        f = hooks_->faults.front();
        hooks_->faults.pop_front();
      }
    }
    if (before) before();
    auto failed_reply = [&](dstm::coordinator_errc e) {
      ec = make_error_code(e);
      return std::vector<dstm::op_result>(ops.size(), dstm::op_result{ec, {}, {}});
    };
    if (f == fault::lose_before_apply) return failed_reply(dstm::coordinator_errc::connection_loss);
    if (f == fault::unattributed_before_apply) {
      return failed_reply(dstm::coordinator_errc::runtime_inconsistency);
    }
    auto results = inner_->multi(ops, ec);
    if (after) after();
    if (f == fault::lose_after_apply) return failed_reply(dstm::coordinator_errc::connection_loss);
    if (f == fault::unattributed_after_apply) {
      return failed_reply(dstm::coordinator_errc::runtime_inconsistency);
    }
    return results;
  }
  std::vector<dstm::get_result> do_get_many(std::span<const std::string> paths,
                                            const dstm::watch& w, std::error_code& ec) {
    return inner_->get_many(paths, w, ec);
  }
  void do_sync(std::string_view path, std::error_code& ec) { inner_->sync(path, ec); }
  void do_add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    inner_->add_auth(scheme, credential, ec);
  }
  dstm::acl_list do_get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    return inner_->get_acl(path, out, ec);
  }
  void do_set_acl(std::string_view path, const dstm::acl_list& acls, std::int32_t aversion,
                  std::error_code& ec) {
    inner_->set_acl(path, acls, aversion, ec);
  }

  std::shared_ptr<Inner> inner_;
  std::shared_ptr<multi_hooks> hooks_;
};

/// The embedded coordinator with hooks (what the STM tests use); other coordinators, e.g. a
/// real ZooKeeper session, take `basic_hooked_coordinator<Their>`.
using hooked_coordinator = basic_hooked_coordinator<dstm::embedded::coordinator>;

static_assert(dstm::coordinator<hooked_coordinator>);

/// A client on `store` whose sessions obey `hooks`.
inline std::shared_ptr<dstm::client> connect_hooked(std::shared_ptr<dstm::embedded::store> store,
                                                    std::shared_ptr<multi_hooks> hooks,
                                                    dstm::client_options options = {}) {
  return dstm::connect_with(
      [store, hooks] {
        return std::make_shared<hooked_coordinator>(dstm::embedded::open(store), hooks);
      },
      std::move(options));
}

/// Fast retries for tests: a conflict waits microseconds, not milliseconds.
inline dstm::client_options fast_options() {
  dstm::client_options o;
  o.backoff_min_ns = 2'000;
  o.backoff_max_ns = 2'000'000;
  return o;
}

/// Collects values from other threads (watch callbacks) and waits for them with a deadline.
template <class T>
class mailbox {
 public:
  void post(T v) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(v));
    }
    cv_.notify_all();
  }
  /// The next item, or nullopt after `timeout`.
  std::optional<T> take(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

/// Waits until `client` runs on a session other than `old_session` (the expiry listener runs
/// on the store's dispatcher, after `store::expire` returned). False after `timeout`.
inline bool await_new_session(dstm::client& client, std::int64_t old_session,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.session()->session_id() != old_session) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace dstm_test
