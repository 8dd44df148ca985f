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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from optarena.data.cifar10 import CIFAR10DataModule  # noqa: E402
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


def plain_loop_phases(data: Path, args: argparse.Namespace) -> dict[str, float]:
    """The same model's work in a plain loop on the CPU, ms per step (medians, after the first
    epoch): what the model's work inside Lightning would cost without it."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=cifar10", f"model={args.model}"])
    dm = CIFAR10DataModule(root=str(data), batch_size=args.batch_size, val_size=1000,
                           verify_checksums=False)
    dm.setup()
    torch.manual_seed(0)
    net = instantiate(cfg.model, in_shape=dm.input_shape, num_classes=dm.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times: dict[str, list[float]] = {"forward + loss": [], "backward": [], "Adam step": [],
                                     "batch fetch": []}
    for epoch in range(2):
        batches = iter(dm.train_dataloader())
        while True:
            t0 = time.perf_counter()
            try:
                x, y = next(batches)
            except StopIteration:
                break
            t1 = time.perf_counter()
            loss = F.cross_entropy(net(x).float(), y)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if epoch:
                for key, a, b in (("batch fetch", t0, t1), ("forward + loss", t1, t2),
                                  ("backward", t2, t3), ("Adam step", t3, t4)):
                    times[key].append((b - a) * 1e3)
    return {key: statistics.median(v) for key, v in times.items()}


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
        plain = plain_loop_phases(data, args)
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
    print("the same work in a plain loop, ms per step (medians): " + ", ".join(
        f"{key} {ms:.3f}" for key, ms in plain.items()))


if __name__ == "__main__":
    main()
