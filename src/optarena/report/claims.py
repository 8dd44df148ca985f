"""Claims stated in experiment configs ("a beats b on metric") and their verdicts.

Each claim is judged per task at both optimizers' validation-best settings, on the difference
a - b: a two-sided test (report/difference.py: paired or Welch t for means, Mann-Whitney U for
times to target), Holm-corrected over every claim row of the report. A setting at the edge of
its grid (report/grid_edges.py) gives no verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from optarena.report import grid_edges
from optarena.report.difference import ALPHA, Difference, holm, mean_difference, time_difference
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
GRID_EDGE = "inconclusive (grid edge: extend the grid)"


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


def _by_seed(runs: pd.DataFrame, column: str) -> pd.Series:
    done = runs[runs["status"].isin(FINISHED)]
    return pd.Series(done[column].to_numpy(float), index=done["seed"].astype(str).to_numpy())


def verdicts(claims: list[Claim], runs: pd.DataFrame, best: pd.DataFrame,
             edges: pd.DataFrame | None = None, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (claim, task where both optimizers ran): each side's value and interval,
    the difference a - b, its test and p-value, Holm's level over all rows, and the verdict."""
    edges = edges if edges is not None else grid_edges.find(runs, [], best)
    rows, tests = [], []
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
            at = {name: runs[(runs["task"] == task) & (runs["optimizer"] == name)
                             & (runs["setting"] == picked[name])] for name in (claim.a, claim.b)}
            side = {name: _interval(at[name], column, statistic) for name in at}
            test = (mean_difference if statistic == "mean" else time_difference)(
                _by_seed(at[claim.a], column), _by_seed(at[claim.b], column))
            edge = "; ".join(f"{name}: {text}" for name in (claim.a, claim.b)
                             if (text := grid_edges.describe(edges, task, name)))
            (ea, la, ha, na), (eb, lb, hb, nb) = side[claim.a], side[claim.b]
            tests.append(test)
            rows.append({
                "claim": str(claim), "task": task, "statistic": statistic,
                "a": claim.a, "a_value": ea, "a_low": la, "a_high": ha, "a_n": na,
                "b": claim.b, "b_value": eb, "b_low": lb, "b_high": hb, "b_n": nb,
                "test": test.test, "difference": test.estimate, "p": test.p,
                "grid_edge": edge, "better": claim.better,
            })
    corrected = holm([t.p for t in tests], alpha)
    for row, test, (level, significant) in zip(rows, tests, corrected, strict=True):
        low, high = test.interval(1 - level) if not math.isnan(level) else (math.nan, math.nan)
        verdict, why = decide(test, level, significant, row["better"], row["grid_edge"],
                              sum(not math.isnan(t.p) for t in tests))
        row.update(level=level, diff_low=low, diff_high=high, verdict=verdict, why=why)
    return pd.DataFrame(rows)


def decide(test: Difference, level: float, significant: bool, better: str, edge: str = "",
           m: int = 1) -> tuple[str, str]:
    """Supported / not supported when the difference is significant at Holm's level (its sign
    says which), else inconclusive; a side at a grid edge is always inconclusive."""
    if edge:
        return GRID_EDGE, edge
    if math.isnan(test.p):
        return INCONCLUSIVE, test.reason
    where = f"Holm level over {m} test{'s' if m > 1 else ''}"
    if not significant:
        first = "p > level" if test.p > level else "an earlier (smaller) p was not significant"
        return INCONCLUSIVE, f"{first} ({where})"
    # a - b > 0 is a better when higher is better; for times a's longer times mean b is faster.
    a_wins = (test.a_better_direction > 0) == (better == "higher")
    return (SUPPORTED if a_wins else NOT_SUPPORTED,
            f"{'a' if a_wins else 'b'} better, p ≤ level ({where})")
