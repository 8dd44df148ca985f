"""The range test's knobs (conf/lr_find/default.yaml), checked before anything is written."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optarena.errors import OptArenaError

METHODS = ("steepest", "minimum")
MODES = ("exponential", "linear")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OptArenaError(f"lr_find.{name} must be a finite number, got {value!r}")
    return float(value)


def _whole(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptArenaError(f"lr_find.{name} must be a whole number >= {low}, got {value!r}")
    return value


@dataclass(frozen=True)
class FinderSettings:
    min_lr: float = 1e-7
    max_lr: float = 10.0
    steps: int = 100
    mode: str = "exponential"
    beta: float = 0.98
    stop_factor: float | None = 4.0
    skip_start: int = 10
    skip_end: int = 5
    method: str = "steepest"

    @classmethod
    def from_cfg(cls, node: Any) -> FinderSettings:
        """From the `lr_find` config node; every value checked, with what to fix."""
        given = dict(node or {})
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise OptArenaError(f"lr_find.{unknown[0]} is not a knob of the range test; known: "
                                f"{', '.join(cls.__dataclass_fields__)}")
        s = cls(**given)
        low, high = _number("min_lr", s.min_lr), _number("max_lr", s.max_lr)
        if not 0 < low < high:
            raise OptArenaError(f"lr_find needs 0 < min_lr < max_lr, got min_lr={s.min_lr} "
                                f"max_lr={s.max_lr}")
        skip_start, skip_end = _whole("skip_start", s.skip_start, 0), _whole("skip_end",
                                                                             s.skip_end, 0)
        least = skip_start + skip_end + 5
        if _whole("steps", s.steps, 1) < least:
            raise OptArenaError(f"lr_find.steps={s.steps} leaves fewer than 5 points after "
                                f"skip_start + skip_end; give steps >= {least}")
        if not 0 <= _number("beta", s.beta) < 1:
            raise OptArenaError(f"lr_find.beta is the smoothing factor in [0, 1), got {s.beta}")
        if s.stop_factor is not None and _number("stop_factor", s.stop_factor) <= 1:
            raise OptArenaError(f"lr_find.stop_factor must be > 1 (or null: never stop early), "
                                f"got {s.stop_factor}")
        if s.method not in METHODS:
            raise OptArenaError(f"lr_find.method must be one of {', '.join(METHODS)}, "
                                f"got {s.method!r}")
        if s.mode not in MODES:
            raise OptArenaError(f"lr_find.mode must be one of {', '.join(MODES)}, got {s.mode!r}")
        return s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
