"""Test helpers for sweeps: a callback that makes a run die, and a sweep runner."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl

ROOT = Path(__file__).resolve().parents[1]
# Small, fast jobs: the MLP on digits, no progress bars, CSV curves only.
# batch 64 (the global default; digits x mlp's recipe has 32): 20 steps an epoch
QUICK = ["debug=fast", "logger=csv", "model=mlp", "batch_size=64"]


class Crash(pl.Callback):
    """Makes a run die once it reached `at_step`: how = raise | segfault | kill | kill_group.

    In a sweep `plan[job number]` picks how for each job ('none': no crash). It fires once per
    run folder (a marker file there), so that the resumed or repeated job runs through.
    """

    def __init__(self, at_step: int, how: str = "raise", plan: list[str] | None = None) -> None:
        self.at_step, self.how, self.plan = at_step, how, plan

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        run_dir = Path(trainer.default_root_dir)
        how = self.plan[int(run_dir.name)] if self.plan else self.how  # sweep/<job number>
        marker = run_dir / "crash.marker"
        if how == "none" or trainer.global_step < self.at_step or marker.exists():
            return
        marker.touch()
        if how == "raise":
            raise RuntimeError(f"forced crash at step {trainer.global_step}")
        sig = {"segfault": signal.SIGSEGV, "kill": signal.SIGKILL}.get(how)
        if sig is not None:
            os.kill(os.getpid(), sig)
        # kill_group: the whole sweep. A job leads its own process group; its parent (the
        # launcher, or the fork server the launcher started) is in the sweep's group.
        os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
        os.killpg(os.getpgrp(), signal.SIGKILL)


def crash(at_step: int, **kwargs: object) -> list[str]:
    """Overrides that add the Crash callback to a run."""
    return [f"+callbacks.crash._target_={Crash.__module__}.Crash",
            f"+callbacks.crash.at_step={at_step}",
            *(f"+callbacks.crash.{k}={v}" for k, v in kwargs.items())]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            "HYDRA_FULL_ERROR": "0"}


def run(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py ARGS` in cwd, in a session of its own (a killed group spares pytest)."""
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=_env(),
                          text=True, capture_output=True, timeout=timeout,
                          start_new_session=True)


def popen(cwd: Path, *args: str) -> subprocess.Popen:
    """`python train.py ARGS` started in cwd; `.communicate()` waits for its output."""
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                            env=_env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
