"""CIFAR-10 from the official python-pickle layout (`cifar-10-batches-py/` under `data.root`).

File names, md5 sums and the download URL are torchvision's (`torchvision.datasets.CIFAR10`),
so a directory torchvision downloaded works as is and `data.download=true` uses its downloader.
"""

import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torch import Tensor
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from optarena.data.vision import VisionDataModule
from optarena.errors import OptArenaError

TRAIN_FILES = [name for name, _ in CIFAR10.train_list]
TEST_FILES = [name for name, _ in CIFAR10.test_list]
MD5 = {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list}
MD5[CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
HOW_TO_GET = ("run with data.download=true (needs internet), or copy the official 'CIFAR-10 "
              f"python version' ({CIFAR10.filename}, extracted) there")


def batches_dir(root: Path) -> Path:
    """`root/cifar-10-batches-py`, or root itself when it is that folder."""
    return root if root.name == CIFAR10.base_folder else root / CIFAR10.base_folder


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (uint8 images N x 3 x 32 x 32, int64 labels); errors name the file."""
    try:
        with path.open("rb") as f:
            entry = pickle.load(f, encoding="latin1")  # the official format is a pickle
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"], dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32)
    except Exception as err:  # any failure means it is not a CIFAR batch
        raise OptArenaError(
            f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err}); "
            f"delete it and {HOW_TO_GET}") from err
    if len(images) != len(labels) or labels.size == 0 or labels.min() < 0 or labels.max() > 9:
        raise OptArenaError(f"{path} is not a CIFAR-10 batch: {len(images)} images, "
                            f"{len(labels)} labels (0..9 expected)")
    return images, labels


class CIFAR10DataModule(VisionDataModule):
    """60,000 32x32 colour images, 10 classes: 50,000 training (less `val_size` for
    validation) and the official 10,000 test images."""

    num_classes = 10
    input_shape = (3, 32, 32)
    class_names = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
    target = 0.80
    # Per-channel mean and std of the 50,000 training images (pixel values in [0, 1]).
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def missing_files(self) -> str | None:
        folder = batches_dir(self.root)
        missing = [n for n in TRAIN_FILES + TEST_FILES if not (folder / n).is_file()]
        if not missing:
            return None
        what = f"{folder} lacks {', '.join(missing)}" if folder.is_dir() else f"no {folder}/"
        return (f"CIFAR-10 not found: {what}; {HOW_TO_GET}, "
                "or point data.root at the folder that holds it")

    def fetch(self) -> None:
        try:
            download_and_extract_archive(CIFAR10.url, str(self.root), filename=CIFAR10.filename,
                                         md5=CIFAR10.tgz_md5)
        except (URLError, OSError, RuntimeError) as err:
            reason = " ".join(str(err).split())
            raise OptArenaError(
                f"could not download CIFAR-10 from {CIFAR10.url} ({reason}); copy the extracted "
                f"{CIFAR10.base_folder}/ to {self.root} instead") from err

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        folder = batches_dir(self.root)
        if self.verify_checksums:
            self._verify(folder)
        train = [read_batch(folder / n) for n in TRAIN_FILES]
        test = [read_batch(folder / n) for n in TEST_FILES]
        self._read_class_names(folder)
        x, y = (torch.from_numpy(np.concatenate(a)) for a in zip(*train, strict=True))
        x_test, y_test = (torch.from_numpy(np.concatenate(a)) for a in zip(*test, strict=True))
        return x, y, x_test, y_test

    def _verify(self, folder: Path) -> None:
        for name in TRAIN_FILES + TEST_FILES:
            if not check_integrity(str(folder / name), MD5[name]):
                raise OptArenaError(
                    f"{folder / name} fails its md5 check (expected {MD5[name]}): a partial or "
                    f"corrupt copy? Delete it and {HOW_TO_GET}; for a derived dataset in the "
                    "same layout, set data.verify_checksums=false")

    def _read_class_names(self, folder: Path) -> None:
        meta = folder / CIFAR10.meta["filename"]
        if not meta.is_file():
            return
        try:
            with meta.open("rb") as f:
                names = pickle.load(f, encoding="latin1")[CIFAR10.meta["key"]]
        except Exception as err:
            raise OptArenaError(f"{meta} is not a readable CIFAR-10 meta file ({err})") from err
        if len(names) == self.num_classes:
            self.class_names = [str(n) for n in names]
