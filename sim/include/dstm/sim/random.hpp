#pragma once
/// \file
/// The simulation's only source of randomness: splitmix64 to expand seeds, xoshiro256** to draw,
/// and integer-only helpers ("1 in N", "per million", a bounded integer) so that a run depends on
/// nothing but its seed — never on `std::random_device`, a clock, or the standard library's
/// distributions (whose algorithms differ between implementations).

#include <array>
#include <cstdint>
#include <string_view>

namespace dstm::sim {

/// One step of splitmix64: a fast, well-mixed bijection on 64-bit integers.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a over bytes; used to turn labels and payloads into 64-bit words.
constexpr std::uint64_t hash_bytes(std::string_view s,
                                   std::uint64_t h = 0xcbf29ce484222325ULL) noexcept {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// xoshiro256** seeded through splitmix64. Deterministic on every platform; cheap to copy.
///
/// Draws are integers only. Probabilities are written as integer ratios (`one_in(50)`,
/// `chance_per_million(2500)`), so a configuration reads the same in the code, the docs and
/// the trace.
class rng {
 public:
  explicit rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& word : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      word = mix64(x);
    }
  }

  /// The next 64 random bits.
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, n); n == 0 gives 0. Rejects the few draws that would bias the modulo.
  std::uint64_t below(std::uint64_t n) noexcept {
    if (n == 0) return 0;
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = next();
      if (x >= threshold) return x % n;
    }
  }

  /// Uniform in [lo, hi] (inclusive); hi < lo gives lo.
  std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
    if (hi <= lo) return lo;
    return lo + static_cast<std::int64_t>(
                    below(static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1));
  }

  /// True with probability 1/n (never for n == 0, always for n == 1).
  bool one_in(std::uint64_t n) noexcept { return n != 0 && below(n) == 0; }

  /// True with probability ppm / 1,000,000.
  bool chance_per_million(std::uint32_t ppm) noexcept { return ppm != 0 && below(1'000'000) < ppm; }

  /// A generator for a sub-component, independent of how many draws this one made.
  rng fork(std::string_view label) const noexcept {
    return rng(mix64(s_[0] ^ mix64(hash_bytes(label))) ^ s_[3]);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::array<std::uint64_t, 4> s_{};
};

/// Accumulates everything that happened in a run into one 64-bit word. Order-sensitive: two
/// runs hash equal only if they saw the same observations in the same order.
class trace_hash {
 public:
  void add(std::uint64_t word) noexcept {
    h_ = mix64(h_ ^ word) + 0x2545f4914f6cdd1dULL * ++count_;
  }
  void add(std::string_view bytes) noexcept { add(hash_bytes(bytes)); }
  template <class... Words>
  void add_all(Words... words) noexcept {
    (add(static_cast<std::uint64_t>(words)), ...);
  }
  std::uint64_t value() const noexcept { return mix64(h_ ^ count_); }
  std::uint64_t observations() const noexcept { return count_; }

 private:
  std::uint64_t h_ = 0x6a09e667f3bcc908ULL;
  std::uint64_t count_ = 0;
};

}  // namespace dstm::sim
