// Group membership (zookeeper-clj's example): members join with an ephemeral node; an
// observer is told of every change, including a member whose session ends.
//
//   build/bin/recipe_group
#include <dstm/embedded.hpp>
#include <dstm/recipes/group.hpp>
#include <iostream>
#include <string>
#include <vector>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  dstm::recipes::group observer{dstm::embedded::open(store), "/groups/workers", "observer"};
  std::vector<std::string> members;

  auto alice_zk = dstm::embedded::open(store);
  dstm::recipes::group alice{alice_zk, "/groups/workers", "alice", "10.0.0.1:8080"};
  dstm::recipes::group bob{dstm::embedded::open(store), "/groups/workers", "bob", "10.0.0.2:8080"};
  alice.join();
  bob.join();
  members = observer.wait_for_change({});  // returns at once: the list is not empty
  std::cout << "members:";
  for (const auto& m : members) std::cout << ' ' << m;
  std::cout << '\n';

  store->expire(alice_zk->session_id());  // alice's process dies
  members = observer.wait_for_change(members, 5'000'000'000);
  std::cout << "after alice's session ended:";
  for (const auto& m : members) std::cout << ' ' << m;
  std::cout << '\n';

  bob.leave();
  return members == std::vector<std::string>{"bob"} && observer.members().empty() ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_group: " << e.what() << '\n';
  return 1;
}
