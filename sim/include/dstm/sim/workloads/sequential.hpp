#pragma once
/// \file
/// The `sequential` workload: clients create persistent sequential children under one parent;
/// the names must be unique and increase in creation order.
///
/// Each create carries a unique tag ("c<client>-<n>") as its data, so the final listing tells
/// which operation made which child. Checked:
///  1. every successful create returned a distinct name, and it is in the final listing with
///     its own tag (nothing lost, nothing renamed);
///  2. real-time order: if create A returned before create B was invoked, A's sequence number
///     is smaller than B's — for B also a create whose outcome was unknown (connection loss)
///     but whose child the listing shows (it took effect after its invoke);
///  3. every child in the listing comes from a create that succeeded or whose outcome was
///     unknown, never from one that failed definitely, and carries the sequence number the
///     listing name says.
/// A create that got connection_loss may or may not exist: both are allowed.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/sim/coordinator.hpp"
#include "dstm/sim/ensemble.hpp"
#include "dstm/sim/workload.hpp"
#include "dstm/sim/workloads/common.hpp"
#include "dstm/sim/world.hpp"

namespace dstm::sim::workloads {

namespace detail {

struct create_op {
  std::string tag;
  std::int64_t invoke = 0;
  std::int64_t complete = -1;  // -1: unknown outcome
  check::event_type outcome = check::event_type::info;
  std::string name;  // the returned name (ok)
};

/// The sequence number of a child name "n-0000000042" (-1 when malformed).
inline std::int64_t sequence_of(const std::string& name) {
  if (name.size() < 10) return -1;
  std::int64_t v = 0;
  for (std::size_t i = name.size() - 10; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

}  // namespace detail

/// Runs the sequential workload (see the file comment). Anomalies: one per violated property
/// instance, plus diverging replicas.
inline workload_result sequential_workload(world& w, const workload_config& cfg) {
  ensemble_options eo;
  eo.servers = cfg.servers;
  eo.faults = cfg.faults;
  ensemble ens(w, eo);
  check::recorder rec;
  const std::string parent = "/seq";
  int remaining = cfg.ops;
  std::int64_t next_process = 0;
  std::vector<detail::create_op> ops;
  std::map<std::string, std::size_t> by_tag;

  auto client = [&](int id) {
    rng r = w.stream("workload/sequential/client/" + std::to_string(id));
    session_holder session(ens);
    std::int64_t process = next_process++;
    for (int n = 0; remaining > 0; ++n) {
      --remaining;
      coordinator& c = session.get();
      detail::create_op op;
      op.tag = "c" + std::to_string(id) + "-" + std::to_string(n);
      op.invoke = w.now();
      const std::size_t index = ops.size();
      by_tag[op.tag] = index;
      ops.push_back(op);
      rec.invoke(process, "create", parent, op.tag, w.now());
      std::error_code ec;
      const auto created = c.create(parent + "/n-", op.tag, create_mode::persistent_sequential,
                                    open_acl_unsafe(), nullptr, ec);
      auto& done = ops[index];
      if (!ec) {
        done.outcome = check::event_type::ok;
        done.complete = w.now();
        done.name = created.substr(parent.size() + 1);
        rec.complete(process, check::event_type::ok, "create", parent, done.name, w.now());
      } else {
        done.outcome = write_outcome(ec);
        if (done.outcome == check::event_type::fail) done.complete = w.now();
        rec.complete(process, done.outcome, "create", parent, op.tag, w.now());
        if (done.outcome == check::event_type::info) process = next_process++;
        back_off(w, r);
      }
    }
    session.close();
  };

  ens.start_faults();
  w.spawn("setup", [&] {
    session_holder session(ens);
    for (;;) {
      std::error_code ec;
      session.get().create(parent, "", create_mode::persistent, ec);
      if (!ec || ec == coordinator_errc::node_exists) break;
      w.sleep_for(10 * milliseconds);
    }
    session.close();
    for (int i = 0; i < cfg.clients; ++i) {
      w.spawn("client/" + std::to_string(i), [&client, i] { client(i); });
    }
  });
  w.run();

  workload_result result;
  result.ops = ops.size();
  result.anomalies += settle_and_compare(w, ens, result);

  // The final listing, read after the faults stopped: name -> tag.
  std::map<std::string, std::string> listing;
  w.spawn("verify", [&] {
    for (;;) {
      listing.clear();
      coordinator c(ens);
      std::error_code ec;
      c.sync(parent, ec);
      auto kids = ec ? children_list{} : c.children(parent, {}, ec);
      for (const auto& name : kids.names) {
        if (ec) break;
        auto n = c.get(parent + "/" + name, {}, ec);
        listing[name] = n.data;
      }
      c.close();
      if (!ec) return;
      w.sleep_for(100 * milliseconds);
    }
  });
  w.run();

  auto complain = [&](std::string what) {
    ++result.anomalies;
    if (result.explanations.size() < 20) result.explanations.push_back(std::move(what));
  };
  // 1. ok creates: distinct names, present with their own tag.
  std::map<std::string, std::string> name_owner;
  for (const auto& op : ops) {
    if (op.outcome != check::event_type::ok) continue;
    if (auto [it, fresh] = name_owner.emplace(op.name, op.tag); !fresh) {
      complain("duplicate name " + op.name + " returned to " + it->second + " and " + op.tag);
    }
    auto l = listing.find(op.name);
    if (l == listing.end()) {
      complain("lost create: " + op.tag + " returned " + op.name + ", absent from the listing");
    } else if (l->second != op.tag) {
      complain("create " + op.tag + " returned " + op.name + " but that child holds " + l->second);
    }
  }
  // 3. the listing holds only children of creates that may have happened.
  struct effect {
    std::int64_t seq;
    std::int64_t invoke;
    std::int64_t complete;  // -1: unknown
    std::string tag;
  };
  std::vector<effect> effects;
  for (const auto& [name, tag] : listing) {
    auto t = by_tag.find(tag);
    if (t == by_tag.end()) {
      complain("child " + name + " holds " + tag + ", which no create wrote");
      continue;
    }
    const auto& op = ops[t->second];
    if (op.outcome == check::event_type::fail) {
      complain("child " + name + " exists although create " + tag + " failed definitely");
    }
    effects.push_back({detail::sequence_of(name), op.invoke, op.complete, tag});
  }
  // 2. real time: a create that completed before another was invoked has the smaller number.
  std::vector<const effect*> by_complete, by_invoke;
  for (const auto& e : effects) {
    if (e.complete >= 0) by_complete.push_back(&e);
    by_invoke.push_back(&e);
  }
  std::sort(by_complete.begin(), by_complete.end(),
            [](const effect* a, const effect* b) { return a->complete < b->complete; });
  std::sort(by_invoke.begin(), by_invoke.end(),
            [](const effect* a, const effect* b) { return a->invoke < b->invoke; });
  std::size_t i = 0;
  const effect* highest = nullptr;
  for (const effect* b : by_invoke) {
    while (i < by_complete.size() && by_complete[i]->complete < b->invoke) {
      if (highest == nullptr || by_complete[i]->seq > highest->seq) highest = by_complete[i];
      ++i;
    }
    if (highest != nullptr && highest->seq >= b->seq) {
      complain("order: " + highest->tag + " (number " + std::to_string(highest->seq) +
               ") completed before " + b->tag + " was invoked, which got number " +
               std::to_string(b->seq));
    }
  }
  result.history = cfg.record_history ? rec.events() : check::history{};
  return result;
}

}  // namespace dstm::sim::workloads
