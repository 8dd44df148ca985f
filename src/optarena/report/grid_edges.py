"""Grid edges: a validation-best value at the end of its grid says the grid was too small.

For each task and optimizer, every numeric swept knob (lr, and any other knob whose values all
parse as numbers) takes a grid of values among that optimizer's finished runs on that task.
When the chosen setting sits at the grid's smallest or largest value, the optimizer may peak
beyond it: the report marks the setting and judges no claim on it.
"""

from __future__ import annotations

import math

import pandas as pd

from optarena.report.stats import FINISHED

COLUMNS = ["task", "optimizer", "knob", "value", "side", "size"]
MARK = " (grid edge)"


def _numbers(values: pd.Series) -> pd.Series | None:
    """The values as floats, or None when any is not a finite number (a string knob)."""
    out = pd.to_numeric(values, errors="coerce")
    if out.isna().any() or not all(math.isfinite(v) for v in out):
        return None
    return out.astype(float)


def _same_as_lr(runs: pd.DataFrame, knob: str) -> bool:
    """A knob that maps one to one onto lr (lr_index into an lr grid) has lr's edges."""
    pairs = runs[["lr", knob]].drop_duplicates()
    return bool(len(pairs) == pairs["lr"].nunique() == pairs[knob].nunique())


def find(runs: pd.DataFrame, knobs: list[str], best: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, optimizer, knob) whose chosen value is its grid's smallest or largest
    (grids of one value are not swept: never an edge)."""
    done = runs[runs["status"].isin(FINISHED)]
    rows = []
    for _, b in best.iterrows():
        group = done[(done["task"] == b["task"]) & (done["optimizer"] == b["optimizer"])]
        chosen = group["setting"] == b["setting"]
        for knob in ["lr", *knobs]:
            if knob not in group:
                continue
            values = _numbers(group[knob])
            if values is None or (knob != "lr" and _same_as_lr(group, knob)):
                continue
            grid = sorted(set(values))
            if len(grid) < 2 or not chosen.any():
                continue
            value = float(values[chosen].iloc[0])
            side = "smallest" if value == grid[0] else "largest" if value == grid[-1] else ""
            if side:
                rows.append({"task": b["task"], "optimizer": b["optimizer"], "knob": knob,
                             "value": value, "side": side, "size": len(grid)})
    return pd.DataFrame(rows, columns=COLUMNS)


def describe(edges: pd.DataFrame, task: str, optimizer: str) -> str:
    """'lr=0.1 is the largest of its 2-point grid; ...' for one optimizer on one task."""
    at = edges[(edges["task"] == task) & (edges["optimizer"] == optimizer)]
    return "; ".join(f"{e.knob}={e.value:g} is the {e.side} of its {e.size}-point grid"
                     for e in at.itertuples())


def annotate(frame: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Add `grid_edge` (the describe() text, '' when none) to a per (task, optimizer) table."""
    frame = frame.copy()
    frame["grid_edge"] = [describe(edges, t, o)
                          for t, o in zip(frame["task"], frame["optimizer"], strict=True)]
    return frame


def mark(setting: str, edges: pd.DataFrame, task: str, optimizer: str) -> str:
    """The setting label with ' (grid edge)' after each knob at an edge: 'lr=0.1 (grid edge)'."""
    at = set(edges.loc[(edges["task"] == task) & (edges["optimizer"] == optimizer), "knob"])
    if not at or not setting:
        return setting
    parts = setting.split(", ")
    return ", ".join(p + MARK if p.split("=", 1)[0] in at else p for p in parts)
