// The Clock policy of an lww_element_set must model dstm::crdt::clock.
#include <dstm/crdt/lww_element_set.hpp>
#include <string>

struct not_a_clock {
  using timestamp_type = int;
};

int main() {
  dstm::crdt::lww_element_set<std::string, dstm::crdt::add_wins, not_a_clock> s;
  return static_cast<int>(s.size());
}
