// External storage (include/dstm/storage/external.hpp): values as immutable blobs per version,
// the znode holding the key. Laws of the blob store and of the storage, values over the
// coordinator's size limit, cleanup after commits and aborts, outages, and the collector —
// including the race it must never lose (a commit in flight while its blob is collected).

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <cstdint>
#include <dstm/dstm.hpp>
#include <dstm/storage/external.hpp>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blob_store_laws.hpp"
#include "support.hpp"

namespace {

using dstm_test::fast_options;
using blobs = dstm::memory_blob_store;
using big_ref = dstm::ref<std::string, dstm::external<blobs>>;

class StmExternal : public ::testing::Test {
 protected:
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm::client> c1 = dstm::embedded::connect(store, fast_options());
  std::shared_ptr<dstm::client> c2 = dstm::embedded::connect(store, fast_options());
  std::shared_ptr<blobs> values = std::make_shared<blobs>();

  std::string pointer(const std::string& path) {
    std::error_code ec;
    auto n = c2->session()->get(path, {}, ec);
    EXPECT_FALSE(ec) << ec.message();
    return std::string(dstm::detail::unseal(n.data, path));
  }
};

// The blob store concept's laws against a std::map model, for the in-memory model.
RC_GTEST_PROP(BlobStoreLaws, MemoryStoreBehavesLikeAMap, ()) {
  blobs s;
  const auto raw =
      *rc::gen::container<std::vector<std::tuple<int, int, std::string>>>(rc::gen::tuple(
          rc::gen::inRange(0, 3), rc::gen::inRange(0, 6), rc::gen::arbitrary<std::string>()));
  std::vector<dstm_test::blob_step> steps;
  for (const auto& [what, k, bytes] : raw) {
    steps.emplace_back(what, "/r@" + std::to_string(k % 3) + "." + std::to_string(k), bytes);
  }
  const std::vector<std::string> prefixes = {"/r@", "/r@1", "/r@2.", "/x"};
  dstm_test::check_behaves_like_a_map(s, steps, prefixes);
}

TEST_F(StmExternal, StorageLawsHold) {
  big_ref r{c1, "/law", std::string("v0"), values};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.ref_set(r, std::string("v1"));
    EXPECT_EQ(tx.deref(r), "v1");  // read-your-write
  });
  EXPECT_EQ(dstm::dosync(c1, [&](dstm::txn& tx) { return tx.deref(r); }), "v1");
  EXPECT_THROW(dstm::dosync(c1,
                            [&](dstm::txn& tx) {
                              tx.ref_set(r, std::string("v2"));
                              throw std::runtime_error("abort");
                            }),
               std::runtime_error);
  EXPECT_EQ(r.deref(), "v1");
  big_ref other{c2, "/law", values};  // another client connects without clobbering
  EXPECT_EQ(other.deref(), "v1");
}

TEST_F(StmExternal, ValuesOverTheCoordinatorLimitWork) {
  const std::string three_mb(3 * 1024 * 1024, 'x');
  big_ref r{c1, "/big", std::string("small"), values};
  dstm::ref<std::string> inline_ref{c1, "/inline", std::string("small")};
  // The same value inline is refused before anything is sent...
  EXPECT_THROW(dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(inline_ref, three_mb); }),
               std::system_error);
  // ...and goes through external storage, in a transaction with an inline ref.
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.ref_set(r, three_mb + "!");
    tx.ref_set(inline_ref, std::string("moved"));
  });
  big_ref reader{c2, "/big", values};
  EXPECT_EQ(reader.deref().size(), three_mb.size() + 1);
  EXPECT_EQ(inline_ref.deref(), "moved");
  EXPECT_LT(pointer("/big").size(), 100u) << "the znode holds only the key";
}

TEST_F(StmExternal, ReplacedVersionsAndAbortedCommitsLeaveNoBlobs) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto writer = dstm_test::connect_hooked(store, hooks, fast_options());
  big_ref w{writer, "/r", std::string("0"), values};
  big_ref rival{c2, "/r", values};
  auto bump = [](const std::string& v) { return std::to_string(std::stoi(v) + 1); };
  for (int i = 0; i < 10; ++i) {
    // The rival commits just before the writer's multi: the writer's blob of that attempt
    // belongs to a refused commit and must go.
    hooks->before_next_multi(
        [&] { dstm::dosync(c2, [&](dstm::txn& tx) { tx.alter(rival, bump); }); });
    dstm::dosync(writer, [&](dstm::txn& tx) { tx.alter(w, bump); });
  }
  EXPECT_EQ(w.deref(), "20");
  EXPECT_EQ(writer->metrics().conflicts, 10u);
  // Exactly the current version's blob is left: replaced ones and refused ones are gone.
  std::error_code ec;
  EXPECT_EQ(values->keys("/r@", ec), std::vector<std::string>{pointer("/r")});
  EXPECT_EQ(w.collect_garbage(), 0u);
}

