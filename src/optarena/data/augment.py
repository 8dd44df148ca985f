"""Whole-batch image augmentation and normalization with tensor ops, on the batch's device.

torchvision's transforms draw one set of random parameters per call, so a batched call would
crop and flip every image alike; per-image randomness over a whole batch needs the gather
below (the airbench approach). The result matches torchvision's RandomCrop(padding, fill=0),
RandomHorizontalFlip, ToTensor and Normalize applied image by image.
"""

from collections.abc import Sequence

import torch
from torch import Tensor


def _crop_flip_indices(n: int, h: int, w: int, padding: int, flip: bool,
                       dev: torch.device) -> tuple[Tensor, Tensor]:
    """Random crop offsets and flips for n images, as (N, 1, H*W) flat source indices and the
    (N, H, W) mask of reads that fall inside the image."""
    dy = torch.randint(-padding, padding + 1, (n, 1, 1), device=dev)
    dx = torch.randint(-padding, padding + 1, (n, 1, 1), device=dev)
    rows = torch.arange(h, device=dev).view(1, h, 1) + dy
    cols = torch.arange(w, device=dev).view(1, 1, w)
    if flip:  # crop, then flip: output column j reads crop column w - 1 - j
        mirrored = torch.rand(n, 1, 1, device=dev) < 0.5
        cols = torch.where(mirrored, w - 1 - cols, cols)
    cols = cols + dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    flat = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w)
    return flat, inside


def _gather(x: Tensor, flat: Tensor) -> Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w).gather(2, flat.expand(n, c, h * w)).view(n, c, h, w)


def random_crop_flip(x: Tensor, padding: int, flip: bool) -> Tensor:
    """Each image of (N, C, H, W) cropped back to H x W at a random offset after zero padding
    by `padding`, then (with `flip`) mirrored left-right with probability 1/2.

    One gather with the padding folded into the indices (out-of-image reads are masked to 0):
    on the CPU about 3x faster than padding, two gathers and a where.
    """
    n, _, h, w = x.shape
    flat, inside = _crop_flip_indices(n, h, w, padding, flip, x.device)
    return _gather(x, flat) * inside.unsqueeze(1)


def random_crop_flip_pair(x: Tensor, masks: Tensor, padding: int, flip: bool,
                          mask_fill: int) -> tuple[Tensor, Tensor]:
    """Images (N, C, H, W) and their masks (N, H, W) cropped and flipped alike: the same
    offsets and flips for both. Padding reads 0 in the images and `mask_fill` (the ignore
    value) in the masks, so padded pixels are never scored."""
    n, _, h, w = x.shape
    flat, inside = _crop_flip_indices(n, h, w, padding, flip, x.device)
    images = _gather(x, flat) * inside.unsqueeze(1)
    cropped = _gather(masks.unsqueeze(1), flat).squeeze(1)
    return images, cropped.masked_fill(~inside, mask_fill)


class ImageBatchTransform:
    """uint8 (N, C, H, W) images -> float32, [random crop, random flip], normalized per channel.

    Runs on whatever device the batch is on, with that device's default random generator
    (seeded by the run's seed).
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        crop_padding: int = 0,
        flip: bool = False,
    ) -> None:
        self.crop_padding, self.flip = crop_padding, flip
        std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        # (x / 255 - mean) / std == x * scale - shift
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) / std_t
        self._cache: dict[torch.device, tuple[Tensor, Tensor]] = {}

    def _constants(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._cache:
            self._cache[device] = (self._scale.to(device), self._shift.to(device))
        return self._cache[device]

    def __call__(self, x: Tensor) -> Tensor:
        if self.crop_padding or self.flip:
            x = random_crop_flip(x, self.crop_padding, self.flip)
        scale, shift = self._constants(x.device)
        return x.float().mul_(scale).sub_(shift)

    def __repr__(self) -> str:
        return (f"ImageBatchTransform(crop_padding={self.crop_padding}, flip={self.flip}, "
                f"channels={self._scale.shape[1]})")
