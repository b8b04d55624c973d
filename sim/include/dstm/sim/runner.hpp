#pragma once
/// \file
/// The command line of `dstm-sim`, as a function so tests (and other areas' runners with more
/// workloads) can call it: `run_cli(args, registry, out, err)` returns the exit code.
///
///     dstm-sim --workload W --seed N [--clients C] [--ops N] [--servers S]
///              [--faults none|standard|harsh] [--isolation serializable|snapshot] [--ensure]
///              [--planted-bug NAME] [--param K=V]... [--history FILE]
///     dstm-sim --workload W --seeds A:B ...      (A inclusive, B exclusive)
///     dstm-sim --planted-bug list                (the planted bugs' names, one per line)
///
/// One line per seed, exactly
///     seed=N workload=W ops=O faults=F anomalies=K trace=<16 hex digits>
/// preceded, for a failing seed, by the checker's explanation and the command that replays it.
/// A sweep ends with a summary line. Exit codes: 0 clean, 1 anomalies (or a run that threw),
/// 2 bad usage.
///
/// `--planted-bug NAME` activates one of <dstm/testing/planted.hpp>'s defects for the runs (and
/// turns it off again before returning): the process-wide switch makes `run_cli` itself
/// unsuitable for concurrent use while one is planted.

#include <charconv>
#include <cstdint>
#include <exception>
#include <fstream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "dstm/check/history.hpp"
#include "dstm/client.hpp"
#include "dstm/sim/faults.hpp"
#include "dstm/sim/workload.hpp"
#include "dstm/testing/planted.hpp"

