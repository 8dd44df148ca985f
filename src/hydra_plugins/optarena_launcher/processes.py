"""Job processes: a fresh interpreter per job, or a fork of one that has imported torch.

Importing torch and Lightning takes seconds, often longer than a small job trains. With
`preload`, the launcher keeps a fork server (Python's multiprocessing "forkserver") that
imports those modules once and never touches CUDA; each job is a new process forked from
it: its own memory, its own CUDA context, its own crash, without the import cost. The job
then runs the sweep's script exactly as `python train.py <args>` would.

Each job leads a process group of its own, which its children join (DDP ranks, data loader
workers): stopping a job signals the whole group, and once the job has ended, whatever is
left of its group is killed, so no process of a sweep outlives the launcher.
"""

import atexit
import contextlib
import faulthandler
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# Quiet thread pools in the fork server: jobs set their own thread counts after the fork.
_SERVER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
# Imported last by the fork server: the sweep's own modules and data (optarena.sweep.warm).
WARM_MODULE, WARM_ENV = "optarena.sweep.warm", "OPTARENA_WARM"


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (even by kill -9): no orphans."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def become_job() -> None:
    """In a new job process, first thing: lead a process group of its own (which the processes
    it starts join), and die with its parent."""
    os.setpgid(0, 0)
    die_with_parent()


def signal_group(pid: int | None, sig: int) -> None:
    """`sig` to the job's process group (to the job alone while it has none yet)."""
    if pid is None:
        return
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    except PermissionError:  # the pid is no job's group (anymore): leave it
        pass


class JobProcess:
    """A started job: exit_code is None while it runs (negative: killed by that signal)."""

    pid: int | None = None

    def poll(self) -> int | None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        raise NotImplementedError

    def send_signal(self, sig: int) -> None:
        """To the job and every process it started."""
        signal_group(self.pid, sig)

    def kill_rest(self) -> None:
        """After the job ended: kill what is left of its process group (a stray DDP rank)."""
        if self.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)


class Interpreter(JobProcess):
    """`python train.py <args>` in a new interpreter."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str], log: Path, threads: int) -> None:
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, preexec_fn=become_job if sys.platform == "linux" else None)
        self.pid = self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def _run_script(cmd: list[str], env: dict[str, str], log: str, threads: int) -> None:
    """In the forked job: become `python <script> <args>` with the job's env and log."""
    become_job()
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    faulthandler.enable()  # a segfault prints the Python stack to the job's log
    import torch

    torch.set_num_threads(threads)  # the fork server imported torch with 1 thread
    if cmd[1] == "-m":
        sys.argv = [cmd[2], *cmd[3:]]
        runpy.run_module(cmd[2], run_name="__main__", alter_sys=True)
    else:
        sys.argv = cmd[1:]
        runpy.run_path(cmd[1], run_name="__main__")


class Forked(JobProcess):
    """The job forked from the preloaded fork server (see the module docstring)."""

    def __init__(self, ctx: multiprocessing.context.BaseContext, cmd: Sequence[str],
                 env: dict[str, str], log: Path, threads: int) -> None:
        self.proc = ctx.Process(target=_run_script, args=(list(cmd), env, str(log), threads),
                                daemon=False)
        self.proc.start()
        self.pid = self.proc.pid

    def poll(self) -> int | None:
        return self.proc.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self.proc.join(timeout)
        return self.proc.exitcode


class Starter:
    """Starts job processes; forks them from a preloaded server where that is possible."""

    def __init__(self, preload: Sequence[str], warm: str | None = None) -> None:
        """`warm`: what the jobs import and load alike, for the server to do once
        (optarena.sweep.warm.spec)."""
        self.ctx = None
        self._warm = False
        # Linux only: macOS system libraries are not safe to use in a forked process.
        if preload and sys.platform == "linux":
            self.ctx = multiprocessing.get_context("forkserver")
            self.ctx.set_forkserver_preload([*preload, *([WARM_MODULE] if warm else [])])
            server_env = {**_SERVER_ENV, **({WARM_ENV: warm} if warm else {})}
            saved = {k: os.environ.get(k) for k in server_env}
            os.environ.update(server_env)
            try:
                from multiprocessing import forkserver

                forkserver.ensure_running()  # starts importing now, while jobs are prepared
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            atexit.register(self.close)

    def ready(self) -> None:
        """Wait until the fork server has imported `preload` (a no-op process forked from it),
        so that starting a job takes a moment, short enough to hold back Ctrl-C meanwhile."""
        if self.ctx is not None and not self._warm:
            probe = self.ctx.Process(target=int)  # exits at once, even if left behind
            probe.start()
            probe.join()
            self._warm = True

    def start(self, cmd: Sequence[str], env: dict[str, str], log: Path,
              threads: int) -> JobProcess:
        if self.ctx is not None:
            return Forked(self.ctx, cmd, env, log, threads)
        return Interpreter(cmd, env, log, threads)

    def close(self) -> None:
        """Stop the fork server (it would end with this process, but not while importing)."""
        if self.ctx is None:
            return
        from multiprocessing import forkserver

        server = forkserver._forkserver  # the stdlib has no public way to stop it
        if server._forkserver_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server._forkserver_pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                server._stop()
        self._warm = False
