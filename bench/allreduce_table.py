#!/usr/bin/env python3
"""Median table of allreduce_bench runs (JSON lines), one file per run.

    for i in 1 2 3; do scripts/bench_allreduce.sh > /tmp/run$i.jsonl; done
    bench/allreduce_table.py /tmp/run*.jsonl

Prints, per np, a markdown row per size: the median busbw (GB/s) of every method, and the
median of the per-run ratios ring_mpi/mpi, ring_shm/mpi, ring_tcp/tcp_stream, ring_tcp/tcp_ring_stream and
ring_shm/ring_tcp (a ratio
taken inside one run, where both methods saw the same machine, then the median over runs),
with the per-run ratios in brackets. The machine is noisy: compare ratios, not absolute figures.
"""
import json
import statistics
import sys
from collections import defaultdict

METHODS = ["mpi", "ring_mpi", "ring_tcp", "ring_shm", "tcp_stream", "tcp_ring_stream"]
RATIOS = [("ring_mpi", "mpi"), ("ring_shm", "mpi"), ("ring_tcp", "tcp_stream"),
          ("ring_tcp", "tcp_ring_stream"), ("ring_shm", "ring_tcp")]


def size(b):
    return f"{b >> 10} KiB" if b < 1 << 20 else f"{b >> 20} MiB"


def main(paths):
    if not paths:
        sys.exit("usage: allreduce_table.py RUN.jsonl... (one allreduce_bench run per file)")
    runs = []  # per file: {(np, method, bytes): busbw}
    for path in paths:
        run = {}
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.startswith("{") or '"busbw_gbps"' not in line:
                    continue  # the host line and the rings' tuned schedules
                try:
                    r = json.loads(line)
                    run[(r["np"], r["method"], r["bytes"])] = r["busbw_gbps"]
                except (ValueError, KeyError) as e:
                    sys.exit(f"{path}:{n}: not an allreduce_bench JSON line ({e})")
        runs.append(run)
    keys = set().union(*runs)
    for np in sorted({k[0] for k in keys}):
        methods = [m for m in METHODS if any(k[0] == np and k[1] == m for k in keys)]
        ratios = [(a, b) for a, b in RATIOS if a in methods and b in methods]
        print(f"\nnp={np}, {len(runs)} runs, busbw GB/s (median)\n")
        print("| " + " | ".join(["bytes"] + methods + [f"{a}/{b}" for a, b in ratios]) + " |")
        print("|---" * (1 + len(methods) + len(ratios)) + "|")
        for b in sorted({k[2] for k in keys if k[0] == np}):
            cells = []
            for m in methods:
                v = [r[(np, m, b)] for r in runs if (np, m, b) in r]
                cells.append(f"{statistics.median(v):.2f}" if v else "")
            for a, c in ratios:
                v = [r[(np, a, b)] / r[(np, c, b)] for r in runs
                     if (np, a, b) in r and (np, c, b) in r and r[(np, c, b)] > 0]
                cells.append(f"{statistics.median(v):.2f} [{' '.join(f'{x:.2f}' for x in v)}]"
                             if v else "")
            print("| " + " | ".join([size(b)] + cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
