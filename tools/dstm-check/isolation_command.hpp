#pragma once
/// \file
/// `dstm-check isolation`: the command-line front end of the Elle-style isolation checker
/// (<dstm/check/isolation.hpp>).
///
/// ```
/// dstm-check isolation FILE [--workload list-append|rw-register] [--level LEVEL]
///                           [--dot OUT.dot] [--html OUT.html] [--budget EDGE_VISITS]
///                           [--examples N]
/// ```
/// FILE `-` reads standard input. The report goes to `out`; its last line is `valid`,
/// `unknown` or `invalid: <anomaly names>`. Exit codes: 0 valid, 1 invalid, 2 unknown (the
/// cycle search ran out of budget), 3 the input could not be read (the line number and the
/// reason go to `err`) or the command line is wrong.

#include <charconv>
#include <dstm/check/html.hpp>
#include <dstm/check/isolation.hpp>
#include <fstream>
#include <iostream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace dstm::check {

namespace detail {

inline void isolation_usage(std::ostream& os) {
  os << "usage: dstm-check isolation FILE [--workload list-append|rw-register] [--level LEVEL]\n"
        "                              [--dot OUT.dot] [--html OUT.html] [--budget EDGE_VISITS]\n"
        "                              [--examples N]\n"
        "Checks a JSON-lines transaction history (Elle's format; FILE - is stdin) for isolation\n"
        "anomalies. LEVEL: read-committed, repeatable-read, snapshot-isolation, serializable\n"
        "(default), strict-serializable. --workload defaults to list-append. --dot writes the\n"
        "cycles found as a Graphviz graph; --html a self-contained page with a timeline of the\n"
        "history and the anomalies drawn on it. --budget bounds the cycle search (default\n"
        "500000000 edge visits). --examples is how many examples to print per anomaly\n"
        "(default 3).\n"
        "Exit status: 0 valid, 1 invalid, 2 unknown, 3 unreadable input or bad arguments.\n";
}

inline bool parse_count(std::string_view s, std::uint64_t& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace detail

/// Runs `dstm-check isolation <args>`; returns the exit code (see the file comment).
/// `args` excludes the program and the word "isolation". Reads FILE (or std::cin for `-`).
inline int isolation_command(std::span<const std::string> args, std::ostream& out,
                             std::ostream& err) {
  std::string file;
  std::string dot_file;
  std::string html_file;
  workload kind = workload::list_append;
  isolation_options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view flag) -> const std::string* {
      if (i + 1 >= args.size()) {
        err << "isolation: " << flag << " needs a value\n";
        return nullptr;
      }
      return &args[++i];
    };
    if (a == "--help" || a == "-h") {
      detail::isolation_usage(out);
      return 0;
    } else if (a == "--workload") {
      const std::string* v = value(a);
      if (v == nullptr) return 3;
      const auto w = parse_workload(*v);
      if (!w) {
        err << "isolation: unknown workload \"" << *v << "\" (list-append or rw-register)\n";
        return 3;
      }
      kind = *w;
    } else if (a == "--level") {
      const std::string* v = value(a);
      if (v == nullptr) return 3;
      const auto l = parse_consistency_level(*v);
      if (!l) {
        err << "isolation: unknown level \"" << *v
            << "\" (read-committed, repeatable-read, snapshot-isolation, serializable, "
               "strict-serializable)\n";
        return 3;
      }
      options.level = *l;
    } else if (a == "--dot" || a == "--html") {
      const std::string* v = value(a);
      if (v == nullptr) return 3;
      (a == "--dot" ? dot_file : html_file) = *v;
    } else if (a == "--budget" || a == "--examples") {
      const std::string* v = value(a);
      if (v == nullptr) return 3;
      std::uint64_t n = 0;
      if (!detail::parse_count(*v, n)) {
        err << "isolation: " << a << " needs a non-negative integer, not \"" << *v << "\"\n";
        return 3;
      }
      if (a == "--budget")
        options.search_budget = n;
      else
        options.max_examples = static_cast<std::size_t>(n);
    } else if (a.size() > 1 && a[0] == '-') {
      err << "isolation: unknown option " << a << "\n";
      detail::isolation_usage(err);
      return 3;
    } else if (file.empty()) {
      file = a;
    } else {
      err << "isolation: more than one history file given (" << file << ", " << a << ")\n";
      return 3;
    }
  }
  if (file.empty()) {
    err << "isolation: no history file given\n";
    detail::isolation_usage(err);
    return 3;
  }

  std::ifstream stream;
  if (file != "-") {
    stream.open(file, std::ios::binary);
    if (!stream) {
      err << "isolation: cannot open " << file << "\n";
      return 3;
    }
  }
  std::istream& in = file == "-" ? std::cin : stream;
  std::optional<transaction_history> history;
  try {
    history.emplace(read_transaction_history(in, kind));
  } catch (const isolation_input_error& e) {
    err << "isolation: " << (file == "-" ? "<stdin>" : file) << ": "
        << (e.line() != 0 ? "line " + std::to_string(e.line()) + ": " : std::string()) << e.reason()
        << "\n";
    return 3;
  }
  const isolation_result result = check_isolation(*history, options);
  out << result.report();
  auto write_file = [&](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) err << "isolation: cannot write " << path << "\n";
    return static_cast<bool>(f);
  };
  if (!dot_file.empty() && !write_file(dot_file, result.dot())) return 3;
  if (!html_file.empty() &&
      !write_file(html_file,
                  html_timeline(*history, result, {.source = file == "-" ? "<stdin>" : file})))
    return 3;
  switch (result.verdict) {
    case isolation_verdict::valid:
      return 0;
    case isolation_verdict::invalid:
      return 1;
    case isolation_verdict::unknown:
      return 2;
  }
  return 2;
}

}  // namespace dstm::check
