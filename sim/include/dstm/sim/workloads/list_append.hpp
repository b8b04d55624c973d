#pragma once
/// \file
/// `list-append`: Elle's workload over dstm refs. Each key is a ref holding a list of ints;
/// each transaction runs one to `max_ops` micro-ops on random keys — append a value unique to
/// its key (`tx.alter`), or read the whole list (`tx.deref`) — and the history of transactions
/// (`{"f": "txn", "value": [["append", "k1", 3], ["r", "k2", [1, 2]]]}`) is checked by the
/// Elle-style isolation checker at the level the STM promises: `serializable` for
/// `isolation::serializable`, `snapshot-isolation` for `isolation::snapshot`. Not strict
/// serializability: reads come from a watch-invalidated cache, consistent but possibly behind.
/// Also checked on the final lists: no value twice (an append applied twice), every append of a
/// committed transaction present and no append of a failed one.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/check/isolation.hpp"
#include "dstm/sim/workloads/stm.hpp"

namespace dstm::sim::workloads::stm {

class list_append : public workload_base {
 public:
  struct settings {
    int keys = 0;     ///< 0: 3 to 6, drawn from the setup generator
    int max_ops = 4;  ///< micro-ops per transaction, at most
  };

  list_append(options o, settings s, rng setup) : workload_base(std::move(o)), settings_(s) {
    opts_.record_history = true;  // the history is what gets checked
    const int n = settings_.keys > 0 ? settings_.keys : static_cast<int>(setup.between(3, 6));
    for (int i = 0; i < n; ++i) {
      names_.push_back("k" + std::to_string(i));
      paths_.push_back(opts_.root + "/list-append/k" + std::to_string(i));
    }
    next_value_.assign(static_cast<std::size_t>(n), 0);
  }

  void setup(const std::shared_ptr<client>& c) {
    for (const auto& p : paths_) {
      with_retries([&] { (void)ref<std::vector<int>>(c, p, std::vector<int>{}); });
    }
  }

  void client_loop(const std::shared_ptr<client>& c, rng& r, int) {
    std::vector<ref<std::vector<int>>> lists;
    for (const auto& p : paths_) {
      lists.push_back(with_retries([&] { return ref<std::vector<int>>(c, p); }));
    }
    std::int64_t process = new_process();
    while (take_op()) {
      struct mop {
        bool append;
        std::size_t key;
        int value;
      };
      std::vector<mop> plan;
      const auto count = r.between(1, settings_.max_ops);
      for (std::int64_t i = 0; i < count; ++i) {
        const auto k = r.below(lists.size());
        const bool append = r.one_in(2);
        std::lock_guard lock(appends_mutex_);
        plan.push_back({append, k, append ? ++next_value_[k] : 0});
      }
      auto describe = [&](const std::vector<std::vector<int>>* reads) {
        nlohmann::json v = nlohmann::json::array();
        for (std::size_t i = 0; i < plan.size(); ++i) {
          const auto& m = plan[i];
          if (m.append) {
            v.push_back({"append", names_[m.key], m.value});
          } else {
            v.push_back({"r", names_[m.key],
                         reads ? nlohmann::json((*reads)[i]) : nlohmann::json(nullptr)});
          }
        }
        return v;
      };
      std::vector<std::vector<int>> reads;
      const auto end = transact(
          process, "txn", "", describe(nullptr),
          [&] {
            reads = dosync(c, [&](txn& tx) {
              std::vector<std::vector<int>> seen(plan.size());
              for (std::size_t i = 0; i < plan.size(); ++i) {
                const auto& m = plan[i];
                auto& list = lists[m.key];
                if (m.append) {
                  tx.alter(list, [v = m.value](std::vector<int> l) {
                    l.push_back(v);
                    return l;
                  });
                } else {
                  seen[i] = tx.deref(list);
                }
              }
              return seen;
            });
          },
          [&] { return describe(&reads); });
      std::lock_guard lock(appends_mutex_);
      for (const auto& m : plan) {
        if (!m.append) continue;
        auto& book = end.outcome == txn_outcome::committed ? committed_
                     : end.outcome == txn_outcome::aborted ? refused_
                                                           : unknown_;
        book.insert({m.key, m.value});
      }
    }
  }

  void finish(const std::shared_ptr<client>& c, workload_result& r) {
    std::vector<ref<std::vector<int>>> lists;
    for (const auto& p : paths_) {
      lists.push_back(with_retries([&] { return ref<std::vector<int>>(c, p); }));
    }
    const auto final_lists = with_retries([&] {
      return dosync(c, [&](txn& tx) {
        std::vector<std::vector<int>> v;
        for (auto& l : lists) v.push_back(tx.deref(l));
        return v;
      });
    });
    std::vector<std::int64_t> digest;
    for (std::size_t k = 0; k < final_lists.size(); ++k) {
      std::set<int> present;
      for (int v : final_lists[k]) {
        digest.push_back(v);
        if (!present.insert(v).second) {
          log_.report("list-append: " + names_[k] + " holds " + std::to_string(v) +
                      " twice: an append was applied twice");
        }
        if (refused_.contains({k, v})) {
          log_.report("list-append: " + names_[k] + " holds " + std::to_string(v) +
                      ", appended by a transaction that failed");
        }
      }
      for (const auto& [key, v] : committed_) {
        if (key == k && !present.contains(v)) {
          log_.report("list-append: " + names_[k] + " lacks " + std::to_string(v) +
                      ", appended by a committed transaction: a commit was lost");
        }
      }
    }
    check_history(r);
    conclude(digest, r);
  }

  /// The consistency level the STM promises at `level`.
  static check::consistency_level promised(isolation level) {
    return level == isolation::serializable ? check::consistency_level::serializable
                                            : check::consistency_level::snapshot_isolation;
  }

 private:
  void check_history(workload_result&) {
    if (!opts_.record_history) return;
    std::ostringstream text;
    check::write_history(text, history());
    const auto h = check::parse_transaction_history(text.str(), check::workload::list_append);
    check::isolation_options o;
    o.level = promised(opts_.level);
    const auto result = check::check_isolation(h, o);
    if (result.verdict == check::isolation_verdict::valid) return;
    log_.report("list-append: the history is not " +
                std::string(o.level == check::consistency_level::serializable
                                ? "serializable"
                                : "snapshot-isolated") +
                " (" + result.verdict_line() + "):\n" + result.report());
  }

  settings settings_;
  std::vector<std::string> names_, paths_;
  std::vector<int> next_value_;
  std::mutex appends_mutex_;
  std::set<std::pair<std::size_t, int>> committed_, refused_, unknown_;
};

}  // namespace dstm::sim::workloads::stm

namespace dstm::sim::workloads {

/// `dstm-sim --workload list-append`: parameters `list-append.keys` and `list-append.max-ops`.
inline workload_result list_append_workload(world& w, const workload_config& cfg) {
  stm::list_append::settings s;
  s.keys = stm::int_param(cfg, "list-append.keys", 0, 0, 64);
  s.max_ops = stm::int_param(cfg, "list-append.max-ops", 4, 1, 16);
  stm::list_append wl(stm::sim_options(w, cfg), s, w.stream("workload/list-append/setup"));
  auto r = stm::run_in_sim(w, cfg, wl, "list-append");
  if (!cfg.record_history) r.history.clear();
  return r;
}

}  // namespace dstm::sim::workloads
