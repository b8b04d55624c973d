// Moving members between a group in ZooKeeper and a group in Redis, atomically.
//
//   build/bin/group_move_redis                      starts a private ZooKeeper and a private
//                                                   Redis on loopback, stops them after
//   build/bin/group_move_redis ZK REDIS             uses yours, e.g. 127.0.0.1:2181 127.0.0.1:6379
//   build/bin/group_move_redis ZK REDIS T M         T mover threads per client, M moves each
//   (either address may be "-" for a private server)
//
// examples/group_move with its two groups in two different stores: "zookeeper" is an ordinary
// ref (its value in the znode), "redis" a ref with dstm::redis_storage (its value in Redis, the
// znode holding only the key of the current version's blob). A move takes a member out of one
// group and puts it into the other in one transaction: the Redis blob is written before the
// ZooKeeper multi and becomes current only if the multi commits, so no reader ever sees a
// member in both groups or in neither. Each client also counts its own moves in a local ref —
// process memory that joins the same transactions.
//
// Two clients (two ZooKeeper sessions, two Redis connection pools, as two processes would
// have) run mover threads and a checker each. The program exits 0 only if no check failed,
// every move was counted exactly once, and Redis holds exactly one blob of the Redis group:
// replaced versions are deleted after each commit.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <dstm/dstm.hpp>
#include <dstm/storage/redis.hpp>
#include <dstm/testing/zookeeper_server.hpp>
#include <dstm/zookeeper.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"  // tests/redis: a private redis-server, as the tests use

using group = std::set<std::string>;

namespace {

/// One client's view: its session, its Redis store, its handles on the shared refs.
struct site {
  std::shared_ptr<dstm::client> client;
  std::shared_ptr<dstm::redis_blob_store> blobs;
  dstm::ref<group> in_zookeeper;
  dstm::ref<group, dstm::redis_storage> in_redis;
  dstm::ref<long, dstm::local> my_moves;

  site(const std::string& zookeeper, const dstm::redis_options& redis, const group& everyone)
      : client(dstm::zookeeper::connect(zookeeper)),
        blobs(std::make_shared<dstm::redis_blob_store>(redis)),
        // Created with these values unless they exist (a second run continues the first).
        in_zookeeper(client, "/group_move_redis/in_zookeeper", everyone),
        in_redis(client, "/group_move_redis/in_redis", group{}, blobs),
        my_moves(client, "my_moves", 0L) {}

  /// Moves `who` to the other group, wherever it is now.
  void move(const std::string& who) {
    dstm::dosync(client, [&](dstm::txn& tx) {
      auto take_out = [&](group g) {
        g.erase(who);
        return g;
      };
      auto put_in = [&](group g) {
        g.insert(who);
        return g;
      };
      if (tx.deref(in_zookeeper).count(who) == 1) {
        tx.alter(in_zookeeper, take_out);
        tx.alter(in_redis, put_in);
      } else {
        tx.alter(in_redis, take_out);
        tx.alter(in_zookeeper, put_in);
      }
      tx.alter(my_moves, [](long n) { return n + 1; });
    });
  }

  /// Both groups as of one moment: is every member in exactly one?
  bool consistent(const group& everyone) {
    return dstm::dosync(client, [&](dstm::txn& tx) {
      const group& a = tx.deref(in_zookeeper);
      const group& b = tx.deref(in_redis);
      if (a.size() + b.size() != everyone.size()) return false;
      for (const auto& m : everyone) {
        if (a.count(m) + b.count(m) != 1) return false;
      }
      return true;
    });
  }
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc == 2 || argc > 5) {
    std::cerr << "usage: group_move_redis [ZK_ADDRESS|- REDIS_ADDRESS|- [threads [moves]]]\n";
    return 2;
  }
  const int movers = argc > 3 ? std::atoi(argv[3]) : 2;
  const int moves = argc > 4 ? std::atoi(argv[4]) : 100;
  if (movers < 1 || moves < 1) {
    std::cerr << "group_move_redis: threads and moves must be at least 1\n";
    return 2;
  }

  // Private servers only where no address is given; they stop when main returns.
  std::optional<dstm::testing::zookeeper_server> own_zookeeper;
  std::optional<dstm_redis::redis_server> own_redis;
  std::string zookeeper = argc > 1 ? argv[1] : "-";
  std::string redis = argc > 2 ? argv[2] : "-";
  if (zookeeper == "-") {
    own_zookeeper.emplace();
    zookeeper = own_zookeeper->connect_string();
    std::cout << "started a ZooKeeper server at " << zookeeper << '\n';
  }
  if (redis == "-") {
    own_redis.emplace();
    redis = own_redis->address();
    std::cout << "started a Redis server at " << redis << '\n';
  }

  group everyone;
  for (int i = 0; i < 12; ++i) everyone.insert("member-" + std::to_string(i));

  std::vector<std::unique_ptr<site>> sites;
  for (int i = 0; i < 2; ++i) {
    sites.push_back(
        std::make_unique<site>(zookeeper, dstm::redis_options::from_address(redis), everyone));
  }
  auto& first = *sites.front();

  std::atomic<bool> done{false};
  std::atomic<long> checks{0}, violations{0};
  std::vector<std::thread> threads;
  for (std::size_t s = 0; s < sites.size(); ++s) {
    for (int t = 0; t < movers; ++t) {
      threads.emplace_back([&, s, t] {
        std::uint64_t state = 0x9e3779b97f4a7c15ull * (s * 100 + static_cast<std::uint64_t>(t) + 1);
        for (int i = 0; i < moves; ++i) {
          const auto pick = dstm::detail::splitmix64(state) % everyone.size();
          sites[s]->move("member-" + std::to_string(pick));
        }
      });
    }
  }
  std::vector<std::thread> checkers;
  for (auto& s : sites) {
    checkers.emplace_back([&, s = s.get()] {
      while (!done.load() || checks.load() < 50) {
        if (!s->consistent(everyone)) ++violations;
        ++checks;
        std::this_thread::sleep_for(std::chrono::microseconds(100));  // leave the movers a core
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  for (auto& t : checkers) t.join();

  long counted = 0;  // my_moves is local: every run counts from 0
  for (auto& s : sites) counted += s->my_moves.deref();
  const long expected = static_cast<long>(sites.size()) * movers * moves;

  // What Redis holds of the Redis group: only the current version's blob.
  std::error_code ec;
  const auto blobs = first.blobs->keys(first.in_redis.path() + "@", ec);
  if (ec) throw dstm::error(ec, "listing Redis: " + first.blobs->last_error());
  const auto garbage = first.in_redis.collect_garbage();

  const group a = first.in_zookeeper.deref_latest();
  const group b = first.in_redis.deref_latest();
  std::uint64_t commits = 0, conflicts = 0;
  for (auto& s : sites) {
    commits += s->client->metrics().commits;
    conflicts += s->client->metrics().conflicts;
  }
  std::cout << "moves " << counted << " of " << expected << ", checks " << checks.load()
            << ", violations " << violations.load() << '\n'
            << "in ZooKeeper " << a.size() << ", in Redis " << b.size() << '\n'
            << "blobs of " << first.in_redis.path() << " in Redis " << blobs.size()
            << ", garbage collected " << garbage << '\n'
            << "commits " << commits << ", conflicts " << conflicts << '\n';
  const bool ok = violations.load() == 0 && counted == expected &&
                  a.size() + b.size() == everyone.size() && blobs.size() == 1 && garbage == 0;
  if (!ok) std::cerr << "group_move_redis: an invariant failed\n";
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "group_move_redis: " << e.what() << '\n';
  return 1;
}
