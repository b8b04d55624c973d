// A read-write lock: readers share, a writer excludes everyone, and requests are served in
// order (a waiting writer is not overtaken by later readers).
//
//   build/bin/recipe_rw_lock
#include <atomic>
#include <dstm/embedded.hpp>
#include <dstm/recipes/shared_mutex.hpp>
#include <iostream>
#include <thread>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  std::atomic<int> readers{0}, max_readers{0}, writer_saw_readers{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      dstm::recipes::shared_mutex catalog{dstm::embedded::open(store), "/locks/catalog"};
      for (int i = 0; i < 5; ++i) {
        if (t == 0) {
          dstm::recipes::lock_guard write{catalog};  // exclusive
          writer_saw_readers += readers.load();
        } else {
          dstm::recipes::shared_lock_guard read{catalog};  // shared with other readers
          const int now = ++readers;
          int seen = max_readers.load();
          while (now > seen && !max_readers.compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          --readers;
        }
      }
    });
  }
  threads.clear();
  std::cout << "most readers at once: " << max_readers.load()
            << ", readers seen by the writer: " << writer_saw_readers.load() << '\n';
  return writer_saw_readers.load() == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_rw_lock: " << e.what() << '\n';
  return 1;
}
