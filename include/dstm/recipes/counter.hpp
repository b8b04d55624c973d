#pragma once
/// \file
/// `dstm::recipes::counter`: a shared 64-bit integer with exactly-once `add` (kazoo's Counter,
/// Curator's DistributedAtomicLong).
///
/// \code
/// dstm::recipes::counter hits{zk, "/stats/hits"};
/// auto [before, after] = hits.add(1);
/// hits -= 3;
/// std::int64_t now = hits.value();
/// \endcode

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"

namespace dstm::recipes {

/// The value before and after one `add`.
struct counter_change {
  std::int64_t pre = 0;
  std::int64_t post = 0;
  friend bool operator==(const counter_change&, const counter_change&) = default;
};

/// A counter in a znode, changed by version-checked writes (optimistic concurrency: a write
/// that lost a race reads again and retries).
///
/// **Exactly once through lost replies.** A write whose reply was lost may or may not have
/// been applied; retrying it blindly would count twice. Each `add` carries an id unique in the
/// cluster (session and operation), and the node keeps the ids of its last
/// `remembered_operations` writes next to the value. After a lost reply the counter reads the
/// node (after a `sync`): its id there means applied; the node unchanged means not applied
/// (retry); changed by others without its id means not applied unless more than
/// `remembered_operations` writes passed, in which case `add` throws
/// `errc::commit_outcome_unknown` rather than guess — as it does when the session ends while an
/// add is in flight or unresolved.
///
/// Data format: the value in decimal on the first line, then the remembered ids, one per line.
/// Other tools can read the value from the first line. Thread-safe.
template <coordinator C>
class counter {
 public:
  using coordinator_type = C;

  /// How many recent operation ids the node remembers.
  static constexpr std::size_t remembered_operations = 32;

  /// A counter at `path`, created with `initial` on first use.
  counter(std::shared_ptr<C> c, std::string path, std::int64_t initial = 0)
      : c_(std::move(c)),
        path_(std::move(path)),
        initial_(initial),
        instance_(detail::next_instance()) {}

  /// The current value.
  std::int64_t value() {
    auto& c = *c_;
    for (;;) {
      std::error_code ec;
      auto n =
          detail::retrying(c, forever, ec, [&](std::error_code& e) { return c.get(path_, {}, e); });
      if (!ec) return parse(n.data).value;
      if (ec != coordinator_errc::no_node) detail::throw_failure(ec, "dstm: counter " + path_);
      create();
    }
  }

