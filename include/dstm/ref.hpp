#pragma once
/// \file
/// `dstm::ref<T, Policies...>`: a distributed, transactional reference (Clojure's ref; Avout's
/// zk-ref and local-ref). Read it with `r.deref()` or `tx.deref(r)`, change it only inside
/// `dstm::dosync` with `tx.alter`, `tx.ref_set` or `tx.commute`.
///
/// Policies, in any order (each recognised by its role): a storage (`dstm::in_coordinator` —
/// the default —, `dstm::local` or `dstm::external<Store>`), a serializer
/// (`dstm::binary_serializer` — the default — or `dstm::json_serializer`, or your own), or a bundle
/// with member types `storage` and `serializer` that sets both at once.
///
/// Copies of a ref are the same ref (they share state). A ref is bound to the client it was
/// created with; every client that names the same path sees the same ref.

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "dstm/client.hpp"
#include "dstm/detail/envelope.hpp"
#include "dstm/detail/ref_core.hpp"
#include "dstm/serial/binary.hpp"
#include "dstm/serial/concept.hpp"
#include "dstm/storage/concept.hpp"
#include "dstm/storage/external.hpp"
#include "dstm/txn.hpp"

namespace dstm {

namespace detail {

template <class P>
concept policy_bundle = requires {
                          typename P::storage;
                          typename P::serializer;
                        };

template <class Default, template <class> class Is, class... Ps>
struct first_policy {
  using type = Default;
};
template <class Default, template <class> class Is, class P, class... Ps>
struct first_policy<Default, Is, P, Ps...> {
  using type = std::conditional_t<Is<P>::value, typename Is<P>::type,
                                  typename first_policy<Default, Is, Ps...>::type>;
};

template <class P>
struct storage_role {
  static constexpr bool value = storage<P> || policy_bundle<P>;
  using type = P;
};
template <policy_bundle P>
struct storage_role<P> {
  static constexpr bool value = true;
  using type = typename P::storage;
};
/// A serializer as far as a ref of `T` can tell without instantiating it: it names
/// `supports<T>` (whether that is true is `assert_serializer_for`'s business).
template <class P, class T>
concept serializer_policy = requires { std::bool_constant<P::template supports<T>>{}; };

template <class T>
struct serializer_role_for {
  template <class P>
  struct role {
    static constexpr bool value = serializer_policy<P, T> && !storage<P>;
    using type = P;
  };
  template <policy_bundle P>
  struct role<P> {
    static constexpr bool value = true;
    using type = typename P::serializer;
  };
};

/// Every policy of a `ref<T, ...>` is a storage, a serializer or a bundle of both.
template <class T, class P>
constexpr bool recognised_policy() {
  return storage<P> || policy_bundle<P> || serializer_policy<P, T>;
}

template <class Storage, class Serializer, class T>
constexpr bool serializable_if_stored() {
  if constexpr (Storage::kind == storage_kind::local) {
    return true;
  } else {
    return assert_serializer_for<Serializer, T>();
  }
}

/// The state every copy of a `ref<T, ...>` shares.
template <class T, class Storage, class Serializer>
class ref_state final : public ref_core,
                        public std::enable_shared_from_this<ref_state<T, Storage, Serializer>> {
 public:
  using watch_fn =
      std::function<void(const std::string& key, const T& old_value, const T& new_value)>;

  ref_state(std::shared_ptr<client> c, std::string path, std::shared_ptr<blob_io> blobs = nullptr)
      : ref_core(std::move(c), std::move(path), Storage::kind, std::move(blobs)) {}

  static constexpr bool serialized = Storage::kind != storage_kind::local;

  const std::type_info& value_type() const noexcept override { return typeid(T); }

  std::shared_ptr<const void> decode(const cached_value& v) const override {
    if constexpr (Storage::kind == storage_kind::external) {
      return v.decoded<T>([this](const std::string& data) {
        const auto key = unseal(data, path());
        std::error_code ec;
        auto blob = blobs()->get(key, ec);
        if (ec) throw error(ec, "ref " + path() + ": reading blob " + std::string(key));
        if (!blob) throw blob_missing{std::string(key)};
        return Serializer::template decode<T>(*blob);
      });
    } else if constexpr (serialized) {
      return v.decoded<T>([this](const std::string& data) {
        return Serializer::template decode<T>(unseal(data, path()));
      });
    } else {
      return nullptr;  // local refs never reach the coordinator
    }
  }
  std::string encode(const void* value) const override {
    std::string out;
    if constexpr (serialized) Serializer::encode(*static_cast<const T*>(value), out);
    return out;
  }
  void validate(const void* value) const override {
    std::function<bool(const T&)> v;
    {
      std::lock_guard lock(mutex_);
      v = validator_;
    }
    if (v && !v(*static_cast<const T*>(value))) {
      throw validation_error("validator of ref " + path() + " rejected the new value");
    }
  }
  void changed(const std::shared_ptr<const void>& old_value,
               const std::shared_ptr<const void>& new_value) override {
    fire(*static_cast<const T*>(old_value.get()), *static_cast<const T*>(new_value.get()));
  }

  void set_validator(std::function<bool(const T&)> v) {
    std::lock_guard lock(mutex_);
    validator_ = std::move(v);
  }

  void add_watch(std::string key, watch_fn fn) {
    bool start = false;
    bool hook = false;
    {
      std::lock_guard lock(mutex_);
      watchers_[std::move(key)] = std::move(fn);
      start = !watching_ && Storage::kind != storage_kind::local;
      watching_ = watching_ || start;
      hook = start && !hooked_;
      hooked_ = hooked_ || hook;
    }
    if (hook) {
      std::weak_ptr<ref_state> self = this->shared_from_this();
      owner()->on_new_session([self] {
        auto s = self.lock();
        if (!s) return;
        {
          std::lock_guard lock(s->mutex_);
          if (!s->watching_) return;
        }
        s->arm();
      });
    }
    if (start) arm();
  }
  void remove_watch(const std::string& key) {
    std::lock_guard lock(mutex_);
    watchers_.erase(key);
  }

  /// Reads the node with a plain watch; when it fires, reads again and tells the watchers
  /// (old = the value this loop saw last, new = the value read now). One loop per ref: a
  /// reconnect re-arms it instead of starting a second one, so no change is reported twice.
  void arm() {
    std::uint64_t generation;
    {
      std::lock_guard lock(mutex_);
      generation = ++loop_generation_;
    }
    std::weak_ptr<ref_state> self = this->shared_from_this();
    auto w = watch{[self, generation](const watch_event& e) {
                     if (e.type == event_type::session) return;
                     auto s = self.lock();
                     if (!s) return;
                     {
                       std::lock_guard lock(s->mutex_);
                       if (generation != s->loop_generation_) return;
                       if (s->watchers_.empty()) {
                         // Nobody listens any more: stop reading. A later add_watch starts
                         // afresh, reporting only changes after it.
                         s->watching_ = false;
                         s->last_seen_.reset();
                         s->last_version_ = -1;
                         return;
                       }
                     }
                     s->arm();
                   },
                   false};
    std::error_code ec;
    auto session = owner()->session();
    auto n = session->get(path(), std::move(w), ec);
    if (ec) {
      // Gone, or the session ended: opening the next session runs the hook that re-arms.
      if (owner()->session_lost(session, ec)) owner()->session();
      return;
    }
    std::shared_ptr<const T> now;
    try {
      now = std::static_pointer_cast<const T>(
          decode(cached_value(std::move(n.data), n.stat, n.sequence)));
    } catch (const error&) {
      return;  // foreign data, or an external store that failed: nothing to report
    } catch (const blob_missing&) {
      return;  // replaced again meanwhile: the watch just set fires for that change
    }
    std::shared_ptr<const T> before;
    std::int32_t before_version;
    {
      std::lock_guard lock(mutex_);
      before = std::exchange(last_seen_, now);
      before_version = std::exchange(last_version_, n.stat.version);
    }
    if (before && before_version != n.stat.version) fire(*before, *now);
  }

 private:
  void fire(const T& old_value, const T& new_value) {
    std::map<std::string, watch_fn> watchers;
    {
      std::lock_guard lock(mutex_);
      watchers = watchers_;
    }
    for (auto& [key, fn] : watchers) {
      try {
        fn(key, old_value, new_value);
      } catch (...) {
        // The change is committed whatever a watch does; the other watches must still run and
        // the committing caller must not see a failure that is not the transaction's.
      }
    }
  }

  mutable std::mutex mutex_;
  std::function<bool(const T&)> validator_;
  std::map<std::string, watch_fn> watchers_;
  bool watching_ = false;
  bool hooked_ = false;  ///< the re-arm hook is registered with the client (once per ref)
  std::uint64_t loop_generation_ = 0;
  std::shared_ptr<const T> last_seen_;
  std::int32_t last_version_ = -1;
};

}  // namespace detail

template <class T, class... Policies>
class ref {
 public:
  using value_type = T;
  using storage_type =
      typename detail::first_policy<in_coordinator, detail::storage_role, Policies...>::type;
  using serializer_type = typename detail::first_policy<
      binary_serializer, detail::serializer_role_for<T>::template role, Policies...>::type;
  // Unrecognised policies are left out of the choice above, so this is the only error they
  // cause; most often the type was meant as a storage, hence the sentence.
  static_assert((detail::recognised_policy<T, Policies>() && ...),
                "dstm::ref: a policy is not a dstm::storage (it needs a member type "
                "dstm_storage and a static storage_kind kind; see "
                "include/dstm/storage/concept.hpp), nor a serializer of T (see "
                "include/dstm/serial/concept.hpp), nor a bundle with member types storage and "
                "serializer");
  static_assert(storage<storage_type>,
                "dstm::ref: the storage policy is not a dstm::storage (it needs a member type "
                "dstm_storage and a static storage_kind kind); see "
                "include/dstm/storage/concept.hpp");
  static_assert(detail::serializable_if_stored<storage_type, serializer_type, T>(),
                "dstm::ref: see the serializer's static_assert above");

