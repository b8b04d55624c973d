#pragma once
/// \file
/// Real ZooKeeper servers for tests and benchmarks: a standalone server or an ensemble on
/// loopback, started from Debian's `zookeeper` package on free ports with data in a temporary
/// directory.
///
/// Nothing outlives its owner: the destructor kills the JVMs and deletes the data; each JVM is
/// started with `PR_SET_PDEATHSIG` from one thread that lives as long as the process, so the
/// kernel kills it when the process dies — also when a test crashes, fails an assertion that
/// aborts, or is interrupted. Any thread may start and restart servers (e.g. a nemesis).
///
/// POSIX/Linux only. Environment overrides: `DSTM_ZOOKEEPER_CLASSPATH` (default
/// /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar), `DSTM_JAVA` (default `java`),
/// `DSTM_ZOOKEEPER_KEEP_LOGS=1` keeps the temporary directory for post-mortems.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace dstm::testing {

/// Thrown when a server cannot be started or does not become ready.
class zookeeper_harness_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Runs jobs on one thread that lives as long as the process. Servers are forked there because
/// PR_SET_PDEATHSIG kills a child when the *thread* that forked it ends, not the process: a
/// server restarted by a short-lived thread (a test's nemesis) would die with that thread.
class lasting_thread {
 public:
  static lasting_thread& instance() {
    static lasting_thread t;
    return t;
  }

  template <class F>
  auto run(F f) -> decltype(f()) {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    {
      std::lock_guard lock(mutex_);
      jobs_.emplace_back([task] { (*task)(); });
    }
    wake_.notify_one();
    return result.get();
  }

 private:
  lasting_thread()
      : thread_([this](std::stop_token stop) {
          std::unique_lock lock(mutex_);
          while (wake_.wait(lock, stop, [this] { return !jobs_.empty(); })) {
            auto job = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            job();
            lock.lock();
          }
        }) {}

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<std::function<void()>> jobs_;
  std::jthread thread_;  // last: starts once the members it uses exist
};

/// Starts `argv` (null-terminated) as a child process that dies with this process, from the
/// lasting thread; its output goes to `log` (appended) unless `log` is empty. Returns the pid,
/// or -errno when fork failed.
inline pid_t spawn(std::vector<char*>& argv, const std::string& log = {}) {
  return lasting_thread::instance().run([&] {
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) return static_cast<pid_t>(-errno);  // errno is the launcher thread's
    if (child > 0) return child;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (!log.empty()) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  });
}

