#!/usr/bin/env python3
"""Per-call cost of the calls brig's create guard answers (seccomp user notification).

Run it bare and under brig, from the same workspace directory, and compare:

    cd /tmp/brig-bench-ws
    python3 /path/to/brig/bench/guard.py [N [ROUNDS]]
    /path/to/brig/target/release/brig run -- python3 /path/to/brig/bench/guard.py [N [ROUNDS]]

It creates a scratch directory in the current directory (a writable root under brig), times
N (default 3000) create+write+close of new files and N renames, prints microseconds per call
for each of ROUNDS (default 5) rounds and their median, and removes the scratch directory.
(Arguments, not environment variables: brig's environment filter would drop those.)
"""

import os
import shutil
import statistics
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def per_call_us(start_ns, end_ns):
    return (end_ns - start_ns) / N / 1000


def one_round(base):
    d = os.path.join(base, "r")
    os.mkdir(d)
    names = [os.path.join(d, f"f{i}") for i in range(N)]
    moved = [os.path.join(d, f"g{i}") for i in range(N)]
    t0 = time.perf_counter_ns()
    for n in names:
        with open(n, "w") as f:  # openat(O_CREAT): answered by the guard under brig
            f.write("x")
    t1 = time.perf_counter_ns()
    for a, b in zip(names, moved):
        os.rename(a, b)  # rename: answered by the guard under brig
    t2 = time.perf_counter_ns()
    shutil.rmtree(d)
    return per_call_us(t0, t1), per_call_us(t1, t2)


def main():
    base = tempfile.mkdtemp(prefix="brig-guard-bench-", dir=os.getcwd())
    try:
        rows = [one_round(base) for _ in range(ROUNDS)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for label, i in (("create+write+close", 0), ("rename", 1)):
        vals = [r[i] for r in rows]
        each = " ".join(f"{v:.0f}" for v in vals)
        print(f"{label:<20} {statistics.median(vals):6.0f} us/call"
              f"  (median of {ROUNDS} rounds of {N}: {each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
