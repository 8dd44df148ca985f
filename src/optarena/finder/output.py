"""A range test's files: lr_find.json (the curve, the suggestion and how it was chosen, the
settings) and lr_find.png (loss against log lr, the suggestion marked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from optarena.errors import OptArenaError
from optarena.finder.range_test import RangeTest
from optarena.finder.settings import FinderSettings
from optarena.finder.suggest import Suggestion, smooth
from optarena.record import RANGE_TEST, RANGE_TEST_PLOT, write_record

JSON, PNG = RANGE_TEST, RANGE_TEST_PLOT


def result(test: RangeTest, suggestion: Suggestion, settings: FinderSettings,
           identity: dict[str, Any]) -> dict[str, Any]:
    """The content of lr_find.json."""
    raw = np.asarray(test.raw, float)
    finite = raw[: suggestion.points]
    smoothed = [*smooth(finite, settings.beta), *([None] * (len(raw) - len(finite)))]
    return {
        "status": "completed", **identity,
        "suggestion": suggestion.as_dict(),
        "settings": settings.as_dict(),
        "steps": test.steps,
        "stopped_early": test.steps < settings.steps,
        "group_ratios": test.group_ratios,
        "lrs": test.lrs, "loss": test.raw, "smoothed": smoothed,
        "plot": PNG,
    }


def write(run_dir: Path, record: dict[str, Any]) -> tuple[Path, Path]:
    """lr_find.json (atomically, strict JSON) and lr_find.png into `run_dir`."""
    run_dir = Path(run_dir)
    write_record(run_dir / JSON, record)
    return run_dir / JSON, plot(record, run_dir / PNG)


def read(path: Path) -> dict[str, Any]:
    """A finished lr_find.json; an OptArenaError names the file and the fix otherwise."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise OptArenaError(f"unreadable {path} ({err}); delete it or rerun the range test "
                            "(python -m optarena.lr_find ...)") from None
    if not isinstance(data, dict) or not isinstance(data.get("suggestion"), dict):
        raise OptArenaError(f"{path} holds no suggestion (not an lr_find.json of a finished "
                            "range test); delete it or rerun the range test")
    return data


def title(record: dict[str, Any]) -> str:
    return (f"{record.get('optimizer')} on {record.get('data')}/{record.get('model')}, "
            f"seed {record.get('seed')}")


def plot(record: dict[str, Any], path: Path) -> Path:
    lrs = np.asarray(record["lrs"], float)
    raw = np.asarray([np.nan if v is None else v for v in record["loss"]], float)
    smoothed = np.asarray([np.nan if v is None else v for v in record["smoothed"]], float)
    s = record["suggestion"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(lrs, raw, color="0.75", lw=0.8, label="loss (raw)")
    ax.plot(lrs, smoothed, color="C0", lw=1.8,
            label=f"smoothed (EMA, beta={record['settings']['beta']:g})")
    finite = smoothed[np.isfinite(smoothed)]
    if len(finite):  # the blow-up would flatten the useful part of the curve: cut it off
        low = min(float(finite.min()), float(np.nanmin(raw[: len(finite)])))
        high = max(float(finite[0]), low) * 1.5
        ax.set_ylim(low - 0.05 * (high - low + 1e-9), high)
    ax.axvline(s["lr"], color="C3", ls="--", lw=1.2)
    at = s["index"] if s["method"] == "steepest" else int(np.nanargmin(smoothed))
    ax.plot([lrs[at]], [smoothed[at]], "o", color="C3", ms=7)
    ax.plot([], [], "--o", color="C3", label=f"suggestion {s['lr']:.3g} ({s['method']})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(f"LR range test: {title(record)}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
