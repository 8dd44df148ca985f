"""Claim verdicts: supported / not supported / inconclusive, with the deciding numbers."""

import math

import pytest
from report_fixtures import make_seeds

from optarena.report import claims, stats
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


@pytest.mark.parametrize(
    ("adan", "adam", "verdict", "why"),
    [
        ([10, 20, 30], [40, 50, 60], claims.SUPPORTED, "a better, intervals disjoint"),
        ([40, 50, 60], [10, 20, 30], claims.NOT_SUPPORTED, "b better, intervals disjoint"),
        ([10, 20, 45], [40, 50, 60], claims.INCONCLUSIVE, "intervals overlap"),
        (
            [10, 20, 30],
            [None, None, None],
            claims.SUPPORTED,
            "a better, intervals disjoint",
        ),  # adam never
        ([None, None, None], [None, None, None], claims.INCONCLUSIVE, "intervals overlap"),
        ([10], [40, 50, 60], claims.INCONCLUSIVE, "fewer than 2 seeds"),
    ],
)
def test_steps_to_target_verdicts(tmp_path, adan, adam, verdict, why):
    seeds(tmp_path, "adan", steps=adan)
    seeds(tmp_path, "adam", steps=adam)
    table, problems = judge(tmp_path)
    assert problems == [] and len(table) == 1  # the claim is in every run's config: deduplicated
    v = table.iloc[0]
    assert (v["verdict"], v["why"], v["statistic"]) == (verdict, why, "median")
    assert v["a_value"] == (sorted(x if x is not None else math.inf for x in adan)[len(adan) // 2])


def test_test_accuracy_claim_uses_t_intervals(tmp_path):
    claim = {"a": "madgrad", "b": "sgd", "metric": "test_acc"}  # better defaults to higher
    seeds(tmp_path, "madgrad", tests=[0.95, 0.96, 0.97], claim_list=[claim])
    seeds(tmp_path, "sgd", tests=[0.90, 0.91, 0.92], claim_list=[claim])
    v = judge(tmp_path)[0].iloc[0]
    half = 4.302652729749464 * 0.01 / math.sqrt(3)
    assert (
        v["verdict"] == claims.SUPPORTED
        and v["claim"] == "madgrad vs sgd: test_acc, higher is better"
    )
    assert (v["a_value"], v["a_low"], v["b_high"]) == pytest.approx(
        (0.96, 0.96 - half, 0.91 + half)
    )


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
