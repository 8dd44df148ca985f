"""A run's recorded outcome as sweeps and the report see it: where run folders are, their
metrics.json, the value a run returns, crash records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Statuses of a run that ended on its own; anything else (running, failed) may be resumed.
FINISHED = ("completed", "diverged")
# Folders inside a run that hold no runs.
SKIP_DIRS = {".hydra", "csv", "checkpoints", "tensorboard", "report", "__pycache__", ".git"}


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Folders under `paths` holding metrics.json or .hydra/config.yaml (runs never nest)."""
    from optarena.errors import OptArenaError

    found: list[Path] = []
    for root in paths:
        if not root.is_dir():
            raise OptArenaError(
                f"no such directory: {root}; "
                "pass a sweep folder such as multirun/DATE/TIME or outputs/"
            )
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            if "metrics.json" in filenames or (here / ".hydra" / "config.yaml").is_file():
                found.append(here)
                dirnames.clear()
                continue
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
    return sorted(set(found))


def last_line(text: object) -> str:
    """The last non-empty line of a recorded error (its traceback's message)."""
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


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


def write_summary(path: Path, summary: dict) -> None:
    """Write metrics.json atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    write_summary(path, record)
    return record
