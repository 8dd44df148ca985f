"""DDP inside a sweep: Lightning's `ddp` must never re-launch the whole sweep.

Lightning's `ddp` strategy starts ranks 1..n by re-executing the command line. In a Hydra
multirun that runs in one process (basic launcher, submitit/ray workers), that command line
is the sweep itself, so every rank would start the sweep again (lightning-hydra-template#393).
The parallel launcher runs each job as its own single-run command, which DDP may re-execute
safely; trainer=ddp selects it.
"""

from __future__ import annotations

from omegaconf import DictConfig

from optarena.errors import OptArenaError


def _processes_started_outside() -> bool:
    """SLURM tasks (srun) or torchrun already are the ranks: Lightning starts none."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect()


def check_no_sweep_relaunch(cfg: DictConfig) -> None:
    """Raise a clear error where trainer.strategy=ddp would re-launch the sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    trainer = cfg.get("trainer") or {}
    strategy = str(trainer.get("strategy", "auto"))
    devices = trainer.get("devices", 1)
    if not strategy.startswith("ddp") or "spawn" in strategy or "fork" in strategy:
        return
    if devices in (1, "1") or not HydraConfig.initialized():
        return
    if HydraConfig.get().mode != RunMode.MULTIRUN or _processes_started_outside():
        return
    raise OptArenaError(
        f"trainer.strategy={strategy} inside this multirun would re-launch the whole sweep in "
        "every rank (Lightning re-executes the command line). Run each job in its own process: "
        "hydra/launcher=parallel (trainer=ddp selects it unless the command line names "
        "another launcher), or hydra/launcher=slurm with hydra.launcher.tasks_per_node="
        "<devices>; or use trainer.strategy=ddp_spawn")
