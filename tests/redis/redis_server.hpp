#pragma once
// A private redis-server on loopback for tests and examples, like
// <dstm/testing/zookeeper_server.hpp> for ZooKeeper: a free port, no persistence
// (`--save '' --appendonly no`), its files in a temporary directory, started with
// dstm::testing::detail::spawn (PR_SET_PDEATHSIG from a thread that lives as long as the process),
// so the kernel kills it when the process dies (a crashed or aborted test leaves no server behind),
// killed and its directory removed by the destructor.
//
// Faults: `pause()` / `resume()` (SIGSTOP / SIGCONT: a server that hangs — connections stay
// open, commands time out), `kill()` (SIGKILL: connections are reset), `start()` again on the
// same port. `DSTM_REDIS_SERVER` overrides the binary (default `redis-server`).

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <dstm/testing/zookeeper_server.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace dstm_redis {

/// Thrown when redis-server cannot be started or does not answer PING.
class redis_harness_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class redis_server {
 public:
  /// Starts a server on a free loopback port and waits until it answers PING. `durable`: with
  /// an append-only file fsynced on every write (`--appendonly yes --appendfsync always`), so a
  /// `kill()` then `start()` loses nothing acknowledged, as in production.
  explicit redis_server(bool durable = false) : durable_(durable) {
    const auto base = std::filesystem::temp_directory_path() / "dstm-redis-XXXXXX";
    std::string tmpl = base.string();
    if (!::mkdtemp(tmpl.data()))
      throw redis_harness_error("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = tmpl;
    for (int attempt = 0;; ++attempt) {
      port_ = dstm::testing::detail::free_port();
      try {
        start();
        return;
      } catch (const redis_harness_error&) {
        kill();  // the port was probably taken between free_port() and bind: try another
        if (attempt >= 2) {
          remove_dir();
          throw;
        }
      }
    }
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() {
    kill();
    remove_dir();
  }

  int port() const noexcept { return port_; }
  std::string host() const { return "127.0.0.1"; }
  /// "127.0.0.1:PORT".
  std::string address() const { return host() + ":" + std::to_string(port_); }
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  /// Starts the process on the same port (after `kill`) and waits until it answers PING.
  void start() {
    if (pid_ > 0) return;
    const std::string binary = dstm::testing::detail::env_or("DSTM_REDIS_SERVER", "redis-server");
    std::vector<std::string> args = {binary,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     durable_ ? "yes" : "no",
                                     "--appendfsync",
                                     "always",
                                     "--dir",
                                     dir_.string(),
                                     "--daemonize",
                                     "no",
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     (dir_ / "redis.log").string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = dstm::testing::detail::spawn(argv);  // dies with this process
    if (pid < 0) throw redis_harness_error("fork: " + std::string(std::strerror(-pid)));
    pid_ = pid;
    paused_ = false;
    wait_ready();
  }

  /// SIGKILL, reaped: a crash. The data (none is persisted) is gone.
  void kill() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    if (paused_) ::kill(pid_, SIGCONT);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    paused_ = false;
  }
  /// SIGSTOP: the server hangs; its connections stay open and commands get no reply.
  void pause() {
    if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
  }
  /// SIGCONT after `pause()`.
  void resume() {
    if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
  }

  /// A raw hiredis connection for checking what Redis holds (the tests' own eyes).
  redisContext* connect_raw() const {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout(host().c_str(), port_, tv);
    if (!c || c->err) {
      const std::string why = c ? c->errstr : "out of memory";
      if (c) redisFree(c);
      throw redis_harness_error("connect to " + address() + ": " + why);
    }
    redisSetTimeout(c, tv);
    return c;
  }

  /// The last lines of the server's log, for failure messages.
  std::string log_tail(std::size_t max_bytes = 4000) const {
    std::ifstream in(dir_ / "redis.log", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
  }

 private:
  void wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw redis_harness_error("redis-server exited during startup; log:\n" + log_tail());
      }
      timeval tv{0, 200000};
      if (redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv)) {
        bool ok = false;
        if (!c->err) {
          redisSetTimeout(c, tv);
          if (auto* r = static_cast<redisReply*>(redisCommand(c, "PING"))) {
            ok = r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
          }
        }
        redisFree(c);
        if (ok) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw redis_harness_error("redis-server on port " + std::to_string(port_) +
                              " did not answer PING; log:\n" + log_tail());
  }

  void remove_dir() noexcept {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
  bool durable_ = false;
};

}  // namespace dstm_redis
