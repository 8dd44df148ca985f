"""Runs the jobs of a sweep concurrently, each in a fresh process pinned to its own GPU(s).

Why a launcher of our own: Hydra's joblib launcher runs every job on GPU 0 and shares one
process's CUDA state between jobs; submitit/ray target clusters. Here each job is a new
`python train.py <overrides>` (crash isolation, clean CUDA state, CUDA_VISIBLE_DEVICES set
before the job starts), and a job that dies (exception, segfault, OOM kill) is recorded as
`failed` while the sweep goes on.
"""


import logging
import os
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.optarena_launcher import slots as slots_mod
from hydra_plugins.optarena_launcher.command import config_flags, job_command, script
from hydra_plugins.optarena_launcher.job_return import read_job_return
from hydra_plugins.optarena_launcher.processes import JobProcess, Starter
from hydra_plugins.optarena_launcher.stop_signals import StopSignals

log = logging.getLogger(__name__)
LOG_NAME = "job.log"
JOB_MARKER = "OPTARENA_PARALLEL_JOB"  # set in every job's environment: its job directory
TAIL_LINES = 40


class JobFailed(CompactHydraException):
    """A job ended without a result; Hydra prints this message without a traceback."""


@dataclass
class Job:
    num: int
    overrides: list[str]
    dir: Path
    base: dict[str, Any]               # what a crash record needs to name the run
    resume: bool = False
    devices: int = 1                   # trainer.devices, when a number
    result: JobReturn | None = None
    proc: JobProcess | None = None
    slot: slots_mod.Slot | None = None
    started: float = 0.0
    return_file: Path = field(default_factory=Path)
    shown: list[str] = field(default_factory=list)  # the overrides that tell jobs apart

    @property
    def label(self) -> str:
        return f"#{self.num} {' '.join(self.shown)}".rstrip()


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # Long lines (faulthandler's module list) are cut so that the stack above them stays in.
    return "\n".join(ln if len(ln) <= 240 else ln[:237] + "..."
                     for ln in text.splitlines()[-lines:])


