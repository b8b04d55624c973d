#pragma once
/// \file
/// What a transaction needs of a ref, without knowing its value type: the type-erased half of
/// `dstm::ref`. One engine serves every value type, storage and serializer.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <utility>
#include <vector>

#include "dstm/client.hpp"
#include "dstm/error.hpp"
#include "dstm/storage/concept.hpp"
#include "dstm/storage/external.hpp"

namespace dstm::detail {

/// The blob store of an external ref, behind one virtual call per operation.
class blob_io {
 public:
  virtual ~blob_io() = default;
  virtual void put(std::string_view key, std::string_view bytes, std::error_code& ec) = 0;
  virtual std::optional<std::string> get(std::string_view key, std::error_code& ec) = 0;
  virtual void remove(std::string_view key, std::error_code& ec) = 0;
  virtual std::vector<std::string> keys(std::string_view prefix, std::error_code& ec) = 0;
};

template <blob_store Store>
class blob_io_of final : public blob_io {
 public:
  explicit blob_io_of(std::shared_ptr<Store> s) : store_(std::move(s)) {
    if (!store_) {
      throw error(make_error_code(errc::invalid_argument), "dstm::external: null blob store");
    }
  }
  void put(std::string_view key, std::string_view bytes, std::error_code& ec) override {
    store_->put(key, bytes, ec);
  }
  std::optional<std::string> get(std::string_view key, std::error_code& ec) override {
    return store_->get(key, ec);
  }
  void remove(std::string_view key, std::error_code& ec) override { store_->remove(key, ec); }
  std::vector<std::string> keys(std::string_view prefix, std::error_code& ec) override {
    return store_->keys(prefix, ec);
  }

 private:
  std::shared_ptr<Store> store_;
};

/// An external ref's pointer named a blob that is gone: the version it belonged to has been
/// replaced (and its blob deleted) since the pointer was read. Caught by `load_value`.
struct blob_missing {
  std::string key;
};

/// The blob key of a version written by client `writer` on outcome lane `lane` as transaction
/// `seq`: unique per commit attempt, and parseable by the collector (`parse_blob_key`).
inline std::string blob_key(std::string_view ref_path, std::uint64_t writer, std::string_view lane,
                            std::uint64_t seq) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string k(ref_path);
  k.push_back('@');
  for (int i = 15; i >= 0; --i) k.push_back(hex[(writer >> (4 * i)) & 0xf]);
  k.push_back('.');
  k.append(lane);
  k.push_back('.');
  k.append(std::to_string(seq));
  return k;
}

struct blob_key_parts {
  std::string writer;  ///< 16 hex digits: the writer's record directory name
  std::string lane;    ///< the outcome lane, or "init" for the value a ref was created with
  std::uint64_t seq = 0;
};

/// Splits a key made by `blob_key` for `ref_path`; nullopt for anything else.
inline std::optional<blob_key_parts> parse_blob_key(std::string_view key,
                                                    std::string_view ref_path) {
  if (key.size() <= ref_path.size() + 1 || !key.starts_with(ref_path) ||
      key[ref_path.size()] != '@') {
    return std::nullopt;
  }
  auto rest = key.substr(ref_path.size() + 1);
  const auto d1 = rest.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : rest.find('.', d1 + 1);
  if (d1 != 16 || d2 == std::string_view::npos || d2 == d1 + 1 || d2 + 1 >= rest.size()) {
    return std::nullopt;
  }
  blob_key_parts p;
  p.writer = std::string(rest.substr(0, 16));
  p.lane = std::string(rest.substr(d1 + 1, d2 - d1 - 1));
  for (char ch : rest.substr(d2 + 1)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    p.seq = p.seq * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  for (char ch : p.writer) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return std::nullopt;
  }
  return p;
}

class ref_core {
 public:
  ref_core(std::shared_ptr<client> c, std::string path, storage_kind kind,
           std::shared_ptr<blob_io> blobs = nullptr)
      : client_(std::move(c)),
        path_(std::move(path)),
        kind_(kind),
        order_(next_order()),
        blobs_(std::move(blobs)) {}
  virtual ~ref_core() = default;

  const std::string& path() const noexcept { return path_; }
  storage_kind kind() const noexcept { return kind_; }
  const std::shared_ptr<client>& owner() const noexcept { return client_; }
  /// The blob store of an external ref (null for the other storages).
  blob_io* blobs() const noexcept { return blobs_.get(); }
  /// A process-wide total order: local refs are locked in it, so two commits never deadlock.
  std::uint64_t order() const noexcept { return order_; }

  /// The ref's value type: two refs naming one path in one transaction must agree on it.
  virtual const std::type_info& value_type() const noexcept = 0;
  /// Decodes a coordinator value (memoised on the cached value).
  virtual std::shared_ptr<const void> decode(const cached_value& v) const = 0;
  /// Serializes a value of the ref's type (for the envelope, or an external ref's blob).
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
  std::shared_ptr<blob_io> blobs_;
};