  /// The ref at `path`, created with `initial` unless it exists (an existing ref keeps its
  /// value: connecting never clobbers). Missing parent nodes are created. For a local ref,
  /// `path` is only a name. Throws coordinator_error, serialization_error (an existing node
  /// that is not a ref of this type).
  ref(std::shared_ptr<client> c, std::string path, T initial)
    requires(storage_type::kind != storage_kind::external)
      : state_(std::make_shared<state_type>(std::move(c), std::move(path))) {
    if constexpr (storage_type::kind == storage_kind::local) {
      state_->local_install(std::make_shared<const T>(std::move(initial)));
    } else {
      create_unless_exists(initial);
    }
  }

  /// Connects to the existing ref at `path` without changing it. Throws coordinator_error
  /// (no_node) when it does not exist — checked against the latest state (a `sync`), so a ref
  /// just created through another server is found. A local ref starts as `T{}`.
  ref(std::shared_ptr<client> c, std::string path)
    requires(storage_type::kind != storage_kind::external)
      : state_(std::make_shared<state_type>(std::move(c), std::move(path))) {
    if constexpr (storage_type::kind == storage_kind::local) {
      state_->local_install(std::make_shared<const T>());
    } else {
      connect_existing();
    }
  }

  /// An external ref (`dstm::external<Store>`): as above, its values kept in `store`, the znode
  /// holding the key of the current version's blob. Throws `dstm::error`
  /// (errc::storage_unavailable) when the store fails, errc::invalid_argument for a null store.
  template <class Store>
  ref(std::shared_ptr<client> c, std::string path, T initial, std::shared_ptr<Store> store)
    requires(storage_type::kind == storage_kind::external &&
             std::same_as<Store, typename storage_type::store_type>)
      : state_(std::make_shared<state_type>(
            std::move(c), std::move(path),
            std::make_shared<detail::blob_io_of<Store>>(std::move(store)))) {
    create_unless_exists(initial);
  }

