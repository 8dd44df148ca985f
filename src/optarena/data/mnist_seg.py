"""Segmentation scenes built from MNIST (the IDX files of `data=mnist`, `MNIST/raw/` under root).

Each scene is a `canvas` x `canvas` grey image holding 1 to `max_digits` 28x28 digits at random
positions; every pixel is labelled background (0) or its digit's class (1 + the digit), 11
classes, where the digit's intensity exceeds `ink`. Where two digits overlap, the brighter one
owns the pixel (digits_seg.compose_scenes, at scale 1).

Protocol: as `data=mnist`, a stratified `val_size` of the 60,000 training digits is the
validation split and the official 10,000 test digits the test split; each split's scenes
(`scenes`: a count per split) are built from its own digits only. Split and scenes are fixed
by `split_seed`, each split from its own random stream (changing one split's count leaves the
others' scenes as they were).
"""

from torch import Tensor

from optarena.data.digits_seg import SPLITS, DigitScenes
from optarena.data.mnist import MNISTDataModule

SIDE = 28


class MNISTSegDataModule(DigitScenes):
    """MNIST digit scenes with per-pixel labels: background + 10 digit classes."""

    target = 0.75  # validation mIoU counted as reached (digits_seg's 0.7; MNIST digits are larger)

    def __init__(
        self,
        root: str,
        batch_size: int = 32,
        canvas: int = 64,
        max_digits: int = 3,
        scenes: dict[str, int] | None = None,
        ink: float = 0.5,
        val_size: float | int = 5000,
        split_seed: int = 0,
        download: bool = False,
        verify_checksums: bool = True,
        augment: bool = False,
        crop_padding: int = 4,
        flip: bool = False,
        device_resident: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, canvas, 1, max_digits,
                         scenes or {"train": 20000, "val": 2000, "test": 4000}, ink, split_seed,
                         SIDE, augment, crop_padding, flip, device_resident)
        # The digits and their split: data=mnist's loader (files checked now unless download).
        self.mnist = MNISTDataModule(root, batch_size=batch_size, val_size=val_size,
                                     split_seed=split_seed, download=download,
                                     verify_checksums=verify_checksums, augment=False)

    def digits(self) -> dict[str, tuple[Tensor, Tensor]]:
        self.mnist.setup()
        out = {name: (x.float().div_(255.0), y) for name, (x, y) in
               ((n, self.mnist.splits[n]) for n in SPLITS)}
        self.mnist.splits = {}  # the digits are no longer needed once the scenes exist
        return out