namespace dstm::sim {

namespace detail {

template <class Int>
std::optional<Int> parse_int(std::string_view s) {
  Int v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

inline void print_usage(std::ostream& out, const workload_registry& registry) {
  out << "usage: dstm-sim --workload W (--seed N | --seeds A:B) [options]\n"
         "\n"
         "Runs a workload in the deterministic simulation of a ZooKeeper ensemble and checks\n"
         "its invariants. The same arguments always give the same run (and trace hash).\n"
         "\n"
         "  --workload W        the workload to run (see below)\n"
         "  --seed N            run one seed (an unsigned 64-bit integer)\n"
         "  --seeds A:B         run seeds A, A+1, ..., B-1 (half-open: B is not run)\n"
         "  --clients C         concurrent client sessions (default 5)\n"
         "  --ops N             operations over all clients (default 200)\n"
         "  --servers S         servers in the ensemble (default 3)\n"
         "  --faults F          none | standard | harsh (default none)\n"
         "  --isolation L       serializable | snapshot: the STM workloads' transactions\n"
         "                      (default serializable)\n"
         "  --ensure            STM workloads ensure the refs they read but do not write\n"
         "                      (write-skew: snapshot isolation's cure for write skew)\n"
         "  --planted-bug B     run with a deliberate engine defect (proof that the checks\n"
         "                      can fail); --planted-bug list prints their names\n"
         "  --param K=V         a workload switch (repeatable), e.g. register.reads=plain\n"
         "                      (a planted bug: reads without sync), counter.op=alter,\n"
         "                      bank.accounts=N, counter.refs=N, write-skew.initial=N\n"
         "  --history FILE      write the history as JSON lines (one seed: FILE; a sweep:\n"
         "                      FILE.<seed> for each failing seed)\n"
         "  --help              this text\n"
         "\n"
         "Output: one line per seed, exactly\n"
         "  seed=N workload=W ops=O faults=F anomalies=K trace=<16 hex digits>\n"
         "preceded for a failing seed by an explanation and the command that replays it;\n"
         "a sweep ends with 'seeds=A:B runs=R failed=K'. Exit status: 0 when every seed is\n"
         "clean, 1 when any seed has anomalies or fails to run, 2 for bad usage.\n"
         "\n"
         "Workloads:\n";
  for (const auto& [name, e] : registry.entries()) {
    out << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ')
        << e.description << '\n';
  }
}

}  // namespace detail

/// Runs the `dstm-sim` command line `args` (without the program name); `program` is how the
/// replay command names the binary.
inline int run_cli(std::span<const std::string> args, const workload_registry& registry,
                   std::ostream& out, std::ostream& err, std::string program = "dstm-sim") {
  workload_config cfg;
  std::string workload, history_file, faults_name = "none";
  std::optional<std::uint64_t> first, last;  // [first, last)
  bool sweep = false;
  auto planted = dstm::testing::planted_bug::none;
  auto usage_error = [&](const std::string& what) {
    err << "dstm-sim: " << what << "\n(try dstm-sim --help)\n";
    return 2;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      detail::print_usage(out, registry);
      return 0;
    }
    if (a == "--ensure") {
      cfg.ensure = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage_error("missing value after " + a);
    const std::string& v = args[++i];
    if (a == "--workload") {
      workload = v;
    } else if (a == "--seed") {
      const auto s = detail::parse_int<std::uint64_t>(v);
      if (!s) return usage_error("--seed needs an unsigned integer, got '" + v + "'");
      first = *s;
      last = *s + 1;
      sweep = false;
    } else if (a == "--seeds") {
      const auto colon = v.find(':');
      const auto a0 = detail::parse_int<std::uint64_t>(std::string_view(v).substr(0, colon));
      const auto b0 = colon == std::string::npos
                          ? std::nullopt
                          : detail::parse_int<std::uint64_t>(std::string_view(v).substr(colon + 1));
      if (!a0 || !b0 || *b0 <= *a0) {
        return usage_error("--seeds needs A:B with A < B (B excluded), got '" + v + "'");
      }
      first = *a0;
      last = *b0;
      sweep = true;
    } else if (a == "--clients" || a == "--ops" || a == "--servers") {
      const auto n = detail::parse_int<int>(v);
      if (!n || *n < 1) return usage_error(a + " needs a positive integer, got '" + v + "'");
      (a == "--clients" ? cfg.clients : a == "--ops" ? cfg.ops : cfg.servers) = *n;
    } else if (a == "--faults") {
      auto f = fault_config::preset(v);
      if (!f) return usage_error("--faults must be none, standard or harsh, got '" + v + "'");
      cfg.faults = *f;
      faults_name = v;
    } else if (a == "--isolation") {
      if (v == "serializable") {
        cfg.isolation = dstm::isolation::serializable;
      } else if (v == "snapshot") {
        cfg.isolation = dstm::isolation::snapshot;
      } else {
        return usage_error("--isolation must be serializable or snapshot, got '" + v + "'");
      }
    } else if (a == "--planted-bug") {
      if (v == "list") {
        for (const auto& [bug, name] : dstm::testing::planted_bugs) out << name << '\n';
        out.flush();
        return 0;
      }
      const auto bug = dstm::testing::planted_bug_named(v);
      if (!bug) {
        std::string known;
        for (const auto& [b, name] : dstm::testing::planted_bugs)
          known += (known.empty() ? "" : ", ") + std::string(name);
        return usage_error("no planted bug '" + v + "' (known: " + known + ")");
      }
      planted = *bug;
    } else if (a == "--history") {
      history_file = v;
    } else if (a == "--param") {
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        return usage_error("--param needs K=V, got '" + v + "'");
      cfg.params[v.substr(0, eq)] = v.substr(eq + 1);
    } else {
      return usage_error("unknown option " + a);
    }
  }
  if (workload.empty()) return usage_error("--workload is required");
  const auto* entry = registry.find(workload);
  if (entry == nullptr) {
    std::string known;
    for (const auto& [name, e] : registry.entries()) known += (known.empty() ? "" : ", ") + name;
    return usage_error("no workload '" + workload + "' (known: " + known + ")");
  }
  if (!first) return usage_error("--seed N or --seeds A:B is required");
  if (planted != dstm::testing::planted_bug::none && !dstm::testing::planted_bugs_compiled) {
    return usage_error("--planted-bug: this build has no planted bugs (DSTM_PLANTED_BUGS)");
  }
  cfg.record_history = !history_file.empty();

  std::string params = " --isolation ";
  params += cfg.isolation == dstm::isolation::snapshot ? "snapshot" : "serializable";
  if (cfg.ensure) params += " --ensure";
  if (planted != dstm::testing::planted_bug::none)
    params += " --planted-bug " + std::string(dstm::testing::planted_bug_name(planted));
  for (const auto& [k, v] : cfg.params) params += " --param " + k + "=" + v;
  auto replay = [&](std::uint64_t seed) {
    return program + " --workload " + workload + " --seed " + std::to_string(seed) + " --clients " +
           std::to_string(cfg.clients) + " --ops " + std::to_string(cfg.ops) + " --servers " +
           std::to_string(cfg.servers) + " --faults " + faults_name + params;
  };
  std::uint64_t failed = 0, runs = 0;
  // Planted for the runs only; also cleared when a run throws something unexpected.
  std::optional<dstm::testing::scoped_plant> plant;
  if (planted != dstm::testing::planted_bug::none) plant.emplace(planted);
  for (std::uint64_t seed = *first; seed < *last; ++seed) {
    ++runs;
    cfg.seed = seed;
    run_outcome o;
    try {
      o = run_workload(entry->fn, cfg);
    } catch (const std::exception& e) {
      ++failed;
      out << "seed=" << seed << " workload=" << workload << " error: " << e.what() << '\n'
          << "replay: " << replay(seed) << '\n';
      continue;
    }
    const bool bad = o.result.anomalies > 0;
    if (!history_file.empty() && (!sweep || bad)) {
      const std::string file = sweep ? history_file + "." + std::to_string(seed) : history_file;
      std::ofstream h(file);
      check::write_history(h, o.result.history);
      if (!h) err << "dstm-sim: cannot write history to " << file << '\n';
    }
    if (bad) {
      ++failed;
      for (const auto& x : o.result.explanations) out << x << (x.ends_with('\n') ? "" : "\n");
      out << "replay: " << replay(seed) << '\n';
    }
    out << "seed=" << seed << " workload=" << workload << " ops=" << o.result.ops
        << " faults=" << faults_name << " anomalies=" << o.result.anomalies
        << " trace=" << format_trace(o.trace) << '\n';
  }
  plant.reset();
  if (sweep) {
    out << "seeds=" << *first << ':' << *last << " runs=" << runs << " failed=" << failed << '\n';
  }
  out.flush();
  return failed > 0 ? 1 : 0;
}

}  // namespace dstm::sim
