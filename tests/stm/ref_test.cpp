// Refs, atoms and transactions on the embedded coordinator: one feature per test, each written
// so that a broken implementation of that feature fails it.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <dstm/dstm.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using dstm_test::fast_options;

class StmRef : public ::testing::Test {
 protected:
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm::client> c1 = dstm::embedded::connect(store, fast_options());
  std::shared_ptr<dstm::client> c2 = dstm::embedded::connect(store, fast_options());
};

template <class F>
std::error_code code_of(F&& f) {
  try {
    f();
  } catch (const dstm::error& e) {
    return e.code();
  }
  return {};
}

// ----- creation and connection -----

TEST_F(StmRef, CreateUnlessExistsNeverClobbers) {
  dstm::ref a{c1, "/a", 1};
  dstm::ref b{c2, "/a", 2};  // a second client with another initial value
  EXPECT_EQ(b.deref(), 1);
  EXPECT_EQ(a.deref(), 1);
  dstm::ref again{c1, "/a", 3};  // the same client, again
  EXPECT_EQ(again.deref(), 1);
}

TEST_F(StmRef, CreatesMissingParents) {
  dstm::ref r{c1, "/deep/er/ref", std::string("x")};
  EXPECT_EQ(r.deref(), "x");
  std::error_code ec;
  EXPECT_TRUE(c1->session()->exists("/deep/er", {}, ec).has_value());
}

TEST_F(StmRef, ConnectWithoutInitialValueReadsTheExistingRef) {
  dstm::ref a{c1, "/a", std::vector<int>{1, 2, 3}};
  dstm::ref<std::vector<int>> b{c2, "/a"};
  EXPECT_EQ(b.deref(), (std::vector<int>{1, 2, 3}));
}

TEST_F(StmRef, ConnectToMissingPathThrowsNoNode) {
  try {
    dstm::ref<int> r{c1, "/missing"};
    FAIL() << "connected to a ref that does not exist";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), dstm::coordinator_errc::no_node);
  }
}

TEST_F(StmRef, ForeignZnodeThrowsSerializationError) {
  std::error_code ec;
  c1->session()->create("/foreign", "plain data, not a ref", dstm::create_mode::persistent,
                        dstm::open_acl_unsafe(), nullptr, ec);
  ASSERT_FALSE(ec);
  EXPECT_THROW((dstm::ref<int>{c1, "/foreign"}), dstm::serialization_error);
  EXPECT_THROW((dstm::ref<int>{c2, "/foreign", 7}), dstm::serialization_error);
  // The foreign node is left as it was.
  EXPECT_EQ(c1->session()->get("/foreign", {}, ec).data, "plain data, not a ref");
}

TEST_F(StmRef, RefOfAnotherTypeThrowsSerializationError) {
  dstm::ref a{c1, "/typed", std::string("text")};
  EXPECT_THROW((dstm::ref<std::vector<double>>{c2, "/typed"}), dstm::serialization_error);
}

// ----- dosync and the transaction operations -----

TEST_F(StmRef, DosyncReturnsWhatTheBodyReturns) {
  dstm::ref r{c1, "/r", 41};
  auto [n, s] = dstm::dosync(c1, [&](dstm::txn& tx) {
    return std::make_tuple(tx.alter(r, [](int v) { return v + 1; }), std::string("done"));
  });
  EXPECT_EQ(n, 42);
  EXPECT_EQ(s, "done");
  bool ran = false;
  dstm::dosync(c1, [&](dstm::txn&) { ran = true; });  // a void body
  EXPECT_TRUE(ran);
}

