#pragma once
/// \file
/// Redis as the blob store of external storage: `dstm::redis_blob_store`, a model of
/// `dstm::blob_store` over the hiredis C client, and `dstm::redis_storage`, the storage policy
/// `dstm::external<dstm::redis_blob_store>`.
///
/// **What it is.** Avout's VersionedStateContainer with Redis behind it (its mongo-ref, with
/// Redis for MongoDB): each committed version of a ref is one immutable Redis string under a key
/// naming the ref and the transaction that wrote it (`<key_prefix>v:<ref path>@<client id>.<lane>.
/// <sequence>`); the znode holds only that key. The commit protocol is the one of every external
/// store (include/dstm/storage/external.hpp): the blob is written before the coordinator's
/// `multi`, the replaced version's blob is deleted after it, a refused commit's blob is deleted
/// at once, and `ref::collect_garbage()` removes what a crash between the two left behind —
/// fencing the writer first, so a collected blob can never become current. Values may be far
/// larger than ZooKeeper's 1 MB (Redis takes strings up to 512 MB).
///
/// **Requirements.** The hiredis C client (`libhiredis-dev`; link `-lhiredis`, or in CMake
/// `pkg_check_modules(hiredis IMPORTED_TARGET hiredis)` and `PkgConfig::hiredis`), a Redis
/// server 2.8.9 or newer (for ZRANGEBYLEX).
///
/// **What it stores.** Besides the blobs, one sorted set `<key_prefix>keys` indexes the blob keys
/// (all with score 0, so ordered by their bytes): the collector's listing (`keys(prefix)`) is a
/// range read of it, O(log n + m), not a scan of the whole database. A blob and its index entry
/// are written and deleted together (MULTI/EXEC).
///
/// **Errors.** Nothing throws through the blob-store calls: an unreachable server (refused,
/// reset, closed), a command that takes longer than `command_timeout` (a paused or overloaded
/// server), an error reply (OOM, READONLY, NOAUTH, ...) or too few replicas acknowledging a write
/// all report `errc::storage_unavailable`; `last_error()` says which. The STM turns that into a
/// `dstm::error` with that code: a commit aborts before its `multi` and writes nothing to the
/// coordinator, a read fails the transaction. A blob write that timed out may still land later
/// (the server was only slow): it is then garbage for the collector, never current. Every
/// operation is idempotent, so one that fails on a pooled connection (Redis restarted, an idle
/// connection dropped) is retried once on a new one.
///
/// **Threads.** A hiredis context is not thread-safe; the store keeps a pool of them and lends
/// each call its own, so one store serves any number of threads and clients. A connection that
/// saw an error is discarded, never reused. `SIGPIPE` (hiredis writes with plain `write`) is
/// blocked in the calling thread for the duration of a call and a pending one consumed, so a
/// server that goes away cannot kill the process.
///
/// **Durability.** What Redis loses, dstm loses: a blob acknowledged and then lost (a restart
/// without AOF, a failover to a replica that had not received it, eviction under a `maxmemory`
/// policy other than `noeviction`) leaves a pointer without its blob, and reading that ref fails
/// with `errc::no_node`. For durable refs run Redis with `appendonly yes` and `appendfsync
/// always`, `maxmemory-policy noeviction`, and set `replicas` to wait for replicas (WAIT).
///
/// **Example.** examples/group_move_redis.
/// ```
/// auto blobs = std::make_shared<dstm::redis_blob_store>(dstm::redis_options{.port = 6379});
/// dstm::ref<std::string, dstm::redis_storage> big{client, "/big", std::string{}, blobs};
/// ```

#if !__has_include(<hiredis/hiredis.h>)
#error \
    "<dstm/storage/redis.hpp> needs the hiredis C client: install libhiredis-dev and link -lhiredis"
#endif

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/error.hpp"
#include "dstm/storage/external.hpp"

