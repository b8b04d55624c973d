#pragma once
/// \file
/// `dstm::recipes::mutex`: a distributed, reentrant, fair lock with fencing tokens
/// (Curator's InterProcessMutex, kazoo's Lock), and `lock_guard`, its RAII guard.
///
/// \code
/// dstm::recipes::mutex m{zk, "/locks/printer"};
/// {
///   dstm::recipes::lock_guard g{m};             // blocks until held
///   printer.print(job, g.token());               // the store refuses older tokens
/// }
/// if (m.try_lock_for(std::chrono::seconds(2))) { ...; m.unlock(); }
/// \endcode
/// examples/recipes/lock shows a complete program.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"
#include "dstm/recipes/detail/queue_lock.hpp"

namespace dstm::recipes {

/// A lock over the coordinator: at most one thread in the cluster holds it at a time.
///
/// **Protocol.** Each acquisition creates an ephemeral-sequential child of `path`; the child
/// with the lowest sequence number holds the lock; every other waits for the removal of the
/// child just before its own (one watch each: no herd), so the lock is granted in request
/// order (fair).
///
/// **Reentrant per thread** (like Curator's): the thread holding it may lock it again through
/// the same object and must unlock as often. Other threads of the process contend like any
/// other client, with their own node. The simulation runs every simulated thread on one OS
/// thread: there, give each simulated thread its own `mutex` object.
///
/// **Fencing.** `token()` is the holder's node's czxid: it grows with every grant. A holder can
/// lose the lock without knowing (its session expired during a pause); a store that remembers
/// the largest token it saw and refuses smaller ones cannot be corrupted by such a holder.
///
/// **Faults.** A create whose reply was lost is found again by its unique name (session id,
/// object, acquisition), after a `sync`, and adopted only when its ephemeral owner is the
/// current session — never a node of a session that ended. A timeout, exception or
/// cancellation during `lock` removes the node. `unlock` retries its removal through
/// connection loss (`lock_options::release_timeout_ns`, then on every reconnection). When the
/// session ends the holder is told (`lock_options::on_lost`) and `is_held()` turns false;
/// nothing is retried across the end of a session: calls then throw `errc::session_expired`.
/// Watches only set flags; nothing blocks the coordinator's completion thread.
///
/// **Errors.** `dstm::error` with `errc::session_expired` (the session ended), `errc::
/// invalid_argument` (unlock without a hold), `std::errc::operation_canceled` (`lock` cancelled
/// through its stop token), or `dstm::coordinator_error` (e.g. `not_authorized`).
///
/// Thread-safe. The object must outlive the threads using it.
template <coordinator C>
class mutex {
 public:
  using coordinator_type = C;

  /// A lock at `path` (created with its ancestors on first use). Throws `errc::invalid_argument`
  /// for a malformed path.
  mutex(std::shared_ptr<C> c, std::string path, lock_options options = {})
      : q_(std::move(c), std::move(path), std::move(options)) {}

  /// Blocks until held. Throws `operation_canceled` when `stop` is triggered first.
  void lock(std::stop_token stop = {}) {
    q_.acquire(detail::lock_kind::exclusive, -1, true, std::move(stop), true);
  }

  /// Acquires only if nobody holds or waits for it now (leaves no node otherwise).
  bool try_lock() { return q_.acquire(detail::lock_kind::exclusive, -1, false, {}, false); }

  /// Waits up to `timeout_ns` (coordinator clock); false when not acquired by then or when
  /// `stop` was triggered (no node is left behind either way).
  bool try_lock_for(std::int64_t timeout_ns, std::stop_token stop = {}) {
    return q_.acquire(detail::lock_kind::exclusive, timeout_ns < 0 ? 0 : timeout_ns, true,
                      std::move(stop), false);
  }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> timeout, std::stop_token stop = {}) {
    return try_lock_for(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count(),
                        std::move(stop));
  }

  /// Releases one level of the calling thread's hold; the last removes the node (retried
  /// through connection loss). Does nothing more when the hold was lost with the session.
  void unlock() { q_.release(detail::lock_kind::exclusive); }

  /// True when the calling thread holds the lock, it was not lost, and the session is
  /// connected right now (while it is suspended, another client may be about to take over).
  bool is_held() const { return q_.is_held(detail::lock_kind::exclusive); }

  /// The calling thread's fencing token; 0 when it holds nothing.
  std::int64_t token() const { return q_.token(detail::lock_kind::exclusive); }

  /// The calling thread's lock node ("" when none).
  std::string node() const { return q_.node(detail::lock_kind::exclusive); }

  /// The identifiers (`lock_options::identifier`) of holder and waiters, in queue order.
  std::vector<std::string> contenders() const { return q_.contenders(); }

  const std::string& path() const noexcept { return q_.path(); }

 protected:
  detail::queue_lock<C> q_;
};

template <class C>
mutex(std::shared_ptr<C>, std::string, lock_options = {}) -> mutex<C>;

/// Locks on construction, unlocks on destruction; `token()` is the fencing token of the hold.
/// Works with `mutex`, and with `shared_mutex` (exclusive).
template <class Lockable>
class lock_guard {
 public:
  explicit lock_guard(Lockable& m) : m_(&m) { m_->lock(); }
  ~lock_guard() {
    try {
      m_->unlock();
    } catch (...) {
      // A destructor must not throw; a failed release is retried in the background.
    }
  }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

  std::int64_t token() const { return m_->token(); }
  bool is_held() const { return m_->is_held(); }

 private:
  Lockable* m_;
};

}  // namespace dstm::recipes
