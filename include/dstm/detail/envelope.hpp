#pragma once
/// \file
/// The envelope around a ref's value in its znode: a magic byte, a format version and the
/// writer's client id, then the serialized value. A znode that is not a dstm ref (another
/// tool's data) is rejected with `serialization_error` instead of being misread.

#include <cstdint>
#include <string>
#include <string_view>

#include "dstm/error.hpp"

namespace dstm::detail {

inline constexpr unsigned char envelope_magic = 0xD5;
inline constexpr unsigned char envelope_version = 1;
inline constexpr std::size_t envelope_header = 2 + 8;

inline std::string seal(std::uint64_t writer, std::string_view value) {
  std::string out;
  out.reserve(envelope_header + value.size());
  out.push_back(static_cast<char>(envelope_magic));
  out.push_back(static_cast<char>(envelope_version));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((writer >> (8 * i)) & 0xff));
  out.append(value);
  return out;
}

/// The serialized value inside `data`; throws `serialization_error` for foreign data.
inline std::string_view unseal(std::string_view data, std::string_view path) {
  if (data.size() < envelope_header || static_cast<unsigned char>(data[0]) != envelope_magic) {
    throw serialization_error("znode " + std::string(path) +
                              " does not hold a dstm ref (no dstm envelope)");
  }
  if (static_cast<unsigned char>(data[1]) != envelope_version) {
    throw serialization_error("znode " + std::string(path) + " has dstm envelope version " +
                              std::to_string(static_cast<unsigned char>(data[1])) +
                              "; this build reads version 1");
  }
  return data.substr(envelope_header);
}

/// The writer's client id from a sealed value (0 if not an envelope).
inline std::uint64_t envelope_writer(std::string_view data) noexcept {
  if (data.size() < envelope_header) return 0;
  std::uint64_t w = 0;
  for (int i = 0; i < 8; ++i)
    w |= std::uint64_t{static_cast<unsigned char>(data[2 + i])} << (8 * i);
  return w;
}

/// splitmix64: the STM's only random source (backoff jitter, client ids), seeded from the
/// coordinator so a simulated run is reproducible.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace dstm::detail