  /// Adds `delta` exactly once; returns the value before and after.
  counter_change add(std::int64_t delta) {
    auto& c = *c_;
    // Attempt k writes "<op>/<k>": every attempt expects the version it read, so at most one
    // of them is ever applied, and a read that shows one of them says which.
    const std::string op_id = detail::hex(static_cast<std::uint64_t>(c.session_id())) + "." +
                              std::to_string(instance_) + "." + std::to_string(++operations_) + "/";
    std::vector<counter_change> attempts;
    std::optional<std::int32_t> doubt;  // the version the first write of unknown outcome expected
    detail::backoff<C> pause(c);
    for (;;) {
      std::error_code ec;
      if (doubt) {
        // Catch up, so a lagging server cannot hide an applied write.
        detail::retrying(c, forever, ec, [&](std::error_code& e) {
          c.sync(path_, e);
          return 0;
        });
        if (ec && detail::session_gone(ec)) unknown_outcome();
        if (ec) detail::throw_failure(ec, "dstm: sync " + path_);
      }
      auto n =
          detail::retrying(c, forever, ec, [&](std::error_code& e) { return c.get(path_, {}, e); });
      if (ec == coordinator_errc::no_node) {
        create();
        continue;
      }
      if (ec && doubt && detail::session_gone(ec)) unknown_outcome();
      if (ec) detail::throw_failure(ec, "dstm: counter " + path_);
      auto state = parse(n.data);
      if (doubt) {
        for (const auto& id : state.ids) {
          if (!id.starts_with(op_id)) continue;
          std::size_t k = 0;
          std::from_chars(id.data() + op_id.size(), id.data() + id.size(), k);
          if (k < attempts.size()) return attempts[k];
        }
        // Had one been applied, its id would still be among the remembered ones.
        if (static_cast<std::size_t>(n.stat.version - *doubt) > remembered_operations) {
          throw dstm::error(make_error_code(errc::commit_outcome_unknown),
                            "dstm: counter " + path_ + ": more than " +
                                std::to_string(remembered_operations) +
                                " writes passed while the outcome of an add was unknown");
        }
      }
      const counter_change change{state.value, state.value + delta};
      state.value = change.post;
      state.ids.push_back(op_id + std::to_string(attempts.size()));
      attempts.push_back(change);
      if (state.ids.size() > remembered_operations) {
        state.ids.erase(state.ids.begin(),
                        state.ids.end() - static_cast<std::ptrdiff_t>(remembered_operations));
      }
      c.set(path_, format(state), n.stat.version, ec);
      if (!ec) return change;
      if (ec == coordinator_errc::bad_version) continue;  // lost a race (maybe to ourselves)
      // In flight when the session ended: it may have been applied.
      if (detail::session_gone(ec)) unknown_outcome();
      if (!detail::transient(ec)) detail::throw_failure(ec, "dstm: counter " + path_);
      if (!doubt) doubt = n.stat.version;
      pause.pause(forever);
    }
  }

  counter& operator+=(std::int64_t d) {
    add(d);
    return *this;
  }
  counter& operator-=(std::int64_t d) {
    add(-d);
    return *this;
  }

  const std::string& path() const noexcept { return path_; }

 private:
  struct state {
    std::int64_t value = 0;
    std::vector<std::string> ids;
  };

  static state parse(std::string_view data) {
    state s;
    const auto eol = data.find('\n');
    const auto first = data.substr(0, eol);
    const auto r = std::from_chars(first.data(), first.data() + first.size(), s.value);
    if (r.ec != std::errc{} || r.ptr != first.data() + first.size()) {
      if (!first.empty()) {
        throw dstm::error(make_error_code(errc::serialization_failed),
                          "dstm: counter data does not start with an integer");
      }
    }
    if (eol == std::string_view::npos) return s;
    data.remove_prefix(eol + 1);
    while (!data.empty()) {
      const auto e = data.find('\n');
      s.ids.emplace_back(data.substr(0, e));
      if (e == std::string_view::npos) break;
      data.remove_prefix(e + 1);
    }
    return s;
  }

  static std::string format(const state& s) {
    std::string out = std::to_string(s.value);
    for (const auto& id : s.ids) {
      out += '\n';
      out += id;
    }
    return out;
  }

  void create() {
    auto& c = *c_;
    std::error_code ec;
    detail::ensure_path(c, parent_path(path_), forever, ec);
    if (!ec) {
      detail::retrying(c, forever, ec, [&](std::error_code& e) {
        c.create(path_, std::to_string(initial_), create_mode::persistent, open_acl_unsafe(),
                 nullptr, e);
        if (e == coordinator_errc::node_exists) e.clear();
        return 0;
      });
    }
    if (ec) detail::throw_failure(ec, "dstm: create counter " + path_);
  }

  [[noreturn]] void unknown_outcome() const {
    throw dstm::error(
        make_error_code(errc::commit_outcome_unknown),
        "dstm: counter " + path_ + ": the session ended before the outcome of an add was known");
  }

  std::shared_ptr<C> c_;
  std::string path_;
  std::int64_t initial_;
  std::uint64_t instance_;
  std::atomic<std::uint64_t> operations_{0};
};

template <class C>
counter(std::shared_ptr<C>, std::string, std::int64_t = 0) -> counter<C>;

}  // namespace dstm::recipes
