"""Is the LR finder stable? (seed 004's question): range tests beside the grid's choice.

Reads every lr_find.json under the report's inputs (folders of `python -m optarena.lr_find`
and of `train.py lr=find` runs): per task and optimizer, the finder's suggestion over seeds
(median, spread) beside the lr that validation chose from the grid, and their ratio; and one
figure per task drawing the finder curves of all optimizers together.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optarena.errors import OptArenaError
from optarena.finder.output import JSON, read
from optarena.record import SKIP_DIRS
from optarena.report.figures import colors

TEXT = (
    "Smith's LR range test (`python -m optarena.lr_find`, docs/lr_find.md) per task and "
    "optimizer: the suggested lr, median over seeds, its spread (smallest–largest suggestion "
    "and their ratio, max/min: 1 = the same lr every seed), beside the lr that validation chose "
    "from the grid (section 1) and the ratio median suggestion / grid choice (1 = the finder "
    "found the grid's lr; within ×3 is one grid step of a half-decade grid). The suggestion "
    "method is recorded per test."
)
FIGURE_TEXT = (
    "The range tests of each optimizer (one line per seed: the smoothed training loss against "
    "the lr, log axis), the dot at each suggestion; the triangle near the top, in the "
    "optimizer's colour, marks the lr validation chose from the grid."
)


def find_range_tests(paths: list[Path]) -> list[Path]:
    """Every lr_find.json under `paths` (a folder's report/, checkpoints/, ... skipped)."""
    found = []
    for root in paths:
        for dirpath, dirnames, filenames in os.walk(root):
            if JSON in filenames:
                found.append(Path(dirpath) / JSON)
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
    return sorted(found)


def load(paths: list[Path], unreadable: list[tuple[Path, str]]) -> pd.DataFrame:
    """One row per range test: task, optimizer, seed, suggestion, method, curve, path; an
    unreadable lr_find.json is added to `unreadable` as (folder, why)."""
    rows = []
    for path in find_range_tests(paths):
        try:
            r = read(path)
        except OptArenaError as err:
            unreadable.append((path.parent, str(err)))
            continue
        rows.append({
            "task": f"{r.get('data') or '?'}/{r.get('model') or '?'}",
            "optimizer": str(r.get("optimizer") or "?"), "seed": r.get("seed"),
            "suggestion": float(r["suggestion"]["lr"]),
            "method": str(r["suggestion"].get("method", "?")),
            "lrs": r.get("lrs") or [], "smoothed": r.get("smoothed") or [],
            "path": str(path),
        })
    return pd.DataFrame(rows)


def _g(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3g}"


def table(tests: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Per task and optimizer: the finder's median and spread over seeds, the grid's lr, ratio.
    `best`: stats.best_settings (columns task, optimizer, lr)."""
    chosen = {(b["task"], b["optimizer"]): float(b["lr"]) for _, b in best.iterrows()}
    rows = []
    for (task, optimizer), group in tests.groupby(["task", "optimizer"], sort=True):
        lrs = group["suggestion"].to_numpy(float)
        median, low, high = float(np.median(lrs)), float(lrs.min()), float(lrs.max())
        grid = chosen.get((task, optimizer), np.nan)
        rows.append({
            "task": task, "optimizer": optimizer, "seeds": len(lrs),
            "method": ", ".join(sorted(set(group["method"]))),
            "finder lr (median)": _g(median), "spread [min, max]": f"[{_g(low)}, {_g(high)}]",
            "max/min": f"{high / low:.2f}",
            "grid lr (validation)": _g(grid),
            "finder / grid": _g(median / grid) if np.isfinite(grid) else "no grid runs",
        })
    return pd.DataFrame(rows)


def figure(task: str, tests: pd.DataFrame, best: pd.DataFrame) -> Figure:
    """The smoothed range-test curves of every optimizer on `task`, suggestions marked."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # The same colour per optimizer as the report's other figures of this task.
    palette = colors(sorted(set(tests["optimizer"]) | set(best.loc[best["task"] == task,
                                                                   "optimizer"])))
    lows, starts = [], []
    for optimizer, group in tests.groupby("optimizer", sort=True):
        color = palette[optimizer]
        for i, (_, t) in enumerate(group.sort_values("seed").iterrows()):
            lrs = np.asarray(t["lrs"], float)
            y = np.asarray([np.nan if v is None else v for v in t["smoothed"]], float)
            ax.plot(lrs[: len(y)], y, color=color, lw=1.3, alpha=0.8,
                    label=f"{optimizer} ({len(group)} seeds)" if i == 0 else None)
            ok = np.isfinite(y) & (lrs[: len(y)] > 0)
            if ok.sum() >= 2:  # the dot on the curve, at the suggested lr (any method)
                at = np.interp(np.log10(t["suggestion"]), np.log10(lrs[: len(y)][ok]), y[ok])
                ax.plot([t["suggestion"]], [at], "o", color=color, ms=5)
            finite = y[np.isfinite(y)]
            if len(finite):
                lows.append(finite.min())
                starts.append(finite[0])
    low, high = (min(lows), max(starts) * 1.4) if lows else (0.0, 1.0)
    ax.set_ylim(low - 0.05 * (high - low), high)  # the blow-ups would flatten the rest
    chosen = best[(best["task"] == task) & best["optimizer"].isin(palette)]
    for i, (_, b) in enumerate(chosen.sort_values("optimizer").iterrows()):
        # a triangle per optimizer, one below the other: equal choices stay visible
        ax.plot([float(b["lr"])], [high - (i + 1) * 0.05 * (high - low)], "v", ms=9,
                color=palette[b["optimizer"]], markeredgecolor="black", lw=0)
    ax.set_xscale("log")
    marks = "dot: suggestion; triangle: grid's choice" if len(chosen) else "dot: suggestion"
    ax.set(title=f"LR range tests, {task} ({marks})",
           xlabel="learning rate (log scale)", ylabel="training loss (smoothed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig
