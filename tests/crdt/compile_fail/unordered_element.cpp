// An lww_element_set's elements key a std::map: an element type without an order is refused
// with a sentence naming the fix.
#include <dstm/crdt/lww_element_set.hpp>

struct point {
  int x, y;
};

int main() {
  dstm::crdt::lww_element_set<point> s;
  return static_cast<int>(s.size());
}
