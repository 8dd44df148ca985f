"""Time per epoch of `train.py` vs a plain PyTorch loop: same model, data, optimizer and steps.

Both train on the same synthetic CIFAR-10 directory (official pickle layout) through the
same tensor pipeline, and validate once per epoch. train.py runs as a user runs it (a
subprocess with every default feature on: progress bar, lr monitor, divergence guard, exact
resume, time-to-target, checkpoints; a CSV logger); its epoch times
come from the `time/seconds` it logs at each validation end. The first epoch is warm-up and
left out; start-up (imports, config, data loading) is reported separately.

    .venv/bin/python bench/overhead.py [--model cnn_small] [--epochs 4] [--repeats 3]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from optarena.data.cifar10 import CIFAR10DataModule  # noqa: E402
from optarena.speed import SpeedSettings  # noqa: E402
from tests.vision_fixtures import write_cifar10  # noqa: E402


def run_train_py(data: Path, out: Path, args: argparse.Namespace) -> tuple[list[float], float]:
    overrides = [
        "data=cifar10", f"data.root={data}", "data.verify_checksums=false", "data.val_size=1000",
        f"model={args.model}", "optimizer=adam", "lr=0.001", f"max_epochs={args.epochs}",
        f"batch_size={args.batch_size}", "logger=csv", "+trainer.enable_model_summary=false",
        "trainer.num_sanity_val_steps=0", f"hydra.run.dir={out}",
    ]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=out.parent,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"train.py failed:\n{done.stderr[-2000:]}")
    wall = time.perf_counter() - start
    curves = pd.read_csv(out / "csv" / "metrics.csv")
    ends = curves.dropna(subset=["val/acc"]).groupby("epoch")["time/seconds"].max().tolist()
    epochs = [b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True)]
    return epochs, wall - ends[-1]


def run_plain_loop(data: Path, args: argparse.Namespace) -> list[float]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=cifar10", f"model={args.model}"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dm = CIFAR10DataModule(root=str(data), batch_size=args.batch_size, val_size=1000,
                           verify_checksums=False)
    dm.setup()
    dm.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in dm.splits.items()}
    torch.manual_seed(0)
    net = instantiate(cfg.model, in_shape=dm.input_shape, num_classes=dm.num_classes)
    speed = SpeedSettings.from_cfg(cfg)  # the same precision and memory format as train.py
    net = speed.prepare(net.to(device))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=speed.precision == "bf16-mixed")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        net.train()
        correct = torch.zeros((), device=device)
        for x, y in dm.train_dataloader():
            with autocast:
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += (logits.argmax(1) == y).sum()
        net.eval()
        with torch.no_grad(), autocast:
            hits = sum((net(x).argmax(1) == y).sum() for x, y in dm.val_dataloader())
        float(hits), float(correct)  # synchronize, as a loop that reports its accuracy does
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn_small")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=10000, help="training + 1,000 validation")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternate the two this many times (machine noise hits both alike)")
    args = parser.parse_args()
    framework, plain, startups = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_cifar10(data, per_batch=(args.images + 1000) // 5, test=1000)
        for i in range(args.repeats):
            plain += run_plain_loop(data, args)[1:]  # the first epoch is warm-up
            epochs, startup = run_train_py(data, Path(tmp) / f"run{i}", args)
            framework += epochs[1:]
            startups.append(startup)
    steps = -(-args.images // args.batch_size)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"{args.model} on {args.images} CIFAR-format images, batch {args.batch_size} "
          f"({steps} steps + validation per epoch), {device}, torch threads "
          f"{torch.get_num_threads()}, {args.repeats} alternating repeats")
    print("epoch seconds after warm-up, train.py:   " + " ".join(f"{t:.2f}" for t in framework))
    print("epoch seconds after warm-up, plain loop: " + " ".join(f"{t:.2f}" for t in plain))
    fw, pl = statistics.median(framework), statistics.median(plain)
    print(f"median: train.py {fw:.3f} s, plain loop {pl:.3f} s, ratio {fw / pl:.3f}x  "
          f"(goal <= 1.05x); fastest epochs: ratio {min(framework) / min(plain):.3f}x")
    print(f"train.py start-up and teardown (imports, config, data, test, metrics.json): "
          f"{statistics.median(startups):.1f} s")


if __name__ == "__main__":
    main()
