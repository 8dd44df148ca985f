"""The run record, in one place: `<run dir>/metrics.json` (docs/run-directory.md).

Its schema, writing it (the run itself, and the launcher for a process that died), reading it
(resume, the sweep summary, the report), a run's identity (data, model, optimizer, scheduler,
lr, seed, overrides) and the headline metric a record is judged by.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import traceback
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from optarena.errors import OptArenaError

RECORD = "metrics.json"
# python -m optarena.lr_find's folder: its record, its plot and Hydra's job name for it
RANGE_TEST, RANGE_TEST_PLOT, RANGE_TEST_JOB = "lr_find.json", "lr_find.png", "lr_find"
# Statuses of a run that ended on its own; anything else (running, failed) may be resumed.
FINISHED = ("completed", "diverged")
# Folders inside a run that hold no runs.
SKIP_DIRS = {".hydra", "csv", "checkpoints", "tensorboard", "report", "explain", "__pycache__",
             ".git"}
# Overrides that say how to run, not what: they may differ between the attempts of one run.
NOT_IDENTITY = {"resume", "overwrite"}
IDENTITY_GROUPS = ("data", "model", "optimizer", "scheduler")


@dataclass(frozen=True)
class Headline:
    """A task's headline metric: it picks the best checkpoint, the best setting of a sweep, and
    whether a run reached its target. `name` is the metric without its split (`acc`, `miou`)."""

    name: str
    mode: str = "max"
    label: str = ""  # how people call it ("accuracy", "mIoU"); the name when empty

    @property
    def words(self) -> str:
        return self.label or self.name

    @property
    def val(self) -> str:
        return f"val/{self.name}"

    @property
    def best(self) -> str:
        return f"val/{self.name}_best"

    @property
    def test(self) -> str:
        return f"test/{self.name}"

    @property
    def direction(self) -> str:
        """Optuna's word for the mode."""
        return "maximize" if self.mode == "max" else "minimize"

    def as_record(self) -> dict[str, str]:
        return {"name": self.val, "mode": self.mode}

    @classmethod
    def of(cls, record: dict | None) -> Headline:
        """The headline a record was written with; records from before it was recorded are
        classification runs judged on val/acc."""
        metric = (record or {}).get("metric")
        if isinstance(metric, dict) and str(metric.get("name", "")).startswith("val/"):
            name = str(metric["name"])[len("val/"):]
            return cls(name, str(metric.get("mode", "max")), LABELS.get(name, ""))
        return LEGACY_HEADLINE


LABELS = {"acc": "accuracy", "miou": "mIoU"}
LEGACY_HEADLINE = Headline("acc", "max", "accuracy")


# --- identity -------------------------------------------------------------------------------
# Where a data x model recipe puts the schedule that scheduler=auto runs (conf/train.yaml).
RECIPE_SCHEDULER = "scheduler@recipe.scheduler"


def choice(choices: dict, group: str) -> str | None:
    """A group's option from Hydra's runtime.choices; a packaged group is keyed 'group@pkg'.
    scheduler=auto reads as the schedule it ran: the recipe's, else none."""
    if group in choices:
        value = choices[group]
    else:
        value = next((v for k, v in choices.items() if str(k).startswith(group + "@")), None)
    if group == "scheduler" and value == "auto":
        value = choices.get(RECIPE_SCHEDULER) or "none"
    return None if value is None else str(value)


def _defines(override: str) -> bool:
    return override.lstrip("+~").split("=", 1)[0] not in NOT_IDENTITY


def defining_overrides(overrides: list[str]) -> list[str]:
    """The overrides that define a run (sorted; `resume` and `overwrite` left out)."""
    return sorted(o for o in overrides if _defines(o))


