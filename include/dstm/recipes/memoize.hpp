#pragma once
/// \file
/// `dstm::recipes::memoize`: a function cached across the cluster (Immutant's cache/memo):
/// `f(x)` is computed once per argument by whichever client asks first, and a second client
/// asking for the same argument meanwhile waits for that result instead of computing it again.
///
/// \code
/// auto price = dstm::recipes::memoize(zk, "/memo/price",
///                                     [](const std::string& sku) { return slow_lookup(sku); });
/// double p = price(std::string("sku-42"));   // computed once in the whole cluster
/// \endcode

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/coordinator/detail/sha1.hpp"
#include "dstm/recipes/detail/common.hpp"
#include "dstm/serial/binary.hpp"
#include "dstm/serial/concept.hpp"

namespace dstm::recipes {

/// The memoized function `memoize` returns. Call it with the arguments of `F`.
///
/// **Protocol.** The argument tuple is serialized with `S` and hashed (SHA-1) to a key. The
/// result lives in the persistent node `path/<key>` (`S`-encoded). A caller that finds no
/// result creates the ephemeral marker `path/<key>.computing`: the one whose create succeeds
/// computes `f`, then creates the result and removes the marker in one `multi`; every other
/// caller waits for the result or for the marker to vanish — when the computing client failed
/// (an exception from `f`: the marker is removed and the exception rethrown to that caller) or
/// died (its session ended), a waiter takes over and computes.
///
/// Faults: a marker create whose reply was lost is recognised as ours by its owner (this
/// session) and data (a tag unique to the call), so neither does the caller wait for itself
/// nor do two callers of one process both compute; a result write whose reply was lost is
/// resolved by reading the result back. Results stay until `forget` or `clear`.
///
/// `f` must be deterministic enough that one result may stand for all callers; results must
/// fit in a znode (about 1 MB). Thread-safe.
template <coordinator C, class F, class S = binary_serializer>
class memo {
 public:
  using coordinator_type = C;

  memo(std::shared_ptr<C> c, std::string path, F f)
      : c_(std::move(c)),
        path_(std::move(path)),
        f_(std::move(f)),
        instance_(detail::next_instance()),
        link_(c_) {}

  /// `f(args...)`, computed at most once per argument across the cluster (unless forgotten, or
  /// a computing client failed). Throws what `f` throws (for the caller that ran it),
  /// `errc::session_expired`, `dstm::serialization_error`, or `coordinator_error`.
  template <class... Args>
  auto operator()(const Args&... args) {
    using R = std::decay_t<std::invoke_result_t<F&, const Args&...>>;
    const auto key = key_of(args...);
    const auto result_path = join_path(path_, key);
    const auto marker_path = result_path + ".computing";
    auto& c = *c_;
    prepare();
    for (;;) {
      if (auto r = read<R>(result_path)) return std::move(*r);
      const auto tag = detail::hex(static_cast<std::uint64_t>(c.session_id())) + "-" +
                       std::to_string(instance_) + "-" + std::to_string(++calls_);
      if (claim(marker_path, tag)) {
        struct unmark {
          memo* self;
          const std::string& marker;
          bool armed = true;
          ~unmark() {
            if (!armed) return;
            try {
              detail::remove_node(*self->c_, marker, forever);
            } catch (...) {
            }
          }
        } cleanup{this, marker_path};
        if (auto r = read<R>(result_path)) return std::move(*r);  // finished just before
        R value = std::invoke(f_, args...);
        ++computed_;
        if (store(result_path, marker_path, value)) cleanup.armed = false;
        return value;
      }
      wait_for(result_path, marker_path);
    }
  }

  /// Removes the cached result for these arguments; true when there was one.
  template <class... Args>
  bool forget(const Args&... args) {
    auto& c = *c_;
    std::error_code ec;
    c.remove(join_path(path_, key_of(args...)), any_version, ec);
    if (!ec) return true;
    if (ec == coordinator_errc::no_node) return false;
    detail::throw_failure(ec, "dstm: forget in " + path_);
  }

  /// Times this object ran `f` (tests and metrics).
  std::uint64_t computed() const noexcept { return computed_; }
  const std::string& path() const noexcept { return path_; }

 private:
  template <class... Args>
  static std::string key_of(const Args&... args) {
    std::string bytes;
    S::encode(std::tuple<Args...>(args...), bytes);
    const auto digest = dstm::detail::sha1(bytes);
    static constexpr char hexdigits[] = "0123456789abcdef";
    std::string key;
    for (auto b : digest) {
      key += hexdigits[b >> 4];
      key += hexdigits[b & 15];
    }
    return key;
  }