namespace dstm {

/// Where a `redis_blob_store` connects and how it names and writes its keys.
struct redis_options {
  std::string host = "127.0.0.1";
  int port = 6379;
  /// A Unix domain socket to use instead of host and port (empty: TCP).
  std::string unix_socket = {};
  /// AUTH: a password, and a user name for Redis 6 ACLs (empty: no AUTH).
  std::string username = {};
  std::string password = {};
  /// SELECT: the logical database.
  int database = 0;
  /// Prepended to every Redis key the store uses: blobs are `<key_prefix>v:<key>`, the index is
  /// `<key_prefix>keys`. Two stores with different prefixes share a server without meeting.
  std::string key_prefix = "dstm:";
  std::chrono::milliseconds connect_timeout{2000};
  /// A command without a reply for this long fails (the connection is then discarded).
  std::chrono::milliseconds command_timeout{5000};
  /// After each blob written, wait until this many replicas have it (WAIT); fewer within
  /// `replica_timeout` fail the write (the blob is deleted again), so the commit aborts.
  /// 0: do not wait.
  int replicas = 0;
  std::chrono::milliseconds replica_timeout{1000};
  /// Idle connections kept for reuse; more are opened while more threads call at once.
  std::size_t max_idle_connections = 8;

  /// Options for an address: "host:port", "host" (port 6379), or "unix:/path/to/socket".
  /// Throws `dstm::error` (errc::invalid_argument) for a malformed port.
  static redis_options from_address(std::string_view address) {
    redis_options o;
    if (address.starts_with("unix:")) {
      o.unix_socket = std::string(address.substr(5));
      return o;
    }
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      o.host = std::string(address);
      return o;
    }
    o.host = std::string(address.substr(0, colon));
    const auto port = address.substr(colon + 1);
    const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), o.port);
    if (err != std::errc{} || end != port.data() + port.size() || o.port <= 0 || o.port > 65535) {
      throw error(make_error_code(errc::invalid_argument),
                  "dstm::redis_options: bad port in address '" + std::string(address) + "'");
    }
    return o;
  }
};

/// A `dstm::blob_store` in Redis, for `dstm::external<redis_blob_store>` (`dstm::redis_storage`).
/// Thread-safe (a pool of hiredis connections); calls report failures through `ec` as
/// `errc::storage_unavailable`, never by throwing. See the file's documentation.
class redis_blob_store {
 public:
  /// Connects and PINGs once, so that a wrong address, password or database fails here and
  /// not in the first commit. Throws `dstm::error` (errc::storage_unavailable) with the
  /// server's or the socket's reason. Later calls reconnect by themselves.
  explicit redis_blob_store(redis_options options = {}) : options_(std::move(options)) {
    std::error_code ec;
    if (!ping(ec)) throw error(ec, "dstm::redis_blob_store: " + last_error());
  }
  redis_blob_store(const redis_blob_store&) = delete;
  redis_blob_store& operator=(const redis_blob_store&) = delete;

  /// Writes the blob and its index entry, then (with `replicas`) waits for the replicas.
  void put(std::string_view key, std::string_view bytes, std::error_code& ec) {
    const std::string data = data_key(key), index = index_key();
    std::vector<command> cmds = {
        {"MULTI"}, {"SET", data, bytes}, {"ZADD", index, "0", key}, {"EXEC"}};
    const std::string replicas = std::to_string(options_.replicas);
    const std::string timeout = std::to_string(options_.replica_timeout.count());
    if (options_.replicas > 0) cmds.push_back({"WAIT", replicas, timeout});
    auto replies = run(cmds, ec);
    if (ec) return;
    if (!exec_succeeded(replies[3].get(), 2, ec)) return;
    if (options_.replicas > 0 && replies[4]->integer < options_.replicas) {
      const auto acknowledged = replies[4]->integer;
      // Not written as far as the caller knows: take it back (what fails here is garbage for
      // the collector).
      std::error_code ignored;
      remove(key, ignored);
      fail(ec, "WAIT: " + std::to_string(acknowledged) + " of " + replicas +
                   " replicas acknowledged the blob " + std::string(key));
    }
  }

  /// The blob, or nullopt when the key is absent.
  std::optional<std::string> get(std::string_view key, std::error_code& ec) {
    const std::string data = data_key(key);
    auto replies = run({{"GET", data}}, ec);
    if (ec) return std::nullopt;
    const redisReply* r = replies[0].get();
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    if (r->type != REDIS_REPLY_STRING) {
      fail(ec, "GET " + data + ": not a string reply");
      return std::nullopt;
    }
    return std::string(r->str, r->len);
  }