TEST_F(StmRef, AlterRefSetCommuteEnsure) {
  dstm::ref a{c1, "/a", 1};
  dstm::ref b{c1, "/b", std::string("x")};
  dstm::ref n{c1, "/n", 10};
  dstm::ref e{c1, "/e", 5};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    EXPECT_EQ(tx.alter(
                  a, [](int v, int by, int times) { return (v + by) * times; }, 2, 3),
              9);
    EXPECT_EQ(tx.ref_set(b, "y"), "y");
    EXPECT_EQ(tx.commute(
                  n, [](int v, int by) { return v + by; }, 5),
              15);
    EXPECT_EQ(tx.commute(n, [](int v) { return v * 2; }), 30);
    EXPECT_EQ(tx.ensure(e), 5);
  });
  EXPECT_EQ(a.deref(), 9);
  EXPECT_EQ(b.deref(), "y");
  EXPECT_EQ(n.deref(), 30);
  EXPECT_EQ(e.deref(), 5);
  // The other client sees all of it.
  EXPECT_EQ((dstm::ref<int>{c2, "/a"}.deref()), 9);
  EXPECT_EQ((dstm::ref<int>{c2, "/n"}.deref()), 30);
}

TEST_F(StmRef, ReadYourWritesInsideTheTransactionOnly) {
  dstm::ref r{c1, "/r", 1};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.ref_set(r, 2);
    EXPECT_EQ(tx.deref(r), 2);
    EXPECT_EQ(tx.alter(r, [](int v) { return v * 10; }), 20);
    EXPECT_EQ(tx.deref(r), 20);
    EXPECT_EQ(r.deref(), 1);  // outside this transaction nothing has changed yet
  });
  EXPECT_EQ(r.deref(), 20);
}

TEST_F(StmRef, ReferencesReturnedEarlierStayValid) {
  dstm::ref r{c1, "/r", std::string(100, 'a')};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    const std::string& first = tx.alter(r, [](std::string s) { return s + "b"; });
    tx.alter(r, [](std::string s) { return s + "c"; });
    tx.ref_set(r, std::string("replaced"));
    EXPECT_EQ(first, std::string(100, 'a') + "b");
  });
  EXPECT_EQ(r.deref(), "replaced");
}

TEST_F(StmRef, TwoHandlesOfOnePathAreOneRef) {
  dstm::ref a{c1, "/shared", 0};
  dstm::ref<int> b{c1, "/shared"};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.alter(a, [](int v) { return v + 1; });
    EXPECT_EQ(tx.deref(b), 1);
    tx.alter(b, [](int v) { return v + 1; });
  });
  EXPECT_EQ(a.deref(), 2);
  EXPECT_EQ(c1->metrics().conflicts, 0u);
}

TEST_F(StmRef, NestedDosyncJoinsTheOuterTransaction) {
  dstm::ref a{c1, "/a", 0};
  dstm::ref b{c1, "/b", 0};
  const auto commits = c1->metrics().commits;
  const int inner = dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.alter(a, [](int v) { return v + 1; });
    return dstm::dosync(tx, [&](dstm::txn& same) {
      EXPECT_EQ(&same, &tx);
      EXPECT_EQ(same.deref(a), 1);  // the outer write is visible inside
      return same.alter(b, [](int v) { return v + 5; });
    });
  });
  EXPECT_EQ(inner, 5);
  EXPECT_EQ(a.deref(), 1);
  EXPECT_EQ(b.deref(), 5);
  EXPECT_EQ(c1->metrics().commits - commits, 3u);  // one write commit + two derefs
  // An outer failure after the nested part undoes the nested writes too.
  EXPECT_THROW(dstm::dosync(c1,
                            [&](dstm::txn& tx) {
                              dstm::dosync(tx, [&](dstm::txn& t) { t.ref_set(b, 100); });
                              throw std::runtime_error("outer fails");
                            }),
               std::runtime_error);
  EXPECT_EQ(b.deref(), 5);
}

struct body_failure {
  int payload;
};

TEST_F(StmRef, AnExceptionFromTheBodyPropagatesUnchangedAndNothingIsWritten) {
  dstm::ref a{c1, "/a", 1};
  dstm::ref b{c1, "/b", 2};
  const auto before = c1->metrics();
  int runs = 0;
  try {
    dstm::dosync(c1, [&](dstm::txn& tx) {
      ++runs;
      tx.ref_set(a, 100);
      tx.alter(b, [](int v) { return v + 100; });
      throw body_failure{77};
    });
    FAIL() << "the exception was swallowed";
  } catch (const body_failure& f) {
    EXPECT_EQ(f.payload, 77);
  }
  EXPECT_EQ(runs, 1);  // not retried
  EXPECT_EQ(a.deref(), 1);
  EXPECT_EQ(b.deref(), 2);
  EXPECT_EQ((dstm::ref<int>{c2, "/a"}.deref()), 1);
  const auto after = c1->metrics();
  EXPECT_EQ(after.commits - after.read_only_commits, before.commits - before.read_only_commits);
}

