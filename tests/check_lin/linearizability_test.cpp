// Hand-written histories for every model: valid, invalid, unknown outcomes, keys, budgets.

#include <dstm/check/linearizability.hpp>

#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "history_builder.hpp"

namespace {

using namespace dstm::check;
using dstm::check::testing::history_builder;
using json = nlohmann::json;

static_assert(linearizability_model<cas_register_model>);
static_assert(linearizability_model<counter_model>);
static_assert(linearizability_model<set_model>);
static_assert(linearizability_model<mutex_model>);
static_assert(!linearizability_model<int>);

json cas(int from, int to) { return json::array({from, to}); }

// ---- cas-register ----

TEST(CasRegister, SequentialHistoryIsValid) {
  history_builder h;
  h.call(1, "read", nullptr, nullptr).call(1, "write", 1, 1).call(2, "read", nullptr, 1);
  h.call(2, "cas", cas(1, 2), cas(1, 2)).call(1, "read", nullptr, 2);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::valid) << r.explanation;
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].operations, 5u);
  EXPECT_EQ(r.keys[0].order, (std::vector<std::size_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(r.explanation, "Linearizable: 5 operations on 1 key, cas-register model.\n");
}

TEST(CasRegister, ConcurrentOperationsMayTakeEffectInEitherOrder) {
  // The read overlaps the write and returns the new value: the write must come first.
  history_builder h;
  h.call(1, "write", 1, 1).invoke(2, "read").invoke(1, "write", 2).ok(2, "read", 2).ok(1, "write", 2);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::valid) << r.explanation;
  EXPECT_EQ(r.keys[0].order, (std::vector<std::size_t>{0, 3, 2}));  // write 1, write 2, read
}

TEST(CasRegister, StaleReadIsInvalid) {
  history_builder h;
  h.call(1, "write", 1, 1).call(1, "write", 2, 2).call(2, "read", nullptr, 1);
  const auto r = check_linearizable(h);
  ASSERT_EQ(r.result, verdict::invalid);
  const auto& k = r.keys[0];
  EXPECT_EQ(k.order, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(k.blocked, std::optional<std::size_t>(4));
  EXPECT_EQ(k.candidates, (std::vector<std::size_t>{4}));
  EXPECT_EQ(r.explanation,
            "Not linearizable: 3 operations on 1 key, cas-register model.\n"
            "The history (no key, 3 operations): not linearizable.\n"
            "  The longest linearizable prefix has 2 operations and leaves the register holding "
            "2.\n"
            "  It is:\n"
            "    process 1, lines 1-2: write 1\n"
            "    process 1, lines 3-4: write 2\n"
            "  Then the read -> 1 of process 2, lines 5-6 must take effect before it returns on "
            "line 6, but no operation that could come next leads to a linearization:\n"
            "    process 2, lines 5-6: read -> 1\n"
            "        impossible from the register holding 2\n");
}

TEST(CasRegister, LostWriteIsInvalid) {
  // Both writes completed, then two sequential reads see 1 and then null: the write of 1
  // was lost after being read.
  history_builder h;
  h.invoke(1, "write", 1).invoke(2, "write", 2).ok(1, "write", 1).ok(2, "write", 2);
  h.call(3, "read", nullptr, 2).call(3, "read", nullptr, nullptr);
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
}

TEST(CasRegister, ReadOfNeverWrittenRegisterIsNull) {
  history_builder h;
  h.call(1, "read", nullptr, nullptr);
  EXPECT_EQ(check_linearizable(h).result, verdict::valid);
  history_builder g;
  g.call(1, "read", nullptr, 0);
  EXPECT_EQ(check_linearizable(g).result, verdict::invalid);
  // With an initial value the same read is fine.
  EXPECT_EQ(check_linearizable(g.get(), cas_register_model(json(0))).result, verdict::valid);
}

TEST(CasRegister, FailedCasIsAnObservation) {
  // The register holds 1 throughout; a cas expecting 1 cannot have failed.
  history_builder h;
  h.call(1, "write", 1, 1);
  h.invoke(2, "cas", cas(1, 3)).fail(2, "cas", cas(1, 3));
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
  history_builder g;
  g.call(1, "write", 1, 1).invoke(2, "cas", cas(5, 3)).fail(2, "cas", cas(5, 3));
  g.call(1, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(g).result, verdict::valid);
}

TEST(CasRegister, FailedWriteHasNoEffect) {
  history_builder h;
  h.invoke(1, "write", 1).fail(1, "write", 1).call(2, "read", nullptr, 1);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::invalid);
  EXPECT_EQ(r.keys[0].skipped, 1u);
}

