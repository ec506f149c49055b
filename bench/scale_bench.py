#!/usr/bin/python3
"""bench/scale_bench.py — the driver of scripts/bench_scale.sh (run that, not this).

Side by side in one run, on seeded CTR-like data (bench/gen_ctr): ringtrain (every rank x
thread layout in CONFIGS, every optimizer and loss) beside liblinear-train -s 0 / -s 2 and
XGBoost gblinear (logistic only: it has no squared hinge), at each row count in ROWS. One JSON
line per run on stdout. Every tool's final model is scored by ONE scorer, bench/train_bench
(ringtrain's objective 0.5|w|^2 + C sum loss, test accuracy, AUC, log loss): ringtrain models
through `ringtrain export`, XGBoost's written in liblinear's text format.

Fields: tool, optimizer, loss, rows, ranks, threads, nonzeros, file_bytes, wall_s (process
start to exit, reading included), read_s and train_s (ringtrain: from its metrics),
passes (data passes: gradients + Hessian-vector products + diagonals; liblinear: estimated
from its log, since its function, gradient and preconditioner are separate passes),
hessian_products (ringtrain tron / liblinear: CG steps), iterations, allreduce_share
(allreduce seconds / train seconds, rank 0), peak_rss_mb (per process), objective,
objective_rel_to_liblinear, wall_ratio_to_liblinear, test_accuracy, test_auc, test_log_loss.
"""
import json
import os
import re
import subprocess
import sys
import time


def env(name, default):
    return os.environ.get(name, default)


BUILD = sys.argv[1]
WORK = env("BENCH_DIR", "/tmp/ringtrain-scale")
ROWS = [int(float(r)) for r in env("ROWS", "250000 1000000 4000000 16000000").split()]
CONFIGS = env("CONFIGS", "1x1 1x2 2x1 4x1").split()  # ranks x threads per rank
OPTIMIZERS = env("OPTIMIZERS", "tron lbfgs").split()
LOSSES = env("LOSSES", "logistic squared_hinge").split()
TOOLS = env("TOOLS", "liblinear ringtrain xgboost").split()
C = env("C", "1")
TOL = env("TOL", "0.01")
HASH_BITS = env("HASH_BITS", "20")
NNZ = env("NNZ", "40")
XGB_ROUNDS = int(env("XGB_ROUNDS", "20"))
ZK = env("ZK_CONNECT", "")
RT = os.path.join(BUILD, "src/cli/ringtrain")
SCORER = os.path.join(BUILD, "bench/train_bench")
GEN = os.path.join(BUILD, "bench/gen_ctr")
TIME = "/usr/bin/time"


def emit(d):
    print(json.dumps(d), flush=True)


def timed(cmd, tag, **kw):
    """Runs cmd under /usr/bin/time; returns (wall_s, peak_rss_mb, stdout+stderr text)."""
    tfile = os.path.join(WORK, "time." + tag)
    log = os.path.join(WORK, "log." + tag)
    with open(log, "w") as out:
        p = subprocess.Popen([TIME, "-f", "%e %M", "-o", tfile] + cmd, stdout=out,
                             stderr=subprocess.STDOUT, **kw)
    return p, tfile, log


def finish(p, tfile, log):
    rc = p.wait()
    wall, kb = open(tfile).read().split()[-2:]
    text = open(log).read()
    if rc != 0:
        sys.stderr.write("scale_bench: %s failed (exit %d): %s\n" % (p.args, rc, text[-500:]))
    return rc, float(wall), float(kb) / 1024.0, text