def identity(choices: dict, lr: Any, seed: Any, overrides: list[str],
             stage: str | None = None) -> dict[str, Any]:
    """What names a run in its record: group options, lr, seed, its overrides and the stage of a
    tune-then-confirm sweep (tune | confirm; None for a plain run)."""
    return {**{g: choice(choices, g) for g in IDENTITY_GROUPS}, "lr": lr, "seed": seed,
            "stage": stage, "overrides": [o for o in overrides if _defines(o)]}


def hparams(cfg: Any, lr: float | None) -> dict[str, Any]:
    """The resolved hyperparameters a run records: what it trains with, not the knobs' values
    (optimizer.lr is the lr used; batch_size and max_epochs are the data's and the trainer's,
    which an override such as data.batch_size=32 may set apart from the top-level knob)."""
    from omegaconf import OmegaConf

    def resolved(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True) if node is not None else {}

    optimizer = resolved(cfg.optimizer)
    if lr is not None and isinstance(optimizer, dict):
        optimizer["lr"] = lr
    return {
        "batch_size": OmegaConf.select(cfg, "data.batch_size", default=None) or cfg.batch_size,
        "max_epochs": OmegaConf.select(cfg, "trainer.max_epochs", default=None) or cfg.max_epochs,
        "optimizer": optimizer, "scheduler": resolved(cfg.scheduler),
        "regularization": resolved(cfg.regularization), "task": resolved(cfg.get("task")),
    }


def hydra_choices() -> dict[str, str]:
    """The chosen option of each config group of this run, if Hydra composed it."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    return {k: str(v) for k, v in HydraConfig.get().runtime.choices.items()
            if not k.startswith("hydra")}


def hydra_overrides() -> list[str]:
    """This run's command-line overrides, without `resume`, `overwrite` (how to run, not what)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if _defines(o)]


# --- reading --------------------------------------------------------------------------------
def is_range_test(run_dir: Path) -> bool:
    """A folder of `python -m optarena.lr_find`: no run record, and its lr_find.json or (while
    it runs) Hydra's job name lr_find. Not a training run (train.py lr=find's folder is one)."""
    run_dir = Path(run_dir)
    if (run_dir / RECORD).exists():
        return False
    if (run_dir / RANGE_TEST).exists():
        return True
    try:
        import yaml

        hydra = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text()) or {}
    except (OSError, ValueError):
        return False
    job = ((hydra.get("hydra") or {}).get("job") or {}) if isinstance(hydra, dict) else {}
    return isinstance(job, dict) and job.get("name") == RANGE_TEST_JOB


def is_run_dir(folder: Path) -> bool:
    """A run's folder: it has a run record, or the config train.py (or a tool) composed."""
    return (folder / RECORD).is_file() or (folder / ".hydra" / "config.yaml").is_file()


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Folders under `paths` holding metrics.json or .hydra/config.yaml (runs never nest); a
    range test's folder (is_range_test) is not a run."""
    found: list[Path] = []
    for root in paths:
        if not root.is_dir():
            raise OptArenaError(
                f"no such directory: {root}; "
                "pass a sweep folder such as multirun/DATE/TIME or outputs/"
            )
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            if is_run_dir(here):
                if RECORD in filenames or not is_range_test(here):
                    found.append(here)
                dirnames.clear()
                continue
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
    return sorted(set(found))


def read_record(run_dir: Path, strict: bool = False) -> dict | None:
    """<run_dir>/metrics.json; None when absent. Unreadable (a job killed mid-write, a
    hand-edited file): None, or with `strict` an OptArenaError naming the file and the fix."""
    path = Path(run_dir) / RECORD
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if strict:
            raise OptArenaError(f"unreadable {path} ({err}); delete it or rerun that job, then "
                                "run the report again") from None
        return None
    if not isinstance(data, dict):
        if strict:
            raise OptArenaError(f"unreadable {path}: expected a JSON object; delete it or "
                                "rerun that job")
        return None
    return data


def last_line(text: object) -> str:
    """The last non-empty line of a recorded error (its traceback's message)."""
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def best_value(record: dict) -> float | None:
    """The best validation value of the record's headline metric (None if never validated)."""
    value = (record.get("metrics") or {}).get(Headline.of(record).best)
    return None if value is None else float(value)


