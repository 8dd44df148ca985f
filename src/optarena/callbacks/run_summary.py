"""metrics.json: the run's self-description, read by the report (docs/run-directory.md)."""

import math
import platform
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from optarena.sweep.outcome import write_summary

METRIC_NAMES = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best",
                "test/loss", "test/acc")


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


def group_choices() -> dict[str, str]:
    """The chosen option of each config group (data, model, optimizer, ...), if Hydra ran."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra")}


def overrides() -> list[str]:
    """The run's command-line overrides, without `resume=...` (how to run, not what)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]


class RunSummary:
    """Writes <run dir>/metrics.json: `running` at start, then the outcome."""

    def __init__(self, run_dir: Path, cfg: DictConfig, lr: float | None,
                 resumed_at_step: int | None = None) -> None:
        from lightning.fabric.utilities.rank_zero import rank_zero_only

        self.path = Path(run_dir) / "metrics.json"
        self.enabled = rank_zero_only.rank == 0  # DDP: rank 0 writes, the other ranks only train
        self.started = time.perf_counter()
        choices = group_choices()
        self.base = {
            "data": choices.get("data"), "model": choices.get("model"),
            "optimizer": choices.get("optimizer"), "scheduler": choices.get("scheduler"),
            "lr": lr, "seed": cfg.seed, "overrides": overrides(),
            "resumed_at_step": resumed_at_step,
            "hparams": {
                "batch_size": cfg.batch_size, "max_epochs": cfg.max_epochs,
                "optimizer": OmegaConf.to_container(cfg.optimizer, resolve=True),
                "scheduler": OmegaConf.to_container(cfg.scheduler, resolve=True),
                "regularization": OmegaConf.to_container(cfg.regularization, resolve=True),
            },
        }

    def write(self, status: str, metrics: dict[str, Any] | None = None,
              target: dict | None = None, error: str | None = None,
              diverged_step: int | None = None, epochs: int = 0, steps: int = 0) -> dict:
        metrics = metrics or {}
        summary = {
            "status": status, "error": error, **self.base,
            "metrics": {name: _number(metrics.get(name)) for name in METRIC_NAMES},
            "target": target, "diverged_step": diverged_step, "epochs": epochs, "steps": steps,
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "versions": _versions(),
        }
        if not self.enabled:
            return summary
        write_summary(self.path, summary)
        return summary

    def write_failed(self, err: BaseException, **progress: Any) -> dict:
        lines = traceback.format_exception(err)
        tail = "".join(lines[-12:]).strip()
        return self.write("failed", error=tail, **progress)
