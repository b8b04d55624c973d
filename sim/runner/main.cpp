// dstm-sim: runs a workload in the deterministic simulation (see --help and docs/sim.md).
#include <iostream>
#include <string>
#include <vector>

#include "dstm/sim/runner.hpp"
#include "dstm/sim/workloads.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return dstm::sim::run_cli(args, dstm::sim::builtin_workloads(), std::cout, std::cerr,
                              argc > 0 ? argv[0] : "dstm-sim");
  } catch (const std::exception& e) {
    std::cerr << "dstm-sim: " << e.what() << '\n';
    return 1;
  }
}