def score(model, train, test, loss):
    out = subprocess.run([SCORER, "--liblinear-model", model, "--data", train, "--test-data",
                          test, "--C", C, "--loss", loss], capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write("scale_bench: scoring %s failed: %s\n" % (model, out.stderr))
        return {}
    return json.loads(out.stdout)


def scored_fields(s):
    return {k: s.get(k) for k in ("objective", "test_accuracy", "test_auc", "test_log_loss")}


def generate(rows):
    prefix = os.path.join(WORK, "ctr-%d-b%s-n%s" % (rows, HASH_BITS, NNZ))
    meta = prefix + ".json"
    if not os.path.exists(meta):
        test_rows = max(10000, min(rows // 10, 200000))
        out = subprocess.run([GEN, "--rows", str(rows), "--test-rows", str(test_rows),
                              "--hash-bits", HASH_BITS, "--nnz", NNZ, "--seed", "1",
                              "--out", prefix], capture_output=True, text=True, check=True)
        with open(meta, "w") as f:
            f.write(out.stdout)
    info = json.loads(open(meta).read())
    return prefix + ".train.svm", prefix + ".test.svm", info


def liblinear(rows, train, test, info, loss, base):
    solver = "0" if loss == "logistic" else "2"
    model = os.path.join(WORK, "ll.model")
    p = timed(["liblinear-train", "-s", solver, "-c", C, "-B", "1", "-e", TOL, train, model],
              "ll")
    rc, wall, rss, text = finish(*p)
    if rc != 0:
        return None
    cg = [int(m) for m in re.findall(r"CG\s+(\d+)", text)]
    iters = len(cg)
    s = score(model, train, test, loss)
    d = dict(base, tool="liblinear-train", optimizer="tron(-s %s)" % solver, ranks=1, threads=1,
             wall_s=wall, read_s=None, train_s=None, iterations=iters, hessian_products=sum(cg),
             # w0: fun + grad twice, the diagonal; then per iteration fun at w+s and, the
             # step taken, grad + diagonal (assumes every step is taken, as its log shows).
             passes=5 + sum(cg) + 3 * iters, allreduce_share=None, peak_rss_mb=[round(rss, 1)],
             **scored_fields(s))
    emit(d)
    return d


def ringtrain(rows, train, test, info, loss, opt, ranks, threads, base, ref):
    model = os.path.join(WORK, "rt.model")
    metrics = os.path.join(WORK, "rt.jsonl")
    for f in (model, metrics):
        if os.path.exists(f):
            os.remove(f)
    common = ["--log-level", "warn", "train", "--data", train, "--format", "libsvm",
              "--model", "lr" if loss == "logistic" else "svm", "--loss", loss, "--C", C,
              "--bias", "--optimizer", opt, "--tol", TOL, "--epochs", "1000",
              "--eval-every", "100000", "--threads", str(threads), "--metrics", metrics,
              "--output", model]
    procs = []
    if ranks == 1:
        procs.append(timed([RT] + common, "rt0"))
    else:
        job = "scale-%d-%d-%s-%s-%d" % (os.getpid(), rows, loss, opt, ranks)
        for r in range(ranks):
            procs.append(timed([RT] + common + ["--zk", ZK, "--job", job, "--ranks", str(ranks)],
                               "rt%d" % r))
    results = [finish(*p) for p in procs]
    if any(r[0] != 0 for r in results):
        return
    wall = max(r[1] for r in results)
    lines = [json.loads(l) for l in open(metrics) if l.strip()]
    last = lines[-1]
    ll_model = os.path.join(WORK, "rt.liblinear")
    subprocess.run([RT, "--log-level", "warn", "export", "--model", model, "--format",
                    "liblinear", "--output", ll_model], check=True)
    s = score(ll_model, train, test, loss)
    train_s = last["wall_s"]
    d = dict(base, tool="ringtrain", optimizer=opt, ranks=ranks, threads=threads, wall_s=wall,
             read_s=last.get("read_s"), train_s=train_s, iterations=last["epoch"],
             hessian_products=sum(l.get("hessian_products", 0) for l in lines),
             passes=sum(l.get("passes", 0) for l in lines),
             allreduce_share=round(sum(l["allreduce_s"] for l in lines) / max(train_s, 1e-9), 4),
             peak_rss_mb=[round(r[2], 1) for r in results], **scored_fields(s))
    if ref:
        d["objective_rel_to_liblinear"] = (d["objective"] - ref["objective"]) / ref["objective"]
        d["wall_ratio_to_liblinear"] = round(wall / ref["wall_s"], 3)
        if ref["hessian_products"]:
            d["hessian_products_ratio_to_liblinear"] = round(
                d["hessian_products"] / ref["hessian_products"], 3)
    emit(d)


XGB = r"""
import json, sys, numpy as np, xgboost as xgb
train, out, c, rounds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = xgb.DMatrix(train + "?format=libsvm")
d.set_label((d.get_label() > 0).astype(np.float32))
n = d.num_row()
# gblinear's lambda is scaled by the row count: 1/(C n) minimises 0.5|w|^2 + C sum loss (but
# for the bias, which XGBoost does not regularise).
p = {"booster": "gblinear", "objective": "binary:logistic", "lambda": 1.0 / (c * n), "alpha": 0.0,
     "eta": 0.5, "updater": "shotgun", "nthread": threads, "base_score": 0.5}
b = xgb.train(p, d, num_boost_round=rounds)
w = json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["model"]["weights"]
nf = d.num_col()
with open(out, "w") as f:  # liblinear's text format: column 0 of the DMatrix is unused
    f.write("solver_type L2R_LR\nnr_class 2\nlabel 1 -1\nnr_feature %d\nbias 1\nw\n" % (nf - 1))
    f.write("".join("%.17g\n" % v for v in w[1:nf]))
    f.write("%.17g\n" % w[nf])
"""


def xgboost(rows, train, test, info, base, ref, threads):
    model = os.path.join(WORK, "xgb.liblinear")
    p = timed(["/usr/bin/python3", "-c", XGB, train, model, C, str(XGB_ROUNDS), str(threads)],
              "xgb")
    rc, wall, rss, _ = finish(*p)
    if rc != 0:
        return
    s = score(model, train, test, "logistic")
    d = dict(base, tool="xgboost-gblinear", optimizer="shotgun x%d" % XGB_ROUNDS,
             ranks=1, threads=threads, wall_s=wall, read_s=None, train_s=None,
             iterations=XGB_ROUNDS, hessian_products=None, passes=None, allreduce_share=None,
             peak_rss_mb=[round(rss, 1)], **scored_fields(s))
    if ref:
        d["objective_rel_to_liblinear"] = (d["objective"] - ref["objective"]) / ref["objective"]
        d["wall_ratio_to_liblinear"] = round(wall / ref["wall_s"], 3)
    emit(d)


def main():
    os.makedirs(WORK, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem_gb = int(open("/proc/meminfo").readline().split()[1]) / 1048576
    for rows in ROWS:
        t0 = time.time()
        train, test, info = generate(rows)
        emit({"tool": "machine", "rows": rows, "cpu": cpu, "cores": os.cpu_count(),
              "mem_gb": round(mem_gb, 1), "load1": float(open("/proc/loadavg").read().split()[0]),
              "gen_s": round(time.time() - t0, 1), "data": info})
        base = {"rows": rows, "nonzeros": info["nonzeros"], "file_bytes": info["bytes"],
                "features": info["features"]}
        for loss in LOSSES:
            ref = liblinear(rows, train, test, info, loss, dict(base, loss=loss)) \
                if "liblinear" in TOOLS else None
            if "ringtrain" in TOOLS:
                for opt in OPTIMIZERS:
                    for cfg in CONFIGS:
                        ranks, threads = (int(x) for x in cfg.split("x"))
                        ringtrain(rows, train, test, info, loss, opt, ranks, threads,
                                  dict(base, loss=loss), ref)
            if "xgboost" in TOOLS and loss == "logistic":
                xgboost(rows, train, test, info, dict(base, loss=loss), ref, 2)


if __name__ == "__main__":
    main()
