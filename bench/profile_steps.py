"""Where a training step's time goes: Lightning's SimpleProfiler on bench/overhead.py's run.

    .venv/bin/python bench/profile_steps.py [--model cnn_small] [--epochs 3] [--images 10000]
    .venv/bin/python bench/profile_steps.py --tree /path/to/other/checkout   # e.g. main, before

train.py runs as bench/overhead.py runs it (synthetic CIFAR-format data, batch 64, every
default feature on), with `trainer.profiler` set to Lightning's SimpleProfiler. Printed: each
hook, callback and loop action that runs at every training step, in ms per step, and what
the step costs beside the model's own work (forward, loss, backward, optimizer step).
Wall-clock figures: on a busy machine they grow with the load; compare runs taken together.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.vision_fixtures import write_cifar10  # noqa: E402

# The model's own work inside a step: what a plain loop pays too.
MODEL_WORK = ("[Strategy]SingleDeviceStrategy.training_step",
              "[Strategy]SingleDeviceStrategy.backward", "optimizer.step (Adam itself)")


def parse(report: Path) -> dict[str, tuple[float, int]]:
    """SimpleProfiler's table: action -> (total seconds, calls)."""
    rows = {}
    for line in report.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2].isdigit() and cells[3].replace(".", "").isdigit():
            rows[cells[0]] = (float(cells[3]), int(cells[2]))
    return rows


def profile(tree: Path, data: Path, out: Path, args: argparse.Namespace) -> dict:
    overrides = [
        "data=cifar10", f"data.root={data}", "data.verify_checksums=false", "data.val_size=1000",
        f"model={args.model}", "optimizer=adam", "lr=0.001", f"max_epochs={args.epochs}",
        f"batch_size={args.batch_size}", "logger=csv", "trainer.num_sanity_val_steps=0",
        f"hydra.run.dir={out}", "+trainer.profiler._target_=lightning.pytorch.profilers."
        "SimpleProfiler", f"+trainer.profiler.dirpath={out}", "+trainer.profiler.filename=prof",
    ]
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run([sys.executable, str(tree / "train.py"), *overrides], cwd=out.parent,
                          capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"train.py failed:\n{done.stderr[-2000:]}")
    return parse(out / "fit-prof.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn_small")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to profile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        data = Path(tmp) / "data"
        write_cifar10(data, per_batch=(args.images + 1000) // 5, test=1000)
        rows = profile(args.tree.resolve(), data, Path(tmp) / "run", args)
    steps = rows["run_training_batch"][1]
    per_step = {name: total / steps * 1e3 for name, (total, calls) in rows.items()
                if calls >= steps}
    step = per_step["run_training_batch"]
    # optimizer_step holds the closure (training_step, zero_grad, backward) and Adam's step.
    inner = sum(per_step.get(k, 0.0) for k in (
        "[Strategy]SingleDeviceStrategy.training_step", "[Strategy]SingleDeviceStrategy.backward",
        "[LightningModule]Classifier.optimizer_zero_grad"))
    per_step["optimizer.step (Adam itself)"] = (
        per_step["[LightningModule]Classifier.optimizer_step"] - inner)
    model = sum(per_step[k] for k in MODEL_WORK)
    fetch = per_step.get("[_TrainingEpochLoop].train_dataloader_next", 0.0)
    print(f"{args.model}, batch {args.batch_size}, {steps} training steps profiled "
          f"(SimpleProfiler, wall clock) in {args.tree.resolve()}")
    print(f"{'ms per training step':>10}  action")
    shown = sorted(per_step.items(), key=lambda kv: -kv[1])
    for name, ms in shown:
        if name not in ("run_training_epoch", "Total") and ms >= 0.005:
            print(f"{ms:10.3f}  {name[:110]}")
    print(f"step {step:.3f} ms + batch fetch {fetch:.3f} ms; the model's work (forward, loss, "
          f"backward, Adam) {model:.3f} ms; the rest of the step {step - model:.3f} ms")


if __name__ == "__main__":
    main()
