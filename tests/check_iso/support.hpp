#pragma once
// Helpers for writing small transaction histories in the tests by hand.

#include <dstm/check/isolation.hpp>
#include <initializer_list>
#include <string>

namespace dstm::check::test {

/// One event line: `event(0, "invoke", R"([["append", "x", 1]])")`.
inline std::string event(int process, const char* type, const std::string& ops) {
  return "{\"process\": " + std::to_string(process) + ", \"type\": \"" + type +
         "\", \"f\": \"txn\", \"value\": " + ops + "}\n";
}

/// An invoke immediately followed by its ok completion (no concurrency): `ops_invoke` has the
/// reads as null, `ops_ok` their results.
inline std::string txn(int process, const std::string& ops_invoke, const std::string& ops_ok) {
  return event(process, "invoke", ops_invoke) + event(process, "ok", ops_ok);
}

/// A transaction with only writes, invoked and completed ok.
inline std::string txn(int process, const std::string& ops) { return txn(process, ops, ops); }

/// A transaction that failed.
inline std::string failed(int process, const std::string& ops) {
  return event(process, "invoke", ops) + event(process, "fail", ops);
}

inline isolation_result check(const std::string& history, workload w, consistency_level level) {
  const transaction_history h = parse_transaction_history(history, w);
  isolation_options options;
  options.level = level;
  return check_isolation(h, options);
}

inline constexpr std::initializer_list<consistency_level> all_levels = {
    consistency_level::read_committed, consistency_level::repeatable_read,
    consistency_level::snapshot_isolation, consistency_level::serializable,
    consistency_level::strict_serializable};

}  // namespace dstm::check::test