TEST_F(StmRef, AlterAfterCommuteIsRejected) {
  dstm::ref r{c1, "/r", 0};
  EXPECT_EQ(code_of([&] {
              dstm::dosync(c1, [&](dstm::txn& tx) {
                tx.commute(r, [](int v) { return v + 1; });
                tx.alter(r, [](int v) { return v + 1; });
              });
            }),
            dstm::errc::invalid_argument);
  EXPECT_EQ(r.deref(), 0);
}

TEST_F(StmRef, RefOfAnotherClientIsRejected) {
  dstm::ref r{c1, "/r", 0};
  EXPECT_EQ(code_of([&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.deref(r); }); }),
            dstm::errc::invalid_argument);
}

TEST_F(StmRef, WritingThroughAClosedClientThrowsClosing) {
  dstm::ref r{c1, "/r", 0};
  c1->close();
  try {
    dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
    FAIL() << "a closed client committed";
  } catch (const dstm::coordinator_error& e) {
    EXPECT_EQ(e.code(), dstm::coordinator_errc::closing);
  }
  EXPECT_EQ((dstm::ref<int>{c2, "/r"}.deref()), 0);
}

TEST_F(StmRef, BadClientOptionsAreRejected) {
  auto with = [&](auto change) {
    auto o = fast_options();
    change(o);
    return code_of([&] { dstm::embedded::connect(store, o); });
  };
  EXPECT_EQ(with([](auto& o) { o.root = "relative"; }), dstm::errc::invalid_argument);
  EXPECT_EQ(with([](auto& o) { o.max_retries = -1; }), dstm::errc::invalid_argument);
  EXPECT_EQ(with([](auto& o) { o.outcome_attempts = 0; }), dstm::errc::invalid_argument);
  EXPECT_EQ(with([](auto& o) { o.backoff_max_ns = 0; }), dstm::errc::invalid_argument);
  EXPECT_EQ(with([](auto& o) { o.backoff_min_ns = o.backoff_max_ns + 1; }),
            dstm::errc::invalid_argument);
  EXPECT_EQ(with([](auto&) {}), std::error_code{});
}

TEST_F(StmRef, NestedRootIsCreated) {
  auto o = fast_options();
  o.root = "/apps/billing/dstm";
  auto c = dstm::embedded::connect(store, o);
  dstm::ref r{c, "/apps/billing/balance", 1};
  dstm::dosync(c, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  std::error_code ec;
  auto records = c->session()->children("/apps/billing/dstm/clients", {}, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(records.names.size(), 1u);  // this client's record directory
}

// ----- validators -----

TEST_F(StmRef, ValidatorRejectsAndNothingIsWritten) {
  dstm::ref balance{c1, "/balance", 10};
  dstm::ref log{c1, "/log", std::vector<std::string>{}};
  balance.set_validator([](int v) { return v >= 0; });
  auto withdraw = [&](int amount) {
    dstm::dosync(c1, [&](dstm::txn& tx) {
      tx.alter(log, [&](std::vector<std::string> l) {
        l.push_back("withdraw " + std::to_string(amount));
        return l;
      });
      tx.alter(balance, [&](int v) { return v - amount; });
    });
  };
  withdraw(4);
  try {
    withdraw(7);
    FAIL() << "the validator did not run";
  } catch (const dstm::validation_error& e) {
    EXPECT_EQ(e.code(), dstm::errc::validator_rejected);
  }
  EXPECT_EQ(balance.deref(), 6);
  EXPECT_EQ(log.deref(), (std::vector<std::string>{"withdraw 4"}));  // the other write too
  // Removing the validator allows it again.
  balance.set_validator(nullptr);
  withdraw(7);
  EXPECT_EQ(balance.deref(), -1);
}

TEST_F(StmRef, ValidatorRejectingTheCurrentValueIsNotSet) {
  dstm::ref r{c1, "/r", -5};
  EXPECT_THROW(r.set_validator([](int v) { return v >= 0; }), dstm::validation_error);
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, -6); });  // no validator was installed
  EXPECT_EQ(r.deref(), -6);
}

