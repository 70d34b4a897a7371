# test_eval.py -- `hearth calibrate` and `hearth eval` on synthetic data with
# known answers, checked against independent computations here.
import json
import math
import random
import subprocess
import xml.etree.ElementTree as ET

from conftest import HEARTH, MODEL, Server


def auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def ece(probs, labels, bins=10):
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == hi)]
        if idx:
            conf = sum(probs[i] for i in idx) / len(idx)
            acc = sum(labels[i] for i in idx) / len(idx)
            total += len(idx) / len(probs) * abs(acc - conf)
    return total


def run(*args):
    return subprocess.run([HEARTH, *args], capture_output=True, text=True, timeout=300)


def test_calibrate_matches_independent_auroc(tmp_path):
    random.seed(7)
    rows, levels, labels = [], [], []
    for i in range(300):
        lp = -3.0 * random.random()
        y = random.random() < 1 / (1 + math.exp(-(3 * lp + 2)))
        # Every token has the same logprob, so the shipped model's score is a
        # monotone function of lp and its AUROC is that of lp itself.
        rows.append({"prompt": "p%d" % i, "answer": "a", "correct": y,
                     "logprobs": [lp] * 8})
        levels.append(lp)
        labels.append(y)
    data = tmp_path / "labeled.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "calib.json"
    r = run("calibrate", "--data", str(data), "--out", str(out))
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith("| shipped defaults")][0]
    printed = float(line.split("|")[2])
    assert abs(printed - auroc(levels, labels)) < 1e-4
    fitted = [l for l in r.stdout.splitlines() if "held out" in l][0]
    assert float(fitted.split("|")[3]) < 0.1  # calibrated on unseen rows
    model = json.loads(out.read_text())
    assert model["calibration"] == "isotonic" and len(model["weights"]) == 7


def test_calibrate_reads_chat_and_legacy_logprobs(tmp_path):
    """The same answers as chat logprobs (labels true/false) and as legacy
    completions logprobs (labels 1/0, an echoed first token with null)
    make the same model."""
    random.seed(11)
    chat, legacy = [], []
    for i in range(120):
        toks = [(-2.5 * random.random(), sorted(-4 * random.random() for _ in range(3)))
                for _ in range(6)]
        y = random.random() < 0.5 + toks[0][0] / 6
        chat.append({"correct": y, "logprobs": {"content": [
            {"token": "t", "logprob": lp, "top_logprobs": [{"token": "a%d" % k, "logprob": a}
                                                         for k, a in enumerate(alts)]}
            for lp, alts in toks]}})
        legacy.append({"correct": int(y), "logprobs": {
            "tokens": ["<s>"] + ["t"] * 6, "token_logprobs": [None] + [lp for lp, _ in toks],
            "top_logprobs": [None] + [{"a%d" % k: a for k, a in enumerate(alts)}
                                      for _, alts in toks]}})
    outs = []
    for name, rows in (("chat", chat), ("legacy", legacy)):
        data = tmp_path / (name + ".jsonl")
        data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        r = run("calibrate", "--data", str(data), "--out", str(tmp_path / (name + ".json")))
        assert r.returncode == 0, r.stderr
        outs.append([l for l in r.stdout.splitlines() if l.startswith("|")])
        outs[-1].append(json.loads((tmp_path / (name + ".json")).read_text())["weights"])
    assert outs[0] == outs[1] and len(outs[0]) > 3


def test_calibrate_errors(tmp_path):
    r = run("calibrate", "--out", "x.json")
    assert r.returncode == 2 and "--data" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"logprobs": [-0.1], "correct": true}\nnot json\n')
    r = run("calibrate", "--data", str(bad), "--out", str(tmp_path / "c.json"))
    assert r.returncode == 1 and "bad.jsonl:2" in r.stderr and len(r.stderr.splitlines()) == 1
    one = tmp_path / "one.jsonl"
    one.write_text('{"logprobs": [-0.1], "correct": true}\n' * 5)
    r = run("calibrate", "--data", str(one), "--out", str(tmp_path / "c.json"))
    assert r.returncode == 1 and "both" in r.stderr


