#!/usr/bin/python3
"""Turns one benchmark run (bench/run.sh's JSON files) into results.md, summary.tsv and plots.

Every ratio divides a dstm figure by its counterpart measured in the same run (the raw
ZooKeeper operation through the same C client on the same server, or kazoo): this machine is
noisy, so only same-run ratios mean anything.

    /usr/bin/python3 bench/report.py --dir build/bench
"""
import argparse
import json
import os
import platform
import shutil
import subprocess


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class gbench:
    """A Google Benchmark JSON file: benchmarks by name (the part before /iterations...)."""

    def __init__(self, doc):
        self.context = (doc or {}).get("context", {})
        self.rows = {}
        for b in (doc or {}).get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            name = b["name"]
            for noise in ("/manual_time", "/real_time"):
                name = name.replace(noise, "")
            for cut in ("/iterations:", "/min_time:"):
                if cut in name:
                    name = name[:name.index(cut)]
            self.rows[name] = b

    def get(self, name, counter, default=None):
        row = self.rows.get(name)
        if row is None:
            return default
        return row.get(counter, default)


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return "{:.{d}g}".format(x, d=digits)


def ratio(a, b):
    return a / b if a is not None and b else None


class summary:
    def __init__(self):
        self.lines = []

    def add(self, name, measured, reference, target_text, want, bound):
        """want: '>=' or '<='; bound: the number the ratio is held to."""
        r = ratio(measured, reference)
        if r is None:
            met = "missed"
        else:
            met = "met" if (r >= bound if want == ">=" else r <= bound) else "missed"
        self.lines.append((name, measured, reference, r, target_text, met))

    def tsv(self):
        out = []
        for name, m, ref, r, t, met in self.lines:
            out.append("\t".join([name, "%.6g" % m if m is not None else "nan",
                                  "%.6g" % ref if ref is not None else "nan",
                                  "%.4f" % r if r is not None else "nan", t, met]))
        return "\n".join(out) + "\n"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(lines) + "\n"


