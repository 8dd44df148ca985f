"""Claim verdicts: supported / not supported / inconclusive, with the deciding numbers."""

import math

import numpy as np
import pandas as pd
import pytest
from report_fixtures import make_run, make_seeds

from optarena.report import claims, difference, figures, grid_edges, stats, tables
from optarena.report.collect import collect_runs

ADAN_FASTER = {"a": "adan", "b": "adam", "metric": "steps_to_target", "better": "lower"}


def judge(root):
    runs, _ = collect_runs([root])
    runs = stats.resolve_targets(runs)
    parsed, problems = claims.parse_claims(runs["claims"])
    return claims.verdicts(parsed, runs, stats.best_settings(runs)), problems


def seeds(root, optimizer, tests=None, steps=None, claim_list=(ADAN_FASTER,)):
    values = [{"test_acc": t} for t in tests] if tests else [{"target_step": s} for s in steps]
    make_seeds(root, optimizer, values, optimizer=optimizer, config={"claims": list(claim_list)})


FIVE, NEVER5 = [10, 20, 30, 40, 50], [None] * 5


@pytest.mark.parametrize(
    ("adan", "adam", "verdict", "why"),
    [
        (FIVE, [60, 70, 80, 90, 100], claims.SUPPORTED, "a better"),  # exact p = 2/252
        ([60, 70, 80, 90, 100], FIVE, claims.NOT_SUPPORTED, "b better"),
        ([10, 20, 30], [40, 50, 60], claims.INCONCLUSIVE, "p > level"),  # 3 v 3: p >= 0.1
        (FIVE, NEVER5, claims.SUPPORTED, "a better"),  # adam never: the slowest ranks
        (NEVER5, NEVER5, claims.INCONCLUSIVE, "neither reached the target"),
        ([10], [40, 50, 60], claims.INCONCLUSIVE, "fewer than 2 seeds"),
    ],
)
def test_steps_to_target_verdicts(tmp_path, adan, adam, verdict, why):
    seeds(tmp_path, "adan", steps=adan)
    seeds(tmp_path, "adam", steps=adam)
    table, problems = judge(tmp_path)
    assert problems == [] and len(table) == 1  # the claim is in every run's config: deduplicated
    v = table.iloc[0]
    assert (v["verdict"], v["statistic"], v["test"]) == (verdict, "median", "Mann-Whitney U")
    assert v["why"].startswith(why)
    assert v["a_value"] == (sorted(x if x is not None else math.inf for x in adan)[len(adan) // 2])


# Student's (1908) sleep data, as R ships it (`sleep`): extra hours of sleep of 10 patients
# under two drugs. R: t.test(extra ~ group, data = sleep, paired = TRUE) gives t = -4.0621,
# df = 9, p-value = 0.002833, 95% CI [-2.4598858, -0.7001142]; without paired = TRUE (Welch)
# t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI [-3.3654832, 0.2054832].
DRUG1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_the_difference_test_gives_the_textbook_values():
    seeds_ = [str(i) for i in range(10)]
    paired = difference.mean_difference(pd.Series(DRUG1, seeds_), pd.Series(DRUG2, seeds_))
    d = np.subtract(DRUG1, DRUG2)  # by hand: t = mean(d) / (sd(d) / sqrt(n))
    by_hand = d.mean() / (d.std(ddof=1) / math.sqrt(10))
    assert paired.test == "paired t (10 seeds)" and paired.estimate == pytest.approx(-1.58)
    assert (paired.result.statistic, by_hand) == pytest.approx((-4.0621, -4.0621), abs=1e-4)
    assert paired.p == pytest.approx(0.002833, abs=1e-6)
    assert paired.interval(0.95) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
    other = [str(i) for i in range(10, 20)]  # other seeds: nothing to pair, Welch
    welch = difference.mean_difference(pd.Series(DRUG1, seeds_), pd.Series(DRUG2, other))
    assert welch.test == "Welch t (df 17.8)" and float(welch.result.df) == pytest.approx(17.776,
                                                                                      abs=1e-3)
    assert (welch.result.statistic, welch.p) == pytest.approx((-1.8608, 0.07939), abs=1e-4)
    assert welch.interval(0.95) == pytest.approx((-3.3654832, 0.2054832), abs=1e-7)


@pytest.mark.parametrize(("sgd_seeds", "verdict", "test"), [
    (range(10), claims.SUPPORTED, "paired t (10 seeds)"),  # same seeds: p = 0.0028
    (range(10, 20), claims.INCONCLUSIVE, "Welch t (df 17.8)"),  # p = 0.079
])
def test_pairing_by_seed_sharpens_the_verdict(tmp_path, sgd_seeds, verdict, test):
    claim = {"a": "madgrad", "b": "sgd", "metric": "test_acc"}  # better defaults to higher
    for seed, (x1, x2) in zip(sgd_seeds, zip(DRUG1, DRUG2, strict=True), strict=True):
        for optimizer, x, s in (("madgrad", x2, seed - sgd_seeds[0]), ("sgd", x1, seed)):
            make_run(tmp_path, f"{optimizer}_{s}", optimizer=optimizer, seed=s,
                     test_acc=0.5 + x / 100, config={"claims": [claim]})
    v = judge(tmp_path)[0].iloc[0]
    assert (v["verdict"], v["test"], v["level"]) == (verdict, test, 0.05)
    assert v["claim"] == "madgrad vs sgd: test_acc, higher is better"
    half = 2.2621571627409915 * np.std(DRUG2, ddof=1) / 100 / math.sqrt(10)  # t(0.975, 9)
    assert (v["a_value"], v["a_low"]) == pytest.approx((0.5 + np.mean(DRUG2) / 100,
                                                        0.5 + np.mean(DRUG2) / 100 - half))
    assert v["difference"] == pytest.approx(0.0158)


def test_holm_levels_and_step_down():
    levels, significant = zip(*difference.holm([0.01, 0.04, 0.03, math.nan]), strict=True)
    # m = 3 tests (NaN: none): 0.01 <= 0.05/3; 0.03 > 0.05/2 stops it; 0.04 < 0.05 but after.
    assert significant == (True, False, False, False)
    assert levels[:3] == pytest.approx((0.05 / 3, 0.05, 0.025)) and math.isnan(levels[3])


def test_holm_changes_a_verdict_where_it_should(tmp_path):
    # adam beats sgd by 0.01, 0.02, 0.00, 0.03, 0.015 on 5 shared seeds: paired p = 0.040.
    for seed, gain in enumerate((0.01, 0.02, 0.0, 0.03, 0.015)):
        for optimizer, acc in (("adam", 0.9 + gain), ("sgd", 0.9), ("rmsprop", 0.9 + gain)):
            make_run(tmp_path, f"{optimizer}_{seed}", optimizer=optimizer, seed=seed,
                     test_acc=acc)
    runs = stats.resolve_targets(collect_runs([tmp_path])[0])
    best = stats.best_settings(runs)
    alone = claims.Claim("adam", "sgd", "test_acc", "higher")
    other = claims.Claim("adam", "rmsprop", "test_acc", "higher")  # identical: no test
    third = claims.Claim("rmsprop", "sgd", "test_acc", "higher")  # the same p = 0.040
    one = claims.verdicts([alone], runs, best).iloc[0]
    assert one["p"] == pytest.approx(0.0399, abs=1e-4) and one["verdict"] == claims.SUPPORTED
    both = claims.verdicts([alone, other, third], runs, best).set_index("claim")
    assert both.loc[str(other), "why"] == "no spread over seeds: no test"  # not counted in m
    # Two tests: the smaller p (a tie) meets 0.05 / 2, and fails; Holm stops there.
    assert list(both["level"].iloc[[0, 2]]) == [0.025, 0.05]
    assert set(both.loc[[str(alone), str(third)], "verdict"]) == {claims.INCONCLUSIVE}


def test_a_grid_edge_sweep_is_flagged_and_its_verdict_inconclusive(tmp_path):
    claim = {"a": "adam", "b": "sgd", "metric": "test_acc"}
    for optimizer, lrs, peak in (("adam", (0.001, 0.01, 0.1), 0.1), ("sgd", (0.01, 0.1, 1.0), 0.1)):
        for lr in lrs:
            base = 0.95 if lr == peak else 0.85
            make_seeds(tmp_path, f"{optimizer}_{lr}",
                       [{"val_acc_best": base + d, "test_acc": base + d + (optimizer == "adam")
                         * 0.03} for d in (0.0, 0.01, 0.02)],
                       optimizer=optimizer, lr=lr, config={"claims": [claim]})
    runs, knobs = collect_runs([tmp_path])
    scores, best = stats.selection_scores(runs), stats.best_settings(runs)
    edges = grid_edges.find(runs, knobs, best)
    settings = tables.headline(stats.summarize(runs), edges).set_index("optimizer")
    assert list(settings["best setting (by val)"]) == ["lr=0.1 (grid edge)", "lr=0.1"]
    parsed, _ = claims.parse_claims(runs["claims"])
    v = tables.claims(claims.verdicts(parsed, runs, best, edges)).iloc[0]
    assert v["verdict"] == "inconclusive (grid edge: extend the grid)"
    assert v["because"] == "adam: lr=0.1 is the largest of its 3-point grid"
    assert v["p"] != "—"  # still tested, and counted in Holm's m
    fig = figures.sensitivity_figure("digits/cnn_small", scores, best, "acc", edges)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert "chosen at a grid edge: extend the grid" in legend and notes == [
        "adam: lr at grid edge"]
    assert fig.axes[0].get_ylabel() == "best val/acc, mean over seeds"
    # Stage 1 of a tune-then-confirm sweep: one run per point, and the label says so.
    once = figures.sensitivity_figure("digits/cnn_small", scores.assign(n=1), best, "acc", edges)
    assert once.axes[0].get_ylabel() == "best val/acc, one run per point"
    # adam and sgd chosen on the same point (lr 0.1, same mean): the later star nests inside.
    stars = [line for line in fig.axes[0].lines
             if line.get_marker() == "*" and len(line.get_xdata())]
    assert [star.get_markersize() for star in stars] == [17, 9]


def test_every_numeric_knob_has_edges_but_an_index_into_lr_adds_none(tmp_path):
    for i, lr in enumerate((0.1, 0.01)):
        for wd in (0.0, 0.01):
            make_seeds(tmp_path, f"adam_{i}_{wd}", [{"val_acc_best": 0.9 - i / 10 + wd}] * 2,
                       lr=lr, extra_overrides=[f"lr_index={i}", f"optimizer.weight_decay={wd}",
                                               "optimizer.foreach=true"])
    runs, knobs = collect_runs([tmp_path])
    best = stats.best_settings(runs)
    edges = grid_edges.find(runs, [*knobs, "optimizer.foreach"], best)
    assert knobs == ["lr_index", "optimizer.weight_decay"]
    # lr_index maps one to one onto lr (it would repeat lr's edge); foreach is not a number.
    assert list(zip(edges["knob"], edges["side"], strict=True)) == [
        ("lr", "largest"), ("optimizer.weight_decay", "largest")]
    assert grid_edges.mark(best["setting"].iloc[0], edges, "digits/cnn_small", "adam") == (
        "lr=0.1 (grid edge), lr_index=0, optimizer.weight_decay=0.01 (grid edge)")


def test_close_accuracies_are_inconclusive(tmp_path):
    claim = {"a": "madgrad", "b": "sgd", "metric": "test_acc", "better": "higher"}
    seeds(tmp_path, "madgrad", tests=[0.92, 0.95, 0.98], claim_list=[claim])
    seeds(tmp_path, "sgd", tests=[0.90, 0.91, 0.92], claim_list=[claim])
    assert judge(tmp_path)[0].iloc[0]["verdict"] == claims.INCONCLUSIVE


def test_malformed_claims_are_reported_not_fatal(tmp_path):
    bad = [{"a": "adan", "b": "adam", "metric": "loss"}, {"a": "adan"}, ADAN_FASTER]
    seeds(tmp_path, "adan", steps=[10, 20], claim_list=bad)
    table, problems = judge(tmp_path)
    assert len(problems) == 2 and "metric must be one of" in problems[0] + problems[1]
    assert table.empty  # adam absent: the valid claim has no task to be judged on
