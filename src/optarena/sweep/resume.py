"""resume=true: skip a finished run, continue an interrupted one from its last.ckpt (or, if
that file is unreadable, best.ckpt), start over one stopped before its first checkpoint."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from optarena.errors import OptArenaError
from optarena.record import FINISHED, read_record
from optarena.record import defining_overrides as identity

LAST_CKPT = Path("checkpoints") / "last.ckpt"
BEST_CKPT = Path("checkpoints") / "best.ckpt"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePlan:
    action: str                  # "skip" (finished), "continue" (from ckpt) or "fresh"
    summary: dict | None = None  # the finished run's metrics.json (skip)
    ckpt: Path | None = None     # last.ckpt to continue from (continue)


def check_same_run(run_dir: Path, overrides: list[str]) -> None:
    """resume=true must name the folder of the same run (same defining overrides)."""
    summary = read_record(run_dir)
    recorded = summary.get("overrides") if summary else None
    if recorded is not None and identity(recorded) != identity(overrides):
        before = " ".join(identity(recorded)) or "no overrides"
        now = " ".join(identity(overrides)) or "no overrides"
        raise OptArenaError(
            f"resume=true: {run_dir} holds another run ({before}), not this one ({now}); "
            "resume with the same overrides and hydra.sweep.dir (or hydra.run.dir) as the "
            "interrupted run, or drop resume=true to start a new one")


def finished_run(run_dir: Path, overrides: list[str]) -> dict | None:
    """The record of this run if it already finished (completed, diverged) in `run_dir`."""
    check_same_run(run_dir, overrides)
    summary = read_record(run_dir)
    return summary if summary is not None and summary.get("status") in FINISHED else None


def plan(run_dir: Path, overrides: list[str]) -> ResumePlan:
    """What resume=true does with `run_dir` for a job with these overrides."""
    run_dir = Path(run_dir)
    done = finished_run(run_dir, overrides)
    if done is not None:
        return ResumePlan("skip", summary=done)
    summary = read_record(run_dir)
    for ckpt in (run_dir / LAST_CKPT, run_dir / BEST_CKPT):  # best.ckpt: if last.ckpt is bad
        if ckpt.is_file() and readable_step(ckpt) is not None:
            return ResumePlan("continue", summary=summary, ckpt=ckpt)
        if ckpt.is_file():
            log.warning("resume: %s is not a readable checkpoint (cut short?); not using it", ckpt)
    return ResumePlan("fresh", summary=summary)


def requeued() -> bool:
    """A SLURM job started again after a time limit or preemption (submitit's requeue)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def in_sweep() -> bool:
    """Whether this run is a job of a sweep (in-process multirun, or launched as job #num)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN or not OmegaConf.is_missing(hydra_cfg.job, "num")


def checkpoint_step(ckpt: Path) -> int:
    """The optimizer step a Lightning checkpoint was saved at."""
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
    return int(state["global_step"])


def readable_step(ckpt: Path) -> int | None:
    """The step of a complete Lightning checkpoint; None for a file cut short or another kind
    of file (a state_dict, not a torch file at all)."""
    try:
        return checkpoint_step(ckpt)
    except Exception:  # torch raises RuntimeError, pickle errors, KeyError, ... : all unusable
        return None


def start_from(point: ResumePlan, run_dir: Path,
               ckpt_path: str | None) -> tuple[str | None, int | None]:
    """(checkpoint to fit from, its step) for a run that resume=true does not skip."""
    if ckpt_path is not None:
        raise OptArenaError(
            f"resume=true continues from {run_dir / LAST_CKPT}; drop ckpt_path={ckpt_path} "
            "(or drop resume=true to start from that checkpoint in a new run folder)")
    for tmp in (run_dir / LAST_CKPT.parent).glob(".*.tmp"):  # a checkpoint write cut short
        tmp.unlink(missing_ok=True)
    if point.action == "continue":
        return str(point.ckpt), checkpoint_step(point.ckpt)
    if not in_sweep() and not (run_dir / ".hydra").is_dir() and point.summary is None:
        raise OptArenaError(
            f"resume=true: nothing to resume in {run_dir} (no run there); name the "
            "interrupted run's folder: hydra.run.dir=outputs/DATE/TIME")
    if not in_sweep():
        log.info("resume: %s has no checkpoint yet (stopped before its first %s); starting "
                 "the run over in that folder", run_dir, LAST_CKPT)
    return None, None  # never started, or stopped before its first checkpoint: start over
