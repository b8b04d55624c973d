#pragma once
/// \file
/// Timestamps and clocks for dstm's CRDTs: `dstm::crdt::timestamp` (totally ordered, with the
/// writing replica's id as the last tiebreak), the `dstm::crdt::clock` concept, and
/// `dstm::crdt::basic_hlc`, a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks",
/// 2014) over a physical time source; `dstm::crdt::hlc` reads the wall clock.
///
/// **Why a hybrid clock.** A last-writer-wins CRDT decides by timestamp. With plain wall-clock
/// timestamps, a replica whose clock runs behind loses every write it makes after seeing a
/// write of a replica whose clock runs ahead — a later write (in causal order) silently loses.
/// A hybrid clock stamps `(wall, logical, node)`: `wall` follows the physical clock when it
/// moves forward, and otherwise the clock counts `logical` up, so a stamp is always greater
/// than every stamp the clock issued or *observed* before. Observe what you read (the sets'
/// `latest()`), and your next write wins over everything you saw, whatever your clock says.

#include <boost/hana/define_struct.hpp>
#include <charconv>
#include <compare>
#include <concepts>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "dstm/crdt/wall_clock.hpp"
#include "dstm/error.hpp"

namespace dstm::crdt {

/// A point in a hybrid logical clock's time: ordered by `wall`, then `logical`, then `node`.
/// Two replicas with distinct node ids never issue equal timestamps, so the order is total
/// across replicas. A Boost.Hana struct: both dstm serializers support it (JSON:
/// `{"logical":0,"node":2,"wall":1700000000000000000}`).
struct timestamp {
  BOOST_HANA_DEFINE_STRUCT(timestamp,
                           (std::int64_t, wall),      ///< physical part, ns (the source's unit)
                           (std::uint32_t, logical),  ///< counts events within one `wall`
                           (std::uint64_t, node));    ///< the issuing replica's id (tiebreak)

  friend constexpr auto operator<=>(const timestamp&, const timestamp&) = default;
  friend constexpr bool operator==(const timestamp&, const timestamp&) = default;
};

/// `wall.logical.node` in decimal, e.g. `1700000000000000000.0.2`: the text form the
/// `lww_node` service uses in URLs. `parse_timestamp` reads it back.
inline std::string to_string(const timestamp& t) {
  return std::to_string(t.wall) + "." + std::to_string(t.logical) + "." + std::to_string(t.node);
}

/// The timestamp `text` spells as `to_string` writes it, or nullopt with `ec` set to
/// `errc::invalid_argument` (and `why`, when given, saying what is wrong).
inline std::optional<timestamp> parse_timestamp(std::string_view text, std::error_code& ec,
                                                std::string* why = nullptr) {
  auto fail = [&](std::string reason) -> std::optional<timestamp> {
    ec = make_error_code(errc::invalid_argument);
    if (why) *why = "malformed timestamp '" + std::string(text) + "': " + std::move(reason);
    return std::nullopt;
  };
  timestamp t{};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  auto field = [&](auto& out, const char* name, bool last) -> bool {
    auto [next, err] = std::from_chars(p, end, out);
    if (err == std::errc::result_out_of_range) {
      fail(std::string(name) + " is out of range");
      return false;
    }
    if (err != std::errc{} || next == p) {
      fail(std::string(name) + " is not a decimal number (expected wall.logical.node)");
      return false;
    }
    p = next;
    if (last) {
      if (p != end) {
        fail("unexpected text after the node id");
        return false;
      }
    } else {
      if (p == end || *p != '.') {
        fail(std::string("expected '.' after ") + name + " (expected wall.logical.node)");
        return false;
      }
      ++p;
    }
    return true;
  };
  if (!field(t.wall, "wall", false) || !field(t.logical, "logical", false) ||
      !field(t.node, "node", true)) {
    return std::nullopt;
  }
  ec.clear();
  return t;
}

/// As above; throws `dstm::error` (errc::invalid_argument) whose `what()` says what is wrong.
inline timestamp parse_timestamp(std::string_view text) {
  std::error_code ec;
  std::string why;
  auto t = parse_timestamp(text, ec, &why);
  if (!t) throw error(ec, why);
  return *t;
}

/// A physical time source: a callable returning nanoseconds (`wall_clock`, or a test's
/// virtual clock). It need not be monotonic nor agree across replicas.
template <class P>
concept physical_clock = std::copy_constructible<P> && requires(P& p) {
                                                         {
                                                           p()
                                                           } -> std::convertible_to<std::int64_t>;
                                                       };

/// A clock for CRDT timestamps.
///
/// **Requirements.**
///  1. `typename C::timestamp_type`, totally ordered (`std::totally_ordered`);
///  2. `c.now()` returns a timestamp greater than every timestamp `c` returned or observed
///     before (strictly monotonic, whatever the physical time does);
///  3. `c.observe(t)` records that the replica has seen `t` (a remote write), so that the next
///     `now()` exceeds it.
///
/// **Models.** `basic_hlc<P>` (and `hlc`). Equality of two timestamps from distinct replicas
/// must be impossible (`timestamp::node` ensures it for `basic_hlc`).
template <class C>
concept clock = std::totally_ordered<typename C::timestamp_type> &&
                requires(C& c, const typename C::timestamp_type& t) {
                  { c.now() } -> std::same_as<typename C::timestamp_type>;
                  c.observe(t);
                };

/// A clock that issues `TS` timestamps.
template <class C, class TS>
concept clock_of = clock<C> && std::same_as<typename C::timestamp_type, TS>;

/// Refused input of a clock (errc::invalid_argument): a remote timestamp too far ahead.
class clock_error : public error {
 public:
  explicit clock_error(const std::string& what)
      : error(make_error_code(errc::invalid_argument), what) {}
};

/// Options of a `basic_hlc`.
struct hlc_options {
  /// `observe` refuses (throws `clock_error`) a timestamp whose `wall` is more than this ahead
  /// of the local physical clock, so one replica with a clock set to the year 2100 cannot drag
  /// every clock it reaches along (CockroachDB's "max offset"). 0: accept anything.
  std::int64_t max_offset_ns = 0;
};

/// A hybrid logical clock issuing `timestamp`s for replica `node`, over the physical source
/// `P`. Thread-safe: `now` and `observe` may be called from any thread. Not copyable (a copy
/// would issue the same timestamps twice).
///
/// Guarantees: every `now()` is greater than every earlier `now()` and every observed
/// timestamp; its `wall` is at least the physical time read by that call, and exceeds it only
/// by how far ahead the fastest observed clock ran (or, past 2^32 events within one physical
/// tick, by one tick).
template <physical_clock P = wall_clock>
class basic_hlc {
 public:
  using timestamp_type = timestamp;
  using physical_type = P;