def test_eval_report_matches_details(tmp_path):
    cloud = Server("-t", "1")
    try:
        cfg = tmp_path / "hearth.yaml"
        cfg.write_text("upstreams:\n  cloud:\n    base_url: http://127.0.0.1:%d/v1\n"
                       "    model: stories260k\n    price: {input_per_1m: 1.0, output_per_1m: 2.0}\n"
                       % cloud.port)
        items = [
            {"prompt": "Once upon a time", "expected": "little girl", "grader": "contains"},
            {"prompt": "Once upon a time", "expected": "spaceship", "grader": "contains"},
            {"prompt": "The cat", "expected": "[a-z]", "grader": "regex"},
            {"prompt": "Tom and Sue", "expected": "zzz", "grader": "contains"},
            {"prompt": "One day", "expected": ".", "grader": "contains"},
            {"prompt": "2+2=", "expected": 4, "grader": "numeric"},
        ]
        data = tmp_path / "eval.jsonl"
        data.write_text("\n".join(json.dumps(i) for i in items) + "\n")
        plot, det, rep = tmp_path / "curve.svg", tmp_path / "det.jsonl", tmp_path / "rep.json"
        r = run("eval", "--data", str(data), "--model", MODEL, "--config", str(cfg),
                "--upstream", "cloud", "--plot", str(plot), "--details", str(det),
                "--report", str(rep), "-n", "16")
        assert r.returncode == 0, r.stderr
    finally:
        cloud.stop()
    details = [json.loads(l) for l in det.read_text().splitlines()]
    report = json.loads(rep.read_text())
    conf = [d["confidence"] for d in details]
    ok = [d["local_correct"] for d in details]
    assert len(details) == 6
    assert details[0]["local_correct"] and not details[1]["local_correct"]
    assert abs(report["ece"] - ece(conf, ok)) < 1e-9
    if 0 < sum(ok) < len(ok):
        assert abs(report["auroc"] - auroc(conf, ok)) < 1e-9
    assert abs(report["local_accuracy"] - sum(ok) / len(ok)) < 1e-9
    # Quality at the threshold, recomputed from the per-item results.
    t = report["at_threshold"]["threshold"]
    q = sum((d["cloud_correct"] if d["confidence"] < t else d["local_correct"]) for d in details)
    assert abs(report["at_threshold"]["quality"] - q / len(details)) < 1e-9
    cost = sum(d["cloud_cost"] for d in details if d["confidence"] < t)
    assert abs(report["at_threshold"]["cost"] - cost) < 1e-12
    assert all(d["cloud_cost"] > 0 for d in details)
    # The cheapest grid threshold holding 95% of cloud quality with 95%
    # confidence, recomputed: a one-sided normal bound on the per-item
    # difference (answer given) - 0.95 x (cloud answer).
    def bound(t):
        d = [(x["cloud_correct"] if x["confidence"] < t or t >= 1 else x["local_correct"])
             - 0.95 * x["cloud_correct"] for x in details]
        m = sum(d) / len(d)
        var = sum((v - m) ** 2 for v in d) / (len(d) - 1)
        return m - 1.6448536269514722 * math.sqrt(var / len(d))

    def cost_at(t):
        return sum(x["cloud_cost"] for x in details if x["confidence"] < t or t >= 1)
    want = None
    for k in range(21):
        if bound(k / 20) >= 0 and (want is None or cost_at(k / 20) < cost_at(want)):
            want = k / 20
    got = report["best_confident"]
    assert (got is None and want is None) or abs(got["threshold"] - want) < 1e-9
    assert "with 95% confidence" in r.stdout
    svg = ET.parse(str(plot)).getroot()
    assert svg.tag.endswith("svg") and any(e.tag.endswith("polyline") for e in svg.iter())
    assert "| threshold | escalated | quality | cost (USD) |" in r.stdout
    # Each details line is a labelled row for `hearth calibrate`: the answer's
    # token logprobs (up to -n 16 of them, each with top alternatives).
    for d in details:
        toks = d["logprobs"]["content"]
        assert d["answer"] == d["local_answer"] and d["correct"] == d["local_correct"]
        assert 1 <= len(toks) <= 16
        assert all(t["logprob"] <= 0 and 1 <= len(t["top_logprobs"]) <= 5 for t in toks)
        assert toks[0]["logprob"] >= max(a["logprob"] for a in toks[0]["top_logprobs"]) - 1e-6
    cal = tmp_path / "calib.json"
    r = run("calibrate", "--data", str(det), "--out", str(cal))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(cal.read_text())["weights"]) == 7


def test_eval_errors(tmp_path):
    r = run("eval")
    assert r.returncode == 2
    bad = tmp_path / "e.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    r = run("eval", "--data", str(bad), "--model", MODEL)
    assert r.returncode == 1 and "expected" in r.stderr
    r = run("eval", "--data", str(bad), "--upstream", "cloud")
    assert r.returncode == 2
