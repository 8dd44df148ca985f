"""Images/s of the in-memory tensor pipeline vs torchvision Dataset + DataLoader + PIL transforms.

Both read the same synthetic CIFAR-10 directory (the official pickle layout) through
CIFAR10DataModule and apply the same augmentation (random crop with 4-pixel padding, horizontal
flip) and normalization; both deliver batches on the training device (a CUDA GPU when present).

    .venv/bin/python bench/data_pipeline.py [--images 20000] [--batch-size 512] [--workers N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optarena.data.cifar10 import CIFAR10DataModule  # noqa: E402
from tests.vision_fixtures import write_cifar10  # noqa: E402


def epoch_rates(loader, device: torch.device, epochs: int) -> list[float]:
    """Images/s of each of `epochs` epochs after one warm-up epoch; batches end on `device`."""
    def epoch() -> float:
        start, n = time.perf_counter(), 0
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            n += len(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - start)

    epoch()  # warm-up: worker start, allocator, kernels
    return [epoch() for _ in range(epochs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="training images")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="DataLoader workers of the torchvision path")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (after a warm-up)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    with tempfile.TemporaryDirectory() as tmp:
        write_cifar10(Path(tmp), per_batch=args.images // 5, test=100)
        common = dict(root=tmp, batch_size=args.batch_size, val_size=100,
                      verify_checksums=False, augment=True)
        fast = CIFAR10DataModule(**common, pipeline="tensor")
        fast.setup()
        x, y = fast.splits["train"]
        fast.splits["train"] = (x.to(device), y.to(device))  # what a GPU run does in setup
        reference = CIFAR10DataModule(**common, pipeline="torchvision", num_workers=args.workers)
        reference.splits = {"train": (x, y)}

        tensor = epoch_rates(fast.train_dataloader(), device, args.epochs)
        reference_rates = epoch_rates(reference.train_dataloader(), device, args.epochs)

    gpu = f"{torch.cuda.get_device_name()}, " if device.type == "cuda" else ""
    print(f"device: {device} ({gpu}{os.cpu_count()} CPUs), {len(y)} images, batch "
          f"{args.batch_size}, crop(4) + flip + normalize; images/s of the best (median) of "
          f"{args.epochs} epochs")
    rows = [(f"tensor pipeline (on {device})", tensor),
            (f"torchvision Dataset+DataLoader+PIL ({args.workers} workers)", reference_rates)]
    for name, rates in rows:
        print(f"  {name:<50} {max(rates):>12,.0f} ({statistics.median(rates):,.0f})")
    print(f"ratio tensor / torchvision: {max(tensor) / max(reference_rates):.1f}x "
          f"(median {statistics.median(tensor) / statistics.median(reference_rates):.1f}x; "
          "goal >= 3x)")


if __name__ == "__main__":
    main()
