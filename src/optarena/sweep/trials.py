"""Quasi-random lr trials for stage 1 of a tune-then-confirm sweep (`hydra.sweeper.trials=N`).

As AlgoPerf tunes: every optimizer gets the same budget of N trials, drawn from a scrambled
Halton sequence (scipy.stats.qmc: evenly spread, unlike N independent draws) over a log-uniform
lr range of its own; the same N points in [0, 1) map into each optimizer's range, so no
optimizer gets luckier draws than another.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from optarena.errors import OptArenaError


def unit_points(n: int, seed: int) -> list[float]:
    """N quasi-random points in [0, 1), the same for the same seed."""
    from scipy.stats import qmc

    return [float(x) for x in qmc.Halton(d=1, scramble=True, seed=seed).random(n)[:, 0]]


def lr_range(cfg: DictConfig, optimizer: str, decades: float) -> tuple[float, float]:
    """The log-uniform lr range of `optimizer` in a composed config: the span of the
    experiment's own grid for it (`lr_grid.<optimizer>`) when there is one, else `decades`
    either side of the optimizer's recommended lr (conf/optimizer/<name>.yaml), as
    hparams_search=optuna_lr searches."""
    grid = OmegaConf.select(cfg, f"lr_grid.{optimizer}", default=None)
    if grid is not None:
        values = [float(v) for v in grid]
        return min(values), max(values)
    default = OmegaConf.select(cfg, "optimizer.lr", default=None)
    if not isinstance(default, int | float) or not default > 0:
        raise OptArenaError(f"hydra.sweeper.trials: optimizer={optimizer} has no default lr to "
                            "center its range on; give it an lr_grid entry or use a grid (lr=...)")
    return default / 10**decades, default * 10**decades


def draw(points: list[float], low: float, high: float) -> list[str]:
    """The points mapped log-uniformly into [low, high], as lr override values (3 digits)."""
    span = math.log(high) - math.log(low)
    return [f"{math.exp(math.log(low) + u * span):.3g}" for u in points]


def check(trials: Any, decades: Any) -> None:
    if trials is not None and not (isinstance(trials, int) and not isinstance(trials, bool)
                                   and trials >= 1):
        raise OptArenaError(f"hydra.sweeper.trials must be a number of trials >= 1 per "
                            f"optimizer, or null for the grid of the sweep's overrides; got "
                            f"{trials!r}")
    if not (isinstance(decades, int | float) and not isinstance(decades, bool) and decades > 0):
        raise OptArenaError(f"hydra.sweeper.lr_decades must be a number > 0, got {decades!r}")
