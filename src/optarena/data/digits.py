"""scikit-learn's bundled handwritten digits: the offline default dataset."""

from functools import cache

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from optarena.data.in_memory import InMemoryDataModule
from optarena.data.split import split_count


@cache
def _images_and_labels() -> tuple[np.ndarray, np.ndarray]:
    """The bundled files, read once per process (per sweep in the parallel launcher, whose
    jobs fork from a server that read them: `DigitsDataModule.warm`). Read-only: runs copy."""
    digits = load_digits()
    for array in (digits.images, digits.target):
        array.flags.writeable = False
    return digits.images, digits.target


class DigitsDataModule(InMemoryDataModule):
    """1,797 8x8 grey images of digits 0-9 (values 0..16, scaled to [0, 1]).

    Protocol: a stratified train/val/test split fixed by `split_seed`, the same for every run.
    """

    num_classes = 10
    input_shape = (1, 8, 8)
    class_names = [str(i) for i in range(10)]
    target = 0.95

    def __init__(
        self,
        batch_size: int = 64,
        val_size: float | int = 0.1,
        test_size: float | int = 0.2,
        split_seed: int = 0,
    ) -> None:
        super().__init__(batch_size)
        self.val_size, self.test_size, self.split_seed = val_size, test_size, split_seed

    @classmethod
    def warm(cls, **config: object) -> None:
        _images_and_labels()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        images, labels = _images_and_labels()
        x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(labels, dtype=torch.long)
        n = len(y)
        n_test = split_count(self.test_size, n, "data.test_size")
        n_val = split_count(self.val_size, n, "data.val_size")
        idx = torch.arange(n).numpy()
        rest, test = train_test_split(
            idx, test_size=n_test, stratify=y.numpy(), random_state=self.split_seed
        )
        train, val = train_test_split(
            rest, test_size=n_val, stratify=y.numpy()[rest], random_state=self.split_seed
        )
        self.splits = {name: (x[i], y[i]) for name, i in
                       (("train", train), ("val", val), ("test", test))}
