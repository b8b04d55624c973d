// Properties: histories of a real atomic register (and counter), driven by random schedules,
// are linearizable, the witness the checker returns is a legal sequential execution, and one
// impossible read makes them invalid, blamed on that read.

#include <dstm/check/linearizability.hpp>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace {

using namespace dstm::check;
using json = nlohmann::json;

constexpr std::int64_t never_written = 1'000'000;

/// Drives `processes` clients against one atomic register per key. Each schedule word picks a
/// client and makes it take its next step: invoke a new operation, apply it atomically (the
/// linearization point, somewhere inside the interval), or complete it. Some clients crash
/// before or after applying (info: outcome unknown) and come back under a fresh process id.
struct register_world {
  struct client {
    explicit client(std::int64_t p) : process(p) {}
    std::int64_t process;
    enum { idle, invoked, applied } phase = idle;
    std::string f, key;
    json input, output;
    bool succeeded = true;
  };

  explicit register_world(int processes, int keys) : keys_(keys) {
    for (int i = 0; i < processes; ++i) clients_.emplace_back(next_process_++);
  }

  void step(std::uint32_t word) {
    client& c = clients_[word % clients_.size()];
    const std::uint32_t r = word / static_cast<std::uint32_t>(clients_.size());
    switch (c.phase) {
      case client::idle: {
        c.key = std::string(1, static_cast<char>('a' + r % static_cast<std::uint32_t>(keys_)));
        const std::uint32_t kind = (r >> 4) % 3;
        if (kind == 0) {
          c.f = "read";
          c.input = nullptr;
        } else if (kind == 1) {
          c.f = "write";
          c.input = next_value_++;
        } else {
          // Expect a recent value often enough that some cas succeed.
          c.f = "cas";
          const std::int64_t from = (r >> 8) % 2 == 0 && registers_[c.key].has_value()
                                        ? *registers_[c.key]
                                        : static_cast<std::int64_t>((r >> 9) % 4);
          c.input = json::array({from, next_value_++});
        }
        recorder_.invoke(c.process, c.f, c.key, c.input);
        c.phase = client::invoked;
        return;
      }
      case client::invoked:
        if ((r & 15) == 0) return crash(c);  // before taking effect
        apply(c);
        c.phase = client::applied;
        return;
      case client::applied:
        if ((r & 15) == 0) return crash(c);  // after taking effect
        recorder_.complete(c.process, c.succeeded ? event_type::ok : event_type::fail, c.f,
                           c.key, c.output);
        c.phase = client::idle;
        return;
    }
  }

  /// Ends the run with one sequential read per key by a fresh process, so that every history
  /// has reads to mutate.
  history finish() {
    for (int k = 0; k < keys_; ++k) {
      const std::string key(1, static_cast<char>('a' + k));
      const std::int64_t p = next_process_++;
      recorder_.invoke(p, "read", key, nullptr);
      recorder_.complete(p, event_type::ok, "read", key, value_of(key));
    }
    return recorder_.events();
  }

 private:
  json value_of(const std::string& key) {
    const auto& v = registers_[key];
    return v ? json(*v) : json(nullptr);
  }

  void apply(client& c) {
    auto& reg = registers_[c.key];
    c.succeeded = true;
    if (c.f == "read") {
      c.output = value_of(c.key);
    } else if (c.f == "write") {
      reg = c.input.get<std::int64_t>();
      c.output = c.input;
    } else {
      c.output = c.input;
      if (reg.has_value() && *reg == c.input[0].get<std::int64_t>())
        reg = c.input[1].get<std::int64_t>();
      else
        c.succeeded = false;
    }
  }

  void crash(client& c) {
    recorder_.complete(c.process, event_type::info, c.f, c.key, nullptr);
    c = client(next_process_++);
  }

  int keys_;
  std::vector<client> clients_;
  std::map<std::string, std::optional<std::int64_t>> registers_;
  std::int64_t next_process_ = 0;
  std::int64_t next_value_ = 1;
  recorder recorder_;
};

history generate_register_history() {
  const int processes = *rc::gen::inRange(1, 6);
  const int keys = *rc::gen::inRange(1, 3);
  const auto length = *rc::gen::inRange<std::size_t>(0, 400);
  const auto schedule = *rc::gen::container<std::vector<std::uint32_t>>(
      length, rc::gen::arbitrary<std::uint32_t>());
  register_world world(processes, keys);
  for (auto word : schedule) world.step(word);
  return world.finish();
}

