#pragma once
/// \file
/// The Storage policy: where a ref's value lives.
///
/// **What it is.** A tag type that tells the STM how a ref's committed value is kept:
///  - `in_coordinator` (the default): the value, serialized, is the znode's data inside dstm's
///    small envelope; the znode's version is the ref's version. One `multi` commits it.
///  - `local`: process memory. A local ref is never serialized; it joins distributed
///    transactions — locked (in a global order) and validated around the `multi`, applied only if
///    the `multi` commits.
///  - `external<Store>` (storage/external.hpp): an immutable blob per version in a blob store,
///    the znode holding its key — Avout's VersionedStateContainer.
///
/// **Requirements.** `typename S::dstm_storage` exists and `S::kind` is a `storage_kind`.
///
/// **Laws** (tests/stm checks them for every model): read-your-write inside a transaction; a
/// committed write is what the next transaction reads; an aborted transaction leaves the
/// stored value untouched.
///
/// **Models.** `dstm::in_coordinator`, `dstm::local`, `dstm::external<Store>`.

#include <concepts>

namespace dstm {

enum class storage_kind { coordinator, local, external };

/// The value is the znode's data (default).
struct in_coordinator {
  using dstm_storage = void;
  static constexpr storage_kind kind = storage_kind::coordinator;
};

/// The value lives in this process only; the ref still joins distributed transactions.
struct local {
  using dstm_storage = void;
  static constexpr storage_kind kind = storage_kind::local;
};

template <class S>
concept storage = requires {
                    typename S::dstm_storage;
                    { S::kind } -> std::convertible_to<storage_kind>;
                  };

}  // namespace dstm
