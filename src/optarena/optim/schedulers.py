"""Learning-rate schedules, all stepped per batch over the run's total number of steps.

Each factory takes the optimizer and `total_steps` (Lightning's estimate for the whole fit)
and returns a Lightning scheduler config.
"""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, OneCycleLR


def _per_step(scheduler: LRScheduler) -> dict:
    return {"scheduler": scheduler, "interval": "step", "frequency": 1}


def cosine(optimizer: Optimizer, total_steps: int, eta_min: float = 0.0) -> dict:
    return _per_step(CosineAnnealingLR(optimizer, T_max=max(1, total_steps), eta_min=eta_min))


def warmup_cosine(optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.05) -> dict:
    from transformers import get_cosine_schedule_with_warmup

    warmup = math.ceil(warmup_fraction * total_steps)
    return _per_step(get_cosine_schedule_with_warmup(optimizer, warmup, max(1, total_steps)))


def onecycle(
    optimizer: Optimizer,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> dict:
    max_lr = [g["lr"] for g in optimizer.param_groups]
    # No momentum cycling: it would change the optimizer under comparison (e.g. plain SGD).
    return _per_step(OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=max(2, total_steps), pct_start=pct_start,
        div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=False,
    ))


def step(
    optimizer: Optimizer, total_steps: int, milestones: tuple[float, ...] = (0.5, 0.75),
    gamma: float = 0.1,
) -> dict:
    at = sorted({max(1, round(f * total_steps)) for f in milestones})
    return _per_step(MultiStepLR(optimizer, milestones=at, gamma=gamma))
