"""Whole-batch image augmentation and normalization with tensor ops, on the batch's device.

torchvision's transforms draw one set of random parameters per call, so a batched call would
crop and flip every image alike; per-image randomness over a whole batch needs the gathers
below (the airbench approach). The result matches torchvision's RandomCrop(padding, fill=0),
RandomHorizontalFlip, ToTensor and Normalize applied image by image.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, padding: int) -> Tensor:
    """Each image of (N, C, H, W) cropped back to H x W at a random offset after zero padding."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1, 1, 1), device=x.device)
    rows = dy + torch.arange(h, device=x.device).view(1, 1, h, 1)
    padded = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))
    cols = dx + torch.arange(w, device=x.device).view(1, 1, 1, w)
    return padded.gather(3, cols.expand(n, c, h, w))


def random_flip(x: Tensor) -> Tensor:
    """Each image of (N, C, H, W) mirrored left-right with probability 1/2."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


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
        if self.crop_padding:
            x = random_crop(x, self.crop_padding)
        if self.flip:
            x = random_flip(x)
        scale, shift = self._constants(x.device)
        return torch.addcmul(-shift, x.float(), scale)

    def __repr__(self) -> str:
        return (f"ImageBatchTransform(crop_padding={self.crop_padding}, flip={self.flip}, "
                f"channels={self._scale.shape[1]})")
