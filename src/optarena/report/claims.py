"""Claims stated in experiment configs ("a beats b on metric") and their verdicts.

The verdict rule is ours (no library states it): compare a and b at their validation-best
settings with 95% intervals over seeds; a clear win either way needs non-overlapping intervals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from optarena.report.stats import FINISHED, mean_ci, median_ci

# Times to target: (runs column, summary statistic, default direction).
TIMES = {
    "steps_to_target": ("steps_to_target", "median", "lower"),
    "seconds_to_target": ("seconds_to_target", "median", "lower"),
}
# Any recorded metric at test, or its best at validation: test_acc, test_miou, test_dice,
# val_acc_best, val_miou_best, ... (the runs column of metrics.json's test/miou is test_miou).
RECORDED = re.compile(r"^(test_[a-z0-9_]+|val_[a-z0-9_]+_best)$")
METRIC_HELP = ("steps_to_target, seconds_to_target, test_<metric> (test_acc, test_miou, "
               "test_dice, ...) or val_<metric>_best")
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass(frozen=True)
class Claim:
    a: str
    b: str
    metric: str
    better: str

    def __str__(self) -> str:
        return f"{self.a} vs {self.b}: {self.metric}, {self.better} is better"


def parse_claims(raw_lists: pd.Series) -> tuple[list[Claim], list[str]]:
    """Deduplicated claims from the runs' configs, plus one problem line per malformed claim."""
    claims: list[Claim] = []
    problems: list[str] = []
    for raw in raw_lists:
        for item in raw if isinstance(raw, list) else [raw]:
            if not isinstance(item, dict) or not {"a", "b", "metric"} <= item.keys():
                problems.append(f"claim {item!r} ignored: it needs keys a, b, metric (and better)")
                continue
            metric = str(item["metric"])
            if metric not in TIMES and not RECORDED.match(metric):
                problems.append(f"claim {item!r} ignored: metric must be one of {METRIC_HELP}")
                continue
            better = str(item.get("better", metric_spec(metric)[2]))
            if better not in ("higher", "lower"):
                problems.append(f"claim {item!r} ignored: better must be higher or lower")
                continue
            claim = Claim(str(item["a"]), str(item["b"]), metric, better)
            if claim not in claims:
                claims.append(claim)
    return claims, sorted(set(problems))


def metric_spec(metric: str) -> tuple[str, str, str]:
    """(runs column, statistic, default direction) of a claim's metric."""
    if metric in TIMES:
        return TIMES[metric]
    return metric, "mean", "lower" if "loss" in metric else "higher"


def _recorded_on(runs: pd.DataFrame, column: str) -> bool:
    """Whether any of these runs' records holds the metric (null values count: not reached)."""
    return any(column in names for names in runs["recorded"])


def _interval(runs: pd.DataFrame, column: str, statistic: str) -> tuple[float, float, float, int]:
    values = runs.loc[runs["status"].isin(FINISHED), column]
    if statistic == "mean":
        est, _, low, high, n = mean_ci(values)
    else:
        est, low, high, _, n = median_ci(values)
    return est, low, high, n


def verdicts(claims: list[Claim], runs: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, task where both optimizers ran): the numbers and the verdict."""
    rows = []
    for claim in claims:
        column, statistic, _ = metric_spec(claim.metric)
        if column not in runs:
            continue  # no run recorded this metric (test_miou on classification runs)
        for task in sorted(best["task"].unique()):
            picked = best[best["task"] == task].set_index("optimizer")["setting"]
            if claim.a not in picked or claim.b not in picked:
                continue
            if statistic == "mean" and not _recorded_on(runs[runs["task"] == task], column):
                continue  # a metric this task does not record (test_miou on classification)
            side = {}
            for name in (claim.a, claim.b):
                at = runs[
                    (runs["task"] == task)
                    & (runs["optimizer"] == name)
                    & (runs["setting"] == picked[name])
                ]
                side[name] = _interval(at, column, statistic)
            verdict, why = decide(side[claim.a], side[claim.b], claim.better)
            (ea, la, ha, na), (eb, lb, hb, nb) = side[claim.a], side[claim.b]
            rows.append(
                {
                    "claim": str(claim),
                    "task": task,
                    "statistic": statistic,
                    "a": claim.a,
                    "a_value": ea,
                    "a_low": la,
                    "a_high": ha,
                    "a_n": na,
                    "b": claim.b,
                    "b_value": eb,
                    "b_low": lb,
                    "b_high": hb,
                    "b_n": nb,
                    "verdict": verdict,
                    "why": why,
                }
            )
    return pd.DataFrame(rows)


def decide(
    a: tuple[float, float, float, int], b: tuple[float, float, float, int], better: str
) -> tuple[str, str]:
    """Supported / not supported when the intervals are disjoint, else inconclusive."""
    (_, a_low, a_high, a_n), (_, b_low, b_high, b_n) = a, b
    if min(a_n, b_n) < 2:
        return INCONCLUSIVE, "fewer than 2 seeds"
    if any(math.isnan(v) for v in (a_low, a_high, b_low, b_high)):
        return INCONCLUSIVE, "no interval"
    a_above, b_above = a_low > b_high, b_low > a_high
    if not (a_above or b_above):
        return INCONCLUSIVE, "intervals overlap"
    a_wins = a_above if better == "higher" else b_above
    return (
        (SUPPORTED, "a better, intervals disjoint")
        if a_wins
        else (NOT_SUPPORTED, "b better, intervals disjoint")
    )