/// A port the kernel reports free on 127.0.0.1 (bind to port 0). Another process could take it
/// before the server binds it; the harness retries a start on a fresh port when that happens.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw zookeeper_harness_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw zookeeper_harness_error("bind: " + std::string(std::strerror(errno)));
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// Sends a four-letter command to 127.0.0.1:port and returns the whole answer ("" when the
/// server does not answer within `timeout`).
inline std::string four_letter(int port, const std::string& command,
                               std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{};
  tv.tv_sec = static_cast<long>(timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(command.size())) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace detail

/// How a `zookeeper_server` (or every member of an ensemble) is configured.
struct zookeeper_server_options {
  /// fsync on every write (ZooKeeper's default). Off halves write latency for tests that do
  /// not measure durability.
  bool force_sync = false;
  std::int64_t tick_ms = 200;
  /// Session timeouts the server accepts: [2, 20] ticks by default in ZooKeeper; widened so
  /// tests can ask for short or long sessions.
  int min_session_timeout_ms = 400;
  int max_session_timeout_ms = 60000;
  /// How long `start` waits for `srvr` to answer "Mode:".
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(60);
  /// Extra zoo.cfg lines.
  std::vector<std::string> extra_config;
};

/// One ZooKeeper server process (standalone or an ensemble member). Move-only; the destructor
/// kills it and removes its data directory.
class zookeeper_server {
 public:
  using options = zookeeper_server_options;

  /// Starts a standalone server and waits until it serves.
  explicit zookeeper_server(options opts = {}) : zookeeper_server(opts, 0, {}, {}) {
    for (int attempt = 0;; ++attempt) {
      try {
        start();
        return;
      } catch (const zookeeper_harness_error&) {
        if (attempt >= 2) throw;
        kill();  // the port was probably taken between free_port() and bind: try another
        client_port_ = detail::free_port();
        write_config();
      }
    }
  }

  zookeeper_server(const zookeeper_server&) = delete;
  zookeeper_server& operator=(const zookeeper_server&) = delete;
  zookeeper_server(zookeeper_server&& o) noexcept { *this = std::move(o); }
  zookeeper_server& operator=(zookeeper_server&& o) noexcept {
    if (this != &o) {
      destroy();
      opts_ = std::move(o.opts_);
      dir_ = std::move(o.dir_);
      client_port_ = o.client_port_;
      id_ = o.id_;
      pid_ = o.pid_;
      peers_ = std::move(o.peers_);
      o.pid_ = -1;
      o.dir_.clear();
    }
    return *this;
  }
  ~zookeeper_server() { destroy(); }

  /// "127.0.0.1:PORT".
  std::string connect_string() const { return "127.0.0.1:" + std::to_string(client_port_); }
  int port() const noexcept { return client_port_; }
  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  const std::filesystem::path& directory() const noexcept { return dir_; }

  /// Starts the process (same port, same data) and waits until it serves.
  void start() {
    launch();
    wait_ready();
  }

  /// Starts the process without waiting (an ensemble starts all members, then waits).
  void launch() {
    if (pid_ > 0) return;
    const std::string java = detail::env_or("DSTM_JAVA", "java");
    const std::string classpath =
        detail::env_or("DSTM_ZOOKEEPER_CLASSPATH",
                       "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar");
    const std::string cfg = (dir_ / "zoo.cfg").string();
    const std::string log = (dir_ / "server.log").string();
    std::vector<std::string> args = {java,
                                     "-Xmx128m",
                                     "-XX:+UseSerialGC",
                                     "-XX:TieredStopAtLevel=1",
                                     "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                                     "-Dzookeeper.admin.enableServer=false",
                                     "-cp",
                                     classpath,
                                     "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                     cfg};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = detail::spawn(argv, log);
    if (pid < 0) throw zookeeper_harness_error("fork: " + std::string(std::strerror(-pid)));
    pid_ = pid;
  }

  /// Waits until `srvr` answers with a Mode (standalone, leader or follower).
  void wait_ready() const {
    const auto deadline = std::chrono::steady_clock::now() + opts_.ready_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          const_cast<zookeeper_server*>(this)->pid_ = -1;
          throw zookeeper_harness_error("ZooKeeper server exited during startup; log:\n" +
                                        log_tail());
        }
      }
      if (mode().size()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw zookeeper_harness_error(
        "ZooKeeper server on port " + std::to_string(client_port_) + " not ready after " +
        std::to_string(opts_.ready_timeout.count()) + " ms; log:\n" + log_tail());
  }

  /// The server's mode from `srvr` ("standalone", "leader", "follower"), or "" if not serving.
  std::string mode() const {
    const auto answer = detail::four_letter(client_port_, "srvr");
    const auto at = answer.find("Mode: ");
    if (at == std::string::npos) return {};
    const auto end = answer.find('\n', at);
    return answer.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
  }

  /// Sends a four-letter command ("srvr", "stat", "cons", "mntr", ...) and returns the answer.
  std::string four_letter(const std::string& command) const {
    return detail::four_letter(client_port_, command);
  }

  /// Kills the process (SIGKILL: no clean shutdown, like a crash) and reaps it. Data stays.
  void kill() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  /// Same as kill(): ZooKeeper's durability is what a test of a stop exercises.
  void stop() noexcept { kill(); }

  /// The last lines of the server's log, for failure messages.
  std::string log_tail(std::size_t max_bytes = 4000) const {
    std::ifstream in(dir_ / "server.log", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
  }

 private:
  friend class zookeeper_ensemble;

  struct peer {
    int id;
    int quorum_port;
    int election_port;
    int client_port;
  };

  zookeeper_server(options opts, int id, std::vector<peer> peers, int client_port)
      : opts_(std::move(opts)), id_(id) {
    dir_ = make_temp_dir();
    client_port_ = client_port ? client_port : detail::free_port();
    peers_ = std::move(peers);
    write_config();
  }

  static std::filesystem::path make_temp_dir() {
    const auto base = std::filesystem::temp_directory_path() / "dstm-zk-XXXXXX";
    std::string tmpl = base.string();
    if (!::mkdtemp(tmpl.data()))
      throw zookeeper_harness_error("mkdtemp: " + std::string(std::strerror(errno)));
    return tmpl;
  }

  void write_config() const {
    std::filesystem::create_directories(dir_ / "data");
    std::ofstream cfg(dir_ / "zoo.cfg");
    cfg << "tickTime=" << opts_.tick_ms << "\n"
        << "initLimit=20\nsyncLimit=10\n"
        << "dataDir=" << (dir_ / "data").string() << "\n"
        << "clientPort=" << client_port_ << "\n"
        << "clientPortAddress=127.0.0.1\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=*\n"
        << "forceSync=" << (opts_.force_sync ? "yes" : "no") << "\n"
        << "minSessionTimeout=" << opts_.min_session_timeout_ms << "\n"
        << "maxSessionTimeout=" << opts_.max_session_timeout_ms << "\n"
        << "maxClientCnxns=0\n"
        << "autopurge.purgeInterval=0\n";
    if (!peers_.empty()) {
      cfg << "standaloneEnabled=false\n"
          << "reconfigEnabled=false\n"
          << "quorumListenOnAllIPs=false\n"
          << "cnxTimeout=1000\n";
      for (const auto& p : peers_) {
        cfg << "server." << p.id << "=127.0.0.1:" << p.quorum_port << ":" << p.election_port
            << ";127.0.0.1:" << p.client_port << "\n";
      }
      std::ofstream(dir_ / "data" / "myid") << id_ << "\n";
    }
    for (const auto& line : opts_.extra_config) cfg << line << "\n";
  }

  void destroy() noexcept {
    kill();
    if (!dir_.empty() && detail::env_or("DSTM_ZOOKEEPER_KEEP_LOGS", "0") != "1") {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    dir_.clear();
  }

  options opts_;
  std::filesystem::path dir_;
  int client_port_ = 0;
  int id_ = 0;
  pid_t pid_ = -1;
  std::vector<peer> peers_;
};

/// A ZooKeeper ensemble of `n` servers on loopback (3 by default). `kill(i)` and `restart(i)`
/// crash and bring back one member; `leader()` finds the current leader with `srvr`.
class zookeeper_ensemble {
 public:
  explicit zookeeper_ensemble(int n = 3, zookeeper_server::options opts = {}) {
    if (n < 1) throw zookeeper_harness_error("an ensemble needs at least one server");
    std::vector<zookeeper_server::peer> peers;
    for (int i = 1; i <= n; ++i) {
      peers.push_back({i, detail::free_port(), detail::free_port(), detail::free_port()});
    }
    for (const auto& p : peers) {
      servers_.push_back(zookeeper_server(opts, p.id, peers, p.client_port));
    }
    for (auto& s : servers_) s.launch();
    wait_ready();
  }

  std::size_t size() const noexcept { return servers_.size(); }
  zookeeper_server& server(int i) { return servers_.at(static_cast<std::size_t>(i)); }

  /// Every live member, comma-separated: what a client connects to.
  std::string connect_string() const {
    std::string s;
    for (const auto& srv : servers_) {
      if (!s.empty()) s += ',';
      s += srv.connect_string();
    }
    return s;
  }
  /// One member only.
  std::string connect_string(int i) const {
    return servers_.at(static_cast<std::size_t>(i)).connect_string();
  }

  /// Waits until every running member serves (a quorum elected a leader).
  void wait_ready() const {
    for (const auto& s : servers_) {
      if (s.running()) s.wait_ready();
    }
  }

  /// Index of the member that reports "Mode: leader", or -1 if none does right now.
  int leader() const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i].running() && servers_[i].mode() == "leader") return static_cast<int>(i);
    }
    return -1;
  }

  /// Waits until some member is leader and returns its index.
  int wait_for_leader(std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (const int l = leader(); l >= 0) return l;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw zookeeper_harness_error("no leader elected within " + std::to_string(timeout.count()) +
                                  " ms");
  }

  /// Crashes member i (SIGKILL).
  void kill(int i) { server(i).kill(); }
  /// Starts member i again with its data and waits until it serves.
  void restart(int i) {
    auto& s = server(i);
    s.launch();
    s.wait_ready();
  }

 private:
  std::vector<zookeeper_server> servers_;
};

}  // namespace dstm::testing
