#pragma once
/// \file
/// What a transaction needs of a ref, without knowing its value type: the type-erased half of
/// `dstm::ref`. One engine serves every value type, storage and serializer.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <typeinfo>

#include "dstm/client.hpp"
#include "dstm/storage/concept.hpp"

namespace dstm::detail {

class ref_core {
 public:
  ref_core(std::shared_ptr<client> c, std::string path, storage_kind kind)
      : client_(std::move(c)), path_(std::move(path)), kind_(kind), order_(next_order()) {}
  virtual ~ref_core() = default;

  const std::string& path() const noexcept { return path_; }
  storage_kind kind() const noexcept { return kind_; }
  const std::shared_ptr<client>& owner() const noexcept { return client_; }
  /// A process-wide total order: local refs are locked in it, so two commits never deadlock.
  std::uint64_t order() const noexcept { return order_; }

  /// The ref's value type: two refs naming one path in one transaction must agree on it.
  virtual const std::type_info& value_type() const noexcept = 0;
  /// Decodes a coordinator value (memoised on the cached value).
  virtual std::shared_ptr<const void> decode(const cached_value& v) const = 0;
  /// Serializes a value of the ref's type (inside the envelope).
  virtual std::string encode(const void* value) const = 0;
  /// Throws `validation_error` when the validator refuses `value`.
  virtual void validate(const void* value) const = 0;
  /// Tells the ref's watches that a commit of this process changed it (local refs).
  virtual void changed(const std::shared_ptr<const void>& old_value,
                       const std::shared_ptr<const void>& new_value) = 0;

  // ----- local storage: the value and its version, guarded by a commit lock -----
  struct local_snapshot {
    std::shared_ptr<const void> value;
    std::uint64_t version = 0;
  };
  local_snapshot local_read() const {
    std::lock_guard lock(local_mutex_);
    return {local_value_, local_version_};
  }
  std::uint64_t local_version() const {
    std::lock_guard lock(local_mutex_);
    return local_version_;
  }
  void local_install(std::shared_ptr<const void> v) {
    std::lock_guard lock(local_mutex_);
    local_value_ = std::move(v);
    ++local_version_;
  }
  /// The commit lock of a local ref: taken with try_lock and coordinator-clock backoff, never
  /// by blocking, so a simulated thread holding it can yield without deadlocking the scheduler.
  bool try_lock_commit() noexcept {
    return !commit_locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock_commit() noexcept { commit_locked_.store(false, std::memory_order_release); }
  /// True while a commit holds the ref: its coordinator part may have committed already while
  /// the new local value is not installed yet, so readers must not trust the current value.
  bool commit_locked() const noexcept { return commit_locked_.load(std::memory_order_acquire); }

 private:
  static std::uint64_t next_order() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }

  std::shared_ptr<client> client_;
  std::string path_;
  storage_kind kind_;
  std::uint64_t order_;
  mutable std::mutex local_mutex_;
  std::shared_ptr<const void> local_value_;
  std::uint64_t local_version_ = 0;
  std::atomic<bool> commit_locked_{false};
};

}  // namespace dstm::detail
