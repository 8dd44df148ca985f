"""Display tables: numbers formatted for people (∞ for never, — for unknown)."""

from __future__ import annotations

import math

import pandas as pd

from optarena.report import grid_edges


def num(value: float, fmt: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    return format(value, fmt)


def time_value(value: float) -> str:
    """A time to target: 'never' when not reached, integers as such, else 3 significant digits."""
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return num(value, ".0f" if isinstance(value, float) and value.is_integer() else ".3g")


def interval(low: float, high: float, fmt: str = ".4f") -> str:
    return "—" if math.isnan(low) else f"[{num(low, fmt)}, {num(high, fmt)}]"


SHORT = {"miou": "mIoU"}  # metric names as tables show them (acc stays acc)


def metric_label(metric: str) -> str:
    return SHORT.get(metric, metric)


def _setting(s: pd.Series, edges: pd.DataFrame | None) -> str:
    if edges is None:
        return s["setting"]
    return grid_edges.mark(s["setting"], edges, s["task"], s["optimizer"])


def headline(summary: pd.DataFrame, edges: pd.DataFrame | None = None) -> pd.DataFrame:
    """The answer: per task and optimizer, the val-chosen setting and the test result there.

    Columns name the tasks' headline metric ("val acc", "test mIoU mean ± std"); a report over
    tasks with different metrics gets a `metric` column and generic heads instead.
    """
    metrics = sorted(set(summary["metric"].dropna())) if "metric" in summary else ["acc"]
    one = metric_label(metrics[0]) if len(metrics) == 1 else None
    val_head = f"val {one}" if one else "val (best)"
    test_head = f"test {one} mean ± std" if one else "test mean ± std"
    rows = []
    for _, s in summary.iterrows():
        m = s.get("metric") if isinstance(s.get("metric"), str) else "acc"
        row = {"task": s["task"]}
        if not one:
            row["metric"] = metric_label(m)
        rows.append(
            {
                **row,
                "optimizer": s["optimizer"],
                "best setting (by val)": _setting(s, edges) or "no finished run",
                val_head: num(s.get(f"val_{m}_best_mean", math.nan)),
                test_head: _mean_std(s.get(f"test_{m}_mean"), s.get(f"test_{m}_std")),
                "95% CI": interval(
                    s.get(f"test_{m}_ci_low", math.nan), s.get(f"test_{m}_ci_high", math.nan)
                ),
                "n": int(s["n"]),
                "diverged/failed": f"{int(s['diverged'])}/{int(s['failed'])}"
                + (f" (+{int(s['running'])} running)" if s["running"] else ""),
                "steps to target (median)": _ttt(s, "steps_to_target_median"),
            }
        )
    return pd.DataFrame(rows)


def _mean_std(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "—"
    return num(mean) if pd.isna(std) else f"{num(mean)} ± {num(std)}"  # one seed: no std


def _ttt(s: pd.Series, column: str) -> str:
    value = s.get(column, math.nan)
    if pd.isna(value):
        return "—"
    return f"{time_value(value)} ({int(s['reached'])}/{int(s['finished'])} reached)"


def time_to_target(summary: pd.DataFrame, targets: dict[str, float],
                   edges: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = []
    for _, s in summary[summary["setting"] != ""].iterrows():
        rows.append(
            {
                "task": s["task"],
                "target": num(targets.get(s["task"], math.nan), "g"),
                "optimizer": s["optimizer"],
                "setting": _setting(s, edges),
                "steps (median)": time_value(s["steps_to_target_median"]),
                "steps interval": _time_interval(s["steps_ci_low"], s["steps_ci_high"]),
                "seconds (median)": time_value(s["seconds_to_target_median"]),
                "seconds interval": _time_interval(s["seconds_ci_low"], s["seconds_ci_high"]),
                "coverage": num(s["ttt_ci_coverage"], ".0%"),
                "reached": f"{int(s['reached'])}",
            }
        )
    return pd.DataFrame(rows)


def _time_interval(low: float, high: float) -> str:
    return "—" if pd.isna(low) else f"[{time_value(low)}, {time_value(high)}]"


def profile(
    r: pd.DataFrame, scores: pd.Series, taus: tuple[float, ...] = (1.0, 1.5, 2.0, 4.0)
) -> pd.DataFrame:
    rows = []
    for name in r.columns:
        row = {"optimizer": name}
        row.update({f"ρ({tau:g})": f"{(r[name] <= tau).mean():.2f}" for tau in taus})
        row["area score (r_max=4)"] = f"{scores[name]:.3f}"
        rows.append(row)
    return pd.DataFrame(rows).sort_values("area score (r_max=4)", ascending=False)


def claims(verdicts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, v in verdicts.iterrows():
        fmt = ".4f" if v["statistic"] == "mean" else ".3g"
        rows.append(
            {
                "claim": v["claim"],
                "task": v["task"],
                "statistic": v["statistic"],
                "a: value [interval], n": _side(v, "a", fmt),
                "b: value [interval], n": _side(v, "b", fmt),
                "a − b [interval at 1 − level]": _difference(v, fmt),
                "test": v["test"],
                "p": _p(v["p"]),
                "level (Holm)": _p(v["level"]),
                "verdict": v["verdict"],
                "because": v["why"],
            }
        )
    return pd.DataFrame(rows)


def _p(value: float) -> str:
    """A p-value or level: 3 significant digits, tiny ones in scientific notation."""
    if pd.isna(value):
        return "—"
    return "< 1e-12" if value < 1e-12 else format(value, ".3g")


def _signed(value: float, fmt: str) -> str:
    if pd.isna(value):
        return "—"
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    return format(value, "+" + fmt)


def _difference(v: pd.Series, fmt: str) -> str:
    """The difference a − b (means; medians of times) with its interval where there is one."""
    if fmt != ".4f":
        return f"{_signed(v['difference'], '.3g')} (medians)"
    if pd.isna(v["diff_low"]):
        return _signed(v["difference"], fmt)
    return f"{_signed(v['difference'], fmt)} [{_signed(v['diff_low'], fmt)}, " \
           f"{_signed(v['diff_high'], fmt)}]"


def _side(v: pd.Series, key: str, fmt: str) -> str:
    if fmt != ".4f":  # times: integers stay integers, ∞ reads "never"
        return (
            f"{v[key]}: {time_value(v[key + '_value'])} "
            f"{_time_interval(v[key + '_low'], v[key + '_high'])}, n={int(v[key + '_n'])}"
        )
    return (
        f"{v[key]}: {num(v[key + '_value'], fmt)} "
        f"{interval(v[key + '_low'], v[key + '_high'], fmt)}, n={int(v[key + '_n'])}"
    )


def status(runs: pd.DataFrame) -> pd.DataFrame:
    """Run counts by status per task and optimizer (and stage, in a tune-then-confirm sweep):
    nothing is dropped silently."""
    staged = "stage" in runs and runs["stage"].astype(bool).any()
    counts = runs.pivot_table(
        index=["task", "optimizer", "stage"] if staged else ["task", "optimizer"],
        columns="status",
        values="run_dir",
        aggfunc="count",
        fill_value=0,
    )
    for column in ("completed", "diverged", "failed", "running"):
        if column not in counts:
            counts[column] = 0
    return counts[["completed", "diverged", "failed", "running"]].reset_index()


def unfinished(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that are not completed, with why (the error's last line)."""
    bad = runs[runs["status"] != "completed"]
    return bad[["task", "optimizer", "setting", "seed", "status", "error", "run_dir"]].sort_values(
        ["task", "optimizer", "setting", "seed"], key=lambda c: c.astype(str)
    )
