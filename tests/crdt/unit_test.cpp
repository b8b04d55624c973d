// lww_element_set, its clocks and its serialized forms, one behaviour per test; and sets in refs
// on the embedded coordinator (merge and stamp-at-commit through commute).
#include <gtest/gtest.h>

#include <cstdint>
#include <dstm/crdt/all.hpp>
#include <dstm/dstm.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace crdt = dstm::crdt;
using crdt::timestamp;
using set = crdt::lww_element_set<std::string>;
using remove_biased = crdt::lww_element_set<std::string, crdt::remove_wins>;

timestamp ts(std::int64_t wall, std::uint32_t logical = 0, std::uint64_t node = 1) {
  return {wall, logical, node};
}

/// A physical clock the test sets by hand (shared by copies).
struct manual_time {
  std::shared_ptr<std::int64_t> t = std::make_shared<std::int64_t>(0);
  std::int64_t operator()() const { return *t; }
};

static_assert(crdt::clock<crdt::hlc>);
static_assert(crdt::clock<crdt::basic_hlc<manual_time>>);
static_assert(!crdt::clock<int>);
static_assert(crdt::bias<crdt::add_wins> && crdt::bias<crdt::remove_wins>);
static_assert(dstm::serializer_for<dstm::binary_serializer, set>);
static_assert(dstm::serializer_for<dstm::json_serializer, set>);
static_assert(dstm::serializer_for<dstm::json_serializer, crdt::lww_element_set<int>>);

TEST(LwwElementSet, AnElementIsAMemberIffAddedLaterThanRemoved) {
  set s;
  EXPECT_FALSE(s.contains("a"));
  s.insert("a", ts(10));
  EXPECT_TRUE(s.contains("a"));
  s.erase("a", ts(20));
  EXPECT_FALSE(s.contains("a"));
  s.insert("a", ts(15));  // older than the remove: stays out
  EXPECT_FALSE(s.contains("a"));
  s.insert("a", ts(30));
  EXPECT_TRUE(s.contains("a"));
  EXPECT_EQ(s.added_at("a"), ts(30));
  EXPECT_EQ(s.removed_at("a"), ts(20));
}

TEST(LwwElementSet, ARemoveBeforeTheAddArrivesStillWins) {
  set s;
  s.erase("x", ts(50));
  s.insert("x", ts(40));
  EXPECT_FALSE(s.contains("x"));
  EXPECT_TRUE(s.members().empty());
  EXPECT_FALSE(s.empty()) << "the tombstone and the add are kept";
}

TEST(LwwElementSet, OnlyTheLatestStampPerElementIsKept) {
  set s;
  EXPECT_TRUE(s.insert("a", ts(5)));
  EXPECT_FALSE(s.insert("a", ts(3)));
  EXPECT_FALSE(s.insert("a", ts(5)));
  EXPECT_TRUE(s.insert("a", ts(7)));
  EXPECT_EQ(s.adds().size(), 1u);
  EXPECT_EQ(s.adds().at("a"), ts(7));
}

