// Moving members between two groups that live in different places, atomically.
//
//   build/bin/group_move [threads] [moves per thread]
//
// The "office" group is a local ref: it lives in this process only (dstm::local), as a
// process's own state would. The "remote" group is a ref in the coordinator, shared with other
// processes. A move takes a member out of one group and puts it into the other in one
// transaction, so no reader ever sees a member in both groups or in neither — even though one
// half of the change is in process memory and the other in the coordinator.
//
// Mover threads move random members back and forth; reader threads check, inside transactions,
// that every member is in exactly one group. The program exits 0 only if no check ever failed.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <dstm/dstm.hpp>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using group = std::set<std::string>;

int main(int argc, char** argv) try {
  const int movers = argc > 1 ? std::atoi(argv[1]) : 4;
  const int moves = argc > 2 ? std::atoi(argv[2]) : 300;
  if (movers < 1 || moves < 1) {
    std::cerr << "usage: group_move [threads >= 1] [moves per thread >= 1]\n";
    return 2;
  }

  // One client serves every thread: its transactions run concurrently on one session.
  auto client = dstm::embedded::connect(std::make_shared<dstm::embedded::store>());

  group everyone;
  for (int i = 0; i < 12; ++i) everyone.insert("member-" + std::to_string(i));

  // Everybody starts in the office. The second template argument chooses the storage.
  dstm::ref<group, dstm::local> office{client, "office", everyone};
  dstm::ref<group> remote{client, "/groups/remote", group{}};

  std::atomic<bool> done{false};
  std::atomic<long> checks{0}, violations{0}, moved{0};

  // Moves `who` to the other group, wherever it is now. Both alters commit together: the local
  // one is applied only if the coordinator's multi commits, and a conflict runs the body again.
  auto move = [&](const std::string& who) {
    dstm::dosync(client, [&](dstm::txn& tx) {
      const bool in_office = tx.deref(office).count(who) == 1;
      auto take_out = [&](group g) {
        g.erase(who);
        return g;
      };
      auto put_in = [&](group g) {
        g.insert(who);
        return g;
      };
      if (in_office) {
        tx.alter(office, take_out);
        tx.alter(remote, put_in);
      } else {
        tx.alter(remote, take_out);
        tx.alter(office, put_in);
      }
    });
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < movers; ++t) {
    threads.emplace_back([&, t] {
      // A small seeded generator: each thread picks its own sequence of members.
      std::uint64_t state = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(t + 1);
      for (int i = 0; i < moves; ++i) {
        const auto pick = static_cast<int>(dstm::detail::splitmix64(state) % everyone.size());
        move("member-" + std::to_string(pick));
        ++moved;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!done.load() || checks.load() < 100) {
        // A read-only transaction: both groups as of one moment.
        const bool ok = dstm::dosync(client, [&](dstm::txn& tx) {
          const group& a = tx.deref(office);
          const group& b = tx.deref(remote);
          if (a.size() + b.size() != everyone.size()) return false;
          for (const auto& m : everyone) {
            if (a.count(m) + b.count(m) != 1) return false;
          }
          return true;
        });
        ++checks;
        if (!ok) ++violations;
      }
    });
  }
  for (int t = 0; t < movers; ++t) threads[static_cast<std::size_t>(t)].join();
  done = true;
  for (std::size_t t = static_cast<std::size_t>(movers); t < threads.size(); ++t) threads[t].join();

  const auto m = client->metrics();
  std::cout << "moves " << moved.load() << ", checks " << checks.load() << ", violations "
            << violations.load() << "\n"
            << "in the office " << office.deref().size() << ", remote " << remote.deref().size()
            << "\n"
            << "commits " << m.commits << ", retries " << m.retries << ", conflicts " << m.conflicts
            << "\n";
  const bool final_ok = office.deref().size() + remote.deref().size() == everyone.size();
  return violations.load() == 0 && final_ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "group_move: " << e.what() << '\n';
  return 1;
}
