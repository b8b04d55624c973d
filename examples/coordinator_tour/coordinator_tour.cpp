// A tour of the coordinator API on a real ZooKeeper server: connect, create, read, watch, multi.
//
//   build/bin/coordinator_tour                 starts its own server on loopback (Debian's
//                                              zookeeper package) and stops it at the end
//   build/bin/coordinator_tour 127.0.0.1:2181  uses yours (it creates and removes /tour)
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

int main(int argc, char** argv) try {
  std::optional<dstm::testing::zookeeper_server> own;
  std::string where;
  if (argc > 1) {
    where = argv[1];
  } else {
    own.emplace();
    where = own->connect_string();
  }
  auto zk = std::make_shared<dstm::zookeeper::coordinator>(where);
  std::cout << "connected to " << where << ", session 0x" << std::hex << zk->session_id()
            << std::dec << "\n";

  // create and read: data plus the full stat.
  zk->create("/tour", "hello");
  auto n = zk->get("/tour");
  std::cout << "/tour = " << n.data << " (version " << n.stat.version << ", czxid "
            << n.stat.czxid << ")\n";

  // Errors are std::error_codes in ZooKeeper's numbers; the non-throwing overloads return them.
  std::error_code ec;
  zk->create("/tour", "again", dstm::create_mode::persistent, ec);
  std::cout << "creating it again: " << ec.message() << "\n";

  // A one-shot watch: fires once, on the next change, on the dispatcher thread.
  std::atomic<bool> fired{false};
  zk->get("/tour", dstm::watch{[&](const dstm::watch_event& e) {
            std::cout << "watch: " << e.path << " changed\n";
            fired = true;
          }});
  zk->set("/tour", "world", n.stat.version);
  for (int i = 0; i < 500 && !fired; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!fired) throw std::runtime_error("the watch did not fire");

  // Sequential children get a 10-digit counter.
  auto first = zk->create("/tour/job-", "", dstm::create_mode::persistent_sequential);
  std::cout << "sequential child: " << first << "\n";

  // multi: all or nothing. The stale version makes the whole multi fail; nothing is applied.
  const auto version = zk->get("/tour").stat.version;
  std::vector<dstm::op> ops = {dstm::op::create("/tour/a", "1"),
                               dstm::op::set("/tour", "stale", version - 1)};
  auto results = zk->multi(ops, ec);
  std::cout << "multi with a stale version: " << ec.message() << "; /tour/a exists: "
            << (zk->exists("/tour/a") ? "yes" : "no") << "\n";
  ops[1] = dstm::op::set("/tour", "fresh", version);
  zk->multi(ops);
  std::cout << "multi with the right version: /tour = " << zk->get("/tour").data
            << ", /tour/a exists: " << (zk->exists("/tour/a") ? "yes" : "no") << "\n";

  for (const auto& child : zk->children("/tour").names) zk->remove("/tour/" + child);
  zk->remove("/tour");
  zk->close();
  return results.size() == 2 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "coordinator_tour: " << e.what() << "\n";
  return 1;
}
