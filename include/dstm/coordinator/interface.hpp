#pragma once
/// \file
/// `coordinator_interface<Derived>`: the public API every coordinator model offers, in Asio's
/// pair of flavours — `f(args...)` throws `dstm::coordinator_error`, `f(args..., ec)` does not.
///
/// A model derives from it and implements the `do_*` primitives (each reports failure through
/// an `std::error_code&` and never throws). Writing the pair once here keeps the three models
/// (ZooKeeper, embedded, simulated) identical in what users see.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dstm/coordinator/types.hpp"
#include "dstm/error.hpp"

namespace dstm {

template <class Derived>
class coordinator_interface {
 public:
  /// Creates `path`; returns the created path (with the 10-digit suffix for a sequential mode).
  /// Errors: node_exists, no_node (parent), no_children_for_ephemerals, invalid_acl,
  /// not_authorized, bad_arguments (path, data size). connection_loss: maybe created.
  std::string create(std::string_view path, std::string_view data, create_mode mode,
                     const acl_list& acls, dstm::stat* out, std::error_code& ec) {
    return d().do_create(path, data, mode, acls, out, ec);
  }
  std::string create(std::string_view path, std::string_view data, create_mode mode,
                     std::error_code& ec) {
    return d().do_create(path, data, mode, open_acl_unsafe(), nullptr, ec);
  }
  std::string create(std::string_view path, std::string_view data = {},
                     create_mode mode = create_mode::persistent,
                     const acl_list& acls = open_acl_unsafe(), dstm::stat* out = nullptr) {
    std::error_code ec;
    auto created = d().do_create(path, data, mode, acls, out, ec);
    throw_if(ec, describe("create", path));
    return created;
  }

  /// Reads a node's data and stat; with `w`, leaves a one-shot data watch (set even when the
  /// read succeeds only). Errors: no_node, not_authorized.
  node get(std::string_view path, watch w, std::error_code& ec) {
    return d().do_get(path, std::move(w), ec);
  }
  node get(std::string_view path, std::error_code& ec) { return d().do_get(path, {}, ec); }
  node get(std::string_view path, watch w = {}) {
    std::error_code ec;
    auto n = d().do_get(path, std::move(w), ec);
    throw_if(ec, describe("get", path));
    return n;
  }

  /// Replaces a node's data if its version is `version` (or `any_version`); returns the new
  /// stat. Errors: no_node, bad_version, not_authorized, bad_arguments (data size).
  dstm::stat set(std::string_view path, std::string_view data, std::int32_t version,
                 std::error_code& ec) {
    return d().do_set(path, data, version, ec);
  }
  dstm::stat set(std::string_view path, std::string_view data,
                 std::int32_t version = any_version) {
    std::error_code ec;
    auto s = d().do_set(path, data, version, ec);
    throw_if(ec, describe("set", path));
    return s;
  }

  /// Removes a node if its version matches. Errors: no_node, bad_version, not_empty.
  void remove(std::string_view path, std::int32_t version, std::error_code& ec) {
    d().do_remove(path, version, ec);
  }
  void remove(std::string_view path, std::int32_t version = any_version) {
    std::error_code ec;
    d().do_remove(path, version, ec);
    throw_if(ec, describe("remove", path));
  }

  /// The node's stat, or nullopt when it does not exist (not an error). With `w`, leaves a
  /// watch either way: it fires on creation of a missing node, or on change/removal.
  std::optional<dstm::stat> exists(std::string_view path, watch w, std::error_code& ec) {
    return d().do_exists(path, std::move(w), ec);
  }
  std::optional<dstm::stat> exists(std::string_view path, watch w = {}) {
    std::error_code ec;
    auto s = d().do_exists(path, std::move(w), ec);
    throw_if(ec, describe("exists", path));
    return s;
  }

  /// A node's child names and stat; with `w`, a one-shot child watch (fires on a child's
  /// creation or removal, or when the node itself is removed).
  children_list children(std::string_view path, watch w, std::error_code& ec) {
    return d().do_children(path, std::move(w), ec);
  }
  children_list children(std::string_view path, watch w = {}) {
    std::error_code ec;
    auto c = d().do_children(path, std::move(w), ec);
    throw_if(ec, describe("children", path));
    return c;
  }

  /// Applies all of `ops` atomically or none. `ec` is the first failing op's error; the
  /// per-op results are returned either way (see `op_result`). connection_loss: maybe applied.
  std::vector<op_result> multi(std::span<const op> ops, std::error_code& ec) {
    return d().do_multi(ops, ec);
  }
  std::vector<op_result> multi(std::span<const op> ops) {
    std::error_code ec;
    auto r = d().do_multi(ops, ec);
    throw_if(ec, "multi of " + std::to_string(ops.size()) + " ops");
    return r;
  }

  /// Reads many nodes in one round trip (pipelined); each read leaves a copy of `w` on its
  /// node. Replies come in request order. `ec` reports a failure of the whole batch only;
  /// each result carries its own error.
  std::vector<get_result> get_many(std::span<const std::string> paths, const watch& w,
                                   std::error_code& ec) {
    return d().do_get_many(paths, w, ec);
  }
  std::vector<get_result> get_many(std::span<const std::string> paths, const watch& w = {}) {
    std::error_code ec;
    auto r = d().do_get_many(paths, w, ec);
    throw_if(ec, "get_many of " + std::to_string(paths.size()) + " paths");
    return r;
  }

  /// Brings the server this session talks to up to date with the leader for `path`, so a
  /// following read is not stale.
  void sync(std::string_view path, std::error_code& ec) { d().do_sync(path, ec); }
  void sync(std::string_view path = "/") {
    std::error_code ec;
    d().do_sync(path, ec);
    throw_if(ec, describe("sync", path));
  }

  /// Adds credentials to the session, e.g. ("digest", "user:password"). Errors: auth_failed.
  void add_auth(std::string_view scheme, std::string_view credential, std::error_code& ec) {
    d().do_add_auth(scheme, credential, ec);
  }
  void add_auth(std::string_view scheme, std::string_view credential) {
    std::error_code ec;
    d().do_add_auth(scheme, credential, ec);
    throw_if(ec, "add_auth " + std::string(scheme));
  }

  /// A node's ACL (and stat when `out` is given).
  acl_list get_acl(std::string_view path, dstm::stat* out, std::error_code& ec) {
    return d().do_get_acl(path, out, ec);
  }
  acl_list get_acl(std::string_view path, dstm::stat* out = nullptr) {
    std::error_code ec;
    auto a = d().do_get_acl(path, out, ec);
    throw_if(ec, describe("get_acl", path));
    return a;
  }

  /// Replaces a node's ACL if its ACL version (aversion) matches.
  void set_acl(std::string_view path, const acl_list& acls, std::int32_t aversion,
               std::error_code& ec) {
    d().do_set_acl(path, acls, aversion, ec);
  }
  void set_acl(std::string_view path, const acl_list& acls, std::int32_t aversion = any_version) {
    std::error_code ec;
    d().do_set_acl(path, acls, aversion, ec);
    throw_if(ec, describe("set_acl", path));
  }

 private:
  Derived& d() noexcept { return static_cast<Derived&>(*this); }
  static std::string describe(const char* what, std::string_view path) {
    std::string s(what);
    s.push_back(' ');
    s.append(path);
    return s;
  }
};

}  // namespace dstm
