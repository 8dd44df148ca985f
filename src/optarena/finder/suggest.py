"""Reading an lr off a range test's losses: smoothing, then the chosen method (pure numpy).

Lightning's own suggestion (`_LRFinder.suggestion`) takes the steepest slope of the loss against
the lr itself, on the whole curve: on noisy losses it lands on a random spike, often past the
minimum where the loss already blows up. Here the slope is taken on log10(lr), after smoothing,
and only before the smoothed minimum; the method and its inputs go into lr_find.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optarena.errors import OptArenaError
from optarena.finder.settings import FinderSettings

DESCRIPTIONS = {
    "steepest": "steepest descent of the smoothed loss against log10(lr), between skip_start "
                "and the smoothed minimum",
    "minimum": "lr at the smoothed loss's minimum, divided by 10",
}


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """Exponential moving average with bias correction (Adam's): point i is
    sum_j (1 - beta) beta^(i-j) x_j / (1 - beta^(i+1)). beta=0 returns the losses."""
    out = np.empty(len(losses))
    avg = 0.0
    for i, value in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(value)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


@dataclass(frozen=True)
class Suggestion:
    lr: float
    method: str
    index: int            # the point of the curve the lr is read at
    steepest: float       # both methods' values, whichever was chosen
    minimum: float        # lr at the smoothed minimum (not divided)
    slope: float          # d(smoothed loss) / d(log10 lr) at the steepest point
    points: int           # finite points used

    def as_dict(self) -> dict:
        return {"lr": self.lr, "method": self.method, "how": DESCRIPTIONS[self.method],
                "index": self.index, "steepest_lr": self.steepest, "minimum_lr": self.minimum,
                "minimum_over_10_lr": self.minimum / 10, "slope_per_decade": self.slope,
                "points": self.points}


def suggest(lrs: list[float], raw: list[float], settings: FinderSettings) -> Suggestion:
    """The suggested lr; an OptArenaError says how to widen the test when the curve has no
    usable descent."""
    lrs_, losses = np.asarray(lrs, float), np.asarray(raw, float)
    bad = np.flatnonzero(~np.isfinite(losses))
    end = int(bad[0]) if len(bad) else len(losses)  # a NaN/inf loss ends the curve
    smoothed = smooth(losses[:end], settings.beta)
    start, stop = settings.skip_start, max(end - settings.skip_end, 0)
    if stop - start < 3:
        raise OptArenaError(
            f"the range test has only {end} finite losses ({stop - start} after skip_start="
            f"{settings.skip_start} and skip_end={settings.skip_end}); the loss diverged at once "
            "or the data ran out: lower lr_find.min_lr or raise lr_find.steps")
    x = np.log10(lrs_[start:stop])
    y = smoothed[start:stop]
    low = int(np.argmin(y))
    minimum = float(lrs_[start + low])
    if low < 2:
        raise OptArenaError(
            f"the smoothed loss never fell between lr {lrs_[start]:.3g} and {lrs_[stop - 1]:.3g} "
            "(its minimum is at the start): lower lr_find.min_lr, or the model cannot train on "
            "this data")
    slopes = np.gradient(y[: low + 1], x[: low + 1])
    steep = int(np.argmin(slopes))
    steepest = float(lrs_[start + steep])
    chosen = steepest if settings.method == "steepest" else minimum / 10
    index = start + (steep if settings.method == "steepest" else low)
    return Suggestion(chosen, settings.method, index, steepest, minimum, float(slopes[steep]),
                      end)
