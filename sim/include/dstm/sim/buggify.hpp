#pragma once
/// \file
/// `DSTM_BUGGIFY`: fault points in the style of FoundationDB's BUGGIFY.
///
/// Write `if (DSTM_BUGGIFY) { ...do the unusual but legal thing... }` where real systems
/// sometimes behave strangely (a short timeout, an early retry, a spurious wake-up). Such a
/// point is live only when both hold:
///  1. the translation unit is compiled for simulation: `DSTM_SIMULATION` is defined to 1
///     (linking the `dstm::sim` CMake target defines it); otherwise the macro is the constant
///     `false` and the compiler removes the branch;
///  2. the calling thread is inside `dstm::sim::world::run()` of a world with buggify on.
/// Within a run, each fault point (file name + line) is enabled or not once per seed (a quarter
/// of them are), and an enabled point fires on a quarter of its evaluations — decided by the
/// world's seeded generator, so a run stays reproducible from its seed.
///
/// This header has no dependency on the rest of the simulation, so library code may include it
/// unconditionally.

namespace dstm::sim::detail {

/// Implemented by the running world; reached through `active_buggify`.
class buggify_source {
 public:
  virtual bool buggify_fire(const char* file, int line) noexcept = 0;

 protected:
  ~buggify_source() = default;
};

/// The world currently running on this OS thread, or null.
inline thread_local buggify_source* active_buggify = nullptr;

inline bool buggify(const char* file, int line) noexcept {
  return active_buggify != nullptr && active_buggify->buggify_fire(file, line);
}

}  // namespace dstm::sim::detail

#if defined(DSTM_SIMULATION) && DSTM_SIMULATION
#define DSTM_BUGGIFY (::dstm::sim::detail::buggify(__FILE__, __LINE__))
#else
#define DSTM_BUGGIFY (false)
#endif