TEST(CasRegister, UnknownWriteThatTookEffect) {
  // The write crashed (info) but a later read sees it: it took effect.
  history_builder h;
  h.invoke(1, "write", 7).info(1, "write").call(2, "read", nullptr, 7).call(2, "read", nullptr, 7);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::valid) << r.explanation;
  EXPECT_EQ(r.keys[0].order, (std::vector<std::size_t>{0, 2, 4}));
}

TEST(CasRegister, UnknownWriteThatNeverTookEffect) {
  history_builder h;
  h.call(2, "write", 1, 1).invoke(1, "write", 7).info(1, "write").call(2, "read", nullptr, 1);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::valid) << r.explanation;
  EXPECT_EQ(r.keys[0].order, (std::vector<std::size_t>{0, 4}));  // the write of 7 left out
}

TEST(CasRegister, UnknownWriteTakesEffectAfterItsInvokeOnly) {
  history_builder h;
  h.call(2, "read", nullptr, 7).invoke(1, "write", 7).info(1, "write");
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
}

TEST(CasRegister, UnknownWriteTakesEffectAtMostOnce) {
  history_builder h;
  h.invoke(1, "write", 7).info(1, "write");
  h.call(2, "read", nullptr, 7).call(2, "write", 8, 8).call(2, "read", nullptr, 7);
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
}

TEST(CasRegister, NeverCompletedOperationIsUnknown) {
  history_builder h;
  h.invoke(1, "cas", cas(0, 1)).call(2, "write", 0, 0).call(2, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(h).result, verdict::valid);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.keys[0].order, (std::vector<std::size_t>{1, 0, 3}));
}

TEST(CasRegister, UnknownReadConstrainsNothing) {
  history_builder h;
  h.invoke(1, "read").info(1, "read").call(2, "read", nullptr, nullptr);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::valid);
  EXPECT_EQ(r.keys[0].skipped, 1u);
}

TEST(CasRegister, IdenticalUnknownWritesAreInterchangeable) {
  // Three crashed writes of 1 and one of 2: the reads need 1, 2, 1 — possible only by using
  // two different writes of 1, which the twin rule must still allow.
  history_builder h;
  for (int p = 1; p <= 3; ++p) h.invoke(p, "write", 1).info(p, "write");
  h.invoke(4, "write", 2).info(4, "write");
  h.call(9, "read", nullptr, 1).call(9, "read", nullptr, 2).call(9, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(h).result, verdict::valid);
  h.call(9, "read", nullptr, 2);  // the only write of 2 is used up
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
}

TEST(CasRegister, RefusesUnknownOperationsWithTheLine) {
  history_builder h;
  h.call(1, "write", 1, 1).call(1, "add", 1, 1);
  try {
    check_linearizable(h);
    FAIL() << "no error";
  } catch (const history_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "line 3: the cas-register model knows read, write and cas, not \"add\" (choose "
              "another model)");
  }
  history_builder g;
  g.call(1, "cas", 1, 1);
  EXPECT_THROW(check_linearizable(g), history_error);
}

TEST(CasRegister, NonIntegerValues) {
  history_builder h;
  h.call(1, "write", "a", "a").call(2, "cas", json::array({"a", json{{"k", 1}}}), nullptr);
  h.call(1, "read", nullptr, json{{"k", 1}});
  EXPECT_EQ(check_linearizable(h).result, verdict::valid);
}

// ---- keys ----

