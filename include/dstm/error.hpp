#pragma once
/// \file
/// Errors of dstm: ZooKeeper's error numbers as `coordinator_errc` in `coordinator_category()`,
/// the library's own conditions as `errc` in `error_category()`, and the small exception
/// hierarchy the public API throws, rooted at `std::system_error`.
///
/// Policies (coordinators, storages, serializers) report failure through `std::error_code`;
/// the user-facing API throws. A `connection_loss` on a write means the outcome is unknown:
/// the server may have applied the write although the client saw the error.

#include <string>
#include <system_error>

namespace dstm {

/// ZooKeeper's error numbers, exactly as the server and the C client report them.
enum class coordinator_errc : int {
  ok = 0,
  system_error = -1,
  runtime_inconsistency = -2,
  data_inconsistency = -3,
  /// The connection to the server was lost. For a write the outcome is unknown: it may have
  /// been applied. dstm's STM resolves it through the client's outcome record.
  connection_loss = -4,
  marshalling_error = -5,
  unimplemented = -6,
  /// No reply within the request timeout; like `connection_loss`, a write may have been applied.
  operation_timeout = -7,
  /// Invalid arguments: a malformed path, data over the size limit, an unknown create mode.
  bad_arguments = -8,
  invalid_state = -9,
  new_config_no_quorum = -13,
  reconfig_in_progress = -14,
  ssl_connection_error = -15,
  api_error = -100,
  no_node = -101,
  not_authorized = -102,  // ZNOAUTH
  bad_version = -103,
  no_children_for_ephemerals = -108,
  node_exists = -110,
  not_empty = -111,
  session_expired = -112,
  invalid_callback = -113,
  invalid_acl = -114,
  auth_failed = -115,
  closing = -116,
  nothing = -117,
  session_moved = -118,
  not_readonly = -119,
  ephemeral_on_local_session = -120,
  no_watcher = -121,
  reconfig_disabled = -123,
  session_closed_require_sasl_auth = -124,
  throttled = -127,
  /// Set on the operations of a multi that were not executed because an earlier one failed
  /// (ZooKeeper's `ZRUNTIMEINCONSISTENCY` in a multi's per-op results).
  multi_not_executed = runtime_inconsistency,
};

/// The library's own error conditions (STM, serializers, storages).
enum class errc : int {
  conflict = 1,               ///< a version check failed at commit; the engine retries it
  retry_limit_exceeded,       ///< a transaction conflicted more often than its retry limit
  commit_outcome_unknown,     ///< the commit may or may not have been applied
  session_expired,            ///< the coordinator session ended while it was needed
  serialization_failed,       ///< bytes that do not decode to the expected type
  value_too_large,            ///< a value over the coordinator's data size limit
  validator_rejected,         ///< a ref's validator refused the new value
  no_node,                    ///< the ref or node does not exist
  node_exists,                ///< the node exists already
  not_authorized,             ///< the session lacks the permission (ACL)
  invalid_argument,           ///< malformed input from the caller
  storage_unavailable,        ///< an external storage could not be reached
  timeout,                    ///< a wait ended before the condition held
};

}  // namespace dstm

template <>
struct std::is_error_code_enum<dstm::coordinator_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<dstm::errc> : std::true_type {};

