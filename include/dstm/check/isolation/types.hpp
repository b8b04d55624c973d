#pragma once
/// \file
/// The vocabulary of the isolation checker: workloads, consistency levels, anomalies, and the
/// table saying which level forbids which anomaly.
///
/// RC read-committed, RR repeatable-read, SI snapshot-isolation, SER serializable, SSER
/// strict-serializable; x = the level forbids the anomaly.
///
/// | anomaly                                                        | RC | RR | SI | SER | SSER |
/// |----------------------------------------------------------------|----|----|----|-----|------|
/// | G0 (write cycle)                                               | x  | x  | x  | x   | x    |
/// | G1a (aborted read)                                             | x  | x  | x  | x   | x    |
/// | G1b (intermediate read)                                        | x  | x  | x  | x   | x    |
/// | G1c (circular information flow)                                | x  | x  | x  | x   | x    |
/// | G-single (exactly one anti-dependency in the cycle)            |    | x  | x  | x   | x    |
/// | G2-item (two or more anti-dependencies)                        |    | x  |    | x   | x    |
/// | lost-update                                                    |    | x  | x  | x   | x    |
/// | G0-, G1c-, G-single-, G2-item-realtime                         |    |    |    |     | x    |
/// | internal, duplicate-elements, incompatible-order, garbage-read | x  | x  | x  | x   | x    |
///
/// This follows Adya and Elle. Repeatable read is Adya's PL-2.99, which proscribes G2-item:
/// "a cycle with one or more item anti-dependency edges", so a G-single cycle violates it too
/// (the checker names a cycle by its exact number of rw edges, as Elle does). Snapshot isolation
/// allows G2-item (write skew) but not G-single (read skew) nor lost update. The `-realtime`
/// anomalies are cycles that need at least one realtime edge (T1 completed before T2 was invoked);
/// they are searched for only when checking strict serializability. The last row is not about
/// isolation at all: a database whose reads are internally inconsistent, repeat an element, order
/// one key two ways or return values nobody wrote is wrong at every level.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dstm::check {

/// The shape of the transactions in a history (Elle's two workloads).
enum class workload : std::uint8_t {
  list_append,  ///< ["append", k, v] and ["r", k, [v...]]: each key holds a list
  rw_register,  ///< ["w", k, v] and ["r", k, v]: each key holds one value (null: never written)
};

/// A consistency level a history is checked against.
enum class consistency_level : std::uint8_t {
  read_committed,
  repeatable_read,
  snapshot_isolation,
  serializable,
  strict_serializable,
};

/// Everything the checker reports. Cycle anomalies come with the cycle that proves them.
enum class anomaly_kind : std::uint8_t {
  g0,                  ///< a cycle of ww edges only
  g1a,                 ///< a committed transaction read a write of a failed one
  g1b,                 ///< a committed transaction read a value its writer later overwrote
  g1c,                 ///< a cycle of ww and wr edges with at least one wr
  g_single,            ///< a cycle with exactly one rw edge
  g2_item,             ///< a cycle with two or more rw edges
  lost_update,         ///< two committed transactions read the same version of k, then wrote k
  duplicate_elements,  ///< a read list holds the same element twice
  internal,            ///< a read did not reflect the transaction's own earlier writes
  incompatible_order,  ///< two reads of one key that are not prefixes of one another
  garbage_read,        ///< a read returned a value no transaction wrote
  g0_realtime,         ///< like G0, needing a realtime edge
  g1c_realtime,        ///< like G1c, needing a realtime edge
  g_single_realtime,   ///< like G-single, needing a realtime edge
  g2_item_realtime,    ///< like G2-item, needing a realtime edge
};

inline constexpr std::size_t anomaly_kind_count = 15;