class ParallelLauncher(Launcher):
    def __init__(self, gpus: Any = None, jobs_per_gpu: int = 1, gpus_per_job: int | None = None,
                 n_jobs: int | None = None, threads_per_job: int | None = None,
                 preload: Sequence[str] = (), stop_grace_seconds: float = 30.0,
                 warm: bool = True) -> None:
        self.gpus = None if gpus is None else [str(g) for g in gpus]
        self.jobs_per_gpu, self.gpus_per_job = jobs_per_gpu, gpus_per_job
        self.n_jobs, self.threads_per_job = n_jobs, threads_per_job
        self.preload, self.stop_grace_seconds = list(preload), stop_grace_seconds
        self.warm = warm
        self._starter: Starter | None = None
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    # --- preparing jobs -------------------------------------------------------------------
    def _job(self, num: int, overrides: Sequence[str]) -> Job:
        """Compose the job's config as Hydra's own launchers do, to learn its directory."""
        assert self.config is not None and self.hydra_context is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = num
            cfg.hydra.job.num = num
        saved = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(cfg)  # ${hydra:...} in the subdir, e.g. job.num
        try:
            job_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        finally:
            HydraConfig.instance().cfg = saved
        from optarena.record import identity

        base = identity(cfg.hydra.runtime.choices, OmegaConf.select(cfg, "lr", default=None),
                        OmegaConf.select(cfg, "seed", default=None), list(overrides),
                        OmegaConf.select(cfg, "stage", default=None))
        resume = bool(OmegaConf.select(cfg, "resume", default=False))
        devices = OmegaConf.select(cfg, "trainer.devices", default=1)
        return Job(num=num, overrides=list(overrides), dir=job_dir, base=base, resume=resume,
                   devices=devices if isinstance(devices, int) and devices > 0 else 1)

    def _skip_finished(self, job: Job) -> bool:
        """resume=true: a job whose run already finished returns its recorded result."""
        from optarena.record import objective
        from optarena.sweep.resume import finished_run

        done = finished_run(job.dir, job.overrides) if job.resume else None
        if done is None:
            return False
        job.result = self._job_return(job, JobStatus.COMPLETED, objective(done))
        log.info(f"\t{job.label} : already {done['status']}, skipped")
        return True

    # --- running jobs ---------------------------------------------------------------------
    def _start(self, job: Job, slot: slots_mod.Slot, base_cmd: list[str],
               hydra_overrides: list[str], env: dict[str, str], hide_gpus: bool,
               tmp: Path) -> None:
        assert self._starter is not None
        job.dir.mkdir(parents=True, exist_ok=True)
        job.return_file = tmp / f"{job.num}.pkl"
        cmd = job_command(base_cmd, hydra_overrides, job.overrides, job.dir, job.num,
                          job.return_file)
        log_path = job.dir / LOG_NAME
        with open(log_path, "a") as out:
            out.write(f"$ {' '.join(cmd)}\n")
        job_env = {**slots_mod.job_env(slot, env, hide_gpus), JOB_MARKER: str(job.dir)}
        job.proc = self._starter.start(cmd, job_env, log_path, slot.threads)
        job.slot, job.started = slot, time.perf_counter()
        log.info(f"\t{job.label} : started on {slot.label} -> {job.dir}")

    def _finish(self, job: Job) -> None:
        """Turn the ended process into a JobReturn; make sure metrics.json says what happened."""
        from optarena.record import FINISHED, objective, read_record, record_crash
        from optarena.run_lock import holder

        assert job.proc is not None
        job.proc.kill_rest()  # a process the job started and left behind (a DDP rank)
        code, seconds = job.proc.poll(), time.perf_counter() - job.started
        written = read_job_return(job.return_file)
        summary = read_record(job.dir)
        if written and written["status"] == "COMPLETED" and code == 0:
            value = written.get("value")
            job.result = self._job_return(job, JobStatus.COMPLETED, value)
            status = summary.get("status", "completed") if summary else "completed"
            log.info(f"\t{job.label} : {status} in {seconds:.1f} s, returned {value}")
            return
        if summary and summary.get("status") in FINISHED:  # died after recording its result
            log.warning(f"\t{job.label} : exited with {code} after recording "
                        f"'{summary['status']}'; kept that result")
            job.result = self._job_return(job, JobStatus.COMPLETED, objective(summary))
            return
        other = holder(job.dir)
        if other:  # refused: another process writes this folder, which is not ours to record
            log.error(f"\t{job.label} : FAILED: {other}")
            job.result = self._job_return(job, JobStatus.FAILED, JobFailed(other))
            return
        reason = (f"killed by {_signal_name(code)}" if code < 0 else f"exited with status {code}")
        if code in (-signal.SIGKILL, 137):
            reason += " (out of memory, or killed from outside)"
        log_path = job.dir / LOG_NAME
        tail = _tail(log_path)
        said = [ln for ln in tail.splitlines() if ln.startswith("error: ")]
        if said and code == 2:  # the job refused a mistake with one line: that is the cause
            reason = f"{said[-1]} ({reason})"
        error = f"last lines of {log_path}:\n{tail}\n{reason}"
        record = record_crash(job.dir, error, seconds, job.base)
        # The run's own record (an exception it caught) names the cause; a crash has none.
        cause = _cause(record.get("error")) if record.get("error") != error else ""
        message = f"job {job.label} failed ({reason}). {cause} Output: {log_path}"
        log.error(f"\t{job.label} : FAILED ({reason}) -> {log_path}")
        job.result = self._job_return(job, JobStatus.FAILED, JobFailed(message))

    def _job_return(self, job: Job, status: JobStatus, value: Any) -> JobReturn:
        ret = JobReturn(overrides=job.overrides, working_dir=str(job.dir), task_name=None,
                        status=status)
        ret.return_value = value
        return ret

    def _stop(self, running: list[Job], sig: int, stops: StopSignals) -> None:
        """Interrupted: the running jobs stop cleanly (record `failed`, keep last.ckpt) within
        stop_grace_seconds, else they are killed; a second Ctrl-C kills them at once."""
        for job in running:  # each job leads its own process group: the terminal's Ctrl-C
            job.proc.send_signal(sig)  # reaches only the launcher, which passes it on
        deadline = time.monotonic() + self.stop_grace_seconds
        while (any(job.proc.poll() is None for job in running) and stops.pending is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        for job in running:
            if job.proc.poll() is None:
                job.proc.send_signal(signal.SIGKILL)
        for job in running:
            job.proc.wait()
            self._finish(job)

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        if os.environ.get(JOB_MARKER):
            # A job that starts a sweep of its own would multiply processes without end.
            print(f"error: job {os.environ[JOB_MARKER]} of a parallel sweep started a sweep "
                  "itself; the parallel launcher runs each job as a single run", file=sys.stderr)
            sys.exit(2)
        setup_globals()
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        stops = StopSignals()
        with stops.installed():
            try:
                if self._starter is None:  # the fork server imports while jobs are composed
                    self._starter = Starter(self.preload,
                                            _warm_spec(self.config) if self.warm else None)
                jobs, todo, slots = self._prepare(job_overrides, initial_job_idx)
            except KeyboardInterrupt as err:  # no job started yet: only the fork server runs
                assert self._starter is not None
                self._starter.close()
                sys.exit(128 + getattr(err, "signum", signal.SIGINT))
            self._run(todo, slots, stops)
        return [job.result for job in jobs]

    def _prepare(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
                 ) -> tuple[list[Job], deque[Job], list[slots_mod.Slot]]:
        """The jobs, those to run (resume=true skips finished ones), and the slots to run in."""
        from optarena.errors import OptArenaError
        from optarena.run_lock import holder

        try:
            jobs = [self._job(initial_job_idx + i, o) for i, o in enumerate(job_overrides)]
            for job, shown in zip(jobs, distinguishing(job_overrides), strict=True):
                job.shown = shown
            todo = deque(job for job in jobs if not self._skip_finished(job))
            busy = next(filter(None, (holder(job.dir) for job in todo)), None)
            if busy:  # a job folder that another process writes: refuse before writing any
                raise OptArenaError(busy)
            gpus = self.gpus if self.gpus is not None else slots_mod.visible_gpus()
            gpus_per_job = self.gpus_per_job or max((job.devices for job in jobs), default=1)
            slots = slots_mod.plan_slots(
                gpus, max(1, len(todo)), self.jobs_per_gpu, gpus_per_job, self.n_jobs,
                slots_mod.cpu_count(), self.threads_per_job)
        except (OptArenaError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        where = (f"GPU(s) {','.join(gpus)}, {self.jobs_per_gpu} job(s) per GPU" if gpus
                 else f"CPU, {slots[0].threads} thread(s) each")
        log.info(f"Parallel launcher: {len(todo)} of {len(jobs)} job(s) to run, "
                 f"{len(slots)} at a time on {where}; sweep dir: {self.config.hydra.sweep.dir}")
        return jobs, todo, slots

    def _run(self, todo: deque[Job], slots: list[slots_mod.Slot], stops: StopSignals) -> None:
        """Run the jobs, as many at a time as there are slots, until all have ended."""
        assert self._starter is not None and self.config is not None
        pool = slots_mod.SlotPool(slots)
        base_cmd = [*script(), *config_flags(sys.argv[1:])]
        # `-m` is recorded as hydra.mode=MULTIRUN: the job itself is a single run.
        hydra_overrides = [o for o in OmegaConf.to_container(self.config.hydra.overrides.hydra)
                           if not o.startswith("hydra.mode=")]
        hide_gpus = self.gpus is not None and not any(s.gpus for s in slots)
        env = dict(os.environ)
        running: list[Job] = []
        with tempfile.TemporaryDirectory(prefix="optarena-sweep-") as tmp:
            try:
                while todo or running:
                    if todo and pool.has_free():
                        self._starter.ready()  # the fork server's imports, interruptible
                    while todo and pool.has_free():
                        with stops.held():  # started and counted, or neither
                            job = todo.popleft()
                            self._start(job, pool.take(), base_cmd, hydra_overrides, env,
                                        hide_gpus, Path(tmp))
                            running.append(job)
                    for job in [j for j in running if j.proc.poll() is not None]:
                        with stops.held():
                            running.remove(job)
                            pool.give_back(job.slot)
                            self._finish(job)
                    time.sleep(0.1)
            except KeyboardInterrupt as err:
                stops.holding = True  # from here on, another Ctrl-C only hurries the stop
                # By attribute: Hydra's plugin scan may execute this package's modules again,
                # which makes Terminated another class than the one raised.
                sig = getattr(err, "signum", signal.SIGINT)
                log.error(f"Interrupted ({signal.Signals(sig).name}): stopping {len(running)} "
                          f"running job(s), {len(todo)} not started; they keep their "
                          "last.ckpt for resume=true")
                from optarena.sweep.summary import mark_not_started

                for job in todo:
                    mark_not_started(job.dir, job.overrides)
                self._stop(running, sig, stops)
                self._starter.close()
                sys.exit(128 + sig)  # the shell's convention for a process ended by a signal


def _warm_spec(config: DictConfig) -> str | None:
    """What the sweep's jobs import and load alike, for the fork server (optarena.sweep.warm)."""
    try:
        from optarena.sweep.warm import spec

        return spec(config)
    except Exception:  # noqa: BLE001 - a warm-up is an optimisation: the jobs do it themselves
        return None


def distinguishing(job_overrides: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each job's overrides that differ between jobs (all of them for a single job)."""
    lists = [filter_overrides(o) for o in job_overrides]
    if len(lists) < 2:
        return [list(x) for x in lists]
    common = set.intersection(*(set(x) for x in lists))
    return [[o for o in x if o not in common] for x in lists]


def _cause(text: str | None) -> str:
    from optarena.record import last_line

    line = last_line(text)
    return line + "." if line else ""
