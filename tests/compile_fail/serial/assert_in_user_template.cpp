// assert_serializer_for is what a class template taking a serializer policy calls; a
// non-default-constructible struct cannot be decoded member by member.
#include <boost/hana/define_struct.hpp>

#include "dstm/serial/binary.hpp"

struct no_default {
  BOOST_HANA_DEFINE_STRUCT(no_default, (int, a));
  explicit no_default(int v) : a(v) {}
};

template <class T, class S = dstm::binary_serializer>
struct cell {
  static_assert(dstm::assert_serializer_for<S, T>());
  T value;
};

cell<no_default> c{no_default(1)};
