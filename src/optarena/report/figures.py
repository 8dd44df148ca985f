"""The report's figures: curves, lr sensitivity, performance profiles (matplotlib, Agg)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from optarena.record import LABELS
from optarena.report.collect import load_curves
from optarena.report.profiles import R_MAX

DPI = 110
GRID_POINTS = 300
PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 0.3, not 3×10⁻¹, on log axes
LINESTYLES = ("-", "--", "-.", ":")
X_LABELS = {"step": "optimizer step", "seconds": "seconds since start of training (mean)"}


def colors(optimizers: list[str]) -> dict[str, tuple]:
    """One fixed color per optimizer, the same in every figure."""
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(sorted(optimizers))}


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def mean_band(seeds: list[pd.DataFrame]) -> pd.DataFrame:
    """Seeds' curves aligned on steps: columns step, seconds (mean), mean, std, n.

    Seeds share steps, not seconds, so seconds are averaged per step too; a seed counts only
    within its own step range (a diverged seed drops out where it stopped).
    """
    steps = np.unique(np.concatenate([s["step"].to_numpy(float) for s in seeds]))
    grid = steps if len(steps) <= GRID_POINTS else np.linspace(steps[0], steps[-1], GRID_POINTS)
    ys, secs = np.full((2, len(seeds), len(grid)), np.nan)
    for i, seed in enumerate(seeds):
        x = seed["step"].to_numpy(float)
        inside = (grid >= x[0]) & (grid <= x[-1])
        ys[i, inside] = np.interp(grid[inside], x, seed["y"].to_numpy(float))
        secs[i, inside] = np.interp(grid[inside], x, seed["seconds"].to_numpy(float))
    with warnings.catch_warnings():  # all-NaN columns (no seed there) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return pd.DataFrame(
            {
                "step": grid,
                "seconds": np.nanmean(secs, axis=0),
                "mean": np.nanmean(ys, axis=0),
                "std": np.nan_to_num(np.nanstd(ys, axis=0)),
                "n": (~np.isnan(ys)).sum(axis=0),
            }
        )


def _series(curve: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """One seed's finite `metric` by step, with its time (columns step, y, seconds)."""
    if metric not in curve or "step" not in curve:
        return None
    curve = curve.sort_values("step", kind="stable")
    seconds = curve["time/seconds"] if "time/seconds" in curve else pd.Series(np.nan, curve.index)
    # A row may carry the metric but not the time: take the last time logged before it.
    rows = pd.DataFrame({"step": curve["step"], "y": curve[metric], "seconds": seconds.ffill()})
    rows = rows[np.isfinite(rows["y"])].groupby("step", as_index=False).mean()
    return rows if len(rows) else None


