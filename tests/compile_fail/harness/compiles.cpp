// Compiles cleanly: compile_fail.harness.compiles must report that as a failure.
#include "dstm/error.hpp"

int harness_compiles() { return static_cast<int>(dstm::errc::conflict); }
