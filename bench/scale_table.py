#!/usr/bin/env python3
"""Markdown table of scripts/bench_scale.sh runs (JSON lines), one table per row count and loss.

    flock /work/bench.lock scripts/bench_scale.sh > /tmp/scale.jsonl
    bench/scale_table.py /tmp/scale.jsonl

Per run: wall seconds (reading included) and its ratio to liblinear-train's in the same run,
ringtrain's read / train split, data passes, Hessian-vector products (liblinear: CG steps),
allreduce share, peak RSS per process, the objective relative to liblinear's (all models scored
by bench/train_bench), test accuracy, AUC and log loss.
"""
import json
import sys
from collections import defaultdict


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main(paths):
    if not paths:
        sys.exit("usage: scale_table.py RUN.jsonl...")
    machines, runs = {}, defaultdict(list)
    for path in paths:
        for line in open(path):
            if not line.strip().startswith("{"):
                continue
            d = json.loads(line)
            if d.get("tool") == "machine":
                machines[d["rows"]] = d
            else:
                runs[(d["rows"], d["loss"])].append(d)
    for (rows, loss), ds in sorted(runs.items()):
        m = machines.get(rows, {})
        print(f"\n### {rows:,} rows, {loss} ({ds[0]['nonzeros']:,} nonzeros, "
              f"{ds[0]['file_bytes'] / 1e6:.0f} MB; {m.get('cpu', '?')}, load {m.get('load1', '?')})\n")
        print("| tool | optimizer | ranks x threads | wall s | x liblinear | read s | train s | passes "
              "| Hv | allreduce % | peak RSS MB | objective vs liblinear | test acc | test AUC | log loss |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d in ds:
            print(f"| {d['tool']} | {d['optimizer']} | {d['ranks']}x{d['threads']} | {d['wall_s']:.1f} "
                  f"| {fmt(d.get('wall_ratio_to_liblinear'), '.2f')} | {fmt(d.get('read_s'), '.1f')} "
                  f"| {fmt(d.get('train_s'), '.1f')} | {fmt(d.get('passes'), 'd')} "
                  f"| {fmt(d.get('hessian_products'), 'd')} "
                  f"| {fmt(None if d.get('allreduce_share') is None else 100 * d['allreduce_share'], '.0f')} "
                  f"| {'/'.join(f'{r:.0f}' for r in d['peak_rss_mb'])} "
                  f"| {fmt(d.get('objective_rel_to_liblinear'), '+.1e')} | {fmt(d.get('test_accuracy'), '.4f')} "
                  f"| {fmt(d.get('test_auc'), '.4f')} | {fmt(d.get('test_log_loss'), '.4f')} |")


if __name__ == "__main__":
    main(sys.argv[1:])
