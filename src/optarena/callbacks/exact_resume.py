"""What a checkpoint needs beyond Lightning's own for a resumed run to equal an unbroken one.

Lightning checkpoints hold weights, optimizer, schedulers, loop progress, callback states and
the data loader's state (our InMemoryLoader's shuffling), but not the global random number
generators (dropout, augmentation), and a resumed CSVLogger starts its metrics.csv afresh.
This callback saves both: the RNG states, and how many CSV rows had been logged, so that the
rows logged by the interrupted attempt after its last checkpoint are dropped and the curves
of a resumed run read as one run.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from optarena.tracking.lifecycle import continue_runs

STASH_SUFFIX = ".before-resume"


def _rng_states() -> dict[str, Any]:
    """Tensors and plain Python values only: checkpoints load with torch's weights_only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(gauss))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _csv_loggers(loggers: list[Logger]) -> list[CSVLogger]:
    return [lg for lg in loggers if isinstance(lg, CSVLogger)]


def _metrics_file(logger: CSVLogger) -> Path:
    return Path(logger.log_dir) / "metrics.csv"


def _count_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def prepare_loggers_for_resume(loggers: list[Logger], step: int) -> None:
    """Before a resumed fit: keep the interrupted attempt's CSV rows aside (a new CSVLogger
    deletes metrics.csv), have TensorBoard hide its events from `step` on, and MLflow and W&B
    continue the run folder's tracker run."""
    for logger in _csv_loggers(loggers):
        path = _metrics_file(logger)
        stash = path.with_name(path.name + STASH_SUFFIX)
        # A stash left by a resume that died before restoring it is the older, fuller history.
        if path.is_file() and not stash.is_file():
            path.replace(stash)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger._kwargs["purge_step"] = step  # SummaryWriter(purge_step=...) on creation
    continue_runs(loggers)  # MLflow and W&B: the folder's earlier tracker run


class ExactResume(pl.Callback):
    """Checkpoints the global RNG states and the CSV row count; restores both on resume."""

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._metrics: dict[str, float] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        rows, epoch_end, epoch = [], False, 0
        trainer = self._trainer
        if trainer is not None and trainer.is_global_zero:
            for logger in _csv_loggers(trainer.loggers):
                rows.append(_count_rows(_metrics_file(logger)) + len(logger.experiment.metrics))
            # Saved after the epoch's last batch but before the epoch was closed, which is
            # when Lightning logs the epoch's training metrics.
            batches = trainer.fit_loop.epoch_loop.batch_progress.current
            epochs = trainer.fit_loop.epoch_progress.current
            epoch_end = (batches.ready >= trainer.num_training_batches
                         and epochs.completed < epochs.ready)
            epoch = trainer.current_epoch
        metrics = {k: float(v) for k, v in (trainer.callback_metrics if trainer else {}).items()
                   if isinstance(v, (int, float, torch.Tensor)) and torch.numel(torch.as_tensor(v))
                   == 1}
        return {"rng": _rng_states(), "csv_rows": rows, "epoch_end": epoch_end, "epoch": epoch,
                "metrics": metrics}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run resumed from its final checkpoint (killed while testing) trains no more and
        # logs nothing: it reports the values logged before the checkpoint.
        metrics = trainer.callback_metrics
        for key, value in self._metrics.items():
            metrics.setdefault(key, torch.tensor(value))
        self._metrics = {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._metrics = dict(state_dict.get("metrics", {}))
        # Restored before the sanity check and the first batch, neither of which draws from
        # the global generators (validation runs in eval mode, shuffling has its own).
        _set_rng_states(state_dict["rng"])
        if self._trainer is not None and self._trainer.is_global_zero:
            loggers = _csv_loggers(self._trainer.loggers)
            # Saved at an epoch's end, the checkpoint precedes that epoch's training metrics,
            # which Lightning logs last and a resumed run does not log again: keep those too.
            keep_epoch = state_dict["epoch"] if state_dict.get("epoch_end") else None
            for logger, n in zip(loggers, state_dict.get("csv_rows", []), strict=False):
                self._restore_rows(logger, n, keep_epoch)

    @staticmethod
    def _restore_rows(logger: CSVLogger, n: int, keep_epoch: int | None) -> None:
        """metrics.csv := the rows logged before the checkpoint; new rows append."""
        path = _metrics_file(logger)
        stash = path.with_name(path.name + STASH_SUFFIX)
        if not stash.is_file():
            return
        with open(stash, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = list(reader.fieldnames or []), list(reader)
        kept = rows[:n]
        for row in rows[n:]:
            if keep_epoch is None or row.get("epoch") != str(keep_epoch):
                break
            kept.append(row)
        rows = kept
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        logger.experiment.metrics_keys = fields  # so the next save appends instead of rewriting
        stash.unlink()