def gnuplot(script, cwd):
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed: no plots"
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd,
                       capture_output=True)
    if p.returncode != 0:
        return "gnuplot failed: " + p.stderr.strip()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="build/bench")
    ap.add_argument("--seconds", type=int, default=0, help="how long the run took")
    a = ap.parse_args()
    d = a.dir
    stm = gbench(load(os.path.join(d, "bench_stm.json")))
    raw = gbench(load(os.path.join(d, "bench_zookeeper_raw.json")))
    serial = gbench(load(os.path.join(d, "bench_serial.json")))
    simb = gbench(load(os.path.join(d, "sim_bench.json")))
    iso = gbench(load(os.path.join(d, "check_iso_bench.json")))
    lin = gbench(load(os.path.join(d, "check_lin_bench.json")))
    ctx = stm.context or raw.context
    s = summary()
    md = []

    md.append("# dstm benchmark results\n")
    md.append("Machine: %s, %s CPUs at %s MHz, load average at start %s; %s. ZooKeeper %s, "
              "standalone, fsync %s, on loopback; each timed window %s ms. Run took %d s.\n" % (
                  ctx.get("host_name", "?"), ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"),
                  ", ".join("%.2f" % x for x in ctx.get("load_avg", [])) or "?",
                  platform.platform(), "server from Debian's zookeeper package",
                  ctx.get("zookeeper_fsync", "?"), ctx.get("window_ms", "?"), a.seconds))
    md.append("Every ratio is dstm's figure over its counterpart measured in the same run.\n")

    # ---- write latency -------------------------------------------------------------------
    rows = []
    arms = ("raw", "multi", "fired", "sent", "proto", "stm")
    for k in (1, 2, 4, 8):
        n = "paired/write_k:%d" % k
        r_, m_, f_, x_, p_, t_ = (stm.get(n, x + "_p50_us") for x in arms)
        s.add("write_txn_latency_k%d" % k, t_, r_, "<=1.15", "<=", 1.15)
        rows.append([str(k), r_, m_, f_, x_, p_, t_, ratio(m_, r_), ratio(f_, m_), ratio(x_, f_),
                     ratio(t_, x_), ratio(p_, r_), ratio(t_, r_), stm.get(n, "stm_mean_us"),
                     stm.get(n, "raw_mean_us")])
    md.append("## Write transaction over k refs, one client, warm cache\n")
    md.append("Median latency in µs of each arm, the arms interleaved one operation at a time. "
              "raw: a multi of k checks + k sets (the reference). multi: dstm's commit multi by "
              "hand (k versioned sets, the gate check, the outcome record's set). fired: that "
              "multi on nodes the session watches, as the cache's are (each multi fires k "
              "watches; they are set again untimed) — the floor for any cache that keeps written "
              "refs watched. sent: the multi with the k reads that re-arm the watches pipelined "
              "behind it, not waited for (dstm's protocol by hand). proto: the same, the reads "
              "waited for. stm: `dosync` altering k refs (returns after the multi; its re-arming "
              "reads land in the cache later). fired/multi is what the notifications cost, "
              "sent/fired what the reads queued behind the multi cost it, stm/sent the engine.\n")
    md.append(table(["k", "raw p50", "multi p50", "fired p50", "sent p50", "proto p50", "stm p50",
                     "multi/raw", "fired/multi", "sent/fired", "stm/sent", "proto/raw",
                     "**stm/raw**", "stm mean", "raw mean"], rows))
    with open(os.path.join(d, "write_latency.dat"), "w") as f:
        for row in rows:  # k, multi/raw, proto/raw, stm/raw, fired/raw (medians)
            vals = [row[0], ratio(row[2], row[1]), ratio(row[5], row[1]), ratio(row[6], row[1]),
                    ratio(row[3], row[1])]
            f.write(" ".join(str(x if x is not None else "NaN") for x in vals) + "\n")

    # ---- atom ------------------------------------------------------------------------------
    n = "paired/atom_update"
    r_mean, m_mean, f_mean, _, p_mean, t_mean = (stm.get(n, x + "_mean_us") for x in arms)
    tput = lambda us: 1e6 / us if us else None
    s.add("atom_update_throughput", tput(t_mean), tput(r_mean), ">=1.5", ">=", 1.5)
    md.append("## Atom update, one client\n")
    md.append("Mean latency in µs (throughput = 1/latency: one client, one operation at a time). "
              "raw: a get and a versioned set (the CAS loop, uncontended). multi, fired, proto: "
              "the atom's commit by hand, alone, on a watched node, and with the re-arming read "
              "awaited (as in the table above). raw/fired is the most any watched cache can "
              "reach.\n")
    md.append(table(["raw CAS", "multi", "fired", "proto", "stm", "**throughput stm/raw**",
                     "raw/fired"],
                    [[r_mean, m_mean, f_mean, p_mean, t_mean, ratio(r_mean, t_mean),
                      ratio(r_mean, f_mean)]]))

    # ---- contention -------------------------------------------------------------------------
    md.append("## Contention: T clients\n")
    md.append("alter, commute: T clients (own session each) on one ref. raw CAS: T sessions doing "
              "get + versioned set on one node. multi CAS: the same loop with dstm's commit multi "
              "(versioned set, gate check, outcome record's set) as its write. disjoint: T threads "
              "sharing ONE client, each "
              "altering its own ref. raw pipelined: T threads sharing ONE session, each setting its "
              "own node. The modes run in turns (3 rounds of short windows). fairness = most / "
              "fewest operations of one thread.\n")
    rows = []
    dat = []
    for t in (1, 2, 4, 8):
        n = "contention/T:%d" % t
        g = lambda m, c: stm.get(n, "%s_%s" % (m, c))
        for m in ("raw_cas", "multi_cas", "alter", "commute", "raw_pipelined", "disjoint"):
            rows.append([str(t), m, g(m, "ops_per_s"), g(m, "retries_per_op"),
                         g(m, "round_trips_per_op"), g(m, "fairness")])
        for m in ("alter", "commute"):
            s.add("one_ref_%s_T%d" % (m, t), g(m, "ops_per_s"), g("raw_cas", "ops_per_s"),
                  ">=1", ">=", 1.0)
            s.add("one_ref_%s_fairness_T%d" % (m, t), g(m, "fairness"), 1.0, "<=3", "<=", 3.0)
        dat.append([t] + [g(m, "ops_per_s") for m in ("raw_cas", "alter", "commute", "raw_pipelined", "disjoint")]
                   + [g(m, "retries_per_op") for m in ("raw_cas", "alter", "commute")])
    t8 = "contention/T:8"
    s.add("disjoint_refs_T8_one_client", stm.get(t8, "disjoint_ops_per_s"),
          stm.get(t8, "raw_pipelined_ops_per_s"), ">=0.5", ">=", 0.5)
    md.append(table(["T", "mode", "ops/s", "retries/op", "round trips/op", "fairness"], rows))
    with open(os.path.join(d, "contention.dat"), "w") as f:
        for row in dat:
            f.write(" ".join(str(x if x is not None else "NaN") for x in row) + "\n")

    # ---- read-only ---------------------------------------------------------------------------
    md.append("## Read-only transactions, warm cache, in-process\n")
    rows = []
    for refs in (1, 4):
        v = stm.get("read_only/refs:%d" % refs, "items_per_second")
        s.add("read_only_txn_per_s_%dref%s" % (refs, "s" if refs > 1 else ""), v, 1e6,
              ">=1 (1,000,000/s)", ">=", 1.0)
        rows.append([str(refs), v, stm.get("read_only/refs:%d" % refs, "round_trips_per_op")])
    md.append(table(["refs read", "transactions/s", "round trips/txn"], rows))

    # ---- peers -------------------------------------------------------------------------------
    md.append("## Peers: kazoo's Counter and Lock (same server, in turns with dstm)\n")
    md.append("kazoo (Debian's python3-kazoo, /usr/bin/python3, one KazooClient per thread) runs "
              "in a child process of bench_stm; its windows alternate with dstm's and with the raw "
              "limit's (3 rounds). raw CAS: get + versioned set. raw lock: create an "
              "ephemeral-sequential child, list the children, remove the child — the fewest "
              "requests of any ZooKeeper lock recipe.\n")
    rows = []
    for t in (1, 4):
        c = "peers/counter/T:%d" % t
        l_ = "peers/lock/T:%d" % t
        da, ka, ra = (stm.get(c, x + "_ops_per_s") for x in ("dstm", "kazoo", "raw_cas"))
        dl, kl, rl = (stm.get(l_, x + "_ops_per_s") for x in ("dstm", "kazoo", "raw_lock"))
        rows.append([str(t), "atom update / kazoo Counter +1", da, ka, ra, ratio(da, ka),
                     ratio(ra, ka), stm.get(c, "dstm_fairness"), stm.get(c, "kazoo_fairness")])
        rows.append([str(t), "mutex lock+unlock / kazoo Lock", dl, kl, rl, ratio(dl, kl),
                     ratio(rl, kl), stm.get(l_, "dstm_fairness"), stm.get(l_, "kazoo_fairness")])
        if t == 1:
            s.add("atom_vs_kazoo_counter_T1", da, ka, ">=2", ">=", 2.0)
        s.add("lock_vs_kazoo_lock_T%d" % t, dl, kl, ">=2", ">=", 2.0)
    md.append(table(["clients", "operation", "dstm ops/s", "kazoo ops/s", "raw ops/s",
                     "**dstm/kazoo**", "raw/kazoo",
                     "dstm fairness", "kazoo fairness"], rows))

    # ---- simulation --------------------------------------------------------------------------
    md.append("## Simulation: coordinator round trips per committed transaction\n")
    md.append("Deterministic (virtual time, no faults): T clients, 50 commits each, on one ref.\n")
    rows = []
    simdat = []
    for t in (1, 2, 4, 8, 16):
        a_ = "stm_round_trips/alter/%d" % t
        c_ = "stm_round_trips/commute/%d" % t
        vals = [simb.get(a_, "round_trips_per_commit"), simb.get(a_, "retries_per_commit"),
                simb.get(a_, "escalations_per_commit"), simb.get(c_, "round_trips_per_commit"),
                simb.get(c_, "retries_per_commit")]
        rows.append([str(t)] + vals)
        simdat.append([t] + vals)
    md.append(table(["T", "alter: round trips", "alter: retries", "alter: escalations",
                     "commute: round trips", "commute: retries"], rows))
    with open(os.path.join(d, "sim.dat"), "w") as f:
        for row in simdat:
            f.write(" ".join(str(x if x is not None else "NaN") for x in row) + "\n")

    # ---- serializers -------------------------------------------------------------------------
    md.append("## Serializers: binary (Hana) vs JSON\n")
    rows = []
    for op in ("encode", "decode"):
        for items in (10, 1000):
            b = serial.get("%s/binary/%d" % (op, items), "items_per_second")
            j = serial.get("%s/json/%d" % (op, items), "items_per_second")
            rows.append([op, str(items), b, j, ratio(b, j),
                         serial.get("%s/binary/%d" % (op, items), "encoded_bytes"),
                         serial.get("%s/json/%d" % (op, items), "encoded_bytes")])
    md.append(table(["op", "line items", "binary docs/s", "JSON docs/s", "binary/JSON",
                     "binary bytes", "JSON bytes"], rows))

    # ---- checkers ----------------------------------------------------------------------------
    md.append("## Checkers on large histories\n")
    rows = []
    for gb, label in ((iso, "isolation"), (lin, "linearizability")):
        for name, b in gb.rows.items():
            extra = ", ".join("%s=%s" % (k, fmt(v)) for k, v in b.items()
                              if k.endswith("/s") or k in ("txn_per_s", "transactions_per_second",
                                                           "peak_rss_mb", "items_per_second"))
            rows.append([label, name, "%.1f %s" % (b.get("real_time", 0), b.get("time_unit", "")),
                         extra])
    md.append(table(["checker", "benchmark", "time", "counters"], rows))

    # ---- raw baselines -----------------------------------------------------------------------
    md.append("## Raw ZooKeeper baselines (bench_zookeeper_raw, same server)\n")
    rows = [[name, b.get("items_per_second"), b.get("retries_per_success")]
            for name, b in raw.rows.items()]
    md.append(table(["operation", "ops/s", "retries/success"], rows))

    # ---- targets -----------------------------------------------------------------------------
    tgt = ["## Targets\n", "summary.tsv: name, measured, reference, ratio, target, met|missed. "
           "Latencies in µs, rates in operations/s; fairness lines compare max/min with 1.\n",
           table(["target", "measured", "reference", "ratio", "wanted", "result"],
                 [[n_, m_, r_, q_, t_, "**%s**" % ok] for n_, m_, r_, q_, t_, ok in s.lines])]
    md = md[:3] + tgt + md[3:]

    with open(os.path.join(d, "summary.tsv"), "w") as f:
        f.write(s.tsv())

    plot_note = gnuplot(PLOTS, d)
    if plot_note:
        md.append("\n" + plot_note + "\n")
    else:
        md.append("\nPlots: contention_throughput.png, contention_retries.png, write_latency.png, "
                  "sim_round_trips.png (in this directory).\n")
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(md))
    print(s.tsv(), end="")
    missed = sum(1 for l in s.lines if l[5] == "missed")
    print("report: %d targets, %d met, %d missed; %s" % (len(s.lines), len(s.lines) - missed,
                                                         missed, os.path.join(d, "results.md")))


