"""GPU figures: images/s and time per epoch of cnn_bn3 and resnet18 on synthetic CIFAR-format
data, fp32 against bf16-mixed + channels_last + torch.compile (and each alone), and the
aggregate throughput of 1, 2 and 4 jobs sharing one GPU through the parallel launcher.

    .venv/bin/python bench/gpu.py                       # a CUDA machine: the figures
    .venv/bin/python bench/gpu.py --device cpu --tiny   # the same code end to end on the CPU,
                                                        # tiny sizes (a check, not a figure)

Every figure comes from `train.py` run as a user runs it (a subprocess, default callbacks and
checkpoints, a CSV logger, no progress bar) on the same synthetic CIFAR-10 directory in the
official pickle layout (tests/vision_fixtures.py). Time per epoch is read from the
`time/seconds` logged at each validation end (training plus validation of that epoch); the
first epoch (warm-up, torch.compile, cuDNN autotuning) is left out and the median of the rest
is taken. images/s = training images / time per epoch. The jobs sharing one GPU run as one
sweep, `hydra/launcher=parallel hydra.launcher.jobs_per_gpu=N`, N seeds of the same run with
train.py's GPU defaults (precision=auto: bf16-mixed, channels_last=auto: on); the aggregate is
the sum of the jobs' images/s (they start together and run the same epochs, so they overlap).
Without a CUDA GPU (and without --device cpu) it prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.vision_fixtures import write_cifar10  # noqa: E402

# Setting name -> train.py overrides. precision=auto is bf16-mixed on a GPU with bf16 (fp32 on
# the CPU); channels_last and compile are train.py's own knobs (optarena.speed).
SETTINGS = {
    "fp32": ["trainer.precision=32-true", "channels_last=false", "compile=false"],
    "bf16": ["trainer.precision=auto", "channels_last=false", "compile=false"],
    "channels_last": ["trainer.precision=32-true", "channels_last=true", "compile=false"],
    "compile": ["trainer.precision=32-true", "channels_last=false", "compile=true"],
    "bf16+channels_last+compile": ["trainer.precision=auto", "channels_last=true",
                                   "compile=true"],
}
ALL = "bf16+channels_last+compile"


def common_overrides(args: argparse.Namespace, data: Path, model: str) -> list[str]:
    return [
        "data=cifar10", f"data.root={data}", "data.verify_checksums=false",
        f"data.val_size={args.val_size}", f"model={model}", "optimizer=adam", "lr=0.001",
        f"max_epochs={args.epochs}", f"batch_size={args.batch_size}", "logger=csv",
        "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false", "trainer.num_sanity_val_steps=0",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
    ]


def train_py(overrides: list[str], cwd: Path) -> float:
    """Run `python train.py OVERRIDES`; exit with its error output if it fails. Wall seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "HYDRA_FULL_ERROR": "0"})
    if done.returncode:
        sys.exit(f"train.py {' '.join(overrides)} failed (exit {done.returncode}):\n"
                 f"{done.stderr[-3000:]}")
    return time.perf_counter() - start


def epoch_seconds(run_dir: Path) -> float:
    """The median time per epoch after the first (warm-up) epoch, from the run's curves."""
    record = json.loads((run_dir / "metrics.json").read_text())
    if record["status"] != "completed":
        sys.exit(f"{run_dir}: the run ended {record['status']}: {record.get('error')}")
    curves = pd.read_csv(run_dir / "csv" / "metrics.csv")
    ends = curves.dropna(subset=["val/acc"]).groupby("epoch")["time/seconds"].max().tolist()
    epochs = [b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True)]
    return statistics.median(epochs[1:])


def run_overrides(args: argparse.Namespace, data: Path, model: str, setting: str,
                  out: Path) -> list[str]:
    return [*common_overrides(args, data, model), *SETTINGS[setting], f"hydra.run.dir={out}"]


def sweep_overrides(args: argparse.Namespace, data: Path, jobs: int, out: Path) -> list[str]:
    """`jobs` seeds at once: on one GPU (the first visible one), or on the CPU path on the cores."""
    first_gpu = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]
    place = ([f"hydra.launcher.jobs_per_gpu={jobs}", f"hydra.launcher.gpus=['{first_gpu}']"]
             if args.device == "cuda" else ["hydra.launcher.gpus=[]",
                                            f"hydra.launcher.n_jobs={jobs}"])
    return ["-m", "hydra/launcher=parallel", *place,
            f"seed={','.join(str(s) for s in range(jobs))}",
            *common_overrides(args, data, args.jobs_model), f"hydra.sweep.dir={out}"]


def one_run(args: argparse.Namespace, data: Path, work: Path, model: str, setting: str
            ) -> dict:
    out = work / f"{model}-{setting}"
    train_py(run_overrides(args, data, model, setting, out), work)
    seconds = epoch_seconds(out)
    return {"model": model, "setting": setting, "epoch_s": seconds,
            "images_s": args.train_images / seconds}


