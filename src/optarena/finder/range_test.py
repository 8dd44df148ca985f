"""The range test itself: Lightning's `Tuner.lr_find` on a run built by optarena.run.build.

What Lightning's finder does not do, and is added here:
- It sets one lr on every parameter group. Hooks on the task put each group's ratio to the base
  lr back before every step (Muon/AdamW groups, a backbone at a fraction of the head's lr), so
  the test measures the lr the run would set with `lr=...`.
- It looks for an `lr` attribute on the module (`update_attr`), which a task holding a Hydra-built
  optimizer factory has not: update_attr=False, the suggestion is read here (finder.suggest).
- It records only its own smoothed loss (beta fixed at 0.98): the raw loss of every step is
  recorded here, for the configured smoothing.
During the test Lightning replaces the trainer's callbacks with its own, so these hooks live on
the module (installed on the instance, removed afterwards), not in a callback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.tuner import Tuner
from omegaconf import DictConfig, open_dict

from optarena.errors import OptArenaError
from optarena.finder.settings import FinderSettings
from optarena.optim.param_groups import ROLE_KEY

HOOKS = ("configure_optimizers", "on_train_batch_start", "on_train_batch_end")
NEVER = 10**9  # check_val_every_n_epoch: the range test never validates


@dataclass
class RangeTest:
    lrs: list[float]
    raw: list[float]
    group_ratios: dict[str, float]  # each group's lr / the base lr, kept through the test

    @property
    def steps(self) -> int:
        return len(self.lrs)


def trainer_overrides(settings: FinderSettings) -> dict[str, Any]:
    """The trainer of a range test: `steps` optimizer steps over as many epochs as it takes, no
    validation, no checkpoints (Lightning keeps its own temporary one), no model summary."""
    return {"max_epochs": -1, "max_steps": settings.steps, "enable_checkpointing": False,
            "enable_model_summary": False, "num_sanity_val_steps": 0,
            "check_val_every_n_epoch": NEVER}


def build_for_range_test(cfg: DictConfig, settings: FinderSettings):
    """The run as train.py builds it (optarena.run.build), without the divergence guard,
    checkpoints, loggers or run record: the optimizer is built at min_lr (only the groups'
    ratios to it matter) and without its scheduler (the test sets the lr itself)."""
    from optarena.run import build

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.lr = settings.min_lr
    built = build(cfg, callbacks=[], loggers=[], trainer_overrides=trainer_overrides(settings))
    built.task.scheduler_factory = None
    return built


class _Hooks:
    """Instance hooks on the task for the duration of the test (see the module docstring)."""

    def __init__(self, task: pl.LightningModule) -> None:
        self.task = task
        self.ratios: list[float] = []
        self.names: list[str] = []
        self.raw: list[float] = []
        self.original = {name: getattr(task, name) for name in HOOKS}

    def install(self) -> None:
        for name in HOOKS:
            setattr(self.task, name, getattr(self, name))

    def remove(self) -> None:
        for name in HOOKS:
            self.task.__dict__.pop(name, None)

    def configure_optimizers(self) -> Any:
        config = self.original["configure_optimizers"]()
        optimizer = config["optimizer"] if isinstance(config, dict) else config
        if isinstance(optimizer, list | tuple):
            raise OptArenaError("the range test needs one optimizer; this task returns "
                                f"{len(optimizer)}")
        base = float(optimizer.defaults.get("lr") or optimizer.param_groups[0]["lr"])
        self.ratios = [float(g["lr"]) / base for g in optimizer.param_groups]
        self.names = [str(g.get(ROLE_KEY) or i) for i, g in enumerate(optimizer.param_groups)]
        return {"optimizer": optimizer}  # the run's scheduler (if any) is not part of the test

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
        out = self.original["on_train_batch_start"](batch, batch_idx)
        configs = self.task.trainer.lr_scheduler_configs
        if configs:  # Lightning's ramp has set one lr on every group: restore the ratios
            ramp = configs[0].scheduler.lr
            groups = self.task.trainer.optimizers[0].param_groups
            for group, ratio, lr in zip(groups, self.ratios, ramp, strict=True):
                group["lr"] = lr * ratio
        return out

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs if not isinstance(outputs, dict) else outputs.get("loss")
        self.raw.append(float(loss.detach()) if loss is not None else math.nan)
        self.original["on_train_batch_end"](outputs, batch, batch_idx)


@contextmanager
def _quiet() -> Iterator[None]:
    """Lightning's info lines about its temporary checkpoint and early stop: the finder prints
    its own summary (warnings still show)."""
    names = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.tuner.lr_finder")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def run_range_test(trainer: pl.Trainer, task: pl.LightningModule,
                   datamodule: pl.LightningDataModule | None, settings: FinderSettings
                   ) -> RangeTest:
    """Lightning's range test with the additions above; the task's weights are restored after."""
    if trainer.fast_dev_run:
        raise OptArenaError("the range test does not run with trainer.fast_dev_run; drop it")
    hooks = _Hooks(task)
    hooks.install()
    try:
        with _quiet():
            finder = Tuner(trainer).lr_find(
                task, datamodule=datamodule, min_lr=settings.min_lr, max_lr=settings.max_lr,
                num_training=settings.steps, mode=settings.mode,
                early_stop_threshold=settings.stop_factor, update_attr=False)
    finally:
        hooks.remove()
    lrs = [float(lr) for lr in finder.results["lr"]]
    raw = hooks.raw[: len(lrs)]
    return RangeTest(lrs, raw, dict(zip(hooks.names, hooks.ratios, strict=True)))
