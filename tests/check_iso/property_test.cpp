// Properties: histories of a serial executor (each transaction atomic at its completion) are
// valid at every level; reading another transaction's uncommitted write, or a write that was
// only invoked after the read completed, is always caught.

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <dstm/check/isolation.hpp>
#include <dstm/check/isolation/generator.hpp>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace dstm::check::test {
namespace {

struct generated {
  workload kind;
  std::vector<generated_event> events;
};

history_generator_options random_options(workload kind) {
  history_generator_options o;
  o.kind = kind;
  o.transactions = *rc::gen::inRange<std::uint64_t>(1, 150);
  o.processes = *rc::gen::inRange<std::uint32_t>(1, 7);
  o.max_ops_per_txn = *rc::gen::inRange<std::uint32_t>(1, 6);
  o.active_keys = *rc::gen::inRange<std::uint32_t>(1, 6);
  o.writes_per_key = *rc::gen::inRange<std::uint32_t>(1, 20);
  o.read_percent = *rc::gen::inRange<std::uint32_t>(0, 101);
  o.fail_percent = *rc::gen::inRange<std::uint32_t>(0, 30);
  o.info_percent = *rc::gen::inRange<std::uint32_t>(0, 20);
  return o;
}

generated generate(const history_generator_options& o, std::uint64_t seed) {
  generated g{o.kind, {}};
  history_generator gen(o, seed);
  generated_event e;
  while (gen.next(e)) g.events.push_back(e);
  return g;
}

std::string to_jsonl(const generated& g) {
  std::ostringstream out;
  for (const generated_event& e : g.events) write_generated_event(out, e, g.kind);
  return out.str();
}

isolation_result check_at(const std::string& text, workload kind, consistency_level level) {
  const transaction_history h = parse_transaction_history(text, kind);
  isolation_options o;
  o.level = level;
  return check_isolation(h, o);
}

constexpr consistency_level levels[] = {
    consistency_level::read_committed, consistency_level::repeatable_read,
    consistency_level::snapshot_isolation, consistency_level::serializable,
    consistency_level::strict_serializable};

workload any_workload() { return *rc::gen::element(workload::list_append, workload::rw_register); }

RC_GTEST_PROP(isolation_properties, serial_histories_are_valid_at_every_level, ()) {
  const workload kind = any_workload();
  const auto options = random_options(kind);
  const std::string text = to_jsonl(generate(options, *rc::gen::arbitrary<std::uint64_t>()));
  for (consistency_level level : levels) {
    const isolation_result r = check_at(text, kind, level);
    RC_ASSERT(r.verdict == isolation_verdict::valid);
    RC_ASSERT(r.examples.empty());
  }
}

// True if op i of e reads a key e wrote before it (an internal read: checked for consistency
// with the transaction's own writes, not for what it saw of others).
bool internal_read(const generated_event& e, std::size_t i) {
  for (std::size_t j = 0; j < i; ++j) {
    if (e.ops[j].kind != op_kind::read && e.ops[j].key == e.ops[i].key) return true;
  }
  return false;
}

// Makes one ok (external) read return a value written by a failed transaction. Returns false if
// the history has no such pair.
bool read_an_aborted_write(generated& g) {
  std::map<std::int64_t, std::int64_t> aborted;  // key -> a value a failed txn wrote
  for (const generated_event& e : g.events) {
    if (e.type != "fail") continue;
    for (const generated_op& op : e.ops) {
      if (op.kind != op_kind::read) aborted.emplace(op.key, op.value);
    }
  }
  for (generated_event& e : g.events) {
    if (e.type != "ok") continue;
    for (std::size_t i = 0; i < e.ops.size(); ++i) {
      generated_op& op = e.ops[i];
      const auto it = aborted.find(op.key);
      if (op.kind != op_kind::read || it == aborted.end() || internal_read(e, i)) continue;
      if (g.kind == workload::list_append) {
        op.list.push_back(it->second);
      } else {
        op.value = it->second;
      }
      op.nil = false;
      return true;
    }
  }
  return false;
}

RC_GTEST_PROP(isolation_properties, reading_an_aborted_write_is_g1a_at_every_level, ()) {
  const workload kind = any_workload();
  auto options = random_options(kind);
  options.fail_percent = *rc::gen::inRange<std::uint32_t>(20, 60);
  options.read_percent = *rc::gen::inRange<std::uint32_t>(20, 80);
  options.transactions = *rc::gen::inRange<std::uint64_t>(20, 150);
  const std::uint64_t seed = *rc::gen::arbitrary<std::uint64_t>();
  generated g;
  bool mutated = false;
  for (std::uint64_t attempt = 0; attempt < 50 && !mutated; ++attempt) {
    g = generate(options, seed + attempt);
    mutated = read_an_aborted_write(g);
  }
  RC_PRE(mutated);
  const std::string text = to_jsonl(g);
  for (consistency_level level : levels) {
    const isolation_result r = check_at(text, kind, level);
    RC_ASSERT(r.verdict == isolation_verdict::invalid);
    RC_ASSERT(r.count(anomaly_kind::g1a) > 0u);
  }
}

// Makes one ok read observe a write whose transaction was invoked only after the read's
// transaction completed: the next append after what it read (list-append), or any later write
// (rw-register). Returns false if the history has no such pair.
bool read_from_the_future(generated& g) {
  // Invoke positions, and each key's appends in the order they took effect.
  std::map<std::uint64_t, std::size_t> invoked_at;
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::uint64_t>>> appends;
  for (std::size_t i = 0; i < g.events.size(); ++i) {
    const generated_event& e = g.events[i];
    if (e.type == "invoke") invoked_at[e.txn] = i;
    if (e.type != "ok") continue;
    for (const generated_op& op : e.ops) {
      if (op.kind != op_kind::read) appends[op.key].emplace_back(op.value, e.txn);
    }
  }
  for (std::size_t i = 0; i < g.events.size(); ++i) {
    generated_event& e = g.events[i];
    if (e.type != "ok") continue;
    for (generated_op& op : e.ops) {
      if (op.kind != op_kind::read) continue;
      const auto& writes = appends[op.key];
      if (g.kind == workload::list_append) {
        const std::size_t next = op.list.size();
        if (next >= writes.size() || invoked_at[writes[next].second] <= i) continue;
        op.list.push_back(writes[next].first);
        return true;
      }
      for (const auto& [value, writer] : writes) {
        if (invoked_at[writer] <= i) continue;
        op.value = value;
        op.nil = false;
        return true;
      }
    }
  }
  return false;
}

RC_GTEST_PROP(isolation_properties, reading_from_the_future_is_not_strict_serializable, ()) {
  const workload kind = any_workload();
  auto options = random_options(kind);
  options.info_percent = 0;
  options.read_percent = *rc::gen::inRange<std::uint32_t>(20, 80);
  options.transactions = *rc::gen::inRange<std::uint64_t>(20, 150);
  if (kind == workload::rw_register) options.max_ops_per_txn = 1;  // no internal reads
  const std::uint64_t seed = *rc::gen::arbitrary<std::uint64_t>();
  generated g;
  bool mutated = false;
  for (std::uint64_t attempt = 0; attempt < 50 && !mutated; ++attempt) {
    g = generate(options, seed + attempt);
    mutated = read_from_the_future(g);
  }
  RC_PRE(mutated);
  const isolation_result r = check_at(to_jsonl(g), kind, consistency_level::strict_serializable);
  RC_ASSERT(r.verdict == isolation_verdict::invalid);
}

TEST(isolation_generator, same_seed_same_history) {
  history_generator_options o;
  o.transactions = 200;
  o.fail_percent = 10;
  o.info_percent = 10;
  EXPECT_EQ(to_jsonl(generate(o, 7)), to_jsonl(generate(o, 7)));
  EXPECT_NE(to_jsonl(generate(o, 7)), to_jsonl(generate(o, 8)));
}

}  // namespace
}  // namespace dstm::check::test