TEST_F(StmRef, ValidatorAppliesToCommutes) {
  dstm::ref r{c1, "/r", 0};
  r.set_validator([](int v) { return v < 2; });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.commute(r, [](int v) { return v + 1; }); });
  EXPECT_THROW(dstm::dosync(c1, [&](dstm::txn& tx) { tx.commute(r, [](int v) { return v + 1; }); }),
               dstm::validation_error);
  EXPECT_EQ(r.deref(), 1);
}

// ----- watches -----

using change = std::tuple<std::string, int, int>;

TEST_F(StmRef, WatchSeesLocalAndRemoteChangesWithOldAndNewValues) {
  dstm::ref r1{c1, "/w", 1};
  dstm::ref<int> r2{c2, "/w"};
  dstm_test::mailbox<change> seen;
  r1.add_watch("k", [&](const std::string& key, const int& old_value, const int& new_value) {
    seen.post({key, old_value, new_value});
  });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r1, 2); });  // this client
  EXPECT_EQ(seen.take(), (change{"k", 1, 2}));
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, 3); });  // another client
  EXPECT_EQ(seen.take(), (change{"k", 2, 3}));

  r1.remove_watch("k");
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, 4); });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r1, 5); });
  EXPECT_EQ(seen.take(200ms), std::nullopt);
}

TEST_F(StmRef, TwoWatchKeysBothFireAndAKeyReplacesItsWatch) {
  dstm::ref r{c1, "/w", 0};
  dstm_test::mailbox<change> seen;
  auto record = [&](const std::string& key, const int& o, const int& n) { seen.post({key, o, n}); };
  r.add_watch("a", record);
  r.add_watch("b", record);
  r.add_watch("b", [&](const std::string& key, const int& o, const int& n) {
    seen.post({key + "'", o, n});
  });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, 1); });
  std::vector<change> got;
  for (int i = 0; i < 2; ++i) got.push_back(seen.take().value_or(change{"timeout", 0, 0}));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<change>{{"a", 0, 1}, {"b'", 0, 1}}));
  EXPECT_EQ(seen.take(100ms), std::nullopt);
}

TEST_F(StmRef, LocalRefWatchFiresOnCommit) {
  dstm::ref<int, dstm::local> r{c1, "local", 1};
  std::vector<change> seen;
  r.add_watch("k", [&](const std::string& key, const int& o, const int& n) {
    seen.emplace_back(key, o, n);
  });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  // A local ref's watch runs on the committing thread, after the commit.
  EXPECT_EQ(seen, (std::vector<change>{{"k", 1, 2}}));
  r.remove_watch("k");
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v + 1; }); });
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(r.deref(), 3);
}

TEST_F(StmRef, AThrowingWatchDoesNotFailTheCommitNorStopOtherWatches) {
  dstm::ref<int, dstm::local> r{c1, "local", 1};
  int other = 0;
  r.add_watch("a", [](const std::string&, const int&, const int&) {
    throw std::runtime_error("watch fails");
  });
  r.add_watch("b", [&](const std::string&, const int&, const int& n) { other = n; });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, 2); });
  EXPECT_EQ(other, 2);
  EXPECT_EQ(r.deref(), 2);
}

TEST_F(StmRef, LocalWatchMayRunATransactionOnItsRef) {
  dstm::ref<int, dstm::local> r{c1, "local", 1};
  int seen_inside = 0;
  r.add_watch("k", [&](const std::string&, const int&, const int&) {
    seen_inside = dstm::dosync(c1, [&](dstm::txn& tx) { return tx.deref(r); });
  });
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, 9); });
  EXPECT_EQ(seen_inside, 9);
}

// ----- local refs in distributed transactions -----