  /// Connects to an existing external ref.
  template <class Store>
  ref(std::shared_ptr<client> c, std::string path, std::shared_ptr<Store> store)
    requires(storage_type::kind == storage_kind::external &&
             std::same_as<Store, typename storage_type::store_type>)
      : state_(std::make_shared<state_type>(
            std::move(c), std::move(path),
            std::make_shared<detail::blob_io_of<Store>>(std::move(store)))) {
    connect_existing();
  }

  /// The current value: a read-only transaction (no round trip on a warm cache).
  T deref() const {
    return dosync(state_->owner(), [this](txn& tx) { return tx.deref(*this); });
  }

  /// The latest committed value, as a linearizable read: at least as new as every commit that
  /// completed (anywhere) before the call. Costs two round trips (a `sync`, then a read), where
  /// `deref()` serves this client's cached view, which is consistent but may lag other
  /// clients' commits by the time their watch events take to arrive. A local ref's value is
  /// always the latest.
  T deref_latest() const {
    if constexpr (storage_type::kind == storage_kind::local) {
      return deref();
    } else {
      auto& c = *state_->owner();
      auto read = c.read_latest(path());
      return *std::static_pointer_cast<const T>(detail::load_value(c, *state_, read));
    }
  }

  const std::string& path() const noexcept { return state_->path(); }

  /// Every new value must satisfy `pred`, or the transaction that writes it fails with
  /// `validation_error` and writes nothing. As Clojure's set-validator!, the current value is
  /// checked first: if it fails, `validation_error` is thrown and the validator is not set.
  /// An empty `pred` removes the validator. The validator belongs to this handle (and its
  /// copies), not to the znode: other processes do not run it.
  void set_validator(std::function<bool(const T&)> pred) {
    if (pred && !pred(deref())) {
      throw validation_error("validator of ref " + path() + " rejects its current value");
    }
    state_->set_validator(std::move(pred));
  }

