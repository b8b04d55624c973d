// Distributed memoization (Immutant's cache/memo): an expensive function computed once per
// argument across every session; concurrent callers for the same argument wait for the first.
//
//   build/bin/recipe_memoize
#include <atomic>
#include <chrono>
#include <dstm/embedded.hpp>
#include <dstm/recipes/memoize.hpp>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  std::atomic<int> computed{0};
  auto price = [&](const std::string& sku) {  // slow: a remote lookup, say
    ++computed;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return static_cast<double>(sku.size()) * 2.5;
  };
  std::vector<std::jthread> clients;
  std::atomic<int> right{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      auto cached = dstm::recipes::memoize(dstm::embedded::open(store), "/memo/price", price);
      if (cached(std::string("sku-42")) == 15.0) ++right;
    });
  }
  clients.clear();
  std::cout << "answers: " << right.load() << ", computations: " << computed.load() << '\n';
  return right.load() == 4 && computed.load() == 1 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_memoize: " << e.what() << '\n';
  return 1;
}
