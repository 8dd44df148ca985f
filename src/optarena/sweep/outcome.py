"""A run's outcome as a sweep sees it: its metrics.json, the value it returns, crash records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Statuses of a run that ended on its own; anything else (running, failed) may be resumed.
FINISHED = ("completed", "diverged")


def read_summary(run_dir: Path) -> dict | None:
    """<run_dir>/metrics.json, or None when absent or unreadable (a job killed mid-write)."""
    try:
        data = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def objective(summary: dict) -> float:
    """The value a finished run returns to the sweeper (maximised by hparams_search).

    val/acc_best; a run that diverged before its first validation has none and returns 0.0,
    so that a sampler learns to avoid its learning rate instead of discarding the trial.
    """
    value = (summary.get("metrics") or {}).get("val/acc_best")
    return float(value) if value is not None else 0.0


def _write(path: Path, summary: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(path)


def record_crash(run_dir: Path, error: str, seconds: float, base: dict[str, Any]) -> dict:
    """Mark a run `failed` when its process died without saying so (segfault, kill, OOM).

    Keeps what the run wrote at its start (`running`: its hyperparameters); `base` fills a
    record for a run that died before writing anything. A run that recorded its own outcome
    (completed, diverged, failed) is left as it is.
    """
    path = Path(run_dir) / "metrics.json"
    summary = read_summary(run_dir)
    if summary is not None and summary.get("status") != "running":
        return summary
    from optarena.callbacks.run_summary import METRIC_NAMES

    record = summary or {
        **base, "hparams": {}, "metrics": dict.fromkeys(METRIC_NAMES), "target": None,
        "diverged_step": None, "epochs": 0, "steps": 0, "versions": {},
    }
    record.update(status="failed", error=error, wall_seconds=round(seconds, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, record)
    return record