/// Replays `order` on a reference register and checks real-time order: an independent check
/// of the checker's witness.
void expect_legal_witness(const history& h, const key_report& k) {
  std::optional<json> reg;
  std::map<std::size_t, std::size_t> completion;  // invoke index -> completion index
  std::map<std::int64_t, std::size_t> pending;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h[i].type == event_type::invoke) {
      pending[h[i].process] = i;
    } else {
      completion[pending[h[i].process]] = i;
    }
  }
  std::size_t returned_ops = 0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const auto it = completion.find(i);
    if (h[i].type == event_type::invoke && h[i].key == k.key && it != completion.end() &&
        h[it->second].type == event_type::ok)
      ++returned_ops;
  }
  std::size_t ok_in_order = 0;
  for (std::size_t a = 0; a < k.order.size(); ++a) {
    const event& e = h[k.order[a]];
    RC_ASSERT(e.key == k.key);
    const auto it = completion.find(k.order[a]);
    const bool ok = it != completion.end() && h[it->second].type == event_type::ok;
    ok_in_order += ok ? 1 : 0;
    // Real time: nothing later in the order may have returned before this one was invoked.
    for (std::size_t b = a + 1; b < k.order.size(); ++b) {
      const auto later = completion.find(k.order[b]);
      if (later != completion.end() && h[later->second].type != event_type::info)
        RC_ASSERT(later->second > k.order[a]);
    }
    const json current = reg.value_or(json(nullptr));
    if (e.f == "read") {
      RC_ASSERT(ok);
      RC_ASSERT(h[it->second].value == current);
    } else if (e.f == "write") {
      reg = e.value;
    } else {
      const bool matches = current == e.value[0];
      const bool failed = it != completion.end() && h[it->second].type == event_type::fail;
      RC_ASSERT(matches != failed);
      if (matches) reg = e.value[1];
    }
  }
  // Every ok operation is in the witness (failed writes and unknown reads are skipped).
  RC_ASSERT(ok_in_order == returned_ops);
}

RC_GTEST_PROP(LinearizabilityProperty, AtomicRegisterHistoriesAreValid, ()) {
  const history h = generate_register_history();
  const auto r = check_linearizable(h);
  RC_ASSERT(r.result == verdict::valid);
  for (const auto& k : r.keys) expect_legal_witness(h, k);
}

RC_GTEST_PROP(LinearizabilityProperty, AReadOfANeverWrittenValueIsInvalid, ()) {
  history h = generate_register_history();
  std::vector<std::size_t> reads;
  for (std::size_t i = 0; i < h.size(); ++i)
    if (h[i].type == event_type::ok && h[i].f == "read") reads.push_back(i);
  RC_ASSERT(!reads.empty());  // finish() guarantees one per key
  const std::size_t victim = *rc::gen::elementOf(reads);
  h[victim].value = never_written;
  const auto r = check_linearizable(h);
  RC_ASSERT(r.result == verdict::invalid);
  // The search gets stuck exactly at the mutated read: everything before it is linearizable.
  std::size_t invoke = victim;
  while (h[invoke].type != event_type::invoke || h[invoke].process != h[victim].process) --invoke;
  for (const auto& k : r.keys) {
    if (k.key != h[victim].key) {
      RC_ASSERT(k.result == verdict::valid);
      continue;
    }
    RC_ASSERT(k.result == verdict::invalid);
    RC_ASSERT(k.blocked == std::optional<std::size_t>(invoke));
  }
}

RC_GTEST_PROP(LinearizabilityProperty, AtomicCounterHistoriesAreValid, ()) {
  // Adds and reads on one atomic counter, each applied at a random point of its interval.
  const int processes = *rc::gen::inRange(1, 5);
  const auto schedule = *rc::gen::resize(
      120, rc::gen::container<std::vector<std::uint32_t>>(rc::gen::arbitrary<std::uint32_t>()));
  struct client {
    int phase = 0;  // 0 idle, 1 invoked, 2 applied
    bool read = false;
    std::int64_t amount = 0;
  };
  std::vector<client> clients(static_cast<std::size_t>(processes));
  std::int64_t counter = 0;
  recorder rec;
  for (auto word : schedule) {
    const std::size_t p = word % clients.size();
    client& c = clients[p];
    const std::uint32_t r = word / static_cast<std::uint32_t>(clients.size());
    const auto id = static_cast<std::int64_t>(p);
    if (c.phase == 0) {
      c.read = r % 3 == 0;
      c.amount = static_cast<std::int64_t>(r % 7) - 2;
      if (c.read) rec.invoke(id, "read", "", nullptr);
      else rec.invoke(id, "add", "", c.amount);
      c.phase = 1;
    } else if (c.phase == 1) {
      if (c.read) c.amount = counter;
      else counter += c.amount;
      c.phase = 2;
    } else {
      rec.complete(id, event_type::ok, c.read ? "read" : "add", "", c.amount);
      c.phase = 0;
    }
  }
  const history h = rec.events();
  RC_ASSERT(check_linearizable(h, counter_model{}).result == verdict::valid);
  // A read off by one from every reachable value is not always impossible (concurrent adds),
  // but a read past the sum of every positive add is.
  std::int64_t reachable = 0;
  for (const auto& e : h)
    if (e.type == event_type::invoke && e.f == "add" && e.value.get<std::int64_t>() > 0)
      reachable += e.value.get<std::int64_t>();
  history bad = h;
  bad.push_back(event{99, event_type::invoke, "read", "", nullptr, 0});
  bad.push_back(event{99, event_type::ok, "read", "", reachable + 1, 0});
  RC_ASSERT(check_linearizable(bad, counter_model{}).result == verdict::invalid);
}

}  // namespace