TEST(LwwElementSet, MembersAreSortedAndSizeCountsThem) {
  set s;
  for (const char* x : {"c", "a", "b", "d"}) s.insert(x, ts(1));
  s.erase("d", ts(2));
  EXPECT_EQ(s.members(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s.size(), 3u);
}

TEST(LwwElementSet, TiesGoToTheBias) {
  set a;
  a.insert("x", ts(5));
  a.erase("x", ts(5));
  EXPECT_TRUE(a.contains("x")) << "add_wins";
  remove_biased r;
  r.insert("x", ts(5));
  r.erase("x", ts(5));
  EXPECT_FALSE(r.contains("x")) << "remove_wins";
  // Only an exact tie: the node id orders otherwise equal walls.
  remove_biased r2;
  r2.insert("x", ts(5, 0, 2));
  r2.erase("x", ts(5, 0, 1));
  EXPECT_TRUE(r2.contains("x"));
}

TEST(LwwElementSet, MergeIsTheUnionOfLatestStamps) {
  set a, b;
  a.insert("x", ts(1));
  a.erase("y", ts(9));
  b.insert("y", ts(5));
  b.insert("x", ts(3));
  b.insert("z", ts(2));
  const auto m = merge(a, b);
  EXPECT_EQ(m.members(), (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(m.added_at("x"), ts(3));
  EXPECT_EQ(m, merge(b, a));
  EXPECT_EQ(merge(m, a), m);
}

TEST(LwwElementSet, UpdatesSinceHoldsOnlyLaterEntries) {
  set s;
  s.insert("a", ts(1));
  s.insert("b", ts(2));
  s.erase("a", ts(3));
  s.insert("c", ts(4));
  const auto d = s.updates_since(ts(2));
  EXPECT_EQ(d.adds().size(), 1u);
  EXPECT_EQ(d.added_at("c"), ts(4));
  EXPECT_EQ(d.removed_at("a"), ts(3));
  EXPECT_FALSE(d.added_at("b"));
  // A replica that saw everything up to ts(2) catches up with the delta alone.
  set r;
  r.insert("a", ts(1));
  r.insert("b", ts(2));
  r.merge(d);
  EXPECT_EQ(r, s);
  EXPECT_EQ(s.latest(), ts(4));
  EXPECT_FALSE(set{}.latest());
  EXPECT_TRUE(s.updates_since(ts(4)).empty());
}

TEST(LwwElementSet, InsertAndEraseWithAClockStampInOrder) {
  manual_time t;
  crdt::basic_hlc<manual_time> clock(7, t);
  set s;
  *t.t = 100;
  const auto a = s.insert("a", clock);
  const auto e = s.erase("a", clock);  // same physical time: the logical part orders them
  EXPECT_LT(a, e);
  EXPECT_EQ(a.node, 7u);
  EXPECT_EQ(e.wall, 100);
  EXPECT_EQ(e.logical, 1u);
  EXPECT_FALSE(s.contains("a"));
}

// ---- clocks ---------------------------------------------------------------------------------

TEST(HybridLogicalClock, FollowsThePhysicalClockWhenItMovesForward) {
  manual_time t;
  crdt::basic_hlc<manual_time> clock(1, t);
  *t.t = 1000;
  EXPECT_EQ(clock.now(), ts(1000, 0, 1));
  *t.t = 2000;
  EXPECT_EQ(clock.now(), ts(2000, 0, 1));
}

TEST(HybridLogicalClock, StaysMonotonicWhenThePhysicalClockJumpsBack) {
  manual_time t;
  crdt::basic_hlc<manual_time> clock(1, t);
  *t.t = 5000;
  const auto a = clock.now();
  *t.t = 10;  // NTP stepped the clock back
  const auto b = clock.now();
  const auto c = clock.now();
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(c.wall, 5000);
}

// The reason for a hybrid clock: replica A's wall clock runs 10 s ahead. Replica B (correct
// clock) sees A's insert and then erases the element, one second later in real time. With
// wall-clock stamps the erase is "older" and loses; with the HLC it wins.
TEST(HybridLogicalClock, ASkewedWallClockCannotMakeALaterWriteLose) {
  constexpr std::int64_t s = 1'000'000'000;
  manual_time real;
  *real.t = 100 * s;
  manual_time ahead;
  *ahead.t = 110 * s;
  crdt::basic_hlc<manual_time> a(1, ahead), b(2, real);

  set at_a;
  at_a.insert("x", a);
  set at_b;
  at_b.merge(at_a);
  b.observe(*at_b.latest());  // B read A's write
  *real.t += s;               // one second later, B erases
  at_b.erase("x", b);
  EXPECT_FALSE(merge(at_a, at_b).contains("x")) << "the later erase must win";
  EXPECT_FALSE(merge(at_b, at_a).contains("x"));

  // The control: stamping with the physical clocks alone loses the erase.
  set naive;
  naive.insert("x", ts(110 * s, 0, 1));
  naive.erase("x", ts(101 * s, 0, 2));
  EXPECT_TRUE(naive.contains("x"));
}

TEST(HybridLogicalClock, NowExceedsEveryObservedStamp) {
  manual_time t;
  crdt::basic_hlc<manual_time> clock(1, t);
  *t.t = 100;
  clock.observe(ts(500, 7, 9));
  const auto n = clock.now();
  EXPECT_GT(n, ts(500, 7, 9));
  EXPECT_EQ(n, ts(500, 8, 1));
  clock.observe(ts(400, 99, 9));  // older: changes nothing
  EXPECT_EQ(clock.now(), ts(500, 9, 1));
}

TEST(HybridLogicalClock, ACounterAtItsLimitBorrowsATick) {
  manual_time t;
  crdt::basic_hlc<manual_time> clock(1, t);
  clock.observe(ts(0, 0xffffffffu, 3));
  const auto n = clock.now();
  EXPECT_GT(n, ts(0, 0xffffffffu, 3));
  EXPECT_EQ(n, ts(1, 0, 1));
}

TEST(HybridLogicalClock, RefusesAStampBeyondTheMaxOffsetWithAClearError) {
  manual_time t;
  *t.t = 1'000;
  crdt::basic_hlc<manual_time> clock(1, t, crdt::hlc_options{500});
  clock.observe(ts(1'400, 0, 2));  // within the offset
  try {
    clock.observe(ts(9'000, 0, 3));
    FAIL() << "expected clock_error";
  } catch (const crdt::clock_error& e) {
    EXPECT_EQ(e.code(), dstm::errc::invalid_argument);
    const std::string what = e.what();
    EXPECT_NE(what.find("9000.0.3"), std::string::npos) << what;
    EXPECT_NE(what.find("8000 ns ahead"), std::string::npos) << what;
    EXPECT_NE(what.find("max_offset_ns = 500"), std::string::npos) << what;
  }
  EXPECT_EQ(clock.now().wall, 1'400) << "the refused stamp was not recorded";
}

TEST(HybridLogicalClock, TheWallClockIsTheDefaultSource) {
  crdt::hlc clock(3);
  const auto a = clock.now();
  const auto b = clock.now();
  EXPECT_LT(a, b);
  EXPECT_GT(a.wall, 1'600'000'000'000'000'000) << "nanoseconds since 1970, after 2020";
}

TEST(HybridLogicalClock, IsSafeToShareBetweenThreads) {
  crdt::hlc clock(1);
  std::vector<std::vector<timestamp>> seen(4);
  std::vector<std::thread> threads;
  for (auto& out : seen) {
    threads.emplace_back([&clock, &out] {
      for (int i = 0; i < 2000; ++i) out.push_back(clock.now());
    });
  }
  for (auto& th : threads) th.join();
  std::vector<timestamp> all;
  for (auto& v : seen) {
    for (std::size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1], v[i]);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a stamp was issued twice";
}

TEST(Timestamp, TextRoundTrips) {
  for (const auto& t :
       {ts(0), ts(-5, 2, 3), ts(1'700'000'000'000'000'000, 42, 0xffffffffffffffffu)}) {
    EXPECT_EQ(crdt::parse_timestamp(crdt::to_string(t)), t) << crdt::to_string(t);
  }
  EXPECT_EQ(crdt::to_string(ts(12, 3, 4)), "12.3.4");
}

TEST(Timestamp, MalformedTextIsRefusedWithAReason) {
  struct bad {
    const char* text;
    const char* reason;
  };
  for (const auto& [text, reason] : {
           bad{"", "wall is not a decimal number"},
           bad{"abc", "wall is not a decimal number"},
           bad{"12", "expected '.' after wall"},
           bad{"12.3", "expected '.' after logical"},
           bad{"12.x.4", "logical is not a decimal number"},
           bad{"12.3.4.5", "unexpected text after the node id"},
           bad{"12.3.4 ", "unexpected text after the node id"},
           bad{"12.-3.4", "logical is not a decimal number"},
           bad{"12.99999999999.4", "logical is out of range"},
           bad{"99999999999999999999.0.1", "wall is out of range"},
       }) {
    try {
      crdt::parse_timestamp(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const dstm::error& e) {
      EXPECT_EQ(e.code(), dstm::errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos)
          << "'" << text << "': " << e.what();
    }
    std::error_code ec;
    EXPECT_FALSE(crdt::parse_timestamp(text, ec));
    EXPECT_EQ(ec, dstm::errc::invalid_argument);
  }
}

// ---- serialization --------------------------------------------------------------------------

template <class S>
class SetSerialization : public ::testing::Test {};
using serializers = ::testing::Types<dstm::binary_serializer, dstm::json_serializer>;
TYPED_TEST_SUITE(SetSerialization, serializers);

TYPED_TEST(SetSerialization, RoundTrips) {
  set s;
  s.insert("a", ts(1, 2, 3));
  s.erase("b", ts(-4, 0, 9));
  s.insert("\xff binary", ts(7));  // not UTF-8: JSON keeps it too
  const auto bytes = dstm::serial::to_bytes<TypeParam>(s);
  EXPECT_EQ((dstm::serial::from_bytes<TypeParam, set>(bytes)), s);
  crdt::lww_element_set<int, crdt::remove_wins> n;
  n.insert(-3, ts(1));
  n.erase(8, ts(2));
  EXPECT_EQ(
      (dstm::serial::from_bytes<TypeParam, decltype(n)>(dstm::serial::to_bytes<TypeParam>(n))), n);
}

TYPED_TEST(SetSerialization, ASetIsNeverReadWithTheOtherBias) {
  set s;
  s.insert("a", ts(1));
  const auto bytes = dstm::serial::to_bytes<TypeParam>(s);
  try {
    (void)dstm::serial::from_bytes<TypeParam, remove_biased>(bytes);
    FAIL() << "decoded an add_wins set as remove_wins";
  } catch (const dstm::serialization_error& e) {
    EXPECT_NE(std::string(e.what()).find("bias 'add_wins' cannot be read as one with bias "
                                         "'remove_wins'"),
              std::string::npos)
        << e.what();
  }
}

TEST(SetSerialization, JsonIsReadable) {
  set s;
  s.insert("a", ts(1, 2, 3));
  s.erase("b", ts(4, 5, 6));
  EXPECT_EQ(dstm::serial::to_bytes<dstm::json_serializer>(s),
            R"({"adds":{"a":{"logical":2,"node":3,"wall":1}},"bias":"add_wins",)"
            R"("removes":{"b":{"logical":5,"node":6,"wall":4}}})");
}

TEST(SetSerialization, MalformedJsonSaysWhereAndWhy) {
  auto reason = [](const std::string& text) {
    try {
      (void)dstm::serial::from_bytes<dstm::json_serializer, set>(text);
    } catch (const dstm::serialization_error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(reason(R"({"adds":{"a":{"logical":2,"node":3}},"bias":"add_wins","removes":{}})")
                .find("/adds/a"),
            std::string::npos);
  EXPECT_NE(reason(R"({"adds":{"a":{"logical":-1,"node":3,"wall":1}},"bias":"add_wins",)"
                   R"("removes":{}})")
                .find("/adds/a/logical"),
            std::string::npos);
  EXPECT_NE(reason(R"([1,2])").find("lww"), std::string::npos) << reason(R"([1,2])");
  EXPECT_NE(reason("{").find("dstm::json_serializer"), std::string::npos);
}

TEST(SetSerialization, BinaryRejectsForeignAndTruncatedBytes) {
  set s;
  s.insert("a", ts(1));
  const auto bytes = dstm::serial::to_bytes<dstm::binary_serializer>(s);
  EXPECT_THROW((void)(dstm::serial::from_bytes<dstm::binary_serializer, set>(
                   bytes.substr(0, bytes.size() - 1))),
               dstm::serialization_error);
  EXPECT_THROW(
      (void)(dstm::serial::from_bytes<dstm::binary_serializer, crdt::lww_element_set<int>>(bytes)),
      dstm::serialization_error);
}

// ---- in refs (the embedded coordinator) -----------------------------------------------------

class SetInARef : public ::testing::Test {
 protected:
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm::client> c1 = dstm::embedded::connect(store);
  std::shared_ptr<dstm::client> c2 = dstm::embedded::connect(store);
};

TEST_F(SetInARef, MergeGoesThroughCommute) {
  dstm::ref<set> r1{c1, "/crdt/merge", set{}};
  dstm::ref<set> r2{c2, "/crdt/merge"};
  set d1, d2;
  d1.insert("a", ts(1, 0, 1));
  d2.insert("b", ts(2, 0, 2));
  d2.erase("a", ts(3, 0, 2));
  int runs = 0;
  dstm::dosync(c1, [&](dstm::txn& tx) {
    ++runs;
    crdt::merge(tx, r1, d1);
    // Another client commits in between: the commit re-applies the merge, the body stays run.
    if (runs == 1) dstm::dosync(c2, [&](dstm::txn& tx2) { crdt::merge(tx2, r2, d2); });
  });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(c1->metrics().retries, 0u);
  EXPECT_EQ(r1.deref_latest(), merge(d1, d2));
  EXPECT_EQ(r2.deref_latest().members(), std::vector<std::string>{"b"});

  // The control: the same merge through alter reads the ref, so the commit in between dooms
  // the run and the body runs again.
  runs = 0;
  set d3;
  d3.insert("c", ts(4, 0, 1));
  dstm::dosync(c1, [&](dstm::txn& tx) {
    ++runs;
    tx.alter(r1, [&](const set& v) { return merge(v, d3); });
    if (runs == 1) dstm::dosync(c2, [&](dstm::txn& tx2) { crdt::merge(tx2, r2, d1); });
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(r1.deref_latest().members(), (std::vector<std::string>{"b", "c"}));
}

TEST_F(SetInARef, StampsAtCommitGrowInCommitOrder) {
  dstm::ref<set, dstm::json_serializer> r1{c1, "/crdt/stamps", set{}};
  dstm::ref<set, dstm::json_serializer> r2{c2, "/crdt/stamps"};
  manual_time behind;  // c2's clock is far behind c1's: commit order still wins
  *behind.t = 0;
  crdt::hlc k1(1);
  crdt::basic_hlc<manual_time> k2(2, behind);
  const auto t1 = crdt::apply(c1, r1, k1, crdt::changes<std::string>{{"a", "b"}, {}});
  const auto t2 = crdt::apply(c2, r2, k2, crdt::changes<std::string>{{}, {"a"}});
  EXPECT_LT(t1, t2);
  EXPECT_EQ(t2.node, 2u);
  const auto v = r1.deref_latest();
  EXPECT_EQ(v.members(), std::vector<std::string>{"b"});
  EXPECT_EQ(v.latest(), t2);
  // What a reader at t1 missed is exactly the delta since t1.
  EXPECT_EQ(v.updates_since(t1).removes().size(), 1u);
  EXPECT_TRUE(v.updates_since(t1).adds().empty());
}

TEST_F(SetInARef, AStampTicketBeforeCommitIsAnError) {
  crdt::commit_stamp<timestamp> ticket;
  EXPECT_THROW((void)ticket.get(), std::logic_error);
}

}  // namespace
