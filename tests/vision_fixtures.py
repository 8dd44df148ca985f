"""Tiny CIFAR-10 and MNIST directories in the exact on-disk formats, with learnable structure.

Each class k gets its own pattern (a bright band at a class-dependent position plus noise), so
a small network can learn the classes in a few epochs.
"""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def class_images(labels: np.ndarray, channels: int, side: int, seed: int) -> np.ndarray:
    """uint8 (N, C, side, side): class k has a bright horizontal band at row 3k (mod side)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), channels, side, side))
    for i, k in enumerate(labels):
        row = (3 * int(k)) % (side - 2)
        images[i, :, row:row + 3, :] += 150
        images[i, int(k) % channels] += 40
    return images.clip(0, 255).astype(np.uint8)


def write_cifar10(root: Path, per_batch: int = 20, test: int = 40, seed: int = 0) -> Path:
    """root/cifar-10-batches-py/ with 5 training batches, a test batch and batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([*CIFAR_TRAIN, "test_batch"]):
        n = test if name == "test_batch" else per_batch
        labels = np.arange(n) % 10
        images = class_images(labels, 3, 32, seed + i)
        entry = {"batch_label": name, "labels": labels.tolist(),
                 "data": images.reshape(n, 3 * 32 * 32),
                 "filenames": [f"{name}_{j}.png" for j in range(n)]}
        with (folder / name).open("wb") as f:
            pickle.dump(entry, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch}, f)
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, train: int = 100, test: int = 40, gz: bool = False,
                seed: int = 0) -> Path:
    """root/MNIST/raw/ with the four IDX files (gzipped when gz=True)."""
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        labels = np.arange(n) % 10
        images = class_images(labels, 1, 28, seed + n)[:, 0]
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder
