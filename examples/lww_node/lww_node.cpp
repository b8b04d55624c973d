// lww_node: one node of a replicated set service. Its set is a
// dstm::crdt::lww_element_set<std::string> in a dstm ref on ZooKeeper; every node started with
// the same --zk and --path serves the same set, and any node accepts any write.
//
//   build/bin/lww_node --zk 127.0.0.1:2181 --port 8081 --node-id 1
//
//   POST   /elements          ["a","b"]   insert elements          -> {"stamp": "...", "count": 2}
//   DELETE /elements          ["a"]       erase elements           -> {"stamp": "...", "count": 1}
//   POST   /elements/delete   ["a"]       the same, for clients that send no DELETE body
//   GET    /elements                      the members              -> {"members": [...], "latest":
//   ...} GET    /updates?since=T&wait=MS       entries stamped after T  -> {"adds": {"a": "T1"},
//                                         (all without since; wait:    "removes": {...},
//                                         long-poll up to MS ms)       "latest": "T2"}
//   GET    /health                                                 -> ok
//
// Writes are stamped at commit time by the node's hybrid logical clock, after it observed the
// set's latest stamp (dstm::crdt::apply), so stamps grow in commit order: a client that read
// "latest": T catches up exactly with /updates?since=T. Writes go through tx.commute: concurrent
// writers on any node never re-run their transactions. Malformed requests get 400 with
// {"error": "..."}. While ZooKeeper is unreachable, reads are served from the node's last
// consistent view and writes get 503 after a few seconds. A long poll holds one of the
// server's worker threads while it waits. docs/crdt.md shows a session with curl.
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <dstm/crdt/all.hpp>
#include <dstm/dstm.hpp>
#include <dstm/zookeeper.hpp>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using set = dstm::crdt::lww_element_set<std::string>;
// JSON in the znode, so zkCli.sh shows the set as text.
using set_ref = dstm::ref<set, dstm::json_serializer>;
using json = nlohmann::json;

constexpr std::size_t max_element_bytes = 1024;
constexpr std::size_t max_body_bytes = 256 * 1024;
constexpr long max_wait_ms = 30'000;

const char* const usage_text =
    "usage: lww_node --zk HOST:PORT[,HOST:PORT...] --port N --node-id ID [options]\n"
    "  --zk HOST:PORT     the ZooKeeper ensemble (a connect string)\n"
    "  --port N           the HTTP port on --host (0: any free port; the line\n"
    "                     'lww_node ID listening on HOST:PORT' says which)\n"
    "  --node-id ID       this node's id, 1 to 2^64-1, unique among the nodes: the\n"
    "                     tiebreak of its timestamps\n"
    "options:\n"
    "  --host ADDRESS     the address to listen on (default 127.0.0.1)\n"
    "  --path ZNODE       the ref holding the set (default /lww_node/set)\n"
    "  --help             this text\n";

struct arguments {
  std::string zk;
  int port = -1;
  std::uint64_t node = 0;
  std::string host = "127.0.0.1";
  std::string path = "/lww_node/set";
};

template <class N>
bool parse_number(std::string_view s, N& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

/// The arguments, or nullopt with `why` set (empty `why`: --help).
std::optional<arguments> parse_arguments(int argc, char** argv, std::string& why) {
  arguments a;
  bool node_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      why.clear();
      return std::nullopt;
    }
    if (i + 1 >= argc) {
      why = flag.starts_with("--") ? std::string(flag) + " needs a value"
                                   : "unexpected argument '" + std::string(flag) + "'";
      return std::nullopt;
    }
    const std::string_view value = argv[++i];
    if (flag == "--zk") {
      a.zk = value;
    } else if (flag == "--port") {
      if (!parse_number(value, a.port) || a.port < 0 || a.port > 65535) {
        why = "--port: '" + std::string(value) + "' is not a port number (0 to 65535)";
        return std::nullopt;
      }
    } else if (flag == "--node-id") {
      if (!parse_number(value, a.node) || a.node == 0) {
        why = "--node-id: '" + std::string(value) + "' is not a number from 1 to 2^64-1";
        return std::nullopt;
      }
      node_given = true;
    } else if (flag == "--host") {
      a.host = value;
    } else if (flag == "--path") {
      if (!value.starts_with('/') || value.size() < 2 || value.ends_with('/')) {
        why = "--path: '" + std::string(value) + "' is not a znode path such as /lww_node/set";
        return std::nullopt;
      }
      a.path = value;
    } else {
      why = "unknown option '" + std::string(flag) + "'";
      return std::nullopt;
    }
  }
  if (a.zk.empty())
    why = "--zk is required";
  else if (a.port < 0)
    why = "--port is required";
  else if (!node_given)
    why = "--node-id is required";
  if (!why.empty()) return std::nullopt;
  return a;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}