  /// Deletes the blob and its index entry; an absent key is no error.
  void remove(std::string_view key, std::error_code& ec) {
    const std::string data = data_key(key), index = index_key();
    auto replies = run({{"MULTI"}, {"DEL", data}, {"ZREM", index, key}, {"EXEC"}}, ec);
    if (!ec) exec_succeeded(replies[3].get(), 2, ec);
  }

  /// Every key that starts with `prefix`, in byte order, read from the index in pages.
  std::vector<std::string> keys(std::string_view prefix, std::error_code& ec) {
    std::vector<std::string> out;
    const std::string index = index_key();
    std::string from = "[" + std::string(prefix);
    const std::string to = upper_bound(prefix);
    static constexpr std::size_t page = 1000;
    const std::string count = std::to_string(page);
    for (;;) {
      auto replies = run({{"ZRANGEBYLEX", index, from, to, "LIMIT", "0", count}}, ec);
      if (ec) return {};
      const redisReply* r = replies[0].get();
      if (r->type != REDIS_REPLY_ARRAY) {
        fail(ec, "ZRANGEBYLEX " + index + ": not an array reply");
        return {};
      }
      for (std::size_t i = 0; i < r->elements; ++i) {
        out.emplace_back(r->element[i]->str, r->element[i]->len);
      }
      if (r->elements < page) return out;
      from = "(" + out.back();
    }
  }

  /// Round trip to the server (PING); false, with `ec` set, when it cannot be reached.
  bool ping(std::error_code& ec) {
    run({{"PING"}}, ec);
    return !ec;
  }

