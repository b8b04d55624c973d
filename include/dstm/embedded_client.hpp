#pragma once
/// \file
/// `dstm::embedded::connect`: an STM client on the in-process coordinator — dstm with no server.
///
/// \code
/// auto store = std::make_shared<dstm::embedded::store>();
/// auto c1 = dstm::embedded::connect(store);   // a session on `store`
/// auto c2 = dstm::embedded::connect(store);   // another session, same data
/// auto c3 = dstm::embedded::connect();        // the process-wide store
/// \endcode

#include <memory>

#include "dstm/client.hpp"
#include "dstm/embedded.hpp"

namespace dstm::embedded {

/// A new client (a new session) on `s`. After an expiry the client opens its next session on
/// the same store.
inline std::shared_ptr<client> connect(std::shared_ptr<store> s, client_options options = {}) {
  return connect_with([s] { return open(s); }, std::move(options));
}

/// A new client on the process-wide store (`default_store()`).
inline std::shared_ptr<client> connect(client_options options = {}) {
  return connect(default_store(), std::move(options));
}

}  // namespace dstm::embedded