void refuse(httplib::Response& res, int status, const std::string& why) {
  reply(res, status, json{{"error", why}});
}

/// The elements of a request body (a JSON array of strings), or nullopt with `why`.
std::optional<std::vector<std::string>> parse_elements(const std::string& body, std::string& why) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    why =
        std::string("the body is not JSON (expected an array of strings such as [\"a\",\"b\"]): ") +
        e.what();
    return std::nullopt;
  }
  if (!j.is_array()) {
    why = std::string("expected a JSON array of strings such as [\"a\",\"b\"], got a JSON ") +
          j.type_name();
    return std::nullopt;
  }
  if (j.empty()) {
    why = "the array is empty: name at least one element";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) {
      why = "element " + std::to_string(i) + " is a JSON " + j[i].type_name() + ", not a string";
      return std::nullopt;
    }
    out.push_back(j[i].get<std::string>());
    if (out.back().size() > max_element_bytes) {
      why = "element " + std::to_string(i) + " has " + std::to_string(out.back().size()) +
            " bytes, more than the limit of " + std::to_string(max_element_bytes);
      return std::nullopt;
    }
  }
  return out;
}

json stamp_json(const std::optional<dstm::crdt::timestamp>& t) {
  return t ? json(dstm::crdt::to_string(*t)) : json(nullptr);
}

json entries_json(const set::entry_map& m) {
  json o = json::object();
  for (const auto& [x, t] : m) o[x] = dstm::crdt::to_string(t);
  return o;
}

/// The service: the ref, the clock, and a change counter that long polls wait on.
class node {
 public:
  node(std::shared_ptr<dstm::client> c, const arguments& a)
      : client_(std::move(c)), ref_(client_, a.path, set{}), clock_(a.node) {
    // Remote commits arrive through the ref's watch: wake the long polls.
    ref_.add_watch("lww_node", [this](const std::string&, const set&, const set&) { bump(); });
  }

