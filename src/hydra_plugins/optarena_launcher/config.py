"""`hydra/launcher=parallel`: its settings (override any as hydra.launcher.<name>=...)."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class ParallelLauncherConf:
    _target_: str = "hydra_plugins.optarena_launcher.parallel_launcher.ParallelLauncher"
    # GPUs to use (indices or UUIDs, as in CUDA_VISIBLE_DEVICES). null: every visible GPU;
    # []: none, jobs run on the CPU even where GPUs exist.
    gpus: Any = None
    # Jobs sharing one GPU at a time (small models leave a GPU mostly idle).
    jobs_per_gpu: int = 1
    # GPUs one job gets. null: the jobs' trainer.devices when it is a number (trainer=ddp
    # trainer.devices=2 -> 2), else 1.
    gpus_per_job: Any = None
    # At most this many jobs at a time. null: one per GPU slot, or on a CPU-only machine one
    # per core.
    n_jobs: Any = None
    # torch/OpenMP threads of each job. null: the cores divided among the jobs running at once.
    threads_per_job: Any = None
    # Modules a fork server imports once; each job is a fresh process forked from it (no
    # seconds-long torch import per job; CUDA is never touched before the fork). []: every
    # job starts a new interpreter (`python train.py ...`), as on systems without fork.
    preload: list[str] = field(
        default_factory=lambda: ["torch", "lightning.pytorch", "optarena.run"])
    # With a fork server: compose the sweep's config, import the modules it names and let the
    # data module read its files there once, before the jobs fork (optarena.sweep.warm).
    warm: bool = True
    # Seconds a job gets to stop cleanly (checkpoint, metrics.json) when the sweep is
    # interrupted, before it is killed.
    stop_grace_seconds: float = 30.0


ConfigStore.instance().store(
    group="hydra/launcher", name="parallel", node=ParallelLauncherConf, provider="optarena")
