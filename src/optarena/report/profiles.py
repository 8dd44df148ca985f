"""Dolan–Moré performance profiles on time to target, and the AlgoPerf-style area score.

Written by hand: no installed library computes them (AlgoPerf's scoring code is not a package).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

R_MAX = 4.0


def ratios(
    summary: pd.DataFrame, metric: str = "steps_to_target_median"
) -> tuple[pd.DataFrame, list[str]]:
    """Performance ratios r = t_s / min_s t_s (tasks x optimizers) and the tasks left out.

    An optimizer that never reaches the target on a task, or was not run there, gets r = inf.
    A task where no optimizer reaches the target has no best time, so it is left out.
    """
    times = summary.pivot_table(
        index="task", columns="optimizer", values=metric, aggfunc="first", dropna=False
    )
    times = times.astype(float).fillna(math.inf)
    best = times.min(axis=1)
    excluded = sorted(best.index[~np.isfinite(best)])
    kept = times.loc[np.isfinite(best)]
    return kept.div(best[np.isfinite(best)], axis=0), excluded


def rho(r: pd.DataFrame, tau: float) -> pd.Series:
    """rho_s(tau): the fraction of tasks on which optimizer s is within a factor tau of the best."""
    return (r <= tau).mean(axis=0)


def area_score(r: pd.DataFrame, r_max: float = R_MAX) -> pd.Series:
    """(1 / (r_max - 1)) * integral of rho_s(tau) over [1, r_max], exactly.

    rho_s is a step function, so each task adds (r_max - r) / (r_max - 1) when r <= r_max.
    """
    return ((r_max - r.clip(lower=1.0)).clip(lower=0.0) / (r_max - 1.0)).mean(axis=0)
