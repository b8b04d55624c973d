// Must not compile: `not_a_storage` is not a storage policy (no dstm_storage, no kind).
#include <dstm/ref.hpp>

struct not_a_storage {};

int main() {
  dstm::ref<int, not_a_storage>* r = nullptr;
  return r != nullptr && r->path().empty();
}