def shared_gpu(args: argparse.Namespace, data: Path, work: Path, jobs: int) -> dict:
    """`jobs` seeds of one run as one parallel sweep, all at once on one GPU."""
    out = work / f"jobs-{jobs}"
    wall = train_py(sweep_overrides(args, data, jobs, out), work)
    per_job = [args.train_images / epoch_seconds(out / str(n)) for n in range(jobs)]
    return {"jobs": jobs, "model": args.jobs_model, "aggregate_images_s": sum(per_job),
            "per_job_images_s": statistics.mean(per_job), "sweep_wall_s": wall}


def markdown(runs: list[dict], shared: list[dict]) -> list[str]:
    lines = ["| model | setting | s / epoch | images/s | vs fp32 |",
             "|---|---|---:|---:|---:|"]
    fp32 = {r["model"]: r["images_s"] for r in runs if r["setting"] == "fp32"}
    for r in runs:
        ratio = f"{r['images_s'] / fp32[r['model']]:.2f}x" if r["model"] in fp32 else "-"
        lines.append(f"| {r['model']} | {r['setting']} | {r['epoch_s']:.3f} | "
                     f"{r['images_s']:.0f} | {ratio} |")
    if shared:
        one = next((s["aggregate_images_s"] for s in shared if s["jobs"] == 1), None)
        lines += ["", "| jobs on one GPU | model | aggregate images/s | images/s per job | "
                  "vs 1 job | sweep wall s |", "|---:|---|---:|---:|---:|---:|"]
        for s in shared:
            ratio = f"{s['aggregate_images_s'] / one:.2f}x" if one else "-"
            lines.append(f"| {s['jobs']} | {s['model']} | {s['aggregate_images_s']:.0f} | "
                         f"{s['per_job_images_s']:.0f} | {ratio} | {s['sweep_wall_s']:.1f} |")
    return lines


def ratios(runs: list[dict], shared: list[dict]) -> list[str]:
    lines = []
    for model in dict.fromkeys(r["model"] for r in runs):
        by = {r["setting"]: r["images_s"] for r in runs if r["model"] == model}
        if "fp32" in by and ALL in by:
            lines.append(f"{model}: {ALL} vs fp32: {by[ALL] / by['fp32']:.2f}x images/s")
    one = next((s["aggregate_images_s"] for s in shared if s["jobs"] == 1), None)
    for s in shared:
        if one and s["jobs"] != 1:
            lines.append(f"{s['model']}: {s['jobs']} jobs vs 1 job on one GPU: "
                         f"{s['aggregate_images_s'] / one:.2f}x aggregate images/s")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cpu: run the same code on the CPU (a check of the script)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes: 300 images, 2 epochs, batch 32")
    parser.add_argument("--models", default="cnn_bn3,resnet18")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"any of {', '.join(SETTINGS)}")
    parser.add_argument("--jobs", default="1,2,4", help="jobs sharing one GPU; '' skips")
    parser.add_argument("--jobs-model", default="cnn_bn3")
    parser.add_argument("--images", type=int, default=50000, help="training + validation")
    parser.add_argument("--val-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3, help="the first is warm-up")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    if args.tiny:
        args.images, args.val_size, args.epochs, args.batch_size = 300, 60, 2, 32
    args.models = [m for m in args.models.split(",") if m]
    args.settings = [s for s in args.settings.split(",") if s]
    args.jobs = [int(n) for n in args.jobs.split(",") if n]
    unknown = [s for s in args.settings if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]}; pick from {', '.join(SETTINGS)}")
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is warm-up and not timed)")
    args.per_batch = -(-args.images // 5)  # CIFAR-10's five training batch files
    args.train_images = 5 * args.per_batch - args.val_size
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA GPU on this machine, nothing measured "
              "(bench/gpu.py --device cpu --tiny checks the script on the CPU)")
        return
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        data = work / "data"
        write_cifar10(data, per_batch=args.per_batch, test=max(args.val_size, 100))
        runs = [one_run(args, data, work, model, setting)
                for model in args.models for setting in args.settings]
        shared = [shared_gpu(args, data, work, n) for n in args.jobs]
    print(f"bench/gpu.py on {device}: {args.train_images} training images "
          f"(+{args.val_size} validation) per epoch, batch {args.batch_size}, "
          f"{args.epochs} epochs (first left out), torch {torch.__version__}")
    if args.device == "cpu":
        print("CPU check of the script: precision=auto is fp32 here, not figures for a GPU")
    for line in ratios(runs, shared):
        print(line)
    print()
    print("\n".join(markdown(runs, shared)))


if __name__ == "__main__":
    main()
