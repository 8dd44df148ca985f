"""resume=true: skip a finished run, continue an interrupted one from its last.ckpt."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from optarena.errors import OptArenaError
from optarena.record import FINISHED, read_record
from optarena.record import defining_overrides as identity

LAST_CKPT = Path("checkpoints") / "last.ckpt"


@dataclass(frozen=True)
class ResumePlan:
    action: str                  # "skip" (finished), "continue" (from ckpt) or "fresh"
    summary: dict | None = None  # the finished run's metrics.json (skip)
    ckpt: Path | None = None     # last.ckpt to continue from (continue)


def plan(run_dir: Path, overrides: list[str]) -> ResumePlan:
    """What resume=true does with `run_dir` for a job with these overrides."""
    run_dir = Path(run_dir)
    summary = read_record(run_dir)
    recorded = summary.get("overrides") if summary else None
    if recorded is not None and identity(recorded) != identity(overrides):
        before = " ".join(identity(recorded)) or "no overrides"
        now = " ".join(identity(overrides)) or "no overrides"
        raise OptArenaError(
            f"resume=true: {run_dir} holds another run ({before}), not this one ({now}); "
            "resume with the same overrides and hydra.sweep.dir (or hydra.run.dir) as the "
            "interrupted run, or drop resume=true to start a new one")
    if summary is not None and summary.get("status") in FINISHED:
        return ResumePlan("skip", summary=summary)
    ckpt = run_dir / LAST_CKPT
    if ckpt.is_file():
        return ResumePlan("continue", summary=summary, ckpt=ckpt)
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


def start_from(point: ResumePlan, run_dir: Path,
               ckpt_path: str | None) -> tuple[str | None, int | None]:
    """(checkpoint to fit from, its step) for a run that resume=true does not skip."""
    if ckpt_path is not None:
        raise OptArenaError(
            f"resume=true continues from {run_dir / LAST_CKPT}; drop ckpt_path={ckpt_path} "
            "(or drop resume=true to start from that checkpoint in a new run folder)")
    if point.action == "continue":
        return str(point.ckpt), checkpoint_step(point.ckpt)
    if not in_sweep():
        raise OptArenaError(
            f"resume=true: nothing to resume in {run_dir} (no {LAST_CKPT}); name the "
            "interrupted run's folder: hydra.run.dir=outputs/DATE/TIME")
    return None, None  # a job of the sweep that never started (or failed before a checkpoint)