  void prepare() {
    if (ready_) return;
    std::error_code ec;
    detail::ensure_path(*c_, path_, forever, ec);
    if (ec) detail::throw_failure(ec, "dstm: memo " + path_);
    ready_ = true;
  }

  template <class R>
  std::optional<R> read(const std::string& result_path) {
    auto& c = *c_;
    std::error_code ec;
    auto n = detail::retrying(c, forever, ec,
                              [&](std::error_code& e) { return c.get(result_path, {}, e); });
    if (ec == coordinator_errc::no_node) return std::nullopt;
    if (ec) detail::throw_failure(ec, "dstm: memo " + result_path);
    return S::template decode<R>(n.data);
  }

  /// Creates the marker; true when it is ours (also after a lost reply).
  bool claim(const std::string& marker, const std::string& tag) {
    auto& c = *c_;
    detail::backoff<C> b(c);
    for (;;) {
      std::error_code ec;
      c.create(marker, tag, create_mode::ephemeral, open_acl_unsafe(), nullptr, ec);
      if (!ec) return true;
      if (ec != coordinator_errc::node_exists && !detail::transient(ec)) {
        detail::throw_failure(ec, "dstm: memo " + marker);
      }
      if (detail::transient(ec)) {
        detail::retrying(c, forever, ec, [&](std::error_code& e) {
          c.sync(path_, e);
          return 0;
        });
      }
      auto n = detail::retrying(c, forever, ec,
                                [&](std::error_code& e) { return c.get(marker, {}, e); });
      if (ec == coordinator_errc::no_node) {
        b.pause(forever);
        continue;
      }
      if (ec) detail::throw_failure(ec, "dstm: memo " + marker);
      return n.stat.ephemeral_owner == c.session_id() && n.data == tag;
    }
  }

  /// Writes the result and removes the marker at once. False when the session ended first
  /// (the value is returned to this caller but not cached).
  template <class R>
  bool store(const std::string& result_path, const std::string& marker, const R& value) {
    auto& c = *c_;
    std::string bytes;
    S::encode(value, bytes);
    const std::vector<op> ops{op::create(result_path, bytes), op::remove(marker)};
    detail::backoff<C> b(c);
    for (;;) {
      std::error_code ec;
      c.multi(ops, ec);
      if (!ec) return true;
      if (detail::session_gone(ec)) return true;              // the marker went with the session
      if (ec == coordinator_errc::node_exists) return false;  // a result already: keep it
      if (!detail::transient(ec)) detail::throw_failure(ec, "dstm: memo " + result_path);
      // Lost reply: applied when the result is there.
      auto st = detail::retrying(c, forever, ec, [&](std::error_code& e) {
        c.sync(path_, e);
        return e ? std::optional<dstm::stat>{} : c.exists(result_path, {}, e);
      });
      if (!ec && st) return true;
      if (detail::session_gone(c.state())) return true;
      b.pause(forever);
    }
  }

  /// Waits until the result exists or the marker vanished.
  void wait_for(const std::string& result_path, const std::string& marker) {
    auto& c = *c_;
    typename detail::session_link<C>::slot slot(link_, {});
    std::error_code ec;
    auto r = detail::retrying(
        c, forever, ec, [&](std::error_code& e) { return c.exists(result_path, slot.watch(), e); });
    if (ec) detail::throw_failure(ec, "dstm: memo " + result_path);
    if (r) return;
    auto m = detail::retrying(
        c, forever, ec, [&](std::error_code& e) { return c.exists(marker, slot.watch(), e); });
    if (ec) detail::throw_failure(ec, "dstm: memo " + marker);
    if (!m) return;
    slot.wait(forever);
    if (detail::session_gone(c.state())) detail::throw_session_expired("dstm: memo " + path_);
  }

  std::shared_ptr<C> c_;
  std::string path_;
  F f_;
  std::uint64_t instance_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> computed_{0};
  std::atomic<bool> ready_{false};
  detail::session_link<C> link_;
};

/// Wraps `f` so that each argument is computed once across the cluster (see `memo`). Arguments
/// and results are serialized with `S` (default: the binary serializer; use `std::string`
/// rather than string literals).
template <class S = binary_serializer, coordinator C, class F>
memo<C, std::decay_t<F>, S> memoize(std::shared_ptr<C> c, std::string path, F&& f) {
  return memo<C, std::decay_t<F>, S>(std::move(c), std::move(path), std::forward<F>(f));
}

}  // namespace dstm::recipes
