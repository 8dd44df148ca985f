"""Fault injection: interrupt runs and sweeps at random moments, resume, compare.

Single runs: a short digits run (the MLP, 2 epochs, dropout, a checkpoint every 7 steps) is
killed with SIGKILL at K random moments, taken in turn from: during start-up (after its folder
exists, before training), mid-epoch (after a random step), during a checkpoint write (a random
cut into the bytes of a random checkpoint) and during test (a random test batch); then
`resume=true` must end with exactly the metrics of an unbroken run.

Sweeps: a 4-job parallel sweep (2 jobs at a time, one thread each) gets SIGTERM at K random
moments of its run; once the launcher has exited, no process of the sweep may be left; then
`resume=true` must complete the 4 jobs, in their 4 folders, with an unbroken sweep's metrics.

    python bench/faults.py [--k 10] [--seed 0]

Prints `single runs: k/K resumed to identical metrics` and
`sweeps: k/K complete, no duplicate and no orphan process`, with the seeds used; exits 1 on any
miss. Takes a few minutes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["debug=fast", "logger=csv", "model=mlp", "max_epochs=2", "regularization=dropout",
            "callbacks.resume_checkpoint.train_time_interval=null",
            "callbacks.resume_checkpoint.every_n_train_steps=7"]
MOMENTS = ("start-up", "mid-epoch", "checkpoint write", "test")
SWEEP = ["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
         "hydra.launcher.threads_per_job=1", "seed=0,1,2,3", *SETTINGS]


class Fault(pl.Callback):
    """Kills its run once per folder (a marker file): `moment` step | checkpoint | test, `at`
    the step, the checkpoint's number or the test batch, `cut` the share of the checkpoint's
    bytes written before the kill. moment=none records what a run goes through (fault.json)."""

    def __init__(self, moment: str = "none", at: int = 0, cut: float = 0.5) -> None:
        self.moment, self.at, self.cut = moment, at, cut
        self.saves = 0

    def _armed(self, trainer: pl.Trainer) -> bool:
        marker = Path(trainer.default_root_dir) / "fault.marker"
        if self.moment == "none" or marker.exists():
            return False
        marker.touch()
        return True

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        io_plugin = trainer.strategy.checkpoint_io
        save = io_plugin.save_checkpoint

        def counted(checkpoint: dict, path, storage_options=None) -> None:
            self.saves += 1
            if self.moment == "checkpoint" and self.saves == self.at and self._armed(trainer):
                _die_while_writing(self.cut)
            save(checkpoint, path, storage_options)

        io_plugin.save_checkpoint = counted

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        (Path(trainer.default_root_dir) / "fit_started").write_text(str(time.time()))

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if self.moment == "step" and trainer.global_step == self.at and self._armed(trainer):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                            batch: object, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.moment == "test" and batch_idx == self.at and self._armed(trainer):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.moment == "none":
            facts = {"steps": trainer.global_step, "saves": self.saves,
                     "test_batches": int(trainer.num_test_batches[0])}
            (Path(trainer.default_root_dir) / "fault.json").write_text(json.dumps(facts))


def _die_while_writing(cut: float) -> None:
    """The next torch.save writes `cut` of its bytes to its file, then the process is killed."""
    real = torch.save

    def partial(obj: object, f: object, *args: object, **kwargs: object) -> None:
        buffer = io.BytesIO()
        real(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: int(len(data) * cut)])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = partial


def _fault(moment: str = "none", at: int = 0, cut: float = 0.5) -> list[str]:
    return ["+callbacks.fault._target_=bench.faults.Fault",  # (this file runs as __main__)
            f"+callbacks.fault.moment={moment}", f"+callbacks.fault.at={at}",
            f"+callbacks.fault.cut={cut}"]


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
           "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _run(cwd: Path, *args: str) -> int:
    return _start(cwd, *args).wait(timeout=900)


def _metrics(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return record["metrics"] if record.get("status") == "completed" else None


def _session(sid: int) -> list[int]:
    """Live processes of session `sid` (the sweep's: its launcher leads one)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(stat.parent.name))
    return found


def _no_orphans(sid: int, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _session(sid)


def single_runs(work: Path, k: int, rng: random.Random) -> int:
    ref = work / "single_ref"
    launched = time.time()
    assert _run(work, *SETTINGS, *_fault(), f"hydra.run.dir={ref}") == 0, "reference run failed"
    expected, facts = _metrics(ref), json.loads((ref / "fault.json").read_text())
    to_fit = float((ref / "fit_started").read_text()) - launched
    good = 0
    for i in range(k):
        moment, run_dir = MOMENTS[i % len(MOMENTS)], work / f"single_{i}"
        fault, detail = _fault(), ""
        if moment == "mid-epoch":
            at = rng.randint(1, facts["steps"] - 1)
            fault, detail = _fault("step", at), f"after step {at}"
        elif moment == "checkpoint write":
            at, cut = rng.randint(1, facts["saves"]), round(rng.uniform(0.05, 0.95), 2)
            fault, detail = _fault("checkpoint", at, cut), f"checkpoint {at}, {cut:.0%} written"
        elif moment == "test":
            at = rng.randrange(facts["test_batches"])
            fault, detail = _fault("test", at), f"test batch {at}"
        args = [*SETTINGS, *fault, f"hydra.run.dir={run_dir}"]
        proc, started = _start(work, *args), time.monotonic()
        if moment == "start-up":
            while not (run_dir / ".hydra").is_dir() and proc.poll() is None:
                time.sleep(0.01)
            delay = rng.uniform(0, max(0.0, to_fit - (time.monotonic() - started)))
            time.sleep(delay)
            detail = f"{time.monotonic() - started:.1f} s after launch"
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=900)
        killed = code == -signal.SIGKILL
        if moment == "start-up":  # the kill landed before training began
            killed = killed and not (run_dir / "fit_started").exists()
        resumed = _run(work, *args, "resume=true")
        same = resumed == 0 and _metrics(run_dir) == expected
        good += same and killed
        outcome = "identical metrics" if same else f"DIFFERENT, or resume failed (rc {resumed})"
        print(f"  run {i}: killed during {moment} ({detail}){'' if killed else ' [missed]'}: "
              f"{outcome}", flush=True)
    return good


def sweeps(work: Path, k: int, rng: random.Random) -> int:
    ref = work / "sweep_ref"
    started = time.monotonic()
    assert _run(work, *SWEEP, f"hydra.sweep.dir={ref}") == 0, "reference sweep failed"
    duration = time.monotonic() - started
    expected = {n: _metrics(ref / str(n)) for n in range(4)}
    good = 0
    for i in range(k):
        sweep = work / f"sweep_{i}"
        args = [*SWEEP, f"hydra.sweep.dir={sweep}"]
        launcher = _start(work, *args)
        delay = rng.uniform(0.5, duration)
        time.sleep(delay)
        launcher.send_signal(signal.SIGTERM)  # `kill <launcher pid>`, as a scheduler would
        launcher.wait(timeout=120)
        clean_stop = _no_orphans(launcher.pid)
        resumed = _start(work, *args, "resume=true")
        code = resumed.wait(timeout=900)
        clean_end = _no_orphans(resumed.pid)
        folders = sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name != ".hydra")
        same = {n: _metrics(sweep / str(n)) for n in range(4)} == expected
        ok = code == 0 and clean_stop and clean_end and folders == ["0", "1", "2", "3"] and same
        good += ok
        print(f"  sweep {i}: SIGTERM at {delay:.1f} s; after it "
              f"{'no process left' if clean_stop else 'PROCESSES LEFT'}; resume rc {code}, "
              f"folders {folders}, {'identical metrics' if same else 'DIFFERENT metrics'}"
              f"{'' if clean_end else ', PROCESSES LEFT after resume'}", flush=True)
    return good


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=10, help="moments per kind (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="optarena-faults-") as tmp:
        work = Path(tmp)
        single = single_runs(work, args.k, random.Random(args.seed))
        swept = sweeps(work, args.k, random.Random(args.seed + 1))
    print(f"single runs: {single}/{args.k} resumed to identical metrics (seed {args.seed})")
    print(f"sweeps: {swept}/{args.k} complete, no duplicate and no orphan process "
          f"(seed {args.seed + 1})")
    return 0 if single == swept == args.k else 1


if __name__ == "__main__":
    sys.exit(main())