TEST(Keys, EachKeyIsCheckedOnItsOwn) {
  history_builder h;
  h.key("a").invoke(1, "write", 1);
  h.key("b").invoke(2, "write", 1);
  h.key("a").ok(1, "write", 1);
  h.key("b").ok(2, "write", 1);
  h.key("a").call(3, "read", nullptr, 1);
  h.key("b").call(4, "read", nullptr, 2);  // stale: nobody wrote 2 to b
  h.key("c").call(5, "read", nullptr, nullptr);
  const auto r = check_linearizable(h);
  EXPECT_EQ(r.result, verdict::invalid);
  ASSERT_EQ(r.keys.size(), 3u);
  EXPECT_EQ(r.keys[0].key, "a");
  EXPECT_EQ(r.keys[0].result, verdict::valid);
  EXPECT_EQ(r.keys[1].key, "b");
  EXPECT_EQ(r.keys[1].result, verdict::invalid);
  EXPECT_EQ(r.keys[2].result, verdict::valid);
  EXPECT_EQ(r.explanation.substr(0, r.explanation.find('\n')),
            "Not linearizable: 1 of 3 keys admit no linearization (5 operations on 3 keys, "
            "cas-register model).");
  EXPECT_NE(r.explanation.find("Key \"b\" (2 operations): not linearizable."), std::string::npos);
}

TEST(Keys, AKeyDoesNotSeeAnotherKeysWrites) {
  history_builder h;
  h.key("a").call(1, "write", 1, 1);
  h.key("b").call(1, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(h).result, verdict::invalid);
}

// ---- counter ----

TEST(Counter, ConcurrentAddsAndReads) {
  history_builder h;
  h.invoke(1, "add", 2).invoke(2, "add", 3).invoke(3, "read");
  h.ok(3, "read", 3).ok(1, "add", 2).ok(2, "add", 3).call(3, "read", nullptr, 5);
  EXPECT_EQ(check_linearizable(h.get(), counter_model{}).result, verdict::valid);
}

TEST(Counter, ImpossibleIntermediateIsInvalid) {
  history_builder h;
  h.invoke(1, "add", 2).invoke(2, "add", 3).invoke(3, "read");
  h.ok(3, "read", 1).ok(1, "add", 2).ok(2, "add", 3);
  EXPECT_EQ(check_linearizable(h.get(), counter_model{}).result, verdict::invalid);
}

TEST(Counter, LostIncrementIsInvalid) {
  history_builder h;
  h.call(1, "add", 1, 1).call(2, "add", 1, 1).call(3, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(h.get(), counter_model{}).result, verdict::invalid);
}

TEST(Counter, UnknownAddsMayOrMayNotCount) {
  history_builder h;
  h.invoke(1, "add", 5).info(1, "add").invoke(2, "add", 1).fail(2, "add", 1);
  h.call(3, "read", nullptr, 0).call(3, "read", nullptr, 5);
  EXPECT_EQ(check_linearizable(h.get(), counter_model{}).result, verdict::valid);
  h.call(3, "read", nullptr, 6);  // the failed add never counts
  EXPECT_EQ(check_linearizable(h.get(), counter_model{}).result, verdict::invalid);
}

TEST(Counter, RefusesNonIntegers) {
  history_builder h;
  h.call(1, "add", "x", nullptr);
  EXPECT_THROW(check_linearizable(h.get(), counter_model{}), history_error);
}

// ---- set ----

TEST(Set, ReadsSeeEveryCompletedAdd) {
  history_builder h;
  h.call(1, "add", 1, 1).invoke(2, "add", 2).call(3, "read", nullptr, json::array({1}));
  h.ok(2, "add", 2).call(3, "read", nullptr, json::array({2, 1}));
  EXPECT_EQ(check_linearizable(h.get(), set_model{}).result, verdict::valid);
}

