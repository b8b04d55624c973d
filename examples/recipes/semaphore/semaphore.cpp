// A semaphore: at most three leases at a time across every session, e.g. to cap the
// connections a cluster opens to a database.
//
//   build/bin/recipe_semaphore
#include <atomic>
#include <dstm/embedded.hpp>
#include <dstm/recipes/semaphore.hpp>
#include <iostream>
#include <thread>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  std::atomic<int> open_connections{0}, most{0};
  std::vector<std::jthread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      dstm::recipes::semaphore pool{dstm::embedded::open(store), "/limits/db", 3};
      for (int i = 0; i < 4; ++i) {
        auto lease = pool.acquire();  // blocks while three are out; released at scope end
        const int now = ++open_connections;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        --open_connections;
      }
    });
  }
  workers.clear();
  std::cout << "most leases out at once: " << most.load() << " (limit 3)\n";
  return most.load() <= 3 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_semaphore: " << e.what() << '\n';
  return 1;
}
