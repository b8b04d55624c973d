#pragma once
/// \file
/// `dstm::recipes::shared_mutex`: a distributed read-write lock (Curator's
/// InterProcessReadWriteLock, kazoo's ReadLock/WriteLock), with `shared_lock_guard`.
///
/// \code
/// dstm::recipes::shared_mutex rw{zk, "/locks/catalog"};
/// { dstm::recipes::shared_lock_guard r{rw}; read_catalog(); }      // many readers at once
/// { dstm::recipes::lock_guard w{rw}; write_catalog(w.token()); }    // one writer, no readers
/// \endcode

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
#include "dstm/recipes/mutex.hpp"

namespace dstm::recipes {

/// A read-write lock: any number of readers, or one writer.
///
/// Readers and writers queue as ephemeral-sequential children of `path` ("read-…", "write-…").
/// A reader waits only for the nearest earlier writer; a writer for the nearest earlier child
/// of either kind. So readers never block readers, readers do block writers (Avout's read lock
/// did not), and requests are served in order: a writer is not starved by a stream of readers
/// that came after it. It shares every fault protection of `mutex` (see there), and its
/// exclusive side interoperates with nothing else: use one kind of lock per path.
///
/// Reentrant per thread on each side. A thread holding the write lock may also take the read
/// lock (and then release the write lock: a downgrade); taking the write lock while holding
/// only the read lock would deadlock and throws `errc::invalid_argument` instead.
///
/// Models the standard SharedLockable/Lockable shape, so `std::shared_lock` and
/// `std::unique_lock` work too. Thread-safe.
template <coordinator C>
class shared_mutex : public mutex<C> {
 public:
  using coordinator_type = C;

  shared_mutex(std::shared_ptr<C> c, std::string path, lock_options options = {})
      : mutex<C>(std::move(c), std::move(path), std::move(options)) {}

  // ---- exclusive (write): lock, try_lock, try_lock_for, unlock, is_held, token from mutex ----

  // ---- shared (read) ----
  void lock_shared(std::stop_token stop = {}) {
    q_.acquire(detail::lock_kind::shared, -1, true, std::move(stop), true);
  }
  bool try_lock_shared() { return q_.acquire(detail::lock_kind::shared, -1, false, {}, false); }
  bool try_lock_shared_for(std::int64_t timeout_ns, std::stop_token stop = {}) {
    return q_.acquire(detail::lock_kind::shared, timeout_ns < 0 ? 0 : timeout_ns, true,
                      std::move(stop), false);
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(std::chrono::duration<Rep, Period> timeout, std::stop_token stop = {}) {
    return try_lock_shared_for(
        std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count(), std::move(stop));
  }
  void unlock_shared() { q_.release(detail::lock_kind::shared); }
  bool is_held_shared() const { return q_.is_held(detail::lock_kind::shared); }
  /// The read hold's token (its node's czxid); 0 when none.
  std::int64_t token_shared() const { return q_.token(detail::lock_kind::shared); }

 private:
  using mutex<C>::q_;
};

template <class C>
shared_mutex(std::shared_ptr<C>, std::string, lock_options = {}) -> shared_mutex<C>;

/// Takes the read side on construction, releases it on destruction.
template <class SharedLockable>
class shared_lock_guard {
 public:
  explicit shared_lock_guard(SharedLockable& m) : m_(&m) { m_->lock_shared(); }
  ~shared_lock_guard() {
    try {
      m_->unlock_shared();
    } catch (...) {
    }
  }
  shared_lock_guard(const shared_lock_guard&) = delete;
  shared_lock_guard& operator=(const shared_lock_guard&) = delete;

  std::int64_t token() const { return m_->token_shared(); }
  bool is_held() const { return m_->is_held_shared(); }

 private:
  SharedLockable* m_;
};

}  // namespace dstm::recipes
