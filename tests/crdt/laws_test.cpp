// The laws of lww_element_set and of the hybrid logical clock, with RapidCheck. Timestamps are
// drawn from a tiny range so that equal elements, equal stamps and add/remove ties are common.
//   merge is commutative, associative and idempotent
//   replicas merged in any order and grouping hold the same state and members, which agree with
//     an independent model (per element: the latest add against the latest remove, ties to
//     the bias)
//   delta sync: a receiver holding every entry of s stamped up to t catches up with
//     s.updates_since(t) exactly as with s
//   the HLC's timestamps grow strictly, exceed whatever it observed and never fall behind the
//     physical clock, however that clock jumps
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <dstm/crdt/clock.hpp>
#include <dstm/crdt/lww_element_set.hpp>
#include <dstm/serial/binary.hpp>
#include <dstm/serial/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace crdt = dstm::crdt;
using crdt::timestamp;

struct op {
  bool add = true;
  std::string element;
  timestamp stamp;
};

rc::Gen<timestamp> small_stamp() {
  return rc::gen::apply(
      [](std::int64_t w, std::uint32_t l, std::uint64_t n) {
        return timestamp{w, l, n};
      },
      rc::gen::inRange<std::int64_t>(-1, 5), rc::gen::inRange<std::uint32_t>(0, 3),
      rc::gen::inRange<std::uint64_t>(0, 3));
}

rc::Gen<op> any_op() {
  return rc::gen::apply(
      [](bool add, std::string e, timestamp t) {
        return op{add, e, t};
      },
      rc::gen::arbitrary<bool>(), rc::gen::element<std::string>("a", "b", "c", "d", "e"),
      small_stamp());
}

rc::Gen<std::vector<op>> ops() { return rc::gen::container<std::vector<op>>(any_op()); }

template <class Set>
Set build(const std::vector<op>& os) {
  Set s;
  for (const auto& o : os)
    o.add ? (void)s.insert(o.element, o.stamp) : (void)s.erase(o.element, o.stamp);
  return s;
}

/// The independent model: per element, the latest add against the latest remove.
template <class Bias>
std::vector<std::string> model_members(const std::vector<op>& os) {
  std::map<std::string, std::pair<std::optional<timestamp>, std::optional<timestamp>>> m;
  for (const auto& o : os) {
    auto& slot = o.add ? m[o.element].first : m[o.element].second;
    if (!slot || *slot < o.stamp) slot = o.stamp;
  }
  std::vector<std::string> out;
  for (const auto& [e, ar] : m) {
    const auto& [a, r] = ar;
    if (!a) continue;
    if (!r || *r < *a || (*r == *a && Bias::adds_win_ties)) out.push_back(e);
  }
  return out;
}

using set = crdt::lww_element_set<std::string>;
using rset = crdt::lww_element_set<std::string, crdt::remove_wins>;

RC_GTEST_PROP(LwwLaws, MergeIsCommutative, ()) {
  const auto a = build<set>(*ops());
  const auto b = build<set>(*ops());
  RC_ASSERT(merge(a, b) == merge(b, a));
}

RC_GTEST_PROP(LwwLaws, MergeIsAssociative, ()) {
  const auto a = build<set>(*ops());
  const auto b = build<set>(*ops());
  const auto c = build<set>(*ops());
  RC_ASSERT(merge(merge(a, b), c) == merge(a, merge(b, c)));
}

RC_GTEST_PROP(LwwLaws, MergeIsIdempotent, ()) {
  const auto a = build<set>(*ops());
  const auto b = build<set>(*ops());
  RC_ASSERT(merge(a, a) == a);
  const auto ab = merge(a, b);
  RC_ASSERT(merge(ab, b) == ab);
  RC_ASSERT(merge(ab, a) == ab);
}

/// Merges `replicas` along a random binary tree over a random permutation.
template <class Set>
Set merge_randomly(std::vector<Set> replicas) {
  if (replicas.empty()) return Set{};
  const auto order = *rc::gen::unique<std::vector<std::size_t>>(
      replicas.size(), rc::gen::inRange<std::size_t>(0, replicas.size()));
  std::vector<Set> pool;
  for (auto i : order) pool.push_back(replicas[i]);
  while (pool.size() > 1) {
    const auto i = *rc::gen::inRange<std::size_t>(0, pool.size() - 1);
    pool[i] = merge(pool[i], pool[i + 1]);  // group two neighbours
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  }
  return pool.front();
}

