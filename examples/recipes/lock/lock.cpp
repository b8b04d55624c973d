// A distributed lock with fencing tokens, on the embedded coordinator: four "processes" (each
// its own session) append to a shared journal, one at a time, and the journal refuses any
// writer whose token is older than the newest it has seen.
//
//   build/bin/recipe_lock
//
// With ZooKeeper, open the sessions with dstm::zookeeper::coordinator instead:
//   auto zk = std::make_shared<dstm::zookeeper::coordinator>("127.0.0.1:2181");
#include <cstdint>
#include <dstm/embedded.hpp>
#include <dstm/recipes/mutex.hpp>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The resource the lock protects. It checks the token on every write (fencing): a holder
// that lost its lock without knowing (a long pause, an expired session) is refused.
class journal {
 public:
  bool append(std::int64_t token, std::string line) {
    std::lock_guard lock(m_);
    if (token < newest_) return false;
    newest_ = token;
    lines_.push_back(std::move(line));
    return true;
  }
  std::size_t size() const {
    std::lock_guard lock(m_);
    return lines_.size();
  }

 private:
  mutable std::mutex m_;
  std::int64_t newest_ = 0;
  std::vector<std::string> lines_;
};

int main() try {
  auto store = std::make_shared<dstm::embedded::store>();  // stands in for the ensemble
  journal log;
  std::vector<std::jthread> processes;
  for (int p = 0; p < 4; ++p) {
    processes.emplace_back([&, p] {
      auto zk = dstm::embedded::open(store);  // this process's session
      dstm::recipes::mutex lock{zk, "/locks/journal"};
      for (int i = 0; i < 5; ++i) {
        dstm::recipes::lock_guard held{lock};  // blocks until this process holds it
        if (!log.append(held.token(),
                        "process " + std::to_string(p) + " entry " + std::to_string(i))) {
          std::cerr << "refused: a stale token\n";
        }
      }
    });
  }
  processes.clear();  // joins

  // try_lock_for gives up after a while and leaves nothing behind.
  auto zk = dstm::embedded::open(store);
  dstm::recipes::mutex a{zk, "/locks/journal"}, b{dstm::embedded::open(store), "/locks/journal"};
  a.lock();
  const bool got = b.try_lock_for(std::chrono::milliseconds(50));
  a.unlock();

  std::cout << "journal entries: " << log.size()
            << ", second lock while held: " << (got ? "acquired" : "timed out") << '\n';
  return log.size() == 20 && !got ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "recipe_lock: " << e.what() << '\n';
  return 1;
}
