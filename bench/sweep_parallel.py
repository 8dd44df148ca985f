"""Wall time of a 4-job digits sweep: the parallel launcher against Hydra's basic launcher.

    .venv/bin/python bench/sweep_parallel.py            # 4 jobs x 20 epochs (the default run)
    .venv/bin/python bench/sweep_parallel.py --epochs 5 --jobs 6
    .venv/bin/python bench/sweep_parallel.py --basic-threads 1   # also: basic with 1 thread

Both sweeps run the same jobs (seeds 0..N-1 of the default digits / cnn_small / Adam run,
every default feature on), one after the other, each as `python train.py -m ...` in a fresh
folder. The basic launcher runs the jobs one by one in one process; the parallel launcher
runs them at once (one per core on a CPU-only machine, one per GPU slot otherwise). Goal on
2 cores: ratio <= 0.70. Prints where each parallel job ran, so that on a GPU machine the
spread over GPUs shows, and each job's fixed cost beside its training: training is the
run's own `time/seconds` (fit's epochs, validation included); fixed is the rest (imports,
config, data, Trainer, checkpoints at the end, test, records): per job, from the launcher's
`completed in` line; for the basic launcher, the sweep's wall time less all training, per job.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def sweep(folder: Path, launcher: str, jobs: int, epochs: int,
          threads: int | None = None) -> tuple[float, str]:
    seeds = ",".join(str(s) for s in range(jobs))
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", f"hydra/launcher={launcher}",
           f"seed={seeds}", f"max_epochs={epochs}", f"hydra.sweep.dir={folder}"]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=folder.parent, text=True, capture_output=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{launcher} sweep failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    runs = [json.loads(p.read_text()) for p in folder.glob("*/metrics.json")]
    if len(runs) != jobs or any(r["status"] != "completed" for r in runs):
        sys.exit(f"{launcher} sweep: expected {jobs} completed runs in {folder}")
    return seconds, out.stdout + out.stderr


def training_seconds(folder: Path) -> dict[str, float]:
    """Each run's (by job number) training time: the last `time/seconds` of its curves."""
    return {p.parent.parent.name: float(pd.read_csv(p)["time/seconds"].max())
            for p in folder.glob("*/csv/metrics.csv")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--basic-threads", type=int, default=None,
                        help="also time the basic launcher with this many torch threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        basic, _ = sweep(Path(tmp) / "basic", "basic", args.jobs, args.epochs)
        parallel, log = sweep(Path(tmp) / "parallel", "parallel", args.jobs, args.epochs)
        if args.basic_threads:
            threaded, _ = sweep(Path(tmp) / "threads", "basic", args.jobs, args.epochs,
                                args.basic_threads)
        basic_train = training_seconds(Path(tmp) / "basic")
        parallel_train = training_seconds(Path(tmp) / "parallel")
    placed = re.findall(r"#(\d+) seed=\d+ : started on (.+?) ->", log)
    totals = dict(re.findall(r"#(\d+) seed=\d+ : completed in ([\d.]+) s", log))
    print(f"{args.jobs}-job digits sweep, {args.epochs} epochs per job")
    print(f"  basic launcher (one job after another): {basic:7.1f} s")
    print(f"  parallel launcher:                      {parallel:7.1f} s")
    print(f"  ratio parallel / basic:                 {parallel / basic:7.2f}  (goal <= 0.70)")
    basic_fixed = (basic - sum(basic_train.values())) / args.jobs
    print(f"  per job, basic:    training {statistics.median(basic_train.values()):5.1f} s, "
          f"fixed {basic_fixed:5.1f} s (the sweep's wall time less all training, per job)")
    fixed = [float(totals[n]) - parallel_train[n] for n in parallel_train if n in totals]
    if fixed:
        print(f"  per job, parallel: training {statistics.median(parallel_train.values()):5.1f}"
              f" s, fixed {statistics.median(fixed):5.1f} s (median; goal < 2 s)")
    if args.basic_threads:
        print(f"  basic launcher, {args.basic_threads} torch thread(s):        {threaded:7.1f} s"
              f"  (parallel / this: {parallel / threaded:.2f})")
    print("  parallel jobs ran on: " + ", ".join(f"#{n} {where}" for n, where in placed))


if __name__ == "__main__":
    main()