/// Attempts to re-read an external ref's pointer whose blob is gone before giving up.
inline constexpr int blob_refresh_attempts = 8;

/// Decodes `read` (the ref's cached value), replacing it with a fresh read when an external
/// ref's blob has been deleted since: its version was replaced, so the pointer is re-read after
/// a `sync` (the session's server may lag behind the commit that deleted it). Throws
/// `dstm::error` (errc::no_node) for a pointer whose blob stays missing — a dangling pointer,
/// which the protocol never creates — and (errc::storage_unavailable) when the store fails.
inline std::shared_ptr<const void> load_value(client& c, const ref_core& r,
                                              std::shared_ptr<const cached_value>& read) {
  for (int attempt = 1;; ++attempt) {
    try {
      return r.decode(*read);
    } catch (const blob_missing& missing) {
      if (attempt >= blob_refresh_attempts) {
        throw error(make_error_code(errc::no_node), "ref " + r.path() + ": its value's blob " +
                                                        missing.key +
                                                        " is missing from the external store");
      }
      auto s = c.session();
      std::error_code ec;
      ++c.counters().round_trips;
      s->sync(r.path(), ec);
      read = c.fetch(r.path());
      if (attempt > 1) s->sleep_for(c.backoff_ns(attempt));
    }
  }
}

/// Deletes the blobs of external ref `r` that no committed version names and no commit in
/// flight can still make current; returns how many it deleted. See `ref::collect_garbage`.
inline std::size_t collect_blobs(client& c, const ref_core& r) {
  blob_io& store = *r.blobs();
  std::error_code ec;
  const auto keys = store.keys(r.path() + "@", ec);
  if (ec) throw error(ec, "collect blobs of ref " + r.path() + ": listing the store");

  // 1. Decide each blob's commit: it can no longer apply once its writer's outcome lane has
  //    moved past it, or once we move the lane ourselves (a fence: the same data, a new
  //    version, so the commit's versioned set of the lane fails).
  std::vector<std::string> decided;
  bool any_init = false;
  for (const auto& key : keys) {
    const auto parts = parse_blob_key(key, r.path());
    if (!parts) continue;  // another ref's, or not dstm's
    if (parts->lane == "init") {
      // Decided once the znode exists (a create can no longer succeed): checked in step 2.
      decided.push_back(key);
      any_init = true;
      continue;
    }
    const std::string record = c.records_root() + "/" + parts->writer + "/" + parts->lane;
    for (int attempt = 1;; ++attempt) {
      if (attempt > c.options().outcome_attempts) {
        throw error(make_error_code(errc::timeout), "collect blobs: record " + record);
      }
      auto s = c.session();
      ++c.counters().round_trips;
      auto n = s->get(record, {}, ec);
      if (ec == coordinator_errc::no_node) {
        decided.push_back(key);  // the writer's records are gone: no commit of it can apply
        break;
      }
      if (!ec && client::parse_sequence(n.data) >= parts->seq) {
        decided.push_back(key);
        break;
      }
      if (!ec) {
        ++c.counters().round_trips;
        s->set(record, n.data, n.stat.version, ec);
        if (!ec) {
          decided.push_back(key);
          break;
        }
      }
      if (ec == coordinator_errc::bad_version || c.session_lost(s, ec)) continue;
      if (!outcome_unknown(ec)) throw coordinator_error(ec, "collect blobs: fence " + record);
      s->sleep_for(c.backoff_ns(std::min(attempt, 6)));
    }
  }
  if (decided.empty()) return 0;

  // 2. The pointer, read after every decision (and a sync): it names every commit that applied.
  std::string current;
  for (int attempt = 1;; ++attempt) {
    auto s = c.session();
    ++c.counters().round_trips;
    s->sync(r.path(), ec);
    ++c.counters().round_trips;
    auto n = ec ? node{} : s->get(r.path(), {}, ec);
    if (!ec) {
      current = std::string(unseal(n.data, r.path()));
      break;
    }
    if (ec == coordinator_errc::no_node && any_init) {
      // Not created yet: the initial blobs may belong to a create in flight.
      std::erase_if(decided, [&](const std::string& k) {
        return parse_blob_key(k, r.path())->lane == "init";
      });
      break;
    }
    if (attempt >= c.options().outcome_attempts ||
        (!c.session_lost(s, ec) && !outcome_unknown(ec))) {
      throw coordinator_error(ec, "collect blobs: read " + r.path());
    }
  }

  // 3. Delete what is decided and not current.
  std::size_t removed = 0;
  for (const auto& key : decided) {
    if (key == current) continue;
    store.remove(key, ec);
    if (ec) throw error(ec, "collect blobs of ref " + r.path() + ": removing " + key);
    ++removed;
  }
  return removed;
}

}  // namespace dstm::detail
