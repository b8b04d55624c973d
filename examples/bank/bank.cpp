// A bank: random transfers between accounts from several clients at once, audited live.
//
//   build/bin/bank [clients] [transfers per client] [accounts]
//
// Each account is a ref. A transfer reads two balances and moves money in one transaction, and
// refuses to overdraw. Every client also runs an auditor: a read-only transaction summing all
// balances, which must always find the opening total — a transfer is never seen half done.
// At the end the program prints, per client, what its transactions cost, and exits 0 only if
// every audit (and the final count) found the opening total and no balance went negative.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <dstm/dstm.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) try {
  const int n_clients = argc > 1 ? std::atoi(argv[1]) : 4;
  const int transfers = argc > 2 ? std::atoi(argv[2]) : 500;
  const int n_accounts = argc > 3 ? std::atoi(argv[3]) : 16;
  if (n_clients < 1 || transfers < 0 || n_accounts < 2) {
    std::cerr << "usage: bank [clients >= 1] [transfers per client >= 0] [accounts >= 2]\n";
    return 2;
  }
  constexpr long opening_balance = 1000;
  const long opening_total = opening_balance * n_accounts;

  // Several clients (think: several processes), each with its own coordinator session, on one
  // in-process store. With ZooKeeper each would call dstm::zookeeper::connect(...) instead.
  auto store = std::make_shared<dstm::embedded::store>();
  std::vector<std::shared_ptr<dstm::client>> clients;
  for (int c = 0; c < n_clients; ++c) clients.push_back(dstm::embedded::connect(store));

  // Each client opens the accounts through its own refs; the first creates them, the others
  // connect to what is there (a ref with an initial value never overwrites an existing one).
  auto open_accounts = [&](const std::shared_ptr<dstm::client>& c) {
    std::vector<dstm::ref<long>> accounts;
    for (int a = 0; a < n_accounts; ++a) {
      accounts.emplace_back(c, "/bank/account-" + std::to_string(a), opening_balance);
    }
    return accounts;
  };

  std::atomic<int> tellers_done{0};
  std::atomic<long> audits{0}, bad_audits{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < n_clients; ++c) {
    // The teller: random transfers.
    threads.emplace_back([&, c] {
      auto accounts = open_accounts(clients[c]);
      std::uint64_t state = 0x243f6a8885a308d3ull + static_cast<std::uint64_t>(c);
      auto next = [&](int below) {
        return static_cast<int>(dstm::detail::splitmix64(state) %
                                static_cast<std::uint64_t>(below));
      };
      for (int i = 0; i < transfers; ++i) {
        const int from = next(n_accounts);
        const int to = (from + 1 + next(n_accounts - 1)) % n_accounts;
        const long amount = next(200);
        dstm::dosync(clients[c], [&](dstm::txn& tx) {
          if (tx.deref(accounts[from]) < amount) return;  // would overdraw: do nothing
          tx.alter(accounts[from], [&](long b) { return b - amount; });
          tx.alter(accounts[to], [&](long b) { return b + amount; });
        });
      }
      ++tellers_done;
    });
    // The auditor: the sum of all balances, as of one moment.
    threads.emplace_back([&, c] {
      auto accounts = open_accounts(clients[c]);
      while (tellers_done.load() < n_clients || audits.load() < 10) {
        const long total = dstm::dosync(clients[c], [&](dstm::txn& tx) {
          long sum = 0;
          for (const auto& a : accounts) sum += tx.deref(a);
          return sum;
        });
        ++audits;
        if (total != opening_total) ++bad_audits;
      }
    });
  }
  for (auto& t : threads) t.join();

  std::cout << std::left << std::setw(8) << "client" << std::right << std::setw(10) << "commits"
            << std::setw(10) << "read-only" << std::setw(10) << "retries" << std::setw(11)
            << "conflicts" << std::setw(13) << "round trips" << '\n';
  for (int c = 0; c < n_clients; ++c) {
    const auto m = clients[static_cast<std::size_t>(c)]->metrics();
    std::cout << std::left << std::setw(8) << c << std::right << std::setw(10) << m.commits
              << std::setw(10) << m.read_only_commits << std::setw(10) << m.retries << std::setw(11)
              << m.conflicts << std::setw(13) << m.round_trips << '\n';
  }

  long final_total = 0;
  bool negative = false;
  for (const auto& a : open_accounts(clients[0])) {
    const long b = a.deref();
    final_total += b;
    negative = negative || b < 0;
  }
  std::cout << "audits " << audits.load() << ", wrong totals " << bad_audits.load()
            << ", final total " << final_total << " (opening " << opening_total << ")\n";
  return bad_audits.load() == 0 && final_total == opening_total && !negative ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "bank: " << e.what() << '\n';
  return 1;
}
