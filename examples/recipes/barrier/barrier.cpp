// A double barrier: three workers start a round together and finish it together, round
// after round; and a simple barrier that holds workers until it is lowered.
//
//   build/bin/recipe_barrier
#include <atomic>
#include <dstm/embedded.hpp>
#include <dstm/recipes/barrier.hpp>
#include <iostream>
#include <thread>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  constexpr int workers = 3, rounds = 4;
  std::atomic<int> arrived[rounds] = {}, early{0};
  std::vector<std::jthread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      dstm::recipes::double_barrier round{dstm::embedded::open(store), "/barriers/epoch", workers};
      for (int r = 0; r < rounds; ++r) {
        ++arrived[r];
        round.enter();  // returns once all three are in
        if (arrived[r].load() < workers) ++early;
        round.leave();  // returns once all three have left
      }
    });
  }
  threads.clear();

  dstm::recipes::barrier gate{dstm::embedded::open(store), "/barriers/gate"};
  gate.raise();
  std::atomic<bool> through{false};
  std::jthread waiter([&] {
    through = dstm::recipes::barrier{dstm::embedded::open(store), "/barriers/gate"}.wait();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const bool held = !through.load();
  gate.lower();
  waiter.join();

  std::cout << rounds << " rounds, early releases: " << early.load()
            << ", gate held the waiter: " << (held ? "yes" : "no") << '\n';
  return early.load() == 0 && held && through.load() ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_barrier: " << e.what() << '\n';
  return 1;
}
