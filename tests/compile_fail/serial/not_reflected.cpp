// A plain struct has no reflection: the binary serializer must say how to fix it.
#include <string>

#include "dstm/serial/binary.hpp"

struct not_reflected {
  int x;
};

std::string encode(const not_reflected& v) {
  return dstm::serial::to_bytes<dstm::binary_serializer>(v);
}
