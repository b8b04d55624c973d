#pragma once
/// \file
/// External storage: the shape of Avout's VersionedStateContainer. A ref's value lives in a
/// blob store outside the coordinator, one immutable blob per committed version; the znode
/// holds only the blob's key (inside dstm's envelope), so values may be larger than the
/// coordinator's data limit and a blob never needs invalidation.
///
/// **The protocol.** A commit writes each new value as a fresh blob *before* the `multi`, under
/// a key no other commit uses (`<ref path>@<client id>.<lane>.<sequence>`); the `multi` then
/// swings the pointer. After the `multi` applied, the blob the pointer held before is deleted;
/// after a `multi` that definitely failed, the new blob is deleted. A crash between the two
/// leaves an unreferenced blob behind, never a dangling pointer: `dstm::collect_blobs` removes
/// such garbage, and fences the writer's outcome record first so a commit still in flight can
/// never make a collected blob current. A reader that finds its blob already deleted (the
/// version was replaced meanwhile) re-reads the pointer. A store that cannot be reached
/// during a commit aborts the transaction with `errc::storage_unavailable`; nothing is written.
///
/// **What a blob store is** (`dstm::blob_store`). A key-value store of byte strings with
///  1. `void put(std::string_view key, std::string_view bytes, std::error_code& ec)`
///  2. `std::optional<std::string> get(std::string_view key, std::error_code& ec)` —
///     `nullopt` (and no error) when the key is absent;
///  3. `void remove(std::string_view key, std::error_code& ec)` — absent keys are no error;
///  4. `std::vector<std::string> keys(std::string_view prefix, std::error_code& ec)` — every
///     key that starts with `prefix` (the collector's listing).
/// Errors mean "unreachable or refused" and are reported through `ec`, never thrown.
///
/// **Laws** (tests/stm checks them for every model): a blob reads back as written; removing
/// it makes it absent; `keys(prefix)` lists exactly the present keys with that prefix.
///
/// **Models.** `dstm::memory_blob_store` (in process, with an outage switch for tests); Redis
/// (issue #8) follows the same concept.
///
/// **Use.** `dstm::ref<T, dstm::external<dstm::memory_blob_store>> r{client, "/r", initial,
/// store}` where `store` is a `std::shared_ptr<memory_blob_store>`.

#include <atomic>
#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dstm/error.hpp"
#include "dstm/storage/concept.hpp"

namespace dstm {

template <class S>
concept blob_store =
    requires(S& s, std::string_view key, std::string_view bytes, std::error_code& ec) {
      s.put(key, bytes, ec);
      { s.get(key, ec) } -> std::same_as<std::optional<std::string>>;
      s.remove(key, ec);
      { s.keys(key, ec) } -> std::same_as<std::vector<std::string>>;
    };

/// The storage policy: values in a `Store` (a `dstm::blob_store`), the znode holds the key.
template <class Store>
struct external {
  static_assert(blob_store<Store>,
                "dstm::external<Store>: Store is not a dstm::blob_store (it needs put, get, "
                "remove and keys taking std::error_code&; see "
                "include/dstm/storage/external.hpp)");
  using dstm_storage = void;
  using store_type = Store;
  static constexpr storage_kind kind = storage_kind::external;
};

/// An in-process blob store: thread-safe, with counters and an outage switch for tests.
class memory_blob_store {
 public:
  void put(std::string_view key, std::string_view bytes, std::error_code& ec) {
    if (refuse(ec)) return;
    std::lock_guard lock(mutex_);
    blobs_[std::string(key)] = std::string(bytes);
    ++puts_;
  }
  std::optional<std::string> get(std::string_view key, std::error_code& ec) {
    if (refuse(ec)) return std::nullopt;
    std::lock_guard lock(mutex_);
    auto it = blobs_.find(std::string(key));
    if (it == blobs_.end()) return std::nullopt;
    return it->second;
  }
  void remove(std::string_view key, std::error_code& ec) {
    if (refuse(ec)) return;
    std::lock_guard lock(mutex_);
    blobs_.erase(std::string(key));
  }
  std::vector<std::string> keys(std::string_view prefix, std::error_code& ec) {
    std::vector<std::string> out;
    if (refuse(ec)) return out;
    std::lock_guard lock(mutex_);
    for (auto it = blobs_.lower_bound(std::string(prefix));
         it != blobs_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
      out.push_back(it->first);
    }
    return out;
  }

  /// While unavailable, every call fails with `errc::storage_unavailable` (an outage).
  void set_available(bool available) noexcept { available_.store(available); }
  /// The next `n` calls fail, then the store works again.
  void fail_next(int n) noexcept { fail_next_.store(n); }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return blobs_.size();
  }
  std::uint64_t puts() const {
    std::lock_guard lock(mutex_);
    return puts_;
  }

 private:
  bool refuse(std::error_code& ec) noexcept {
    ec.clear();
    int failing = fail_next_.load();
    while (failing > 0 && !fail_next_.compare_exchange_weak(failing, failing - 1)) {
    }
    if (!available_.load() || failing > 0) {
      ec = make_error_code(errc::storage_unavailable);
      return true;
    }
    return false;
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::string> blobs_;
  std::uint64_t puts_ = 0;
  std::atomic<bool> available_{true};
  std::atomic<int> fail_next_{0};
};

static_assert(blob_store<memory_blob_store>);

}  // namespace dstm
