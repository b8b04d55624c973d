// A Hana struct whose member holds pointers: the sentence names the innermost part (int*).
#include <boost/hana/define_struct.hpp>
#include <string_view>
#include <vector>

#include "dstm/serial/json.hpp"

struct holder {
  BOOST_HANA_DEFINE_STRUCT(holder, (int, id), (std::vector<int*>, targets));
};

holder decode(std::string_view bytes) {
  return dstm::serial::from_bytes<dstm::json_serializer, holder>(bytes);
}
