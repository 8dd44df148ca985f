"""Wall time of a 4-job digits sweep: the parallel launcher against Hydra's basic launcher.

    .venv/bin/python bench/sweep_parallel.py            # 4 jobs x 20 epochs (the default run)
    .venv/bin/python bench/sweep_parallel.py --epochs 5 --jobs 6
    .venv/bin/python bench/sweep_parallel.py --basic-threads 1   # also: basic with 1 thread

Both sweeps run the same jobs (seeds 0..N-1 of the default digits / cnn_small / Adam run),
one after the other, each as `python train.py -m ...` in a fresh folder. The basic launcher
runs the jobs one by one in one process; the parallel launcher runs them at once (one per
core on a CPU-only machine, one per GPU slot otherwise). Goal on 2 cores: ratio <= 0.55.
Prints where each parallel job ran, so that on a GPU machine the spread over GPUs shows.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(folder: Path, launcher: str, jobs: int, epochs: int,
          threads: int | None = None) -> tuple[float, str]:
    seeds = ",".join(str(s) for s in range(jobs))
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", f"hydra/launcher={launcher}",
           f"seed={seeds}", f"max_epochs={epochs}", "+trainer.enable_progress_bar=false",
           "callbacks.progress_bar=null", f"hydra.sweep.dir={folder}"]
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
    placed = re.findall(r"#(\d+) seed=\d+ : started on (.+?) ->", log)
    print(f"{args.jobs}-job digits sweep, {args.epochs} epochs per job")
    print(f"  basic launcher (one job after another): {basic:7.1f} s")
    print(f"  parallel launcher:                      {parallel:7.1f} s")
    print(f"  ratio parallel / basic:                 {parallel / basic:7.2f}  (goal <= 0.55)")
    if args.basic_threads:
        print(f"  basic launcher, {args.basic_threads} torch thread(s):        {threaded:7.1f} s"
              f"  (parallel / this: {parallel / threaded:.2f})")
    print("  parallel jobs ran on: " + ", ".join(f"#{n} {where}" for n, where in placed))


if __name__ == "__main__":
    main()