TEST_F(StmRef, LocalAndCoordinatorRefsCommitTogether) {
  dstm::ref<std::vector<int>, dstm::local> here{c1, "here", std::vector<int>{1, 2}};
  dstm::ref there{c1, "/there", std::vector<int>{}};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    auto v = tx.deref(here);
    tx.ref_set(here, std::vector<int>(v.begin() + 1, v.end()));
    tx.alter(there, [&](std::vector<int> t) {
      t.push_back(v.front());
      return t;
    });
  });
  EXPECT_EQ(here.deref(), (std::vector<int>{2}));
  EXPECT_EQ(there.deref(), (std::vector<int>{1}));
  // A local ref is not in the coordinator.
  std::error_code ec;
  EXPECT_FALSE(c1->session()->exists("/here", {}, ec).has_value());
}

TEST_F(StmRef, LocalRefIsAppliedOnlyWhenTheMultiCommits) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto hooked = dstm_test::connect_hooked(store, hooks, fast_options());
  dstm::ref<int, dstm::local> local{hooked, "local", 0};
  dstm::ref shared{hooked, "/shared", 0};
  dstm::ref<int> shared2{c2, "/shared"};
  shared.deref();
  // Just before the multi, another client changes the shared ref: the multi fails.
  hooks->before_next_multi(
      [&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(shared2, 100); }); });
  const auto code = code_of([&] {
    dstm::dosync(
        hooked,
        [&](dstm::txn& tx) {
          tx.alter(local, [](int v) { return v + 1; });
          tx.alter(shared, [](int v) { return v + 1; });
        },
        dstm::txn_options{.level = {}, .max_retries = 0});
  });
  EXPECT_EQ(code, dstm::errc::retry_limit_exceeded);
  EXPECT_EQ(local.deref(), 0);
  EXPECT_EQ(shared.deref(), 100);
  // With retries the transaction commits both, once.
  hooks->before_next_multi(
      [&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(shared2, 200); }); });
  int runs = 0;
  dstm::dosync(hooked, [&](dstm::txn& tx) {
    ++runs;
    tx.alter(local, [](int v) { return v + 1; });
    tx.alter(shared, [](int v) { return v + 1; });
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(local.deref(), 1);
  EXPECT_EQ(shared.deref(), 201);
}

TEST_F(StmRef, LocalRefValidatorRejects) {
  dstm::ref<int, dstm::local> local{c1, "local", 1};
  dstm::ref remote{c1, "/remote", 1};
  local.set_validator([](int v) { return v > 0; });
  EXPECT_THROW(dstm::dosync(c1,
                            [&](dstm::txn& tx) {
                              tx.ref_set(remote, 2);
                              tx.ref_set(local, 0);
                            }),
               dstm::validation_error);
  EXPECT_EQ(local.deref(), 1);
  EXPECT_EQ(remote.deref(), 1);
}

// ----- atoms -----

TEST_F(StmRef, AtomOperations) {
  dstm::atom a{c1, "/atom", 10};
  dstm::atom<int> b{c2, "/atom"};
  EXPECT_EQ(a.update([](int v, int by) { return v + by; }, 5), 15);
  EXPECT_EQ(b.deref(), 15);
  EXPECT_EQ(b.reset(3), 3);
  EXPECT_EQ(a.deref(), 3);
  EXPECT_FALSE(a.compare_and_set(4, 40));
  EXPECT_EQ(a.deref(), 3);
  EXPECT_TRUE(a.compare_and_set(3, 30));
  EXPECT_EQ(b.deref(), 30);
  dstm::atom a2{c2, "/atom", 99};  // connecting never clobbers
  EXPECT_EQ(a2.deref(), 30);
  EXPECT_THROW((dstm::atom<int>{c1, "/no-atom"}), dstm::coordinator_error);
}

TEST_F(StmRef, AtomValidator) {
  dstm::atom a{c1, "/atom", std::string("ok")};
  a.set_validator([](const std::string& s) { return !s.empty(); });
  EXPECT_THROW(a.reset(""), dstm::validation_error);
  EXPECT_THROW(a.update([](const std::string&) { return std::string(); }), dstm::validation_error);
  EXPECT_FALSE(a.compare_and_set("nope", ""));  // does not match: nothing to validate
  EXPECT_THROW(a.compare_and_set("ok", ""), dstm::validation_error);
  EXPECT_EQ(a.deref(), "ok");
  EXPECT_EQ(a.reset("fine"), "fine");
}

TEST_F(StmRef, AtomUpdatesFromManyThreadsAreAtomic) {
  dstm::atom a{c1, "/atom", 0};
  dstm::atom<int> b{c2, "/atom"};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (t % 2 == 0) {
          a.update([](int v) { return v + 1; });
        } else {
          b.update([](int v) { return v + 1; });
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a.deref(), 200);
  EXPECT_EQ(b.deref(), 200);
}

// ----- storage laws, for every storage model (include/dstm/storage/concept.hpp) -----

template <class Storage>
class StorageLaws : public StmRef {};
using storages = ::testing::Types<dstm::in_coordinator, dstm::local>;
TYPED_TEST_SUITE(StorageLaws, storages);

TYPED_TEST(StorageLaws, ReadYourWriteCommittedWriteIsReadAbortLeavesItUntouched) {
  dstm::ref<std::string, TypeParam> r{this->c1, "/law", std::string("v0")};
  // Read-your-write inside a transaction.
  dstm::dosync(this->c1, [&](dstm::txn& tx) {
    tx.ref_set(r, std::string("v1"));
    EXPECT_EQ(tx.deref(r), "v1");
  });
  // A committed write is what the next transaction reads.
  EXPECT_EQ(dstm::dosync(this->c1, [&](dstm::txn& tx) { return tx.deref(r); }), "v1");
  // An aborted transaction leaves the stored value untouched.
  EXPECT_THROW(dstm::dosync(this->c1,
                            [&](dstm::txn& tx) {
                              tx.ref_set(r, std::string("v2"));
                              throw std::runtime_error("abort");
                            }),
               std::runtime_error);
  EXPECT_EQ(r.deref(), "v1");
}

// ----- serializer policies -----

struct json_local_bundle {
  using storage = dstm::local;
  using serializer = dstm::json_serializer;
};

TEST_F(StmRef, JsonSerializedRefIsReadableByOtherTools) {
  dstm::ref<std::vector<int>, dstm::json_serializer> r{c1, "/json", std::vector<int>{1, 2}};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.alter(r, [](std::vector<int> v) {
      v.push_back(3);
      return v;
    });
  });
  std::error_code ec;
  const auto raw = c1->session()->get("/json", {}, ec).data;
  ASSERT_FALSE(ec);
  // After dstm's 10-byte envelope (magic, format version, writer id) comes plain JSON.
  EXPECT_EQ(raw.substr(dstm::detail::envelope_header), "[1,2,3]");
  // The binary format does not read it.
  EXPECT_THROW((dstm::ref<std::vector<int>>{c2, "/json"}), dstm::serialization_error);
  EXPECT_EQ((dstm::ref<std::vector<int>, dstm::json_serializer>{c2, "/json"}.deref()),
            (std::vector<int>{1, 2, 3}));
}

TEST_F(StmRef, PolicyBundleSetsStorageAndSerializer) {
  using bundled = dstm::ref<int, json_local_bundle>;
  static_assert(std::is_same_v<bundled::storage_type, dstm::local>);
  static_assert(std::is_same_v<bundled::serializer_type, dstm::json_serializer>);
  using reordered = dstm::ref<int, dstm::json_serializer, dstm::local>;
  static_assert(std::is_same_v<reordered::storage_type, dstm::local>);
  static_assert(std::is_same_v<reordered::serializer_type, dstm::json_serializer>);
  static_assert(std::is_same_v<dstm::ref<int>::storage_type, dstm::in_coordinator>);
  static_assert(std::is_same_v<dstm::ref<int>::serializer_type, dstm::binary_serializer>);
  bundled r{c1, "bundled", 4};
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.alter(r, [](int v) { return v * 2; }); });
  EXPECT_EQ(r.deref(), 8);
  std::error_code ec;
  EXPECT_FALSE(c1->session()->exists("/bundled", {}, ec).has_value());
}

}  // namespace