def curves_figure(
    task: str,
    best_runs: dict[str, list[str]],
    x: str,
    target: float,
    metric: str = "acc",
    curves: Callable[[str], pd.DataFrame | None] = load_curves,
) -> Figure:
    """The validation metric (val/acc, val/miou) and training loss against `x` per optimizer:
    mean ± std band."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    palette = colors(list(best_runs))
    for name, run_dirs in sorted(best_runs.items()):
        loaded = [c for c in (curves(d) for d in run_dirs) if c is not None]
        for ax, column in ((acc_ax, f"val/{metric}"), (loss_ax, "train/loss")):
            seeds = [s for s in (_series(c, column) for c in loaded) if s is not None]
            if not seeds:
                continue
            band = mean_band(seeds).dropna(subset=[x])
            xs, mean, std = band[x], band["mean"], band["std"]
            ax.plot(xs, mean, color=palette[name], lw=1.8, label=f"{name} (n={len(seeds)})")
            ax.fill_between(xs, mean - std, mean + std, color=palette[name], alpha=0.2, lw=0)
    if not math.isnan(target):
        acc_ax.axhline(target, color="0.4", ls="--", lw=1, label=f"target {target:g}")
    acc_ax.set(title=f"Validation {LABELS.get(metric, metric)}", xlabel=X_LABELS[x],
               ylabel=f"val/{metric}")
    loss_ax.set(title="Training loss", xlabel=X_LABELS[x], ylabel="train/loss (log scale)")
    if loss_ax.lines:
        loss_ax.set_yscale("log")
        low, high = loss_ax.get_ylim()
        loss_ax.yaxis.set_major_formatter(PLAIN)
        # Label minor ticks only within one decade: across several they collide.
        loss_ax.yaxis.set_minor_formatter(PLAIN if high / low < 10 else NullFormatter())
    for ax in (acc_ax, loss_ax):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(
                0.5, 0.5, "no logged curves yet", ha="center", va="center", transform=ax.transAxes
            )
    fig.suptitle(f"{task}: each optimizer at its validation-best setting (mean ± std over seeds)")
    fig.tight_layout()
    return fig


def sensitivity_figure(task: str, scores: pd.DataFrame, best: pd.DataFrame,
                       metric: str = "acc", edges: pd.DataFrame | None = None) -> Figure:
    """Mean best val/<metric> against lr per optimizer (best over other knobs); x marks
    divergence; a ring round the star and a label mark a choice at its grid's edge."""
    at_edge = set(edges["optimizer"]) if edges is not None else set()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    palette = colors(list(scores["optimizer"].unique()))
    starred: list[tuple[float, float]] = []
    for name, group in scores.groupby("optimizer"):
        per_lr = (
            group.sort_values("val_mean", ascending=False).groupby("lr", as_index=False).first()
        )
        per_lr = per_lr.dropna(subset=["lr"]).sort_values("lr")
        ax.plot(per_lr["lr"], per_lr["val_mean"], "o-", color=palette[name], label=name, ms=5)
        bad = per_lr[per_lr["diverged"] > 0]
        ax.plot(bad["lr"], bad["val_mean"], "x", color="red", ms=11, mew=2.2)
        chosen = best[best["optimizer"] == name]
        # Stars on the same point nest (each later one smaller) so that none hides another.
        spots = list(zip(chosen["lr"], chosen["val_mean"], strict=True))
        under = max((starred.count(spot) for spot in spots), default=0)
        starred += spots
        ax.plot(chosen["lr"], chosen["val_mean"], "*", color=palette[name],
                ms=max(17 - 8 * under, 5), mec="black", mew=1.0 if under == 0 else 0.5)
        if name in at_edge and len(chosen):
            mine = edges[edges["optimizer"] == name]
            side = dict(zip(mine["knob"], mine["side"], strict=True)).get("lr", "")
            ax.plot(chosen["lr"], chosen["val_mean"], "o", mfc="none", mec="red", ms=24, mew=1.8)
            ax.annotate(f"{name}: {', '.join(mine['knob'])} at grid edge",
                        (chosen["lr"].iloc[0], chosen["val_mean"].iloc[0]), xytext=(0, -24),
                        textcoords="offset points", fontsize=8, color="red",
                        ha={"smallest": "left", "largest": "right"}.get(side, "center"))
    ax.plot([], [], "x", color="red", ms=9, mew=2, label="≥1 seed diverged")
    ax.plot([], [], "*", color="0.6", ms=13, mec="black", label="chosen (best mean val)")
    if at_edge:
        ax.plot([], [], "o", mfc="none", mec="red", ms=13, mew=1.8,
                label="chosen at a grid edge: extend the grid")
    ax.set_xscale("log")
    ax.set(
        title=f"{task}: learning-rate sensitivity",
        xlabel="learning rate (log scale)",
        ylabel=f"best val/{metric}, " + ("one run per point" if set(scores["n"]) == {1}
                                         else "mean over seeds"),
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def profile_figure(r: pd.DataFrame, scores: pd.Series, excluded: list[str]) -> Figure:
    """rho_s(tau) step curves over tau, with the area score in the legend."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    palette = colors(list(r.columns))
    finite = r.to_numpy(float)[np.isfinite(r.to_numpy(float))]
    tau_max = max(R_MAX, float(finite.max()) if finite.size else R_MAX) * 1.15
    taus = np.concatenate([[1.0], np.sort(finite), [tau_max]])
    # Best first, thicker lines below thinner ones: equal profiles stay visible.
    for i, name in enumerate(scores.sort_values(ascending=False).index):
        rho = [(r[name] <= t).mean() for t in taus]
        ax.step(
            taus,
            rho,
            where="post",
            color=palette[name],
            lw=3.2 - 0.5 * min(i, 4),
            ls=LINESTYLES[i % len(LINESTYLES)],
            label=f"{name} (area score {scores[name]:.2f})",
        )
    ax.axvline(R_MAX, color="0.5", ls=":", lw=1, label=f"r_max = {R_MAX:g}")
    ax.set_xscale("log", base=2)
    ax.set_xlim(1, tau_max)
    ax.set_xticks([t for t in (1, 1.5, 2, 3, 4, 8, 16, 32, 64) if t <= tau_max])
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)
    ax.set(
        title=f"Performance profile on steps to target ({len(r)} task(s))",
        xlabel="τ: ratio to the fastest optimizer (log scale)",
        ylabel="ρ(τ): fraction of tasks with ratio ≤ τ",
    )
    if excluded:
        ax.text(
            0.99,
            0.02,
            f"left out (no optimizer reached target): {', '.join(excluded)}",
            ha="right",
            va="bottom",
            fontsize=7,
            transform=ax.transAxes,
        )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return fig