TEST_F(StmExternal, AnOutageDuringCommitAbortsCleanly) {
  big_ref r{c1, "/r", std::string("before"), values};
  dstm::ref<int> n{c1, "/n", 0};
  const auto key = pointer("/r");
  values->set_available(false);
  try {
    dstm::dosync(c1, [&](dstm::txn& tx) {
      tx.ref_set(r, std::string("after"));
      tx.alter(n, [](int v) { return v + 1; });
    });
    FAIL() << "the commit should have failed";
  } catch (const dstm::error& e) {
    EXPECT_EQ(e.code(), dstm::errc::storage_unavailable) << e.what();
  }
  values->set_available(true);
  EXPECT_EQ(n.deref(), 0) << "nothing of the transaction was written";
  EXPECT_EQ(pointer("/r"), key);
  EXPECT_EQ(r.deref(), "before");
  // The store fails only once mid-commit (a second ref's blob): the first blob is removed.
  big_ref s{c1, "/s", std::string("s0"), values};
  values->fail_next(1);
  EXPECT_THROW(dstm::dosync(c1,
                            [&](dstm::txn& tx) {
                              tx.ref_set(r, std::string("r1"));
                              tx.ref_set(s, std::string("s1"));
                            }),
               dstm::error);
  EXPECT_EQ(values->size(), 2u) << "no blob of the failed commit is left";
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, std::string("r1")); });
  EXPECT_EQ(r.deref(), "r1");
}

TEST_F(StmExternal, CollectorRemovesGarbageOfACrashedWriterAndKeepsTheCurrentValue) {
  big_ref r{c1, "/r", std::string("v0"), values};
  dstm::dosync(c1, [&](dstm::txn& tx) { tx.ref_set(r, std::string("v1")); });
  // A writer that crashed after writing its blob: its lane's record says it never committed
  // that transaction (sequence 0 < 77), so the collector fences the lane and deletes it.
  std::error_code ec;
  const auto garbage = dstm::detail::blob_key("/r", c2->id(), "0", 77);
  big_ref r2{c2, "/r", values};
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, tx.deref(r2)); });
  values->put(garbage, "half-written", ec);
  values->put("/r@not-a-dstm-key", "foreign", ec);
  const auto current = pointer("/r");
  EXPECT_EQ(r.collect_garbage(), 1u);
  EXPECT_FALSE(values->get(garbage, ec).has_value());
  EXPECT_TRUE(values->get(current, ec).has_value());
  EXPECT_TRUE(values->get("/r@not-a-dstm-key", ec).has_value()) << "not ours: left alone";
  EXPECT_EQ(r.deref(), "v1");
  // The fenced writer still commits (its next multi meets the moved record and retries).
  dstm::dosync(c2, [&](dstm::txn& tx) { tx.ref_set(r2, std::string("v2")); });
  EXPECT_EQ(r.deref(), "v2");
}

// The race the fence exists for: the collector runs after a commit wrote its blob and before
// its multi applied. Without the fence, the multi would swing the pointer to a deleted blob.
TEST_F(StmExternal, ACommitInFlightIsFencedNotLeftDangling) {
  auto hooks = std::make_shared<dstm_test::multi_hooks>();
  auto writer = dstm_test::connect_hooked(store, hooks, fast_options());
  big_ref w{writer, "/r", std::string("v0"), values};
  big_ref collector{c2, "/r", values};
  dstm::dosync(writer, [&](dstm::txn& tx) { tx.ref_set(w, std::string("v1")); });
  std::size_t collected = 0;
  hooks->before_next_multi([&] { collected = collector.collect_garbage(); });
  int runs = 0;
  dstm::dosync(writer, [&](dstm::txn& tx) {
    ++runs;
    tx.ref_set(w, std::string("v2"));
  });
  EXPECT_EQ(collected, 1u) << "the in-flight blob was collected";
  EXPECT_EQ(runs, 1) << "the fenced commit retried its multi, not the body";
  big_ref reader{dstm::embedded::connect(store, fast_options()), "/r", values};
  EXPECT_EQ(reader.deref(), "v2");
  std::error_code ec;
  EXPECT_EQ(values->keys("/r@", ec), std::vector<std::string>{pointer("/r")});
}

TEST_F(StmExternal, AtomsAndLocalRefsJoinExternalOnes) {
  dstm::atom<std::string, dstm::external<blobs>> a{c1, "/a", std::string("x"), values};
  EXPECT_EQ(a.update([](std::string v) { return v + "y"; }), "xy");
  dstm::ref<std::vector<int>, dstm::local> here{c1, "here", std::vector<int>{1}};
  dstm::ref<std::vector<int>, dstm::external<blobs>> there{c1, "/there", std::vector<int>{},
                                                           values};
  dstm::dosync(c1, [&](dstm::txn& tx) {
    tx.ref_set(there, tx.deref(here));
    tx.ref_set(here, std::vector<int>{});
  });
  EXPECT_EQ(there.deref(), std::vector<int>{1});
  EXPECT_TRUE(here.deref().empty());
}

TEST_F(StmExternal, ForeignNodeAndNullStoreAreRejected) {
  std::error_code ec;
  c1->session()->create("/foreign", "plain bytes", dstm::create_mode::persistent,
                        dstm::open_acl_unsafe(), nullptr, ec);
  EXPECT_THROW((big_ref{c1, "/foreign", values}), dstm::serialization_error);
  EXPECT_THROW((big_ref{c1, "/x", std::string("v"), std::shared_ptr<blobs>{}}), dstm::error);
}

}  // namespace
