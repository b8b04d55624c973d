// A singleton service with failover (Immutant's HA daemons): three members run for leadership;
// the leader runs the service; when its session ends, another member takes over.
//
//   build/bin/recipe_leader
#include <atomic>
#include <chrono>
#include <dstm/embedded.hpp>
#include <dstm/recipes/leader.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  std::atomic<int> running{-1};  // which member runs the service now
  std::atomic<int> failovers{0};
  std::stop_source shutdown;
  std::vector<std::shared_ptr<dstm::embedded::coordinator>> sessions;
  for (int m = 0; m < 3; ++m) sessions.push_back(dstm::embedded::open(store));

  std::vector<std::jthread> members;
  for (int m = 0; m < 3; ++m) {
    members.emplace_back([&, m] {
      dstm::recipes::singleton_service reaper{
          sessions[static_cast<std::size_t>(m)], "/services/reaper",
          [&, m] {  // start: this member leads now
            std::cout << "member " << m << " starts the service\n";
            running = m;
          },
          [&, m] {  // stop: leadership ended (session lost, suspended, or shutting down)
            std::cout << "member " << m << " stops the service\n";
            int expected = m;
            running.compare_exchange_strong(expected, -1);
          }};
      try {
        reaper.run(shutdown.get_token());
      } catch (const dstm::error& e) {
        std::cout << "member " << m << ": " << e.what() << '\n';  // its session ended
      }
    });
  }

  auto wait_for = [&](auto pred) {
    for (int i = 0; i < 30000 && !pred(); ++i) std::this_thread::sleep_for(1ms);  // 30 s at most
    return pred();
  };
  if (!wait_for([&] { return running.load() >= 0; })) return 1;
  const int first = running.load();
  // The leader's session expires (as when its process hangs or dies): another takes over.
  store->expire(sessions[static_cast<std::size_t>(first)]->session_id());
  if (!wait_for([&] { return running.load() >= 0 && running.load() != first; })) return 1;
  ++failovers;
  std::cout << "failed over from member " << first << " to member " << running.load() << '\n';
  shutdown.request_stop();
  members.clear();
  return failovers.load() == 1 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_leader: " << e.what() << '\n';
  return 1;
}
