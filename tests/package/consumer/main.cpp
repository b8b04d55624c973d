// A user's program: it includes dstm through the installed or vendored package.
#include <dstm/coordinator/concept.hpp>
#include <dstm/error.hpp>

#include <iostream>

#ifdef DSTM_CONSUMER_HAS_ZOOKEEPER
bool zookeeper_header_usable();
#endif

int main() {
  const auto ec = dstm::make_error_code(dstm::coordinator_errc::no_node);
  if (ec.message() != "no node") return 1;
  if (dstm::validate_path("/a/b")) return 2;
#ifdef DSTM_CONSUMER_HAS_ZOOKEEPER
  if (!zookeeper_header_usable()) return 3;
#endif
  std::cout << "dstm consumer ok\n";
  return 0;
}
