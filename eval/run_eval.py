#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run_eval.py -- `make eval`: measure local-first routing on the committed
evaluation models, task by task, and write eval/results/.

For each task the "cloud" model runs as a second `hearth serve` process that
`hearth eval` reaches through its upstream client, as it would a hosted API.
Then, per task:
  1. dev:  `hearth eval` with the shipped (uncalibrated) confidence; its
           --details file is the labelled data for
  2.       `hearth calibrate` (logistic + isotonic, fitted on dev only);
  3. test: `hearth eval` again, uncalibrated and calibrated.
The operating threshold is chosen on dev (the cheapest that keeps >= 95% of
cloud-only quality) and applied to test. The fixed rule "mean token
probability > 0.85" is scored on the same test answers for comparison.

Python's standard library only: the product is the C binary; this script
drives it and tabulates. Usage: eval/run_eval.py HEARTH [--tasks a,b]"""

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))

TASKS = ["arithmetic", "spam", "capitals"]
LOCAL = os.path.join(HERE, "models", "hearth-eval-local.gguf")
CLOUD = os.path.join(HERE, "models", "hearth-eval-cloud.gguf")
RESULTS = os.path.join(HERE, "results")
# Prices of the stand-in cloud, USD per 1M tokens (a mid-size hosted model).
PRICE_IN, PRICE_OUT = 2.50, 10.00
QUALITY_BAR = 0.95
FIXED_RULE = 0.85
MAX_TOKENS = 16


def sh(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"eval: {' '.join(args[:3])} ... failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return r


def start_cloud(hearth):
    p = subprocess.Popen([hearth, "serve", CLOUD, "--port", "0", "-t", "1", "-p", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return p, int(m.group(1))
    sys.exit("eval: the cloud model's server did not start")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- metrics (computed again here from the per-item details) -----------------------

def auroc(conf, ok):
    pos = [c for c, o in zip(conf, ok) if o]
    neg = [c for c, o in zip(conf, ok) if not o]
    if not pos or not neg:
        return float("nan")
    s = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return s / (len(pos) * len(neg))


def ece(conf, ok, bins=10):
    tot = 0.0
    for b in range(bins):
        idx = [i for i, c in enumerate(conf)
               if (c >= b / bins and (c < (b + 1) / bins or (b == bins - 1 and c <= 1)))]
        if idx:
            acc = sum(ok[i] for i in idx) / len(idx)
            mc = sum(conf[i] for i in idx) / len(idx)
            tot += len(idx) / len(conf) * abs(acc - mc)
    return tot


def route(conf, local_ok, cloud_ok, cost, t):
    """Keep local where confidence >= t: (quality, share local, cost)."""
    n = len(conf)
    keep = [c >= t for c in conf]
    q = sum(lo if k else co for k, lo, co in zip(keep, local_ok, cloud_ok)) / n
    c = sum(x for k, x in zip(keep, cost) if not k)
    return q, sum(keep) / n, c


Z_95 = 1.6448536269514722  # one-sided 95% normal quantile


def bar_lower_bound(conf, local_ok, cloud_ok, t):
    """One-sided 95% lower bound of the mean of d = (the answer given at t)
    - 0.95 x (the cloud's answer): >= 0 when the bar holds beyond these items
    with 95% confidence. Same rule as `hearth eval`'s "with 95% confidence"."""
    n = len(conf)
    d = [(lo if c >= t else co) - QUALITY_BAR * co for c, lo, co in zip(conf, local_ok, cloud_ok)]
    m = sum(d) / n
    var = sum((x - m) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    return m - Z_95 * math.sqrt(var / n)


def choose_threshold(conf, local_ok, cloud_ok, cost, confident=True):
    """The threshold keeping the most items local while holding 95% of
    cloud-only quality: with 95% confidence (the operating rule), or on
    these items alone (confident=False: the edge, which new items miss about
    half the time)."""
    cloud_q = sum(cloud_ok) / len(cloud_ok)
    for t in sorted(set(conf)):
        if confident:
            if bar_lower_bound(conf, local_ok, cloud_ok, t) >= 0:
                return t
        elif route(conf, local_ok, cloud_ok, cost, t)[0] >= QUALITY_BAR * cloud_q:
            return t
    return 1.0 + 1e-9  # all to the cloud


def split_half_check(conf, local_ok, cloud_ok, reps=200, seed=1):
    """How each threshold rule fares on items it was not picked on, without
    touching test: pick on a random half of dev, apply to the other half,
    `reps` times. Returns {rule: (share of splits holding the bar, mean
    share kept local)}."""
    rng = random.Random(seed)
    n = len(conf)
    out = {}
    for rule in ("confident", "edge"):
        held = kept = 0.0
        for _ in range(reps):
            idx = list(range(n))
            rng.shuffle(idx)
            a, b = idx[:n // 2], idx[n // 2:]
            pick = lambda v, ix: [v[i] for i in ix]  # noqa: E731
            t = choose_threshold(pick(conf, a), pick(local_ok, a), pick(cloud_ok, a), [0] * len(a),
                                 confident=rule == "confident")
            q, share, _ = route(pick(conf, b), pick(local_ok, b), pick(cloud_ok, b), [0] * len(b), t)
            held += q >= QUALITY_BAR * sum(pick(cloud_ok, b)) / len(b)
            kept += share
        out[rule] = (held / reps, kept / reps)
    return out


def mean_prob(d):
    toks = d["logprobs"]["content"]
    return sum(math.exp(t["logprob"]) for t in toks) / len(toks) if toks else 0.0


def summarise(task, dev_raw, test_raw, test_cal, cal_report):
    ok = [d["local_correct"] for d in test_raw]
    cok = [d["cloud_correct"] for d in test_raw]
    cost = [d["cloud_cost"] for d in test_raw]
    raw = [d["confidence"] for d in test_raw]
    cal = [d["confidence"] for d in test_cal]
    fixed = [mean_prob(d) for d in test_raw]
    assert [d["local_answer"] for d in test_cal] == [d["local_answer"] for d in test_raw]
    all_cloud = sum(cost)
    cloud_q = sum(cok) / len(cok)

    dev_ok = [d["local_correct"] for d in dev_raw]
    dev_cok = [d["cloud_correct"] for d in dev_raw]
    dev_cost = [d["cloud_cost"] for d in dev_raw]
    t_dev = choose_threshold(cal_report["dev_cal_conf"], dev_ok, dev_cok, dev_cost)
    t_edge = choose_threshold(cal_report["dev_cal_conf"], dev_ok, dev_cok, dev_cost,
                              confident=False)
    q_cal, share_cal, c_cal = route(cal, ok, cok, cost, t_dev)
    q_edge, share_edge, _ = route(cal, ok, cok, cost, t_edge)
    q_fix, share_fix, c_fix = route(fixed, ok, cok, cost, FIXED_RULE + 1e-12)
    # The calibrated router at the fixed rule's share: the same number of items
    # kept local, chosen by calibrated confidence instead.
    k = round(share_fix * len(cal))
    order = sorted(range(len(cal)), key=lambda i: -cal[i])
    keep = set(order[:k])
    q_same_share = sum(ok[i] if i in keep else cok[i] for i in range(len(cal))) / len(cal)

    curve = []
    for i in range(21):
        t = i / 20
        q, s, c = route(cal, ok, cok, cost, t)
        curve.append({"threshold": t, "share_local": s, "quality": q, "cost": c})
    return {
        "task": task, "n_test": len(ok), "n_dev": len(dev_raw),
        "local_accuracy": sum(ok) / len(ok), "cloud_accuracy": cloud_q,
        "auroc_raw": auroc(raw, ok), "auroc_calibrated": auroc(cal, ok),
        "ece_raw": ece(raw, ok), "ece_calibrated": ece(cal, ok),
        "auroc_mean_prob": auroc(fixed, ok), "ece_mean_prob": ece(fixed, ok),
        "threshold_from_dev": t_dev,
        "edge_rule": {"threshold": t_edge, "share_local": share_edge,
                      "quality_vs_cloud": q_edge / cloud_q if cloud_q else 0},
        "dev_split_half": {k: {"held_bar": h, "mean_share_local": m} for k, (h, m) in
                           split_half_check(cal_report["dev_cal_conf"], dev_ok, dev_cok).items()},
        "calibrated": {"quality": q_cal, "quality_vs_cloud": q_cal / cloud_q if cloud_q else 0,
                       "share_local": share_cal, "cost": c_cal,
                       "cost_saved": 1 - c_cal / all_cloud if all_cloud else 0},
        "fixed_rule": {"quality": q_fix, "quality_vs_cloud": q_fix / cloud_q if cloud_q else 0,
                       "share_local": share_fix, "cost": c_fix,
                       "cost_saved": 1 - c_fix / all_cloud if all_cloud else 0,
                       "calibrated_quality_at_same_share": q_same_share},
        "all_cloud_cost": all_cloud, "curve": curve,
    }


def by_difficulty(data, details):
    out = {}
    for row, d in zip(data, details):
        k = row.get("difficulty", "all")
        n, lo, co = out.get(k, (0, 0, 0))
        out[k] = (n + 1, lo + d["local_correct"], co + d["cloud_correct"])
    return {k: {"n": n, "local": lo / n, "cloud": co / n} for k, (n, lo, co) in sorted(out.items())}


def run_task(hearth, task, cfg, work):
    tdir = os.path.join(HERE, "data", "tasks", task)
    dev, test = os.path.join(tdir, "dev.jsonl"), os.path.join(tdir, "test.jsonl")
    out = {k: os.path.join(work, f"{task}.{k}.jsonl") for k in ("dev", "raw", "cal")}
    calib = os.path.join(RESULTS, f"{task}.calibration.json")
    base = [hearth, "eval", "--model", LOCAL, "--config", cfg, "--upstream", "cloud",
            "-n", str(MAX_TOKENS)]
    print(f"[{task}] dev: answering locally and in the cloud ...", flush=True)
    sh(*base, "--data", dev, "--details", out["dev"])
    print(f"[{task}] calibrating on dev ...", flush=True)
    cal_out = sh(hearth, "calibrate", "--data", out["dev"], "--out", calib).stdout
    print(f"[{task}] test: uncalibrated, then calibrated ...", flush=True)
    sh(*base, "--data", test, "--details", out["raw"],
       "--report", os.path.join(work, f"{task}.raw.report.json"))
    sh(*base, "--data", test, "--details", out["cal"], "--calibration", calib,
       "--plot", os.path.join(RESULTS, f"{task}.deferral.svg"),
       "--report", os.path.join(RESULTS, f"{task}.report.json"))
    # The dev items scored with the calibration, to pick the threshold on dev.
    sh(*base, "--data", dev, "--details", out["dev"] + ".cal", "--calibration", calib)
    dev_raw = read_jsonl(out["dev"])
    s = summarise(task, dev_raw, read_jsonl(out["raw"]), read_jsonl(out["cal"]),
                  {"dev_cal_conf": [d["confidence"] for d in read_jsonl(out["dev"] + ".cal")]})
    s["by_difficulty"] = by_difficulty(read_jsonl(test), read_jsonl(out["raw"]))
    # Paths relative to the checkout, so that one elsewhere writes the same bytes.
    root = os.path.dirname(HERE) + os.sep
    s["calibrate_output"] = cal_out.replace(root, "").strip().splitlines()
    hr = json.load(open(os.path.join(RESULTS, f"{task}.report.json")))
    # hearth's own report and this recomputation must agree.
    for a, b in (("auroc", "auroc_calibrated"), ("ece", "ece_calibrated")):
        if not math.isnan(s[b]) and abs(hr[a] - s[b]) > 1e-6:
            sys.exit(f"eval: {task}: {a} {hr[a]} from hearth, {s[b]} recomputed")
    return s


def pct(x):
    return f"{100 * x:.1f}%"


# The targets this kit is held to, per task: (AUROC floor, ECE ceiling) of
# the calibrated confidence, or None where the task has none.
TARGETS = {"arithmetic": (0.95, 0.03), "spam": (0.85, 0.05)}
KEPT_LOCAL_TARGET, KEPT_LOCAL_TASKS = 0.50, 2


def beats_fixed_rule(s):
    """Strictly better than the fixed rule: the calibrated router holds the
    quality bar on test and either the fixed rule misses it or the router
    keeps more requests local."""
    c, f = s["calibrated"], s["fixed_rule"]
    if c["quality_vs_cloud"] < QUALITY_BAR:
        return False
    return f["quality_vs_cloud"] < QUALITY_BAR or c["share_local"] > f["share_local"]


def kept_at_bar(s):
    c = s["calibrated"]
    return c["share_local"] if c["quality_vs_cloud"] >= QUALITY_BAR else 0.0


def targets(results):
    """The targets as a list of (statement, met) lines."""
    ok = lambda b: "met" if b else "**missed**"  # noqa: E731
    out = []
    for s in results:
        t = TARGETS.get(s["task"])
        if t:
            out.append(f"{s['task']}: AUROC {s['auroc_calibrated']:.3f} (>= {t[0]}: "
                       f"{ok(s['auroc_calibrated'] >= t[0])}), ECE after calibration "
                       f"{s['ece_calibrated']:.3f} (<= {t[1]}: {ok(s['ece_calibrated'] <= t[1])})")
    kept = [s["task"] for s in results if kept_at_bar(s) >= KEPT_LOCAL_TARGET]
    out.append(f">= {KEPT_LOCAL_TARGET:.0%} kept local at >= {QUALITY_BAR:.0%} of cloud quality "
               f"on {KEPT_LOCAL_TASKS}+ tasks: {', '.join(kept) or 'none'} "
               f"({ok(len(kept) >= KEPT_LOCAL_TASKS)})")
    for s in results:
        c, f = s["calibrated"], s["fixed_rule"]
        out.append(f"{s['task']}: calibrated router {pct(c['share_local'])} local at "
                   f"{pct(c['quality_vs_cloud'])} vs fixed rule {pct(f['share_local'])} at "
                   f"{pct(f['quality_vs_cloud'])}: strictly better {ok(beats_fixed_rule(s))}")
    return out


def markdown(results):
    lines = [
        "# Routing quality on the evaluation models",
        "",
        f"Local: `{os.path.basename(LOCAL)}`; cloud: `{os.path.basename(CLOUD)}` served by a "
        "second hearth process. Calibration fitted on dev, figures on test. The operating "
        "threshold is the lowest one on dev whose quality keeps "
        f">= {QUALITY_BAR:.0%} of cloud-only quality with 95% confidence (one-sided normal bound "
        "on the per-item paired difference), applied to test. Fixed rule: local when the mean "
        f"token probability > 0.85. Cloud prices: ${PRICE_IN:.2f} / ${PRICE_OUT:.2f} per 1M "
        "input / output tokens.",
        "",
        "| task | n | local acc | cloud acc | AUROC raw → cal | ECE raw → cal | kept local "
        "| quality vs cloud | cost saved | fixed rule: kept local | quality vs cloud "
        "| calibrated at same share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results:
        c, f = s["calibrated"], s["fixed_rule"]
        lines.append(
            f"| {s['task']} | {s['n_test']} | {pct(s['local_accuracy'])} | "
            f"{pct(s['cloud_accuracy'])} | {s['auroc_raw']:.3f} → {s['auroc_calibrated']:.3f} | "
            f"{s['ece_raw']:.3f} → {s['ece_calibrated']:.3f} | {pct(c['share_local'])} | "
            f"{pct(c['quality_vs_cloud'])} | {pct(c['cost_saved'])} | {pct(f['share_local'])} | "
            f"{pct(f['quality_vs_cloud'])} | "
            f"{pct(f['calibrated_quality_at_same_share'] / max(s['cloud_accuracy'], 1e-12))} |")
    lines += ["", "Accuracy by difficulty (test):", ""]
    for s in results:
        lines.append(f"- **{s['task']}**: " + ", ".join(
            f"{k} {pct(v['local'])} / {pct(v['cloud'])} (n={v['n']})"
            for k, v in s["by_difficulty"].items()) + "  (local / cloud)")
    lines += ["", "The edge rule instead (the lowest dev threshold whose dev quality alone holds the "
              "bar), on test; and both rules picked on a random half of dev and applied to the "
              "other half, 200 times (no test items involved):", ""]
    for s in results:
        e, h = s["edge_rule"], s["dev_split_half"]
        lines.append(f"- {s['task']}: edge rule on test: threshold {e['threshold']:.3f}, "
                     f"{pct(e['share_local'])} local at {pct(e['quality_vs_cloud'])} of cloud "
                     f"quality; dev halves: the bar held in {pct(h['confident']['held_bar'])} "
                     f"of splits with the 95%-confidence rule ({pct(h['confident']['mean_share_local'])} "
                     f"local on average), {pct(h['edge']['held_bar'])} with the edge rule "
                     f"({pct(h['edge']['mean_share_local'])})")
    lines += ["", "Targets (test split; kept local counts only where the quality bar holds):", ""]
    lines += [f"- {t}" for t in targets(results)]
    lines += ["", "Deferral curves: `<task>.deferral.svg`; per-task reports: "
              "`<task>.report.json`; calibrations: `<task>.calibration.json`.", ""]
    return "\n".join(lines)


def main():
    global LOCAL, CLOUD, RESULTS
    ap = argparse.ArgumentParser()
    ap.add_argument("hearth")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--local", default=LOCAL, help="local model (GGUF)")
    ap.add_argument("--cloud", default=CLOUD, help="cloud model (GGUF)")
    ap.add_argument("--results", default=RESULTS, help="output folder")
    args = ap.parse_args()
    LOCAL, CLOUD, RESULTS = args.local, args.cloud, args.results
    os.makedirs(RESULTS, exist_ok=True)
    cloud, port = start_cloud(args.hearth)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-eval-") as work:
            cfg = os.path.join(work, "hearth.yaml")
            with open(cfg, "w") as f:
                f.write(f"upstreams:\n  cloud:\n    base_url: http://127.0.0.1:{port}/v1\n"
                        f"    model: {os.path.basename(CLOUD)[:-len('.gguf')]}\n"
                        f"    price: {{input_per_1m: {PRICE_IN}, output_per_1m: {PRICE_OUT}}}\n")
            for task in args.tasks.split(","):
                results.append(run_task(args.hearth, task, cfg, work))
    finally:
        cloud.terminate()
        cloud.wait()
    with open(os.path.join(RESULTS, "summary.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    md = markdown(results)
    with open(os.path.join(RESULTS, "summary.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
