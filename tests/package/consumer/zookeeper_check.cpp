#include <dstm/zookeeper.hpp>

bool zookeeper_header_usable() { return dstm::coordinator<dstm::zookeeper::coordinator>; }