  void routes(httplib::Server& s) {
    s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    s.Post("/elements",
           [this](const httplib::Request& q, httplib::Response& res) { write(q, res, true); });
    s.Delete("/elements",
             [this](const httplib::Request& q, httplib::Response& res) { write(q, res, false); });
    s.Post("/elements/delete",
           [this](const httplib::Request& q, httplib::Response& res) { write(q, res, false); });
    s.Get("/elements", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] {
        const set v = ref_.deref();
        reply(res, 200, json{{"members", v.members()}, {"latest", stamp_json(v.latest())}});
      });
    });
    s.Get("/updates",
          [this](const httplib::Request& q, httplib::Response& res) { updates(q, res); });
  }

 private:
  template <class F>
  void guarded(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const dstm::error& e) {
      const bool too_large = e.code() == dstm::errc::value_too_large ||
                             e.code() == dstm::coordinator_errc::bad_arguments;
      std::string why = std::string("the set is unavailable: ") + e.what();
      if (e.code() == dstm::errc::commit_outcome_unknown)
        why += " (sending the request again is harmless)";
      refuse(res, too_large ? 413 : 503, why);
    }
  }

  void write(const httplib::Request& q, httplib::Response& res, bool insert) {
    std::string why;
    auto elements = parse_elements(q.body, why);
    if (!elements) return refuse(res, 400, why);
    const auto count = elements->size();
    dstm::crdt::changes<std::string> ch;
    (insert ? ch.inserts : ch.erases) = std::move(*elements);
    guarded(res, [&] {
      const auto stamp = dstm::crdt::apply(client_, ref_, clock_, std::move(ch));
      bump();
      reply(res, 200, json{{"stamp", dstm::crdt::to_string(stamp)}, {"count", count}});
    });
  }

  void updates(const httplib::Request& q, httplib::Response& res) {
    std::optional<dstm::crdt::timestamp> since;
    if (q.has_param("since")) {
      std::error_code ec;
      std::string why;
      since = dstm::crdt::parse_timestamp(q.get_param_value("since"), ec, &why);
      if (!since) return refuse(res, 400, "since: " + why);
    }
    long wait_ms = 0;
    if (q.has_param("wait")) {
      const auto w = q.get_param_value("wait");
      if (!parse_number(std::string_view(w), wait_ms) || wait_ms < 0 || wait_ms > max_wait_ms) {
        return refuse(res, 400,
                      "wait: '" + w + "' is not a number of milliseconds from 0 to " +
                          std::to_string(max_wait_ms));
      }
    }
    guarded(res, [&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
      for (;;) {
        const auto seen = generation();
        const set v = ref_.deref();
        const set d = since ? v.updates_since(*since) : v;
        if (!d.empty() || std::chrono::steady_clock::now() >= deadline) {
          reply(res, 200,
                json{{"adds", entries_json(d.adds())},
                     {"removes", entries_json(d.removes())},
                     {"latest", stamp_json(v.latest())}});
          return;
        }
        std::unique_lock lock(mutex_);
        changed_.wait_until(lock, deadline, [&] { return generation_ != seen; });
      }
    });
  }

  void bump() {
    {
      std::lock_guard lock(mutex_);
      ++generation_;
    }
    changed_.notify_all();
  }
  std::uint64_t generation() {
    std::lock_guard lock(mutex_);
    return generation_;
  }

  std::shared_ptr<dstm::client> client_;
  set_ref ref_;
  dstm::crdt::hlc clock_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t generation_ = 0;
};

}  // namespace

int main(int argc, char** argv) try {
  std::string why;
  const auto args = parse_arguments(argc, argv, why);
  if (!args) {
    if (why.empty()) {
      std::cout << usage_text;
      return 0;
    }
    std::cerr << "lww_node: " << why << "\n" << usage_text;
    return 2;
  }

  // SIGINT and SIGTERM stop the server: blocked here (every thread inherits the mask) and
  // taken by one thread with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  dstm::client_options stm;
  stm.root = args->path + ".dstm";  // the clients' outcome records, beside the set
  // A write during a ZooKeeper outage answers 503 within seconds instead of retrying for
  // minutes: the client retries, not the node. (Retrying an insert or a delete is harmless.)
  stm.max_retries = 60;
  stm.outcome_attempts = 20;
  dstm::zookeeper::options zk;
  zk.request_timeout = std::chrono::seconds(3);
  auto client = dstm::zookeeper::connect(args->zk, zk, stm);
  node service(client, *args);

  httplib::Server server;
  server.set_payload_max_length(max_body_bytes);
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        refuse(res, 500, "internal error: " + what);
      });
  service.routes(server);

  int port = args->port;
  if (port == 0) {
    port = server.bind_to_any_port(args->host);
  } else if (!server.bind_to_port(args->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    std::cerr << "lww_node: cannot listen on " << args->host << ":" << args->port << "\n";
    return 1;
  }
  std::cout << "lww_node " << args->node << " listening on " << args->host << ":" << port
            << std::endl;

  std::thread stopper([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  const bool ok = server.listen_after_bind();
  // Stopped by a signal (the stopper has returned), or the listener failed: wake the stopper.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  client->close();
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "lww_node: " << e.what() << "\n";
  return 1;
}
