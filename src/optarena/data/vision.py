"""Base for image datasets with an official train/test split (CIFAR-10, MNIST).

Protocol: the official test set is the test split; a seeded, stratified `val_size` (count or
fraction) of the official training set is the validation split, the same for every run.
Images are held as uint8 (N, C, H, W) tensors; augmentation and normalization run on whole
batches (`data.pipeline=tensor`) or, as a reference, per image through torchvision
(`data.pipeline=torchvision`).
"""

from pathlib import Path

import torch
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.utils.data import DataLoader

from optarena.data import torchvision_pipeline
from optarena.data.augment import ImageBatchTransform
from optarena.data.in_memory import BatchTransform, InMemoryDataModule, InMemoryLoader
from optarena.data.split import split_count
from optarena.errors import OptArenaError

PIPELINES = ("tensor", "torchvision")


class VisionDataModule(InMemoryDataModule):
    """Subclasses set `mean`, `std` (per channel, of the training images), the facts of
    InMemoryDataModule, and implement `missing_files`, `fetch` and `load`."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        val_size: float | int = 5000,
        split_seed: int = 0,
        augment: bool = True,
        crop_padding: int = 4,
        flip: bool = True,
        download: bool = False,
        verify_checksums: bool = True,
        pipeline: str = "tensor",
        num_workers: int = 2,
        device_resident: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, device_resident)
        if pipeline not in PIPELINES:
            raise OptArenaError(f"data.pipeline must be one of {', '.join(PIPELINES)}, "
                                f"got {pipeline!r}")
        if crop_padding < 0 or num_workers < 0:
            raise OptArenaError("data.crop_padding and data.num_workers must be >= 0")
        self.root = Path(root).expanduser()
        self.val_size, self.split_seed = val_size, split_seed
        self.augment, self.crop_padding, self.flip = augment, crop_padding, flip
        self.download, self.verify_checksums = download, verify_checksums
        self.pipeline, self.num_workers = pipeline, num_workers
        if not download:  # fail before the model is built, not minutes later
            self._require_files()

    # --- what a dataset implements -----------------------------------------------------------
    def missing_files(self) -> str | None:
        """A one-line error naming what is missing where and how to get it, or None."""
        raise NotImplementedError

    def fetch(self) -> None:
        """Download the official files into `root` (torchvision's downloader)."""
        raise NotImplementedError

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(train images, train labels, test images, test labels): uint8 NCHW and int64;
        checks the files (checksums unless verify_checksums=false) and names a bad one."""
        raise NotImplementedError

    # --- Lightning hooks ---------------------------------------------------------------------
    def _require_files(self) -> None:
        problem = self.missing_files()
        if problem:
            raise OptArenaError(problem)

    def prepare_data(self) -> None:
        if self.download and self.missing_files():
            self.fetch()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.prepare_data()
        self._require_files()
        x, y, x_test, y_test = self.load()
        n_val = split_count(self.val_size, len(y), "data.val_size")
        counts = torch.bincount(y)
        classes = int((counts > 0).sum())
        # Stratified whenever each class can appear on both sides (always for the real data).
        stratified = int(counts[counts > 0].min()) >= 2 and classes <= n_val <= len(y) - classes
        train, val = train_test_split(torch.arange(len(y)).numpy(), test_size=n_val,
                                      stratify=y.numpy() if stratified else None,
                                      random_state=self.split_seed)
        self.splits = {"train": (x[train], y[train]), "val": (x[val], y[val]),
                       "test": (x_test, y_test)}

    # --- the fast path: whole-batch tensor ops ----------------------------------------------
    def _augmenting(self) -> tuple[int, bool]:
        return (self.crop_padding, self.flip) if self.augment else (0, False)

    def train_transform(self) -> BatchTransform:
        padding, flip = self._augmenting()
        return ImageBatchTransform(self.mean, self.std, padding, flip)

    def eval_transform(self) -> BatchTransform:
        return ImageBatchTransform(self.mean, self.std)

    # --- the reference path: torchvision Dataset + DataLoader --------------------------------
    def _torchvision_loader(self, split: str, train: bool) -> DataLoader:
        x, y = self.splits[split]
        padding, flip = self._augmenting() if train else (0, False)
        transform = torchvision_pipeline.pil_transform(
            self.mean, self.std, tuple(self.input_shape[1:]), padding, flip)
        return torchvision_pipeline.dataloader(x.cpu(), y.cpu(), transform, self.batch_size,
                                               shuffle=train, num_workers=self.num_workers)

    def train_dataloader(self) -> InMemoryLoader | DataLoader:
        if self.pipeline == "torchvision":
            return self._torchvision_loader("train", train=True)
        return super().train_dataloader()

    def val_dataloader(self) -> InMemoryLoader | DataLoader:
        if self.pipeline == "torchvision":
            return self._torchvision_loader("val", train=False)
        return super().val_dataloader()

    def test_dataloader(self) -> InMemoryLoader | DataLoader:
        if self.pipeline == "torchvision":
            return self._torchvision_loader("test", train=False)
        return super().test_dataloader()
