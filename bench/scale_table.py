#!/usr/bin/env python3
"""Markdown table of scripts/bench_scale.sh runs (JSON lines), one table per row count and loss.

    flock /work/bench.lock scripts/bench_scale.sh > /tmp/scale.jsonl
    bench/scale_table.py /tmp/scale.jsonl

Per run: wall seconds (reading included) and its ratio to liblinear-train's in the same run,
ringtrain's read / train split, data passes, Hessian-vector products (liblinear: CG steps),
allreduce share, peak RSS per process, the objective relative to liblinear's (all models scored
by bench/train_bench), test accuracy, AUC and log loss.

Then the growth of ringtrain's time per pass (train seconds / data passes) with the nonzeros
per rank, per configuration run at two or more row counts: the least-squares exponent b of
time_per_pass ~ nonzeros_per_rank^b (issue 11 item 5: goal 0.9-1.1).
"""
import math
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

    growth = defaultdict(list)
    for (rows, loss), ds in runs.items():
        for d in ds:
            if d["tool"] == "ringtrain" and d.get("train_s") and d.get("passes"):
                key = (d["optimizer"], loss, d["ranks"], d["threads"])
                growth[key].append((d["nonzeros"] / d["ranks"], d["train_s"] / d["passes"], rows))
    fits = {k: sorted(v) for k, v in growth.items() if len({p[0] for p in v}) >= 2}
    if fits:
        print("\n### Time per pass against nonzeros per rank (ringtrain)\n")
        print("| optimizer | loss | ranks x threads | rows: seconds per pass | exponent |")
        print("|---|---|---|---|---|")
        for (opt, loss, ranks, threads), pts in sorted(fits.items()):
            xs = [math.log(p[0]) for p in pts]
            ys = [math.log(p[1]) for p in pts]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
            cells = ", ".join(f"{p[2]:,}: {p[1]:.3f}" for p in pts)
            print(f"| {opt} | {loss} | {ranks}x{threads} | {cells} | {b:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
