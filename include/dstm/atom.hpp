#pragma once
/// \file
/// `dstm::atom<T, Policies...>`: an uncoordinated, synchronous reference (Clojure's atom;
/// Avout's zk-atom). Each `update` is a one-ref transaction: one round trip on a warm cache,
/// retried on conflict, exactly once under connection loss (the client's outcome record).

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "dstm/ref.hpp"
#include "dstm/txn.hpp"

namespace dstm {

template <class T, class... Policies>
class atom {
 public:
  using value_type = T;

  /// The atom at `path`, created with `initial` unless it exists (never clobbers).
  atom(std::shared_ptr<client> c, std::string path, T initial)
      : ref_(std::move(c), std::move(path), std::move(initial)) {}
  /// Connects to an existing atom; throws coordinator_error (no_node) if there is none.
  atom(std::shared_ptr<client> c, std::string path) : ref_(std::move(c), std::move(path)) {}
  /// An atom with external storage (`dstm::external<Store>`): its values are blobs in `store`.
  template <class Store>
  atom(std::shared_ptr<client> c, std::string path, T initial, std::shared_ptr<Store> store)
      : ref_(std::move(c), std::move(path), std::move(initial), std::move(store)) {}
  /// Connects to an existing atom with external storage.
  template <class Store>
  atom(std::shared_ptr<client> c, std::string path, std::shared_ptr<Store> store)
      : ref_(std::move(c), std::move(path), std::move(store)) {}

  /// The current value (from the cache when it is warm: no round trip).
  T deref() const { return ref_.deref(); }

  /// Sets the value to `f(value, args...)` atomically; returns the new value. `f` may run more
  /// than once (on conflict), so it must be free of side effects.
  template <class F, class... Args>
  T update(F&& f, Args&&... args) {
    return dosync(owner(), [&](txn& tx) { return tx.alter(ref_, f, args...); });
  }

  /// Sets the value to `v` whatever it was; returns `v`.
  T reset(T v) {
    return dosync(owner(), [&](txn& tx) { return tx.ref_set(ref_, v); });
  }

  /// Sets the value to `desired` if it equals `expected`; true if it did. Linearizable either
  /// way: a success is a versioned commit, and a compare that fails against this client's
  /// cached view is confirmed against the latest value (`deref_latest`, two round trips) before
  /// `false` is returned — if the cache was merely behind, the compare runs again.
  bool compare_and_set(const T& expected, T desired) {
    const int attempts = owner()->options().max_retries + 1;
    for (int attempt = 1;; ++attempt) {
      const bool set = dosync(owner(), [&](txn& tx) {
        if (!(tx.deref(ref_) == expected)) return false;
        tx.ref_set(ref_, desired);
        return true;
      });
      if (set || !(ref_.deref_latest() == expected)) return set;
      if (attempt >= attempts) {
        throw error(make_error_code(errc::retry_limit_exceeded),
                    "compare_and_set of " + path() + ": the value kept changing");
      }
    }
  }

  /// The latest value, as a linearizable read (see `ref::deref_latest`).
  T deref_latest() const { return ref_.deref_latest(); }

  void set_validator(std::function<bool(const T&)> pred) { ref_.set_validator(std::move(pred)); }
  template <class F>
  void add_watch(std::string key, F&& fn) {
    ref_.add_watch(std::move(key), std::forward<F>(fn));
  }
  void remove_watch(const std::string& key) { ref_.remove_watch(key); }
  const std::string& path() const noexcept { return ref_.path(); }
  /// The underlying ref (atoms can also take part in transactions through it).
  const ref<T, Policies...>& as_ref() const noexcept { return ref_; }

 private:
  const std::shared_ptr<client>& owner() const { return ref_.core()->owner(); }
  ref<T, Policies...> ref_;
};

template <class C, class T>
atom(std::shared_ptr<C>, std::string, T) -> atom<T>;
template <class C>
atom(std::shared_ptr<C>, std::string, const char*) -> atom<std::string>;

}  // namespace dstm