TEST(Set, MissingElementIsInvalid) {
  history_builder h;
  h.call(1, "add", 1, 1).call(2, "add", 2, 2).call(3, "read", nullptr, json::array({2}));
  const auto r = check_linearizable(h.get(), set_model{});
  EXPECT_EQ(r.result, verdict::invalid);
  EXPECT_NE(r.explanation.find("impossible from the set holding [1, 2]"), std::string::npos)
      << r.explanation;
}

TEST(Set, ElementsAppearingAndVanishingIsInvalid) {
  history_builder h;
  h.invoke(1, "add", 1).call(2, "read", nullptr, json::array({1}));
  h.call(2, "read", nullptr, json::array()).ok(1, "add", 1);
  EXPECT_EQ(check_linearizable(h.get(), set_model{}).result, verdict::invalid);
}

TEST(Set, UnknownAddMayShowUp) {
  history_builder h;
  h.invoke(1, "add", "x").info(1, "add").call(2, "read", nullptr, json::array({"x"}));
  EXPECT_EQ(check_linearizable(h.get(), set_model{}).result, verdict::valid);
}

// ---- mutex ----

TEST(Mutex, AlternatingHoldersAreValid) {
  history_builder h;
  h.invoke(1, "acquire").invoke(2, "acquire").ok(1, "acquire").call(1, "release", nullptr, nullptr);
  h.ok(2, "acquire").call(2, "release", nullptr, nullptr);
  EXPECT_EQ(check_linearizable(h.get(), mutex_model{}).result, verdict::valid);
}

TEST(Mutex, DoubleAcquireIsInvalid) {
  history_builder h;
  h.call(1, "acquire", nullptr, nullptr).call(2, "acquire", nullptr, nullptr);
  const auto r = check_linearizable(h.get(), mutex_model{});
  EXPECT_EQ(r.result, verdict::invalid);
  EXPECT_NE(r.explanation.find("impossible from the lock held by process 1"), std::string::npos)
      << r.explanation;
}

TEST(Mutex, ReleaseByAnotherProcess) {
  history_builder h;
  h.call(1, "acquire", nullptr, nullptr).call(2, "release", nullptr, nullptr);
  EXPECT_EQ(check_linearizable(h.get(), mutex_model{}).result, verdict::invalid);
  EXPECT_EQ(check_linearizable(h.get(), mutex_model{false}).result, verdict::valid);
}

TEST(Mutex, CrashedHolderKeepsTheLock) {
  history_builder h;
  h.invoke(1, "acquire").info(1, "acquire").call(2, "acquire", nullptr, nullptr);
  EXPECT_EQ(check_linearizable(h.get(), mutex_model{}).result, verdict::valid);  // never took it
  h.call(3, "acquire", nullptr, nullptr);  // 2 holds it, never released
  EXPECT_EQ(check_linearizable(h.get(), mutex_model{}).result, verdict::invalid);
}

// ---- a user-defined model: a FIFO queue ----

struct queue_model {
  using state = std::deque<std::int64_t>;
  struct op {
    bool enqueue;
    std::int64_t value;  // enqueue: value; dequeue: value returned
    friend bool operator==(const op&, const op&) = default;
  };
  std::string_view name() const { return "queue"; }
  state initial() const { return {}; }
  std::optional<op> prepare(const operation_view& v) {
    if (v.outcome() == event_type::fail) return std::nullopt;
    if (v.f() == "enqueue") return op{true, v.input().get<std::int64_t>()};
    if (v.f() == "dequeue") {
      if (v.outcome() != event_type::ok) return std::nullopt;
      return op{false, v.output().get<std::int64_t>()};
    }
    throw operation_error("queue: unknown operation " + v.f());
  }
  std::optional<state> step(const state& s, const op& o) const {
    state next = s;
    if (o.enqueue) {
      next.push_back(o.value);
      return next;
    }
    if (s.empty() || s.front() != o.value) return std::nullopt;
    next.pop_front();
    return next;
  }
  std::size_t hash(const state& s) const {
    std::size_t h = s.size();
    for (auto v : s) h = h * 31 + static_cast<std::size_t>(v);
    return h;
  }
  std::string describe(const op& o) const {
    return (o.enqueue ? "enqueue " : "dequeue -> ") + std::to_string(o.value);
  }
  std::string describe(const state& s) const { return std::to_string(s.size()) + " queued"; }
};
static_assert(linearizability_model<queue_model>);

