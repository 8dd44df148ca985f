"""MNIST from the official IDX files in torchvision's layout (`MNIST/raw/` under `data.root`).

Each file may be extracted or still gzipped (`.gz`). Checksums are those of torchvision's
`.gz` archives; a file present only extracted is checked for the official header and sizes
instead. `data.download=true` uses torchvision's downloader and mirrors.
"""

import gzip
import struct
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch
from torch import Tensor
from torchvision.datasets import MNIST
from torchvision.datasets.utils import check_integrity

from optarena.data.vision import VisionDataModule
from optarena.errors import OptArenaError

MD5 = dict(MNIST.resources)  # {"train-images-idx3-ubyte.gz": md5, ...}
FILES = {  # split -> (images, labels)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
OFFICIAL_SIZES = {"train": 60000, "test": 10000}
HOW_TO_GET = ("run with data.download=true (needs internet), or copy the four official IDX "
              "files (extracted or .gz) there")


def raw_dir(root: Path) -> Path:
    """`root/MNIST/raw` (torchvision's layout), or root itself when it already holds the files."""
    if (root / FILES["train"][0]).is_file() or (root / f"{FILES['train'][0]}.gz").is_file():
        return root
    return root / "MNIST" / "raw"


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (plain or gzipped) as an array of its stated shape.

    Written here because torchvision's reader opens only extracted files and reports a
    malformed one with a bare assertion.
    """
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise OptArenaError(f"{path} cannot be read ({err}); delete it and {HOW_TO_GET}") from err
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise OptArenaError(f"{path} is not an unsigned-byte IDX file (bad header); "
                            f"delete it and {HOW_TO_GET}")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise OptArenaError(f"{path} is truncated or padded: its header states {dims} "
                            f"({int(np.prod(dims))} bytes), it holds {body.size}")
    return body.reshape(dims)


class MNISTDataModule(VisionDataModule):
    """70,000 28x28 grey images of handwritten digits: 60,000 training (less `val_size` for
    validation) and the official 10,000 test images."""

    num_classes = 10
    input_shape = (1, 28, 28)
    class_names = [str(i) for i in range(10)]
    target = 0.99
    mean = (0.1307,)
    std = (0.3081,)

    def __init__(self, root: str, augment: bool = False, crop_padding: int = 2,
                 flip: bool = False, **kwargs: Any) -> None:
        """As VisionDataModule; digits are not flipped, and not augmented unless asked."""
        super().__init__(root, augment=augment, crop_padding=crop_padding, flip=flip, **kwargs)

    def _find(self, folder: Path, name: str) -> Path | None:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def missing_files(self) -> str | None:
        folder = raw_dir(self.root)
        missing = [n for pair in FILES.values() for n in pair if self._find(folder, n) is None]
        if not missing:
            return None
        what = (f"{folder} lacks {', '.join(missing)} (or .gz)" if folder.is_dir()
                else f"no {folder}/")
        return (f"MNIST not found: {what}; {HOW_TO_GET}, "
                "or point data.root at the folder that holds MNIST/raw/")

    def fetch(self) -> None:
        try:
            MNIST(str(self.root), train=True, download=True)
        except (URLError, OSError, RuntimeError) as err:
            reason = " ".join(str(err).split())
            raise OptArenaError(
                f"could not download MNIST ({reason}); copy the four IDX files to "
                f"{self.root / 'MNIST' / 'raw'} instead") from err

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        folder = raw_dir(self.root)
        out = []
        for split, (images_name, labels_name) in FILES.items():
            images = self._read(folder, images_name, split, ndim=3)
            labels = self._read(folder, labels_name, split, ndim=1)
            if len(images) != len(labels) or labels.max(initial=0) > 9:
                raise OptArenaError(
                    f"{folder}: {images_name} has {len(images)} images but {labels_name} has "
                    f"{len(labels)} labels (0..9 expected)")
            out += [torch.from_numpy(images.copy()).unsqueeze(1),
                    torch.from_numpy(labels.astype(np.int64))]
        return out[0], out[1], out[2], out[3]

    def _read(self, folder: Path, name: str, split: str, ndim: int) -> np.ndarray:
        path = self._find(folder, name)
        gz = folder / f"{name}.gz"
        if self.verify_checksums and gz.is_file() and not check_integrity(str(gz), MD5[gz.name]):
            raise OptArenaError(
                f"{gz} fails its md5 check (expected {MD5[gz.name]}): a partial or corrupt copy? "
                f"Delete it and {HOW_TO_GET}; for a derived dataset in the same layout, set "
                "data.verify_checksums=false")
        array = read_idx(path)
        if array.ndim != ndim:
            raise OptArenaError(f"{path} holds a {array.ndim}-d array, {ndim}-d expected")
        official = (OFFICIAL_SIZES[split],) + ((28, 28) if ndim == 3 else ())
        if self.verify_checksums and array.shape != official:
            raise OptArenaError(
                f"{path} holds shape {array.shape}, not the official {official}; for a derived "
                "dataset in the same layout, set data.verify_checksums=false")
        if ndim == 3 and array.shape[1:] != (28, 28):
            raise OptArenaError(f"{path} holds images of {array.shape[1:]}, 28x28 expected")
        return array
