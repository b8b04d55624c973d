#!/usr/bin/python3
"""kazoo's Counter and Lock recipes against the benchmark run's ZooKeeper server: the peers that
dstm's atom and recipes::mutex are compared with (bench/report.py). The loops are those of
bench/stm/stm_bench.cpp's window/atom and window/lock: T threads, one KazooClient (one
session) each, for one window; operations completed inside the window are counted per thread.

    /usr/bin/python3 bench/peers/kazoo_peers.py --zookeeper 127.0.0.1:2181 --out kazoo.json

With --serve it reads requests from stdin instead, one a line, "counter T MS" or "lock T MS",
runs that window (clients made on first use and kept) and answers one line on stdout,
"ok SECONDS DONE_1 ... DONE_T"; "quit" ends it. bench_stm drives it that way, so kazoo's windows
alternate with dstm's and the raw limit's in the same minute (the machine is noisy).

Debian's python3-kazoo; run with /usr/bin/python3 (another python3 on PATH may lack kazoo).
"""
import argparse
import json
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.recipe.counter import Counter
from kazoo.retry import KazooRetry


def connect(hosts):
    # Unlimited retries of a conflicting Counter update, as dstm's atom retries conflicts.
    client = KazooClient(hosts=hosts, timeout=10.0,
                         command_retry=KazooRetry(max_tries=-1, delay=0.001, max_delay=0.02))
    client.start(timeout=30)
    return client


def window(threads, make, op, window_s, states=None):
    """Runs `op(state)` in `threads` threads (state from `make(i)`, made before timing, unless
    `states` are given) for `window_s` seconds; returns ops per thread, the window's length and
    the states."""
    if states is None:
        states = [make(i) for i in range(threads)]
        for s in states:  # one untimed operation each: paths exist, connections warm
            op(s)
    done = [0] * threads
    stop = threading.Event()
    go = threading.Barrier(threads + 1)
    errors = []

    def run(i):
        go.wait()
        try:
            while not stop.is_set():
                op(states[i])
                if not stop.is_set():
                    done[i] += 1
        except Exception as e:  # reported after the window
            errors.append(e)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    go.wait()
    start = time.monotonic()
    time.sleep(window_s)
    stop.set()
    seconds = time.monotonic() - start
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return done, min(seconds, window_s + 0.0005), states


def result(name, done, seconds):
    total = sum(done)
    lo, hi = min(done), max(done)
    return {"name": name, "ops": total, "seconds": seconds,
            "ops_per_s": total / seconds if seconds > 0 else 0.0,
            "fairness": (hi / lo) if lo > 0 else 1e9, "per_thread": done}


def make_counter(hosts):
    def make(i):
        c = connect(hosts)
        return (c, Counter(c, "/bench/kazoo/counter"))
    return make


def bump(state):
    state[1].__add__(1)


def make_lock(hosts):
    def make(i):
        c = connect(hosts)
        return (c, c.Lock("/bench/kazoo/lock", "kazoo-%d" % i))
    return make


def lock_unlock(state):
    state[1].acquire()
    state[1].release()


KINDS = {"counter": (make_counter, bump), "lock": (make_lock, lock_unlock)}


def serve(hosts):
    kept = {}
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        kind, threads, ms = words[0], int(words[1]), int(words[2])
        make, op = KINDS[kind]
        key = (kind, threads)
        done, seconds, kept[key] = window(threads, make(hosts), op, ms / 1000.0, kept.get(key))
        sys.stdout.write("ok %.6f %s\n" % (seconds, " ".join(str(d) for d in done)))
        sys.stdout.flush()
    for states in kept.values():
        for c, _ in states:
            c.stop()
            c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zookeeper", required=True, help="host:port of the run's server")
    p.add_argument("--window-ms", type=int, default=1500)
    p.add_argument("--threads", default="1,4", help="client counts, comma-separated")
    p.add_argument("--out", help="JSON results (default: stdout only)")
    p.add_argument("--serve", action="store_true", help="answer requests on stdin (see above)")
    a = p.parse_args()
    window_s = a.window_ms / 1000.0
    counts = [int(t) for t in a.threads.split(",") if t]
    results = []

    setup = connect(a.zookeeper)
    setup.ensure_path("/bench/kazoo/lock")
    setup.ensure_path("/bench/kazoo/counter")
    setup.stop()
    setup.close()
    if a.serve:
        serve(a.zookeeper)
        return

    for t in counts:
        done, seconds, states = window(t, make_counter(a.zookeeper), bump, window_s)
        results.append(result("kazoo/counter/T:%d" % t, done, seconds))
        for c, _ in states:
            c.stop()
            c.close()

        done, seconds, states = window(t, make_lock(a.zookeeper), lock_unlock, window_s)
        results.append(result("kazoo/lock/T:%d" % t, done, seconds))
        for c, _ in states:
            c.stop()
            c.close()

    for r in results:
        print("%-22s %10.1f ops/s  fairness %.2f  (%d ops in %.2f s)" %
              (r["name"], r["ops_per_s"], r["fairness"], r["ops"], r["seconds"]))
    doc = {"context": {"kazoo": __import__("kazoo").__version__ if hasattr(__import__("kazoo"), "__version__") else "",
                       "python": sys.version.split()[0], "window_ms": a.window_ms},
           "results": results}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
