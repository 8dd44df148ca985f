"""Checks of the plain top-level knobs (conf/train.yaml): seed, lr, max_epochs, batch_size,
target, ckpt_path, resume, overwrite, compile, channels_last, stage; and the loggers' packages.

No torch here: train.py's pre-flight check (optarena.preflight) runs these before Hydra
writes anything and before the seconds of start-up; optarena.run checks them again for runs
composed in process (tests, the basic launcher's sweeps).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

from optarena.errors import OptArenaError
from optarena.tracking import extras as tracking_extras

STAGES = (None, "tune", "confirm")  # a tune-then-confirm sweep's stages; None: a plain run
FIND = "find"  # lr=find: train at the LR range test's suggestion (optarena.lr_find)
MAX_SEED = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(name: str, value: Any, low: int, high: int | None = None) -> None:
    if _is_int(value) and value >= low and (high is None or value <= high):
        return
    span = f"in [{low}, {high}]" if high is not None else f">= {low}"
    raise OptArenaError(f"{name} must be a whole number {span}, got {value!r}")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise OptArenaError(f"{name} must be true or false, got {value!r}")


def check_lr(lr: Any, where: str = "lr") -> float:
    """A learning rate: a finite number > 0 (Hydra reads lr=1e400 as infinity)."""
    if not _is_number(lr):
        also = " or find (the LR range test picks it, docs/lr_find.md)" if where == "lr" else ""
        raise OptArenaError(f"{where} must be a number{also}, got {lr!r}")
    if not math.isfinite(lr):
        raise OptArenaError(f"{where} must be a finite number > 0, got {lr} "
                            "(a value beyond the float range, such as 1e400, reads as inf)")
    if not lr > 0:
        raise OptArenaError(f"{where} must be > 0, got {float(lr)}")
    return float(lr)


def check_ckpt_file(path: Any) -> Path:
    """ckpt_path: an existing file in torch.save's format (a zip archive); opened fully later."""
    file = Path(str(path))
    if not file.exists():
        raise OptArenaError(f"ckpt_path={path}: no such file; pass a Lightning checkpoint such "
                            "as <run dir>/checkpoints/last.ckpt")
    if not file.is_file():
        raise OptArenaError(f"ckpt_path={path} is a folder, not a checkpoint file; pass "
                            f"{file / 'last.ckpt'} or {file / 'best.ckpt'}")
    if not zipfile.is_zipfile(file):
        raise OptArenaError(f"ckpt_path={path} is not a Lightning checkpoint (not a file "
                            "written by torch.save); pass a checkpoints/last.ckpt or best.ckpt")
    return file


def check(cfg: Any) -> None:
    """Raise OptArenaError with what to fix for a top-level knob no run can use."""
    _whole("seed", cfg.get("seed"), 0, MAX_SEED)
    _whole("max_epochs", cfg.get("max_epochs"), 1)
    _whole("batch_size", cfg.get("batch_size"), 1)
    if cfg.get("lr") is not None and cfg.lr != FIND:
        check_lr(cfg.lr)
    target = cfg.get("target")
    if target is not None and not (_is_number(target) and math.isfinite(target)):
        raise OptArenaError(f"target must be a number (a validation metric value), "
                            f"got {target!r}")
    for name in ("resume", "overwrite", "compile"):
        _flag(name, cfg.get(name, False))
    if cfg.get("channels_last", "auto") not in (True, False, "auto"):
        raise OptArenaError(f"channels_last must be true, false or auto, "
                            f"got {cfg.channels_last!r}")
    if cfg.get("stage") not in STAGES:
        raise OptArenaError(f"stage must be tune, confirm or null (hydra/sweeper=tune_confirm "
                            f"sets it), got {cfg.stage!r}")
    if cfg.get("resume") and cfg.get("overwrite"):
        raise OptArenaError("resume=true keeps the run in its folder and overwrite=true replaces "
                            "it: give one of them")
    if cfg.get("ckpt_path") is not None:
        if cfg.get("resume"):
            raise OptArenaError(
                "resume=true continues from the run folder's checkpoints/last.ckpt; drop "
                f"ckpt_path={cfg.ckpt_path} (or drop resume=true to start from that checkpoint "
                "in a new run folder)")
        check_ckpt_file(cfg.ckpt_path)
    tracking_extras.check(cfg.get("logger"))  # logger=mlflow / wandb without the extra
    check_schedule_named(cfg.get("scheduler"))


def check_schedule_named(node: Any) -> None:
    """Options without a schedule (++scheduler.warmup_fraction=0.2 over scheduler=auto with no
    recipe schedule, or over none) would be dropped silently; the option names are checked
    against the schedule's factory with the data and model (optarena.config_check)."""
    if node is None or not hasattr(node, "keys") or "_target_" in node:
        return
    given = [str(k) for k in node if k != "_partial_"]
    if given:
        raise OptArenaError(
            f"scheduler.{given[0]} is set but no schedule is: choose one (e.g. "
            "scheduler=warmup_cosine scheduler.warmup_fraction=0.1), or change the recipe's "
            "(recipe.scheduler.<option>=...)")
