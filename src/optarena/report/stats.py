"""Targets, best-setting selection on validation, and the per-task summary with CIs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from optarena.report.collect import load_curves

FINISHED = ("completed", "diverged")  # runs with a result; failed and running ones have none
CONFIDENCE = 0.95
TIME_COLUMNS = ("steps_to_target_median", "steps_ci_low", "steps_ci_high",
                "seconds_to_target_median", "seconds_ci_low", "seconds_ci_high", "ttt_ci_coverage")


def resolve_targets(
    runs: pd.DataFrame,
    target: float | None = None,
    curves: Callable[[str], pd.DataFrame | None] = load_curves,
) -> pd.DataFrame:
    """Set each run's target value and its steps/seconds to reach it (inf = never, NaN = unknown).

    Precedence: `target` (the --target flag) > a `target:` key in the run's config > metrics.json.
    When the value differs from the one the run measured, it is recomputed from csv/metrics.csv.
    """
    runs = runs.copy()
    for i, row in runs.iterrows():
        value, metric = row["target"], row["target_metric"]
        cfg = row["config_target"]
        if isinstance(cfg, dict):
            value, metric = cfg.get("value", value), cfg.get("metric", metric)
        elif cfg is not None:
            value = cfg
        if target is not None:
            value = target
        value = float(value) if value is not None else math.nan
        steps, seconds = row["steps_to_target"], row["seconds_to_target"]
        if row["status"] not in FINISHED or math.isnan(value):
            steps = seconds = math.nan
        elif value != row["target"] or metric != row["target_metric"]:
            steps, seconds = first_reach(curves(row["run_dir"]), metric, value)
        elif math.isnan(steps):  # metrics.json: step null = never reached
            steps = seconds = math.inf
        runs.at[i, "target"], runs.at[i, "target_metric"] = value, metric
        runs.at[i, "steps_to_target"], runs.at[i, "seconds_to_target"] = steps, seconds
    return runs


def first_reach(curve: pd.DataFrame | None, metric: str, value: float) -> tuple[float, float]:
    """(step, seconds) of the first logged `metric` >= value; inf if never; NaN if no curve."""
    if curve is None or metric not in curve or "step" not in curve:
        return math.nan, math.nan
    hits = curve.index[curve[metric] >= value]
    if len(hits) == 0:
        return math.inf, math.inf
    step = float(curve.at[hits[0], "step"])
    seconds = math.nan
    if "time/seconds" in curve:
        seconds = curve.at[hits[0], "time/seconds"]
        if pd.isna(seconds):  # time logged on another row of the same step
            seconds = curve.loc[curve["step"] <= step, "time/seconds"].max()
    return step, float(seconds)


def selection_scores(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean best validation value of the task's headline metric (val/acc_best, val/miou_best)
    over seeds per (task, optimizer, setting): the only selection criterion.

    Completed and diverged runs count; a diverged run without a validation result counts 0.
    """
    done = runs[runs["status"].isin(FINISHED)].assign(score=lambda d: d["val_score"].fillna(0.0))
    keys = ["task", "optimizer", "setting"]
    scores = done.groupby(keys, sort=True).agg(
        lr=("lr", "first"),
        metric=("metric", "first"),
        val_mean=("score", "mean"),
        val_std=("score", "std"),
        n=("score", "size"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
    )
    return scores.reset_index()


def best_settings(runs: pd.DataFrame) -> pd.DataFrame:
    """The validation-best setting per (task, optimizer); ties go to more seeds, then the label."""
    scores = selection_scores(runs)
    if scores.empty:
        return scores
    ranked = scores.sort_values(
        ["task", "optimizer", "val_mean", "n", "setting"],
        ascending=[True, True, False, False, True],
    )
    return ranked.groupby(["task", "optimizer"], sort=True).head(1).reset_index(drop=True)


def mean_ci(
    values: pd.Series, bounds: tuple[float, float] = (0.0, 1.0)
) -> tuple[float, float, float, float, int]:
    """(mean, std, ci_low, ci_high, n): a t-interval over seeds, clipped to `bounds` (accuracy
    lives in [0, 1]); NaN bounds for n < 2."""
    x = values.dropna().to_numpy(float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan, 1
    std = float(x.std(ddof=1))
    low, high = (
        stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / math.sqrt(n))
        if std > 0
        else (mean, mean)
    )
    return mean, std, max(float(low), bounds[0]), min(float(high), bounds[1]), n


def median_ci(values: pd.Series) -> tuple[float, float, float, float, int]:
    """(median, ci_low, ci_high, coverage, n) of a time to target; inf (never) sorts last.

    Distribution-free order-statistic interval: scipy's quantile_test at 95% when n >= 6;
    for smaller n no such interval reaches 95%, so [min, max] is used, coverage 1 - 2 * 0.5**n.
    """
    x = np.sort(values.dropna().to_numpy(float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    median = float(np.median(x))
    if n >= 6:
        ci = stats.quantile_test(x).confidence_interval(CONFIDENCE)
        return median, float(ci.low), float(ci.high), CONFIDENCE, n
    return median, float(x[0]), float(x[-1]), 1 - 2 * 0.5**n, n


def task_targets(runs: pd.DataFrame) -> dict[str, float]:
    """The target per task: the most common value among its runs (NaN if none)."""
    out: dict[str, float] = {}
    for task, group in runs.groupby("task"):
        values = Counter(v for v in group["target"] if not pd.isna(v))
        out[task] = values.most_common(1)[0][0] if values else math.nan
    return out


def at_setting(runs: pd.DataFrame, chosen: pd.Series) -> pd.DataFrame:
    """The runs of one (task, optimizer, setting), e.g. a row of best_settings."""
    return runs[(runs["task"] == chosen["task"]) & (runs["optimizer"] == chosen["optimizer"])
                & (runs["setting"] == chosen["setting"])]


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, optimizer): its validation-best setting and the test result there."""
    best = best_settings(runs)
    rows = []
    for _, b in best.iterrows():
        at = at_setting(runs, b)
        opt_runs = runs[(runs["task"] == b["task"]) & (runs["optimizer"] == b["optimizer"])]
        test_mean, test_std, low, high, n_test = mean_ci(
            at.loc[at["status"].isin(FINISHED), "test_score"]
        )
        m = b["metric"]
        finished = at[at["status"].isin(FINISHED)]
        steps = median_ci(finished["steps_to_target"])
        seconds = median_ci(finished["seconds_to_target"])
        rows.append(
            {
                "task": b["task"],
                "optimizer": b["optimizer"],
                "setting": b["setting"],
                "lr": b["lr"],
                "metric": m,
                # Named after the task's metric: val_acc_best_mean, test_miou_mean, ...
                f"val_{m}_best_mean": b["val_mean"],
                f"test_{m}_mean": test_mean,
                f"test_{m}_std": test_std,
                f"test_{m}_ci_low": low,
                f"test_{m}_ci_high": high,
                "n": n_test,
                "diverged": int((at["status"] == "diverged").sum()),
                "failed": int((at["status"] == "failed").sum()),
                "running": int((at["status"] == "running").sum()),
                "finished": len(finished),
                "reached": int(np.isfinite(finished["steps_to_target"]).sum()),
                "steps_to_target_median": steps[0],
                "steps_ci_low": steps[1],
                "steps_ci_high": steps[2],
                "seconds_to_target_median": seconds[0],
                "seconds_ci_low": seconds[1],
                "seconds_ci_high": seconds[2],
                "ttt_ci_coverage": steps[3],
                "runs_total": len(opt_runs),
                "not_finished_total": int((~opt_runs["status"].isin(FINISHED)).sum()),
            }
        )
    # Optimizers with no finished run yet still get a row: shown, never dropped.
    chosen = set(zip(best.get("task", []), best.get("optimizer", []), strict=True))
    for (task, opt), group in runs.groupby(["task", "optimizer"], sort=True):
        if (task, opt) not in chosen:
            rows.append(
                {
                    "task": task,
                    "optimizer": opt,
                    "setting": "",
                    "lr": math.nan,
                    "metric": group["metric"].iloc[0],
                    "n": 0,
                    "diverged": 0,
                    "failed": int((group["status"] == "failed").sum()),
                    "running": int((group["status"] == "running").sum()),
                    "finished": 0,
                    "reached": 0,
                    # No time to target either: the columns exist even when no run finished.
                    **dict.fromkeys(TIME_COLUMNS, math.nan),
                    "runs_total": len(group),
                    "not_finished_total": len(group),
                }
            )
    return pd.DataFrame(rows).sort_values(["task", "optimizer"], ignore_index=True)