  explicit basic_hlc(std::uint64_t node, P physical = P{}, hlc_options options = {})
      : node_(node), physical_(std::move(physical)), options_(options) {}
  basic_hlc(const basic_hlc&) = delete;
  basic_hlc& operator=(const basic_hlc&) = delete;

  std::uint64_t node() const noexcept { return node_; }

  /// A new timestamp for a local event (a write).
  timestamp now() {
    const std::int64_t pt = physical_();
    std::lock_guard lock(mutex_);
    if (pt > last_.wall) {
      last_.wall = pt;
      last_.logical = 0;
    } else if (last_.logical == std::numeric_limits<std::uint32_t>::max()) {
      ++last_.wall;  // the counter is exhausted: borrow one tick from the future
      last_.logical = 0;
    } else {
      ++last_.logical;
    }
    last_.node = node_;
    return last_;
  }

  /// Records a timestamp seen in remote state; the next `now()` is greater. Throws
  /// `clock_error` (and records nothing) when `t` is further ahead of the physical clock than
  /// `hlc_options::max_offset_ns` allows.
  void observe(const timestamp& t) {
    if (options_.max_offset_ns > 0) {
      const std::int64_t pt = physical_();
      if (t.wall > pt && t.wall - pt > options_.max_offset_ns) {
        throw clock_error("dstm::crdt::hlc: refusing timestamp " + to_string(t) + " of node " +
                          std::to_string(t.node) + ": it is " + std::to_string(t.wall - pt) +
                          " ns ahead of this clock, more than max_offset_ns = " +
                          std::to_string(options_.max_offset_ns));
      }
    }
    std::lock_guard lock(mutex_);
    if (t.wall > last_.wall) {
      last_.wall = t.wall;
      last_.logical = t.logical;
    } else if (t.wall == last_.wall && t.logical > last_.logical) {
      last_.logical = t.logical;
    }
  }

  /// The last timestamp issued or observed (node = this clock's once it issued one).
  timestamp last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  const std::uint64_t node_;
  P physical_;
  const hlc_options options_;
  mutable std::mutex mutex_;
  timestamp last_{};
};

/// The default clock: a hybrid logical clock over the system's wall clock.
using hlc = basic_hlc<wall_clock>;

}  // namespace dstm::crdt