  /// Why the latest failing call of this store failed (hiredis's or the server's message,
  /// with the server's address), or "" if none failed yet.
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }

  /// The Redis key a blob key is stored under (for tools and tests that look at Redis itself).
  std::string data_key(std::string_view key) const {
    std::string k = options_.key_prefix;
    k += "v:";
    k += key;
    return k;
  }
  /// The sorted set that indexes the blob keys.
  std::string index_key() const { return options_.key_prefix + "keys"; }

  const redis_options& options() const noexcept { return options_; }

 private:
  struct context_free {
    void operator()(redisContext* c) const noexcept { redisFree(c); }
  };
  using connection = std::unique_ptr<redisContext, context_free>;
  struct reply_free {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
  };
  using reply = std::unique_ptr<redisReply, reply_free>;
  using command = std::vector<std::string_view>;

  /// Blocks SIGPIPE in this thread while it lives; a SIGPIPE raised meanwhile (a write to a
  /// closed connection) is consumed, unless one was already pending before.
  class sigpipe_guard {
   public:
    sigpipe_guard() noexcept {
      sigemptyset(&pipe_);
      sigaddset(&pipe_, SIGPIPE);
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      was_pending_ = sigismember(&pending, SIGPIPE) == 1;
      blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
    }
    ~sigpipe_guard() {
      if (!blocked_) return;
      if (!was_pending_) {
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
          const timespec zero{0, 0};
          while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
          }
        }
      }
      pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

   private:
    sigset_t pipe_;
    sigset_t old_;
    bool was_pending_ = false;
    bool blocked_ = false;
  };

  static timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
  }

  std::string where() const {
    return options_.unix_socket.empty()
               ? "redis " + options_.host + ":" + std::to_string(options_.port)
               : "redis unix:" + options_.unix_socket;
  }

  void fail(std::error_code& ec, const std::string& why) {
    ec = make_error_code(errc::storage_unavailable);
    std::lock_guard lock(mutex_);
    last_error_ = where() + ": " + why;
  }

  /// The smallest ZRANGEBYLEX bound above every string that starts with `prefix`.
  static std::string upper_bound(std::string_view prefix) {
    std::string p(prefix);
    while (!p.empty() && static_cast<unsigned char>(p.back()) == 0xff) p.pop_back();
    if (p.empty()) return "+";
    p.back() = static_cast<char>(static_cast<unsigned char>(p.back()) + 1);
    return "(" + p;
  }

  /// An EXEC reply of `n` results, none an error.
  bool exec_succeeded(const redisReply* r, std::size_t n, std::error_code& ec) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
      fail(ec, "MULTI/EXEC did not run (the transaction was discarded)");
      return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (r->element[i]->type == REDIS_REPLY_ERROR) {
        fail(ec, std::string(r->element[i]->str, r->element[i]->len));
        return false;
      }
    }
    return true;
  }

  /// A new connection, authenticated and on the configured database.
  connection open(std::error_code& ec) {
    ec.clear();
    const timeval connect_timeout = to_timeval(options_.connect_timeout);
    connection c(
        options_.unix_socket.empty()
            ? redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_timeout)
            : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), connect_timeout));
    if (!c) {
      fail(ec, "cannot allocate a hiredis context");
      return nullptr;
    }
    if (c->err) {
      fail(ec, std::string("connect: ") + c->errstr);
      return nullptr;
    }
    if (redisSetTimeout(c.get(), to_timeval(options_.command_timeout)) != REDIS_OK) {
      fail(ec, std::string("setting the command timeout: ") + c->errstr);
      return nullptr;
    }
    if (options_.unix_socket.empty()) redisEnableKeepAlive(c.get());
    std::vector<command> setup;
    if (!options_.password.empty()) {
      if (options_.username.empty()) {
        setup.push_back({"AUTH", options_.password});
      } else {
        setup.push_back({"AUTH", options_.username, options_.password});
      }
    }
    const std::string db = std::to_string(options_.database);
    if (options_.database != 0) setup.push_back({"SELECT", db});
    if (!setup.empty()) {
      exchange(c.get(), setup, ec);
      if (ec) return nullptr;
    }
    return c;
  }

  /// Sends `cmds` pipelined and reads their replies; an I/O failure or an error reply sets
  /// `ec`. On success every reply is non-null and none is an error.
  std::vector<reply> exchange(redisContext* c, const std::vector<command>& cmds,
                              std::error_code& ec) {
    std::vector<reply> replies;
    std::vector<const char*> argv;
    std::vector<std::size_t> argvlen;
    for (const auto& cmd : cmds) {
      argv.clear();
      argvlen.clear();
      for (auto arg : cmd) {
        argv.push_back(arg.data());
        argvlen.push_back(arg.size());
      }
      if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argvlen.data()) !=
          REDIS_OK) {
        fail(ec, std::string(c->errstr));
        return {};
      }
    }
    std::string refused;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        // errno EAGAIN after a read timeout: hiredis reports it as "Resource temporarily
        // unavailable"; say what it means.
        const bool timed_out = c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        fail(ec, timed_out ? "no reply within " + std::to_string(options_.command_timeout.count()) +
                                 " ms (" + std::string(c->errstr) + ")"
                           : std::string(c->errstr[0] ? c->errstr : "connection lost"));
        if (!c->err) c->err = REDIS_ERR_IO;  // never hand this connection out again
        return {};
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
      const redisReply* r = replies.back().get();
      // Read every reply even after an error one, so the connection stays in step.
      if (r->type == REDIS_REPLY_ERROR && refused.empty()) {
        refused = std::string(cmds[i][0]) + ": " + std::string(r->str, r->len);
      }
    }
    if (!refused.empty()) {
      fail(ec, refused);
      return {};
    }
    return replies;
  }

  /// Runs `cmds` on a pooled connection; idempotent, so an I/O failure on a reused connection
  /// (it may have gone stale while idle) is retried once on a fresh one.
  std::vector<reply> run(const std::vector<command>& cmds, std::error_code& ec) {
    sigpipe_guard guard;
    for (int attempt = 0;; ++attempt) {
      ec.clear();
      bool reused = false;
      auto c = acquire(reused, ec);
      if (ec) return {};
      auto replies = exchange(c.get(), cmds, ec);
      const bool io_failure = c->err != 0;
      release(std::move(c));
      if (!ec || !io_failure || !reused || attempt > 0) return replies;
    }
  }

  connection acquire(bool& reused, std::error_code& ec) {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        reused = true;
        return c;
      }
    }
    reused = false;
    return open(ec);
  }

  void release(connection c) {
    if (!c || c->err) return;  // broken: dropped, never reused
    std::lock_guard lock(mutex_);
    if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(c));
  }

  redis_options options_;
  mutable std::mutex mutex_;
  std::vector<connection> idle_;
  std::string last_error_;
};

static_assert(blob_store<redis_blob_store>);

/// The storage policy of refs whose values live in Redis:
/// `dstm::ref<T, dstm::redis_storage> r{client, path, initial, store}` with `store` a
/// `std::shared_ptr<dstm::redis_blob_store>`.
using redis_storage = external<redis_blob_store>;

}  // namespace dstm