/// Every anomaly kind, in report order.
inline constexpr std::array<anomaly_kind, anomaly_kind_count> all_anomaly_kinds = {
    anomaly_kind::g0,
    anomaly_kind::g1a,
    anomaly_kind::g1b,
    anomaly_kind::g1c,
    anomaly_kind::g_single,
    anomaly_kind::g2_item,
    anomaly_kind::lost_update,
    anomaly_kind::duplicate_elements,
    anomaly_kind::internal,
    anomaly_kind::incompatible_order,
    anomaly_kind::garbage_read,
    anomaly_kind::g0_realtime,
    anomaly_kind::g1c_realtime,
    anomaly_kind::g_single_realtime,
    anomaly_kind::g2_item_realtime};

/// The name used in reports and on the verdict line (Elle's spelling).
constexpr std::string_view name(anomaly_kind k) noexcept {
  switch (k) {
    case anomaly_kind::g0:
      return "G0";
    case anomaly_kind::g1a:
      return "G1a";
    case anomaly_kind::g1b:
      return "G1b";
    case anomaly_kind::g1c:
      return "G1c";
    case anomaly_kind::g_single:
      return "G-single";
    case anomaly_kind::g2_item:
      return "G2-item";
    case anomaly_kind::lost_update:
      return "lost-update";
    case anomaly_kind::duplicate_elements:
      return "duplicate-elements";
    case anomaly_kind::internal:
      return "internal";
    case anomaly_kind::incompatible_order:
      return "incompatible-order";
    case anomaly_kind::garbage_read:
      return "garbage-read";
    case anomaly_kind::g0_realtime:
      return "G0-realtime";
    case anomaly_kind::g1c_realtime:
      return "G1c-realtime";
    case anomaly_kind::g_single_realtime:
      return "G-single-realtime";
    case anomaly_kind::g2_item_realtime:
      return "G2-item-realtime";
  }
  return "?";
}

/// The name of a level on the command line and in reports.
constexpr std::string_view name(consistency_level l) noexcept {
  switch (l) {
    case consistency_level::read_committed:
      return "read-committed";
    case consistency_level::repeatable_read:
      return "repeatable-read";
    case consistency_level::snapshot_isolation:
      return "snapshot-isolation";
    case consistency_level::serializable:
      return "serializable";
    case consistency_level::strict_serializable:
      return "strict-serializable";
  }
  return "?";
}

/// The name of a workload on the command line.
constexpr std::string_view name(workload w) noexcept {
  return w == workload::list_append ? "list-append" : "rw-register";
}

/// Parses a level name as printed by `name`; nullopt for anything else.
constexpr std::optional<consistency_level> parse_consistency_level(std::string_view s) noexcept {
  for (auto l : {consistency_level::read_committed, consistency_level::repeatable_read,
                 consistency_level::snapshot_isolation, consistency_level::serializable,
                 consistency_level::strict_serializable}) {
    if (s == name(l)) return l;
  }
  return std::nullopt;
}

/// Parses a workload name as printed by `name`; nullopt for anything else.
constexpr std::optional<workload> parse_workload(std::string_view s) noexcept {
  if (s == "list-append") return workload::list_append;
  if (s == "rw-register") return workload::rw_register;
  return std::nullopt;
}

/// True when a history showing anomaly `k` violates level `l` (the table in this file).
constexpr bool forbids(consistency_level l, anomaly_kind k) noexcept {
  switch (k) {
    case anomaly_kind::g0:
    case anomaly_kind::g1a:
    case anomaly_kind::g1b:
    case anomaly_kind::g1c:
    case anomaly_kind::duplicate_elements:
    case anomaly_kind::internal:
    case anomaly_kind::incompatible_order:
    case anomaly_kind::garbage_read:
      return true;
    case anomaly_kind::g_single:
    case anomaly_kind::lost_update:
      return l != consistency_level::read_committed;
    case anomaly_kind::g2_item:
      return l == consistency_level::repeatable_read || l == consistency_level::serializable ||
             l == consistency_level::strict_serializable;
    case anomaly_kind::g0_realtime:
    case anomaly_kind::g1c_realtime:
    case anomaly_kind::g_single_realtime:
    case anomaly_kind::g2_item_realtime:
      return l == consistency_level::strict_serializable;
  }
  return true;
}

}  // namespace dstm::check
