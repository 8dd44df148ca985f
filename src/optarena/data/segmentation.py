"""Base for semantic segmentation datasets held in memory: images and per-pixel class masks.

Splits are `(images, masks)`: uint8 (N, C, H, W) images and uint8 (N, H, W) masks of class ids
(255 = ignore: unlabelled pixels, never scored). Batches are normalized and, for training,
augmented as whole-batch tensor ops on the training device (`data.device_resident`): a random
crop (zero padding, `crop_padding`) and horizontal flip applied to image and mask alike, so
the two stay aligned. Masks become int64 per batch, as the loss and metrics take them.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from optarena.data.augment import ImageBatchTransform, random_crop_flip_pair
from optarena.data.in_memory import InMemoryDataModule, PairTransform
from optarena.errors import OptArenaError

IGNORE = 255  # mask value of pixels that carry no label (tasks/segmentation.py ignores it)


class SegmentationPairs:
    """(uint8 images, uint8 masks) -> (normalized float images, int64 masks), with an optional
    joint random crop and flip."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0,
                 flip: bool = False) -> None:
        self.normalize = ImageBatchTransform(mean, std)
        self.crop_padding, self.flip = crop_padding, flip

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.crop_padding or self.flip:
            x, y = random_crop_flip_pair(x, y, self.crop_padding, self.flip, IGNORE)
        return self.normalize(x), y.long()

    def __repr__(self) -> str:
        return f"SegmentationPairs(crop_padding={self.crop_padding}, flip={self.flip})"


class SegmentationDataModule(InMemoryDataModule):
    """Subclasses fill `self.splits` in `setup` and set `num_classes`, `class_names`,
    `input_shape` (C, H, W), `mean`, `std` (per channel, pixel values in [0, 1]) and
    `target` (the validation mIoU that counts as reached)."""

    kind = "segmentation"
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, batch_size: int = 16, augment: bool = False, crop_padding: int = 4,
                 flip: bool = True, device_resident: bool | str = "auto") -> None:
        super().__init__(batch_size, device_resident)
        if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
            raise OptArenaError(f"data.crop_padding must be an integer >= 0, got {crop_padding!r}")
        for name, value in (("augment", augment), ("flip", flip)):
            if not isinstance(value, bool):
                raise OptArenaError(f"data.{name} must be true or false, got {value!r}")
        self.augment, self.crop_padding, self.flip = augment, crop_padding, flip

    def pair_transform(self, train: bool) -> PairTransform:
        if train and self.augment:
            return SegmentationPairs(self.mean, self.std, self.crop_padding, self.flip)
        return SegmentationPairs(self.mean, self.std)


def channel_stats(images: Tensor, chunk: int = 256) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (pixel values in [0, 1]) of uint8 (N, C, H, W) images, summed
    in chunks: no float copy of the whole set."""
    c = images.shape[1]
    total, squares, count = torch.zeros(c, dtype=torch.float64), torch.zeros(
        c, dtype=torch.float64), 0
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float64).div_(255.0).transpose(0, 1)
        x = x.reshape(c, -1)
        total += x.sum(dim=1)
        squares += (x * x).sum(dim=1)
        count += x.shape[1]
    mean = total / max(count, 1)
    var = (squares / max(count, 1) - mean * mean).clamp_min(0.0)
    return tuple(mean.tolist()), tuple(var.sqrt().clamp_min(1e-3).tolist())


def check_masks(masks: Tensor, num_classes: int, where: str,
                fix: str = "fix the mask, or list every class in classes.txt") -> None:
    """Every label is a class id below num_classes, or 255 (ignore); the error names the file
    (`where`) and what to do (`fix`)."""
    labels = torch.unique(masks)
    bad = labels[(labels >= num_classes) & (labels != IGNORE)]
    if len(bad):
        raise OptArenaError(
            f"{where} holds class id(s) {bad.tolist()[:5]} but the dataset has {num_classes} "
            f"classes (ids 0..{num_classes - 1}, 255 = ignore): {fix}")
