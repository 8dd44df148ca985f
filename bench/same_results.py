"""Does a change to the framework change results? The same short runs, on this tree and on a
git ref (default: main), compared value by value.

    .venv/bin/python bench/same_results.py                 # against main
    .venv/bin/python bench/same_results.py --against HEAD~3 --epochs 2

Each tree trains the default digits run (every default feature on: progress bar, lr monitor,
divergence guard, exact resume, time-to-target, checkpoints, TensorBoard and CSV loggers) with
two seeds. Their metrics.json and csv/metrics.csv must be equal bit for bit, except what
measures time (`time/seconds`, target seconds, wall seconds). Exit status 1 on any
difference. A field only one side's metrics.json has (a new field of the record) is listed,
not compared. CPU only: on a GPU, kernels need not be deterministic. (That a resumed run equals
an unbroken one is tests/test_resume.py's and bench/faults.py's.)
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TIMED = {"wall_seconds"}


def export(ref: str, dest: Path) -> Path:
    """The tree of `ref` (src/, conf/, train.py) unpacked under dest, without a checkout."""
    archive = subprocess.run(["git", "archive", ref, "src", "conf", "train.py"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def train(tree: Path, cwd: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(tree / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{tree}: train.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def runs(tree: Path, cwd: Path, epochs: int) -> dict[str, Path]:
    """The default run with seeds 0 and 1."""
    cwd.mkdir(parents=True)
    for seed in (0, 1):
        train(tree, cwd, [f"max_epochs={epochs}", f"seed={seed}", "paths.tensorboard_dir=tb",
                          f"hydra.run.dir=seed{seed}"])
    return {f"seed={seed}": cwd / f"seed{seed}" for seed in (0, 1)}


def without_time(record: dict) -> dict:
    record = {k: v for k, v in record.items() if k not in TIMED}
    if record.get("target"):
        record["target"] = {k: v for k, v in record["target"].items() if k != "seconds"}
    return record


def differences(ours: Path, theirs: Path) -> list[str]:
    found = []
    a = without_time(json.loads((ours / "metrics.json").read_text()))
    b = without_time(json.loads((theirs / "metrics.json").read_text()))
    # A field only one side's record has is a schema change (e.g. lr_source, added by the LR
    # finder), not a result; every field both have must be equal.
    found += [f"metrics.json {k}: {a[k]!r} here, {b[k]!r} there"
              for k in sorted(set(a) & set(b)) if a[k] != b[k]]
    ca, cb = (pd.read_csv(p / "csv" / "metrics.csv").drop(columns="time/seconds")
              for p in (ours, theirs))
    if list(ca.columns) != list(cb.columns) or ca.shape != cb.shape:
        found.append(f"metrics.csv: columns or rows differ: {ca.shape} {list(ca.columns)} here, "
                     f"{cb.shape} {list(cb.columns)} there")
    elif not ca.equals(cb):  # exact: NaN in the same places, every value bit-equal
        rows = (ca.fillna(-1e300) != cb.fillna(-1e300)).any(axis=1)
        found.append(f"metrics.csv: {int(rows.sum())} rows differ, first:\n"
                     f"{ca[rows].head(3)}\nthere:\n{cb[rows].head(3)}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git ref to compare with")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-same-") as tmp:
        ref = export(args.against, Path(tmp) / "ref")
        here = runs(ROOT, Path(tmp) / "here", args.epochs)
        there = runs(ref, Path(tmp) / "there", args.epochs)
        found = [f"{name}: {d}" for name in here for d in differences(here[name], there[name])]
        added = {side: sorted(set(json.loads((x / "metrics.json").read_text()))
                              - set(json.loads((y / "metrics.json").read_text())))
                 for side, x, y in (("here", here["seed=0"], there["seed=0"]),
                                    (args.against, there["seed=0"], here["seed=0"]))}
    for side, keys in added.items():
        if keys:
            print(f"metrics.json fields only {side}: {', '.join(keys)} (not compared)")
    if found:
        print("\n".join(found))
        sys.exit(f"results differ from {args.against}")
    print(f"same results as {args.against}: metrics.json and csv/metrics.csv of "
          f"{args.epochs}-epoch digits runs (seeds 0, 1) are bit-identical (time aside)")


if __name__ == "__main__":
    main()
