// A work queue with at-least-once delivery: an item is removed only when its consumer acks
// it; an item whose consumer dies first is delivered to another.
//
//   build/bin/recipe_queue
#include <dstm/embedded.hpp>
#include <dstm/recipes/queue.hpp>
#include <iostream>
#include <set>
#include <string>

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();
  dstm::recipes::queue jobs{dstm::embedded::open(store), "/queues/jobs"};
  for (int i = 0; i < 5; ++i) jobs.put("job " + std::to_string(i));

  // A consumer takes a job and dies before acking it.
  auto doomed = dstm::embedded::open(store);
  dstm::recipes::queue crashing{doomed, "/queues/jobs"};
  auto taken = crashing.take();
  std::cout << "taken, never acked: " << taken->data() << '\n';
  store->expire(doomed->session_id());

  // Another consumer gets every job, the lost one included.
  dstm::recipes::queue worker{dstm::embedded::open(store), "/queues/jobs"};
  std::set<std::string> done;
  while (auto job = worker.take(100'000'000)) {
    done.insert(job->data());
    job->ack();
  }
  std::cout << "jobs done: " << done.size() << ", left in the queue: " << worker.size() << '\n';
  return done.size() == 5 && worker.size() == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_queue: " << e.what() << '\n';
  return 1;
}