TEST(UserModel, QueueOrderIsChecked) {
  history_builder h;
  h.invoke(1, "enqueue", 1).invoke(2, "enqueue", 2).ok(1, "enqueue", 1).ok(2, "enqueue", 2);
  h.call(3, "dequeue", nullptr, 2).call(3, "dequeue", nullptr, 1);
  EXPECT_EQ(check_linearizable(h.get(), queue_model{}).result, verdict::valid);
  history_builder g;
  g.call(1, "enqueue", 1, 1).call(2, "enqueue", 2, 2);
  g.call(3, "dequeue", nullptr, 2);
  EXPECT_EQ(check_linearizable(g.get(), queue_model{}).result, verdict::invalid);
}

// ---- the time budget ----

// n writes of distinct values all concurrent with a read of a value nobody wrote: every order
// of the writes is a dead end, and with ~n * 2^n configurations the search is hopeless for
// large n.
history pathological(int n) {
  history_builder h;
  for (int p = 0; p < n; ++p) h.invoke(p, "write", p);
  h.invoke(n, "read").ok(n, "read", -1);
  for (int p = 0; p < n; ++p) h.ok(p, "write", p);
  return h.get();
}

TEST(Budget, PathologicalHistoryWithTinyBudgetIsUnknown) {
  int polls = 0;
  linearizability_options options;
  options.out_of_time = [&polls] { return ++polls >= 3; };
  const auto r = check_linearizable(pathological(40), cas_register_model{}, options);
  EXPECT_EQ(r.result, verdict::unknown);
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(r.keys[0].steps, 3u * 1024u);
  EXPECT_EQ(r.explanation.substr(0, r.explanation.find('\n')),
            "Unknown: the time budget ran out: 41 operations on 1 key, cas-register model.");
}

TEST(Budget, SmallPathologicalHistoryIsDecidedWithoutBudget) {
  const auto r = check_linearizable(pathological(8));
  EXPECT_EQ(r.result, verdict::invalid);
  EXPECT_EQ(r.keys[0].blocked, std::optional<std::size_t>(8));
}

TEST(Budget, KeysAfterTheBudgetAreUnknown) {
  history_builder h;
  h.key("a");
  for (int p = 0; p < 30; ++p) h.invoke(p, "write", p);
  h.invoke(30, "read").ok(30, "read", -1);
  for (int p = 0; p < 30; ++p) h.ok(p, "write", p);
  h.key("b").call(100, "read", nullptr, nullptr);
  linearizability_options options;
  options.out_of_time = [] { return true; };
  const auto r = check_linearizable(h.get(), cas_register_model{}, options);
  EXPECT_EQ(r.result, verdict::unknown);
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_EQ(r.keys[1].result, verdict::unknown);
  EXPECT_EQ(r.keys[1].steps, 0u);
}

// ---- by name ----

TEST(ByName, DispatchesAndRefusesUnknownNames) {
  history_builder h;
  h.call(1, "add", 1, 1).call(1, "read", nullptr, 1);
  EXPECT_EQ(check_linearizable(h.get(), "counter").result, verdict::valid);
  history_builder s;
  s.call(1, "add", 1, 1).call(1, "read", nullptr, json::array({1}));
  EXPECT_EQ(check_linearizable(s.get(), "set").model, "set");
  EXPECT_EQ(check_linearizable(s.get(), "set").result, verdict::valid);
  EXPECT_THROW(check_linearizable(h.get(), "set"), history_error);  // a set read returns a list
  EXPECT_THROW(check_linearizable(h.get(), "queue"), std::invalid_argument);
}

TEST(Pairing, InMemoryHistoriesAreValidatedToo) {
  history bad{event{1, event_type::ok, "read", "", nullptr, 0}};
  EXPECT_THROW(check_linearizable(bad), history_error);
}

}  // namespace
