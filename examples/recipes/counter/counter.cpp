// A shared counter: adds from many sessions, each counted exactly once (also when a reply is
// lost: the add's id is kept in the node).
//
//   build/bin/recipe_counter
#include <dstm/embedded.hpp>
#include <dstm/recipes/counter.hpp>
#include <iostream>
#include <thread>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      dstm::recipes::counter hits{dstm::embedded::open(store), "/stats/hits"};
      for (int i = 0; i < 25; ++i) hits += 1;
    });
  }
  threads.clear();
  dstm::recipes::counter hits{dstm::embedded::open(store), "/stats/hits"};
  const auto [before, after] = hits.add(-10);
  std::cout << "hits: " << before << " -> " << after << '\n';
  return before == 100 && after == 90 && hits.value() == 90 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_counter: " << e.what() << '\n';
  return 1;
}
