#pragma once
/// \file
/// `dstm-check isolation`: the command-line front end of the Elle-style isolation checker.
/// (First version: the checker is being written; this entry point answers "unknown input".)

#include <ostream>
#include <span>
#include <string>

namespace dstm::check {

/// Runs `dstm-check isolation <args>`; returns the exit code.
inline int isolation_command(std::span<const std::string> args, std::ostream& out,
                             std::ostream& err) {
  (void)args;
  (void)out;
  err << "isolation: checker not built yet\n";
  return 3;
}

}  // namespace dstm::check
