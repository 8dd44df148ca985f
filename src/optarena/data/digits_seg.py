"""Segmentation scenes of handwritten digits, every pixel labelled: `data=digits_seg` (from
scikit-learn's bundled 8x8 digits, offline: the segmentation default) and the base that
`data=mnist_seg` shares.

Each scene is a `canvas` x `canvas` grey image holding 1 to `max_digits` digits (scaled
`scale` times, bilinear) at random positions; every pixel is labelled background (0) or its
digit's class (1 + the digit) where the digit's intensity exceeds `ink`: 11 classes. Where two
digits overlap, the brighter one owns the pixel.

Protocol: the digits are first split into train/val/test as the classification dataset splits
them (stratified, `split_seed`), and each split's scenes are built from its own digits only,
so no test digit is seen in training. The scenes are fixed by `split_seed` too, each split from
its own random stream (changing one split's count leaves the others as they were): every run
sees the same data; the run's seed changes only the initialization and the order.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from optarena.data.digits import DigitsDataModule
from optarena.data.segmentation import SegmentationDataModule, channel_stats, check_masks
from optarena.errors import OptArenaError

SPLITS = ("train", "val", "test")


def compose_scenes(digits: Tensor, labels: Tensor, count: int, canvas: int, scale: int,
                   max_digits: int, ink: float, rng: np.random.Generator
                   ) -> tuple[Tensor, Tensor]:
    """`count` scenes from (N, 1, s, s) digits in [0, 1]: uint8 images (count, 1, canvas,
    canvas) and uint8 masks (count, canvas, canvas) of 0 = background, 1 + digit."""
    if scale != 1:
        digits = F.interpolate(digits, scale_factor=scale, mode="bilinear", align_corners=False)
    big = digits.clamp(0, 1).squeeze(1).numpy()
    side = big.shape[-1]
    images = np.zeros((count, canvas, canvas), np.float32)
    masks = np.zeros((count, canvas, canvas), np.uint8)
    for i in range(count):
        for j in rng.choice(len(big), size=rng.integers(1, max_digits + 1), replace=False):
            top, left = rng.integers(0, canvas - side + 1, size=2)
            patch = (slice(top, top + side), slice(left, left + side))
            digit, current = big[j], images[i][patch]
            owns = (digit > ink) & (digit >= current)
            masks[i][patch][owns] = 1 + int(labels[j])
            images[i][patch] = np.maximum(current, digit)
    pixels = torch.from_numpy(np.round(images * 255).astype(np.uint8)).unsqueeze(1)
    return pixels, torch.from_numpy(masks)


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptArenaError(f"data.{name} must be an integer >= {minimum}, got {value!r}")
    return value


class DigitScenes(SegmentationDataModule):
    """Digit scenes with per-pixel labels; subclasses give each split's digits (`digits`)."""

    num_classes = 11
    class_names = ["background", *(str(d) for d in range(10))]

    def __init__(self, batch_size: int, canvas: int, scale: int, max_digits: int,
                 scenes: dict[str, int], ink: float, split_seed: int, digit_side: int,
                 augment: bool, crop_padding: int, flip: bool, device_resident: bool | str
                 ) -> None:
        super().__init__(batch_size, augment, crop_padding, flip, device_resident)
        scenes = dict(scenes)
        if set(scenes) != set(SPLITS) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1
                for n in scenes.values()):
            raise OptArenaError(f"data.scenes must give a count >= 1 for each of train, val, "
                                f"test, got {scenes}")
        self.scale = _positive_int("scale", scale)
        self.max_digits = _positive_int("max_digits", max_digits)
        side = digit_side * self.scale
        if isinstance(canvas, bool) or not isinstance(canvas, int) or canvas < side:
            raise OptArenaError(f"data.canvas must be an integer >= {side} (a digit is "
                                f"{side}x{side} px at data.scale={scale}), got {canvas!r}")
        if isinstance(ink, bool) or not isinstance(ink, int | float) or not 0 < ink < 1:
            raise OptArenaError(f"data.ink must be in (0, 1) (a share of full intensity), "
                                f"got {ink!r}")
        self.canvas, self.ink, self.scenes, self.split_seed = canvas, float(ink), scenes, split_seed
        self.input_shape = (1, canvas, canvas)

    def digits(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Each split's digits: float (N, 1, s, s) in [0, 1] and int64 labels 0..9."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = {}
        for i, (name, (digits, labels)) in enumerate(self.digits().items()):
            rng = np.random.default_rng([self.split_seed, i])
            splits[name] = compose_scenes(digits, labels, self.scenes[name], self.canvas,
                                          self.scale, self.max_digits, self.ink, rng)
            check_masks(splits[name][1], self.num_classes, f"{type(self).__name__} {name} "
                        "scenes", fix="a scene generator bug: please report it")
        self.splits = splits
        self.mean, self.std = channel_stats(self.splits["train"][0])


class DigitsSegDataModule(DigitScenes):
    """Scenes of scikit-learn's 8x8 digits (1,797 of them; no download)."""

    target = 0.7

    def __init__(
        self,
        batch_size: int = 32,
        canvas: int = 24,
        scale: int = 1,
        max_digits: int = 3,
        scenes: dict[str, int] | None = None,
        ink: float = 0.3,
        val_size: float | int = 0.1,
        test_size: float | int = 0.2,
        split_seed: int = 0,
        augment: bool = False,
        crop_padding: int = 2,
        flip: bool = False,
        device_resident: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, canvas, scale, max_digits,
                         scenes or {"train": 2000, "val": 300, "test": 600}, ink, split_seed, 8,
                         augment, crop_padding, flip, device_resident)
        self.digit_splits = DigitsDataModule(batch_size, val_size, test_size, split_seed)

    def digits(self) -> dict[str, tuple[Tensor, Tensor]]:
        self.digit_splits.setup()
        return {name: self.digit_splits.splits[name] for name in SPLITS}