def objective(record: dict) -> float:
    """The value a finished run returns to the sweeper (hparams_search optimizes it).

    The best validation value of the task's headline metric (val/acc_best, val/miou_best); a
    run that diverged before its first validation has none and returns the worst value (0.0
    for a maximized metric), so that a sampler learns to avoid its setting instead of
    discarding the trial.
    """
    value = best_value(record)
    if value is not None:
        return value
    return 0.0 if Headline.of(record).mode == "max" else math.inf


# --- writing --------------------------------------------------------------------------------
def strict_json(value: Any) -> Any:
    """`value` with NaN and infinities as null: metrics.json is strict JSON, which Python's
    json module would not write by itself (it writes the non-JSON tokens NaN, Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def write_record(path: Path, record: dict) -> None:
    """Write metrics.json atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(strict_json(record), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def record_crash(run_dir: Path, error: str, seconds: float, base: dict[str, Any]) -> dict:
    """Mark a run `failed` when its process died without saying so (segfault, kill, OOM).

    Keeps what the run wrote at its start (`running`: its hyperparameters); `base` (its
    identity) fills a record for a run that died before writing anything. A run that recorded
    its own outcome (completed, diverged, failed) is left as it is.
    """
    path = Path(run_dir) / RECORD
    record = read_record(run_dir)
    if record is not None and record.get("status") != "running":
        return record
    record = record or {
        **base, "hparams": {}, "metrics": {}, "target": None, "diverged_step": None,
        "epochs": 0, "steps": 0, "versions": {},
    }
    record.update(status="failed", error=error, wall_seconds=round(seconds, 3))
    write_record(path, record)
    return record


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "lightning", "optarena"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class RunRecord:
    """Writes <run dir>/metrics.json for one run: `running` at its start, then its outcome.

    `kind` and `headline` are the task's (classification: val/acc; segmentation: val/miou);
    `metric_names` are the metrics the task records (final values, null when not measured).
    """

    def __init__(self, run_dir: Path, base: dict[str, Any], hparams: dict[str, Any],
                 kind: str, headline: Headline, metric_names: tuple[str, ...],
                 resumed_at_step: int | None = None) -> None:
        self.path = Path(run_dir) / RECORD
        self.enabled = self.writes_here()
        self.started = time.perf_counter()
        self.metric_names = metric_names
        self.base = {**base, "task": kind, "metric": headline.as_record(),
                     "resumed_at_step": resumed_at_step, "hparams": hparams}

    @staticmethod
    def writes_here() -> bool:
        """DDP: rank 0 writes the record (and its logs), the other ranks only train."""
        from lightning.fabric.utilities.rank_zero import rank_zero_only

        return rank_zero_only.rank == 0

    def record_param_groups(self, groups: list[dict[str, Any]]) -> None:
        """The optimizer's real parameter groups (optim.param_groups.describe), once it exists:
        kept in hparams.param_groups of every later write, and written at once."""
        self.base["hparams"] = {**self.base["hparams"], "param_groups": groups}
        self.write("running")

    def write(self, status: str, metrics: dict[str, Any] | None = None,
              target: dict | None = None, error: str | None = None,
              diverged_step: int | None = None, epochs: int = 0, steps: int = 0) -> dict:
        metrics = metrics or {}
        record = {
            "status": status, "error": error, **self.base,
            "metrics": {name: _number(metrics.get(name)) for name in self.metric_names},
            "target": target, "diverged_step": diverged_step, "epochs": epochs, "steps": steps,
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "versions": _versions(),
        }
        if self.enabled:
            write_record(self.path, record)
        return record

    def write_failed(self, err: BaseException, **progress: Any) -> dict:
        lines = traceback.format_exception(err)
        tail = "".join(lines[-12:]).strip()
        return self.write("failed", error=tail, **progress)
