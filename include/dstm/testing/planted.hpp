#pragma once
/// \file
/// Planted bugs: deliberate defects in the commit protocol that prove the verification harness
/// can fail. Each one removes one protection the STM's correctness rests on; a workload, an
/// invariant or a checker must catch every one of them (tests/stm_sim does, across seeds).
///
/// They exist only where `DSTM_PLANTED_BUGS` is defined to 1 — code that links `dstm::sim`
/// (tests and `dstm-sim`). Everywhere else `DSTM_PLANTED(name)` is the constant `false` and the
/// defects compile away. Select one with `dstm::testing::plant(bug)` (or
/// `dstm-sim --planted-bug NAME`); `planted_bug::none` turns them off again. The choice is
/// process-wide: plant only in tests that own the process or run one simulation at a time.

#include <array>
#include <atomic>
#include <optional>
#include <string_view>
#include <utility>

namespace dstm::testing {

enum class planted_bug {
  none,
  /// Commit writes with `any_version` and leaves out every read check: lost updates.
  skip_version_check,
  /// Commit applies a multi's operations one request at a time: no atomicity.
  multi_one_by_one,
  /// After a connection loss during commit, re-run the body without consulting the outcome
  /// record (and leave the record out of the multi): a commit can apply twice.
  blind_retry,
  /// Reads are not re-validated against the cache: a body may see an inconsistent snapshot.
  stale_snapshot,
  /// Commuted refs are committed from the snapshot's value without a version check, instead of
  /// being re-read and re-applied: concurrent commutes are lost.
  commute_no_reread,
  /// `ensure` does nothing: write skew under snapshot isolation even with ensure.
  drop_ensure,
};

/// Every planted bug with its command-line name (`none` excluded).
inline constexpr std::array<std::pair<planted_bug, std::string_view>, 6> planted_bugs{{
    {planted_bug::skip_version_check, "skip-version-check"},
    {planted_bug::multi_one_by_one, "multi-one-by-one"},
    {planted_bug::blind_retry, "blind-retry"},
    {planted_bug::stale_snapshot, "stale-snapshot"},
    {planted_bug::commute_no_reread, "commute-no-reread"},
    {planted_bug::drop_ensure, "drop-ensure"},
}};

/// The bug called `name`, or nullopt.
inline std::optional<planted_bug> planted_bug_named(std::string_view name) {
  if (name == "none") return planted_bug::none;
  for (const auto& [bug, n] : planted_bugs)
    if (n == name) return bug;
  return std::nullopt;
}

inline std::string_view planted_bug_name(planted_bug bug) {
  for (const auto& [b, n] : planted_bugs)
    if (b == bug) return n;
  return "none";
}

inline std::atomic<planted_bug>& active_planted_bug() noexcept {
  static std::atomic<planted_bug> active{planted_bug::none};
  return active;
}

/// Activates `bug` process-wide (no effect unless `DSTM_PLANTED_BUGS` is 1).
inline void plant(planted_bug bug) noexcept {
  active_planted_bug().store(bug, std::memory_order_relaxed);
}

/// Plants a bug for one scope.
class scoped_plant {
 public:
  explicit scoped_plant(planted_bug bug) noexcept { plant(bug); }
  ~scoped_plant() { plant(planted_bug::none); }
  scoped_plant(const scoped_plant&) = delete;
  scoped_plant& operator=(const scoped_plant&) = delete;
};

/// True when the build has planted bugs at all.
inline constexpr bool planted_bugs_compiled =
#if defined(DSTM_PLANTED_BUGS) && DSTM_PLANTED_BUGS
    true;
#else
    false;
#endif

}  // namespace dstm::testing

#if defined(DSTM_PLANTED_BUGS) && DSTM_PLANTED_BUGS
#define DSTM_PLANTED(name)                                                  \
  (::dstm::testing::active_planted_bug().load(std::memory_order_relaxed) == \
   ::dstm::testing::planted_bug::name)
#else
#define DSTM_PLANTED(name) false
#endif
