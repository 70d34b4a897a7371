# test_eval_report.py -- the arithmetic of eval/run_eval.py's report, on small
# cases worked out by hand: AUROC, ECE, the operating threshold (with its
# confidence bound) and the verdict against the fixed rule. No server: these are pure functions.
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "eval"))

import run_eval as ev  # noqa: E402


def test_auroc_counts_pairs_and_ties():
    # pos {0.9, 0.4}, neg {0.5, 0.4}: pairs (0.9>0.5) (0.9>0.4) (0.4<0.5) (0.4=0.4 -> 1/2)
    assert ev.auroc([0.9, 0.4, 0.5, 0.4], [1, 1, 0, 0]) == 2.5 / 4
    assert math.isnan(ev.auroc([0.1, 0.2], [1, 1]))


def test_ece_weights_bins_by_size():
    # bin [0.9,1]: conf 0.95 x2, acc 1/2 -> gap 0.45 on half the items;
    # bin [0.1,0.2): conf 0.1 x2, acc 0 -> gap 0.1 on the other half.
    assert abs(ev.ece([0.95, 0.95, 0.1, 0.1], [1, 0, 0, 0]) - (0.5 * 0.45 + 0.5 * 0.1)) < 1e-12
    assert ev.ece([1.0, 0.0], [1, 0]) == 0.0


def test_threshold_keeps_most_local_within_the_bar():
    conf = [0.9, 0.8, 0.3, 0.2]
    local = [1, 1, 0, 0]
    cloud = [1, 1, 1, 0]
    cost = [1, 1, 1, 1]
    # t=0.2 keeps all local: quality 2/4 < 0.95*3/4; t=0.3: 2/4 still; t=0.8: 3/4 = bar met.
    assert ev.choose_threshold(conf, local, cloud, cost, confident=False) == 0.8
    assert ev.choose_threshold(conf, local, cloud, cost) == 0.8
    assert ev.route(conf, local, cloud, cost, 0.8) == (0.75, 0.5, 2)
    # Nothing is good enough: everything goes to the cloud.
    assert ev.choose_threshold([0.5, 0.5], [0, 0], [1, 1], [1, 1]) > 1.0
    assert ev.choose_threshold([0.5, 0.5], [0, 0], [1, 1], [1, 1], confident=False) > 1.0


def test_confident_threshold_leaves_the_edge():
    # 20 items, cloud always right; local right except the item at 0.75.
    conf = [(20 - i) / 20 for i in range(20)]
    local = [0 if i == 5 else 1 for i in range(20)]
    cloud = [1] * 20
    cost = [1] * 20
    # Everything local: 19/20 = 0.95 holds the bar on these items exactly...
    assert ev.choose_threshold(conf, local, cloud, cost, confident=False) == 0.05
    # ...but d = answer - 0.95 x cloud is then 0.05 nineteen times and -0.95
    # once: mean 0, so its lower bound is below 0. Every threshold up to 0.75
    # keeps that item; at 0.8 all d are 0.05 (variance 0): bound 0.05.
    assert ev.bar_lower_bound(conf, local, cloud, 0.75) < 0
    assert abs(ev.bar_lower_bound(conf, local, cloud, 0.8) - 0.05) < 1e-12
    assert ev.choose_threshold(conf, local, cloud, cost) == 0.8


def test_lower_bound_by_hand():
    # t = 0.8 on the 4-item case: d = [.05, .05, .05, 0], mean .0375,
    # sample sd 0.025, standard error 0.0125.
    b = ev.bar_lower_bound([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0], [1, 1, 1, 0], 0.8)
    assert abs(b - (0.0375 - 1.6448536269514722 * 0.0125)) < 1e-12


def summary(cal_share, cal_q, fix_share, fix_q):
    return {"calibrated": {"share_local": cal_share, "quality_vs_cloud": cal_q},
            "fixed_rule": {"share_local": fix_share, "quality_vs_cloud": fix_q}}


def test_fixed_rule_verdict():
    assert ev.beats_fixed_rule(summary(0.6, 0.97, 0.4, 0.99))      # more local, bar held
    assert ev.beats_fixed_rule(summary(0.3, 0.96, 0.8, 0.70))      # fixed rule misses the bar
    assert not ev.beats_fixed_rule(summary(0.4, 0.97, 0.4, 0.99))  # same share: not strictly
    assert not ev.beats_fixed_rule(summary(0.9, 0.90, 0.0, 1.00))  # bar missed
    assert ev.kept_at_bar(summary(0.9, 0.90, 0.0, 1.0)) == 0.0
    assert ev.kept_at_bar(summary(0.9, 0.95, 0.0, 1.0)) == 0.9


def test_split_half_check():
    # Local always right (one confidence for all): every split keeps
    # everything local and holds the bar.
    conf = [0.5] * 40
    r = ev.split_half_check(conf, [1] * 40, [1] * 40, reps=10)
    assert r == {"confident": (1.0, 1.0), "edge": (1.0, 1.0)}
    # Local always wrong, cloud always right: nothing can stay local.
    r = ev.split_half_check(conf, [0] * 40, [1] * 40, reps=10)
    assert r["confident"] == (1.0, 0.0) and r["edge"] == (1.0, 0.0)