namespace dstm {

namespace detail {

class coordinator_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dstm.coordinator"; }
  std::string message(int ev) const override {
    switch (static_cast<coordinator_errc>(ev)) {
      case coordinator_errc::ok: return "ok";
      case coordinator_errc::system_error: return "system error";
      case coordinator_errc::runtime_inconsistency:
        return "runtime inconsistency (in a multi: not executed because an earlier op failed)";
      case coordinator_errc::data_inconsistency: return "data inconsistency";
      case coordinator_errc::connection_loss:
        return "connection loss (a write may or may not have been applied)";
      case coordinator_errc::marshalling_error: return "marshalling error";
      case coordinator_errc::unimplemented: return "operation unimplemented";
      case coordinator_errc::operation_timeout:
        return "operation timeout (a write may or may not have been applied)";
      case coordinator_errc::bad_arguments: return "bad arguments";
      case coordinator_errc::invalid_state: return "invalid session state";
      case coordinator_errc::new_config_no_quorum: return "new config has no quorum";
      case coordinator_errc::reconfig_in_progress: return "reconfiguration in progress";
      case coordinator_errc::ssl_connection_error: return "SSL connection error";
      case coordinator_errc::api_error: return "API error";
      case coordinator_errc::no_node: return "no node";
      case coordinator_errc::not_authorized: return "not authorized";
      case coordinator_errc::bad_version: return "bad version";
      case coordinator_errc::no_children_for_ephemerals:
        return "ephemeral nodes may not have children";
      case coordinator_errc::node_exists: return "node exists";
      case coordinator_errc::not_empty: return "node has children";
      case coordinator_errc::session_expired: return "session expired";
      case coordinator_errc::invalid_callback: return "invalid callback";
      case coordinator_errc::invalid_acl: return "invalid ACL";
      case coordinator_errc::auth_failed: return "authentication failed";
      case coordinator_errc::closing: return "session is closing";
      case coordinator_errc::nothing: return "nothing";
      case coordinator_errc::session_moved: return "session moved to another server";
      case coordinator_errc::not_readonly: return "write sent to a read-only server";
      case coordinator_errc::ephemeral_on_local_session:
        return "ephemeral node on a local session";
      case coordinator_errc::no_watcher: return "no such watcher";
      case coordinator_errc::reconfig_disabled: return "reconfiguration disabled";
      case coordinator_errc::session_closed_require_sasl_auth:
        return "session closed: the server requires SASL authentication";
      case coordinator_errc::throttled: return "operation throttled, not executed";
    }
    return "unknown coordinator error " + std::to_string(ev);
  }
};

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dstm"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::conflict: return "conflict: a version check failed at commit";
      case errc::retry_limit_exceeded: return "transaction retry limit exceeded";
      case errc::commit_outcome_unknown:
        return "commit outcome unknown: the transaction may or may not have been applied";
      case errc::session_expired: return "coordinator session expired";
      case errc::serialization_failed: return "serialization failed";
      case errc::value_too_large: return "value larger than the coordinator's data limit";
      case errc::validator_rejected: return "validator rejected the new value";
      case errc::no_node: return "no such ref or node";
      case errc::node_exists: return "node exists";
      case errc::not_authorized: return "not authorized";
      case errc::invalid_argument: return "invalid argument";
      case errc::storage_unavailable: return "storage unavailable";
      case errc::timeout: return "timed out";
    }
    return "unknown dstm error " + std::to_string(ev);
  }
};

}  // namespace detail

/// The category of ZooKeeper's error numbers.
inline const std::error_category& coordinator_category() noexcept {
  static const detail::coordinator_category_impl instance;
  return instance;
}

/// The category of dstm's own conditions.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl instance;
  return instance;
}

inline std::error_code make_error_code(coordinator_errc e) noexcept {
  return {static_cast<int>(e), coordinator_category()};
}
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// True for the errors after which a write's outcome is unknown (it may have been applied).
inline bool outcome_unknown(std::error_code ec) noexcept {
  return ec == coordinator_errc::connection_loss || ec == coordinator_errc::operation_timeout;
}

/// Root of everything the public API throws.
class error : public std::system_error {
 public:
  using std::system_error::system_error;
};

/// A coordinator operation failed; `code()` is in `coordinator_category()`.
class coordinator_error : public error {
 public:
  using error::error;
};

/// Bytes did not decode to the expected type (malformed, truncated or foreign).
class serialization_error : public error {
 public:
  explicit serialization_error(const std::string& what)
      : error(make_error_code(errc::serialization_failed), what) {}
};

/// Throws `coordinator_error` when `ec` is set; `what` names the operation and the path.
inline void throw_if(std::error_code ec, const std::string& what) {
  if (ec) throw coordinator_error(ec, what);
}

}  // namespace dstm