template <class Set>
void any_order_and_grouping() {
  const auto per_replica = *rc::gen::container<std::vector<std::vector<op>>>(ops());
  std::vector<Set> replicas;
  std::vector<op> all;
  for (const auto& os : per_replica) {
    replicas.push_back(build<Set>(os));
    all.insert(all.end(), os.begin(), os.end());
  }
  Set folded;
  for (const auto& r : replicas) folded.merge(r);
  const auto shuffled = merge_randomly(replicas);
  RC_ASSERT(shuffled == folded);
  RC_ASSERT(shuffled.members() == folded.members());
  RC_ASSERT(folded.members() == model_members<typename Set::bias_type>(all));
}

RC_GTEST_PROP(LwwLaws, AnyOrderAndGroupingGivesTheSameMembers, ()) {
  any_order_and_grouping<set>();
}
RC_GTEST_PROP(LwwLaws, AnyOrderAndGroupingGivesTheSameMembersRemoveWins, ()) {
  any_order_and_grouping<rset>();
}

RC_GTEST_PROP(LwwLaws, ContainsAgreesWithMembers, ()) {
  const auto s = build<set>(*ops());
  const auto m = s.members();
  for (const char* e : {"a", "b", "c", "d", "e"})
    RC_ASSERT(s.contains(e) == std::binary_search(m.begin(), m.end(), std::string(e)));
  RC_ASSERT(s.size() == m.size());
}

RC_GTEST_PROP(LwwLaws, DeltaSyncEqualsFullMerge, ()) {
  const auto source_ops = *ops();
  const auto s = build<set>(source_ops);
  const auto t = *small_stamp();
  // The receiver: anything, plus everything of s stamped up to t.
  auto r = build<set>(*ops());
  for (const auto& [e, st] : s.adds())
    if (!(t < st)) r.insert(e, st);
  for (const auto& [e, st] : s.removes())
    if (!(t < st)) r.erase(e, st);
  const auto delta = s.updates_since(t);
  RC_ASSERT(merge(r, delta) == merge(r, s));
  for (const auto& [e, st] : delta.adds()) RC_ASSERT(t < st);
  for (const auto& [e, st] : delta.removes()) RC_ASSERT(t < st);
  // Syncing from the sender's own latest stamp sends nothing.
  if (auto l = s.latest()) RC_ASSERT(s.updates_since(*l).empty());
}

RC_GTEST_PROP(LwwLaws, TiesGoToTheBias, ()) {
  const auto os = *ops();
  const auto e = *rc::gen::element<std::string>("a", "b", "c", "d", "e");
  const timestamp later{100, 0, 0};  // after everything generated
  auto a = build<set>(os);
  auto r = build<rset>(os);
  const bool add_first = *rc::gen::arbitrary<bool>();
  if (add_first) {
    a.insert(e, later), a.erase(e, later), r.insert(e, later), r.erase(e, later);
  } else {
    a.erase(e, later), a.insert(e, later), r.erase(e, later), r.insert(e, later);
  }
  RC_ASSERT(a.contains(e));
  RC_ASSERT(!r.contains(e));
}

RC_GTEST_PROP(LwwLaws, BothSerializersRoundTrip, ()) {
  const auto s = build<set>(*ops());
  RC_ASSERT((dstm::serial::from_bytes<dstm::binary_serializer, set>(
                dstm::serial::to_bytes<dstm::binary_serializer>(s))) == s);
  RC_ASSERT((dstm::serial::from_bytes<dstm::json_serializer, set>(
                dstm::serial::to_bytes<dstm::json_serializer>(s))) == s);
}

struct scripted_time {
  std::shared_ptr<std::int64_t> t = std::make_shared<std::int64_t>(0);
  std::int64_t operator()() const { return *t; }
};

RC_GTEST_PROP(HlcLaws, MonotonicUnderSkewAndJumps, ()) {
  scripted_time physical;
  const auto node = *rc::gen::inRange<std::uint64_t>(0, 1000);
  crdt::basic_hlc<scripted_time> clock(node, physical);
  std::optional<timestamp> highest;  // the greatest stamp issued or observed
  const auto steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) {
    switch (*rc::gen::inRange(0, 3)) {
      case 0:  // the physical clock jumps, backwards as often as forwards
        *physical.t = *rc::gen::inRange<std::int64_t>(-1'000'000, 1'000'000);
        break;
      case 1: {  // a remote stamp from a clock skewed either way
        const timestamp remote{*physical.t + *rc::gen::inRange<std::int64_t>(-500'000, 500'000),
                               *rc::gen::inRange<std::uint32_t>(0, 5),
                               *rc::gen::inRange<std::uint64_t>(0, 1000)};
        clock.observe(remote);
        if (!highest || *highest < remote) highest = remote;
        break;
      }
      default: {
        const auto t = clock.now();
        if (highest) RC_ASSERT(*highest < t);
        RC_ASSERT(t.wall >= *physical.t);
        RC_ASSERT(t.node == node);
        highest = t;
      }
    }
  }
}

}  // namespace