PLOTS = r"""
set terminal pngcairo size 820,520 font "DejaVu Sans,11"
set key top left box opaque
set grid
set logscale x 2
set xrange [0.85:9.5]
set xtics (1,2,4,8)
set xlabel "clients (threads)"

set output "contention_throughput.png"
set title "Committed operations/s against clients (same run, same server)"
set ylabel "operations / s"
set yrange [0:*]
plot "contention.dat" u 1:3 w lp lw 2 pt 7 t "dstm alter, T clients, one ref", \
     "" u 1:4 w lp lw 2 pt 5 t "dstm commute, T clients, one ref", \
     "" u 1:6 w lp lw 2 pt 9 t "dstm alter, T threads on one client, own refs", \
     "" u 1:2 w lp lw 2 pt 6 dt 2 lc rgb "black" t "raw CAS, T sessions, one node (limit)", \
     "" u 1:5 w lp lw 2 pt 8 dt 3 lc rgb "gray40" t "raw sets, T threads on one session (limit)"

set output "contention_retries.png"
set title "Retries per committed operation against clients, one ref"
set ylabel "retries / commit"
plot "contention.dat" u 1:8 w lp lw 2 pt 7 t "dstm alter", \
     "" u 1:9 w lp lw 2 pt 5 t "dstm commute (re-applications included)", \
     "" u 1:7 w lp lw 2 pt 6 dt 2 lc rgb "black" t "raw CAS (reference)"

set output "sim_round_trips.png"
set title "Simulation (deterministic): per committed transaction, T clients on one ref"
set ylabel "per commit"
set xrange [0.85:19]
set xtics (1,2,4,8,16)
plot "sim.dat" u 1:2 w lp lw 2 pt 7 t "alter: round trips", \
     "" u 1:5 w lp lw 2 pt 5 t "commute: round trips", \
     "" u 1:3 w lp lw 1 pt 6 dt 4 t "alter: retries", \
     "" u 1:6 w lp lw 1 pt 4 dt 4 t "commute: retries", \
     1 w l lw 1 dt 2 lc rgb "black" t "one round trip (uncontended)"

set output "write_latency.png"
set title "Write transaction over k refs: median latency / raw multi's (same run)"
set xlabel "refs written (k)"
set xrange [0.85:9.5]
set xtics (1,2,4,8)
set ylabel "latency / raw multi of k checks + k sets"
set yrange [0:*]
plot "write_latency.dat" u 1:4 w lp lw 2 pt 7 t "dstm dosync", \
     "" u 1:3 w lp lw 2 pt 5 t "protocol by hand: multi + awaited re-arming reads", \
     "" u 1:5 w lp lw 2 pt 13 t "dstm's multi on watched nodes (notifications only)", \
     "" u 1:2 w lp lw 2 pt 9 t "dstm's multi alone (+ gate check, record set)", \
     1 w l lw 2 dt 2 lc rgb "black" t "raw multi (reference)", \
     1.15 w l lw 1 dt 3 lc rgb "red" t "target: 1.15 x raw"
"""

if __name__ == "__main__":
    main()