  /// Calls `fn(key, old, new)` after each change, local or remote. For a coordinator ref it runs
  /// on the coordinator's dispatcher thread (never the completion thread), and changes in quick
  /// succession may be reported as one; a change made just before `add_watch` may still be
  /// reported. For a local ref it runs on the committing thread, after the commit. A key
  /// replaces an earlier watch with the same key. `fn` may run transactions; what it throws is
  /// ignored. Watches resume on the client's next session after an expiry.
  void add_watch(std::string key,
                 typename detail::ref_state<T, storage_type, serializer_type>::watch_fn fn) {
    state_->add_watch(std::move(key), std::move(fn));
  }
  void remove_watch(const std::string& key) { state_->remove_watch(key); }

  /// An external ref's housekeeping: deletes the blobs that no committed version names and no
  /// commit in flight can still make current — left behind by writers that crashed between
  /// writing a blob and committing, or whose cleanup failed. A writer whose commit may still
  /// be in flight is fenced first (its outcome record moves, so that commit fails and runs
  /// again with a new blob): a collected blob can never become current. Returns how many
  /// blobs it deleted. Throws `dstm::error` (errc::storage_unavailable) when the store fails,
  /// coordinator_error when the coordinator does.
  std::size_t collect_garbage()
    requires(storage_type::kind == storage_kind::external)
  {
    return detail::collect_blobs(*state_->owner(), *state_);
  }

  /// The type-erased state (for the engine).
  const std::shared_ptr<detail::ref_core> core() const { return state_; }

 private:
  using state_type = detail::ref_state<T, storage_type, serializer_type>;

  void connect_existing() {
    auto& c = *state_->owner();
    std::shared_ptr<const detail::cached_value> read;
    try {
      read = c.read(state_->path());
    } catch (const coordinator_error& e) {
      // This session's server may lag behind the one that created the ref: only the latest
      // state may say it does not exist.
      if (e.code() != coordinator_errc::no_node) throw;
      read = c.read_latest(state_->path());
    }
    detail::load_value(c, *state_, read);  // rejects a foreign node
  }

  void create_unless_exists(const T& initial) {
    auto& c = *state_->owner();
    std::string value;
    serializer_type::encode(initial, value);
    std::string blob;  // an external ref's initial blob, written before the znode points to it
    if constexpr (storage_type::kind == storage_kind::external) {
      blob = detail::blob_key(path(), c.id(), "init", c.next_sequence());
      std::error_code ec;
      state_->blobs()->put(blob, value, ec);
      if (ec) throw error(ec, "create ref " + path() + ": writing blob " + blob);
      value = blob;
    }
    const auto data = detail::seal(c.id(), value);
    bool parents_created = false;
    for (int attempt = 1;; ++attempt) {
      std::error_code ec;
      ++c.counters().round_trips;
      auto session = c.session();
      session->create(path(), data, create_mode::persistent, open_acl_unsafe(), nullptr, ec);
      if (ec == coordinator_errc::no_node && !parents_created) {
        create_parents(c);
        parents_created = true;
        continue;
      }
      if (!ec || ec == coordinator_errc::node_exists) break;
      const bool transient = c.session_lost(session, ec) || outcome_unknown(ec);
      if (!transient || attempt >= c.options().outcome_attempts)
        throw coordinator_error(ec, "create ref " + path());
      session->sleep_for(c.backoff_ns(attempt < 8 ? attempt : 8));
    }
    auto read = c.read(path());
    if constexpr (storage_type::kind == storage_kind::external) {
      // The ref existed already (or a lost reply hid our create): keep our blob only if the
      // znode points to it.
      try {
        if (detail::unseal(read->data(), path()) != blob) {
          std::error_code ignored;
          state_->blobs()->remove(blob, ignored);
        }
      } catch (const serialization_error&) {
        std::error_code ignored;
        state_->blobs()->remove(blob, ignored);
        throw;
      }
    }
    detail::load_value(c, *state_, read);  // warms the cache; rejects a foreign node
  }

  void create_parents(client& c) {
    const auto& p = path();
    for (std::size_t at = p.find('/', 1); at != std::string::npos; at = p.find('/', at + 1)) {
      c.ensure_path(p.substr(0, at));
    }
  }

  std::shared_ptr<state_type> state_;
};

template <class C, class T>
ref(std::shared_ptr<C>, std::string, T) -> ref<T>;
template <class C>
ref(std::shared_ptr<C>, std::string, const char*) -> ref<std::string>;

}  // namespace dstm
