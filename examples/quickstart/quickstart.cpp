// The quick start of dstm (DESIGN.md §1), on the embedded coordinator: no server needed.
//
//   build/bin/quickstart        prints r0's value and r1's, then checks them
//
// With a ZooKeeper server, only the connect line changes:
//   #include <dstm/zookeeper.hpp>
//   auto client = dstm::zookeeper::connect("127.0.0.1:2181");
#include <dstm/dstm.hpp>
#include <iostream>
#include <vector>

int main() try {
  // A client: one coordinator session plus the STM's cache. Here the coordinator lives in this
  // process (dstm::embedded), so the program runs anywhere.
  auto client = dstm::embedded::connect();

  // Two refs. Each is a znode holding a value; the initial value is written only if the znode
  // does not exist yet, so a second process naming "/r0" connects to the same ref.
  dstm::ref r0{client, "/r0", 0};
  dstm::ref r1{client, "/r1", std::vector<int>{}};

  // One transaction: both changes become visible together or not at all. If another client
  // changed r0 or r1 concurrently, dosync runs the body again, so the body only computes.
  dstm::dosync(client, [&](dstm::txn& tx) {
    tx.alter(r0, [](int v) { return v + 1; });
    tx.alter(r1, [&](std::vector<int> v) {
      v.push_back(tx.deref(r0));  // reads see the transaction's own writes: r0 is 1 here
      return v;
    });
  });

  // Outside a transaction, deref() reads the committed value (from the cache: no round trip).
  const int v0 = r0.deref();
  const std::vector<int> v1 = r1.deref();
  std::cout << "r0 = " << v0 << '\n' << "r1 = [";
  for (std::size_t i = 0; i < v1.size(); ++i) std::cout << (i ? ", " : "") << v1[i];
  std::cout << "]\n";

  if (v0 != 1 || v1 != std::vector<int>{1}) {
    std::cerr << "quickstart: unexpected result\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "quickstart: " << e.what() << '\n';
  return 1;
}
