"""Which devices and how many CPU threads each concurrently running job gets.

A slot is one place a job can run: a group of GPUs (`gpus_per_job` of them) or, on a CPU-only
machine, a share of the cores. `jobs_per_gpu` copies of each GPU group are slots. Jobs take the
first free slot and give it back when they end, so a finished job's GPU goes to the next job.
"""


import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Slot:
    gpus: tuple[str, ...]  # CUDA_VISIBLE_DEVICES entries (indices or UUIDs); () on CPU
    threads: int           # torch / OpenMP threads of the job

    @property
    def label(self) -> str:
        return f"gpu {','.join(self.gpus)}" if self.gpus else f"cpu x{self.threads}"


def parse_visible_devices(value: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES -> its entries; None when unset. '' and '-1' hide every GPU."""
    if value is None:
        return None
    entries = [v.strip() for v in value.split(",") if v.strip()]
    # CUDA stops at the first invalid entry; '-1' is the conventional "no GPU".
    out: list[str] = []
    for entry in entries:
        if entry.startswith("-"):
            break
        out.append(entry)
    return out


def visible_gpus() -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else every GPU torch sees."""
    listed = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if listed is not None:
        return listed
    # Importing torch costs seconds: skip it where no NVIDIA driver is loaded.
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()):
        return []
    import torch

    # NVML-based count: does not initialise CUDA in this (parent) process.
    return [str(i) for i in range(torch.cuda.device_count())]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_slots(
    gpus: list[str],
    n_jobs_total: int,
    jobs_per_gpu: int = 1,
    gpus_per_job: int = 1,
    n_jobs: int | None = None,
    cpus: int = 1,
    threads_per_job: int | None = None,
) -> list[Slot]:
    """The slots for `n_jobs_total` jobs, ordered so that the first ones spread over the GPUs.

    GPU machines: every `gpus_per_job` GPUs form a group, each group is `jobs_per_gpu` slots.
    CPU-only: `n_jobs` slots (default: one per core, or per `gpus_per_job` cores, as a DDP job
    runs that many processes on the CPU too). At most `n_jobs` and at most `n_jobs_total`
    slots are made; the cores are divided evenly among all the processes.
    """
    for name, value in (("jobs_per_gpu", jobs_per_gpu), ("gpus_per_job", gpus_per_job)):
        if value < 1:
            raise ValueError(f"hydra.launcher.{name} must be >= 1, got {value}")
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"hydra.launcher.n_jobs must be >= 1 or null, got {n_jobs}")
    if gpus:
        if gpus_per_job > len(gpus):
            raise ValueError(
                f"hydra.launcher.gpus_per_job={gpus_per_job} but only {len(gpus)} GPU(s) are "
                f"visible ({','.join(gpus)}); lower gpus_per_job or list more hydra.launcher.gpus")
        groups = [tuple(gpus[i:i + gpus_per_job])
                  for i in range(0, len(gpus) - gpus_per_job + 1, gpus_per_job)]
        places: list[tuple[str, ...]] = [g for _ in range(jobs_per_gpu) for g in groups]
    else:
        places = [()] * (n_jobs or max(1, cpus // gpus_per_job))
    count = max(1, min(len(places), n_jobs or len(places), n_jobs_total))
    threads = threads_per_job or max(1, cpus // (count * gpus_per_job))
    return [Slot(gpus=p, threads=threads) for p in places[:count]]


class SlotPool:
    """Free slots in a queue: `take` the first free one, `give_back` when the job ends."""

    def __init__(self, slots: list[Slot]) -> None:
        self._free: deque[Slot] = deque(slots)

    def has_free(self) -> bool:
        return bool(self._free)

    def take(self) -> Slot:
        return self._free.popleft()

    def give_back(self, slot: Slot) -> None:
        self._free.append(slot)


def job_env(slot: Slot, base: dict[str, str], hide_gpus: bool) -> dict[str, str]:
    """The environment of a job in `slot`: its GPUs pinned before CUDA starts, its threads."""
    env = dict(base)
    if slot.gpus or hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(slot.gpus)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(slot.threads)
    env["PYTHONFAULTHANDLER"] = "1"  # a segfault prints the Python stack to the job's log
    return env
