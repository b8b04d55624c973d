// dstm-check: checks recorded histories.
//
//   dstm-check linearizable FILE [--model cas-register|counter|set|mutex] [--time-limit S]
//                           [--html OUT.html] [--dot OUT.dot]
//   dstm-check isolation FILE ...        (see dstm-check isolation --help)
//
// The last line of the report is the verdict. Exit status: 0 valid, 1 invalid, 2 unknown,
// 3 unreadable input (with the line number and the reason) or a wrong command line.

#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <dstm/check/dot.hpp>
#include <dstm/check/history.hpp>
#include <dstm/check/html.hpp>
#include <dstm/check/linearizability.hpp>

#include "isolation_command.hpp"

namespace {

constexpr int exit_valid = 0;
constexpr int exit_invalid = 1;
constexpr int exit_unknown = 2;
constexpr int exit_bad_input = 3;

constexpr double default_time_limit_s = 60;

void usage(std::ostream& os) {
  os << "usage: dstm-check linearizable FILE [--model MODEL] [--time-limit SECONDS]\n"
        "                                [--html OUT.html] [--dot OUT.dot]\n"
        "       dstm-check isolation FILE [OPTIONS]   (dstm-check isolation --help)\n"
        "       dstm-check --help\n";
}

void linearizable_help(std::ostream& os) {
  os << "usage: dstm-check linearizable FILE [--model MODEL] [--time-limit SECONDS]\n"
        "                                [--html OUT.html] [--dot OUT.dot]\n"
        "Checks that a JSON-lines history of operations (FILE - is stdin) is linearizable,\n"
        "key by key. MODEL: cas-register (default: read, write, cas), counter (add, read),\n"
        "set (add, read), mutex (acquire, release). --time-limit bounds the search (default\n"
        "60 seconds, 0 for none); when it runs out the verdict is unknown.\n"
        "--html writes a self-contained page with a timeline of the history, the blamed\n"
        "operations marked; --dot writes the blamed operations as a Graphviz graph.\n"
        "The last line is valid, invalid or unknown.\n"
        "Exit status: 0 valid, 1 invalid, 2 unknown, 3 unreadable input or bad arguments.\n";
}

int linearizable_command(std::span<const std::string> args, std::ostream& out,
                         std::ostream& err) {
  std::string file;
  bool have_file = false;
  std::string model = "cas-register";
  double time_limit_s = default_time_limit_s;
  std::string html_file;
  std::string dot_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      linearizable_help(out);
      return exit_valid;
    }
    if (a == "--model" || a == "--time-limit" || a == "--html" || a == "--dot") {
      if (i + 1 == args.size()) {
        err << "dstm-check linearizable: " << a << " needs a value\n";
        return exit_bad_input;
      }
      const std::string& v = args[++i];
      if (a == "--model") {
        model = v;
        continue;
      }
      if (a == "--html" || a == "--dot") {
        (a == "--html" ? html_file : dot_file) = v;
        continue;
      }
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), time_limit_s);
      if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(time_limit_s) ||
          time_limit_s < 0) {
        err << "dstm-check linearizable: --time-limit needs a number of seconds >= 0, not \""
            << v << "\"\n";
        return exit_bad_input;
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      err << "dstm-check linearizable: unknown option " << a << "\n";
      linearizable_help(err);
      return exit_bad_input;
    }
    if (have_file) {
      err << "dstm-check linearizable: one FILE only (got " << file << " and " << a << ")\n";
      return exit_bad_input;
    }
    file = a;
    have_file = true;
  }
  if (!have_file) {
    err << "dstm-check linearizable: no FILE (use - for standard input)\n";
    linearizable_help(err);
    return exit_bad_input;
  }
  bool known_model = false;
  for (auto n : dstm::check::model_names) known_model = known_model || n == model;
  if (!known_model) {
    err << "dstm-check linearizable: unknown model \"" << model
        << "\" (known: cas-register, counter, set, mutex)\n";
    return exit_bad_input;
  }

  const std::string name = file == "-" ? "<stdin>" : file;
  dstm::check::history h;
  try {
    if (file == "-") {
      h = dstm::check::read_history(std::cin);
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        err << name << ": cannot open\n";
        return exit_bad_input;
      }
      h = dstm::check::read_history(in);
    }
  } catch (const dstm::check::history_error& e) {
    err << name << ":" << e.line() << ": " << e.reason() << "\n";
    return exit_bad_input;
  }

  dstm::check::linearizability_options options;
  if (time_limit_s > 0) {
    // The one real clock: the library only polls this predicate.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(time_limit_s));
    options.out_of_time = [deadline] { return std::chrono::steady_clock::now() >= deadline; };
  }
  dstm::check::linearizability_result result;
  try {
    result = dstm::check::check_linearizable(h, model, options);
  } catch (const dstm::check::history_error& e) {
    err << name << ":" << e.line() << ": " << e.reason() << "\n";
    return exit_bad_input;
  }
  out << result.explanation << to_string(result.result) << "\n";
  auto write_file = [&](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) err << "dstm-check linearizable: cannot write " << path << "\n";
    return static_cast<bool>(f);
  };
  if (!html_file.empty() &&
      !write_file(html_file, dstm::check::html_timeline(h, result, {.source = name})))
    return exit_bad_input;
  if (!dot_file.empty() && !write_file(dot_file, dstm::check::linearizability_dot(h, result)))
    return exit_bad_input;
  switch (result.result) {
    case dstm::check::verdict::valid: return exit_valid;
    case dstm::check::verdict::invalid: return exit_invalid;
    case dstm::check::verdict::unknown: return exit_unknown;
  }
  return exit_unknown;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(std::cerr);
    return exit_bad_input;
  }
  const std::string command = args.front();
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  if (command == "--help" || command == "-h" || command == "help") {
    usage(std::cout);
    return exit_valid;
  }
  if (command == "linearizable") return linearizable_command(rest, std::cout, std::cerr);
  if (command == "isolation") return dstm::check::isolation_command(rest, std::cout, std::cerr);
  std::cerr << "dstm-check: unknown command \"" << command << "\"\n";
  usage(std::cerr);
  return exit_bad_input;
}
