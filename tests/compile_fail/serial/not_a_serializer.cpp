// A type without encode/decode/supports used as a serializer.
#include <string>

#include "dstm/serial/concept.hpp"

struct my_serializer {
  static std::string encode(int v) { return std::to_string(v); }
};

std::string encode(int v) { return dstm::serial::to_bytes<my_serializer>(v); }
