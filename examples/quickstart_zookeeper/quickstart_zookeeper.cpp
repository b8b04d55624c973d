// The quick start of dstm (DESIGN.md §1) against a real ZooKeeper server.
//
//   build/bin/quickstart_zookeeper 127.0.0.1:2181   uses your server
//   build/bin/quickstart_zookeeper                  starts a private one on loopback (Debian's
//                                                   `zookeeper` package) and stops it after
//
// Only the connect line differs from examples/quickstart; run it twice against the same server
// and the second run finds the refs the first one left (creating a ref never clobbers).
#include <dstm/dstm.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

int main(int argc, char** argv) try {
  std::optional<dstm::testing::zookeeper_server> own;  // only without an address
  std::string where;
  if (argc > 1) {
    where = argv[1];
  } else {
    own.emplace();
    where = own->connect_string();
    std::cout << "started a ZooKeeper server at " << where << '\n';
  }

  auto client = dstm::zookeeper::connect(where);
  dstm::ref r0{client, "/quickstart/r0", 0};
  dstm::ref r1{client, "/quickstart/r1", std::vector<int>{}};
  const int before = r0.deref();

  dstm::dosync(client, [&](dstm::txn& tx) {
    tx.alter(r0, [](int v) { return v + 1; });
    tx.alter(r1, [&](std::vector<int> v) {
      v.push_back(tx.deref(r0));
      return v;
    });
  });

  const int v0 = r0.deref();
  const std::vector<int> v1 = r1.deref();
  std::cout << "r0 = " << v0 << '\n' << "r1 = [";
  for (std::size_t i = 0; i < v1.size(); ++i) std::cout << (i ? ", " : "") << v1[i];
  std::cout << "]\n";
  const auto m = client->metrics();
  std::cout << "round trips: " << m.round_trips << ", commits: " << m.commits << '\n';

  if (v0 != before + 1 || v1.empty() || v1.back() != v0) {
    std::cerr << "quickstart_zookeeper: unexpected result\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "quickstart_zookeeper: " << e.what() << '\n';
  return 1;
}
