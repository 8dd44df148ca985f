"""Datasets that fit in memory: tensors, randperm shuffling, whole-batch slicing.

A plain iterable instead of torch's DataLoader: when every split is a tensor, per-sample
indexing, collation and worker processes are pure overhead (see airbench). Lightning accepts
any iterable with a length as a dataloader. When training on a GPU the splits move to it once
(`device_resident`), so batches are sliced, augmented and normalized there: no host-to-device
copy per batch.
"""

from collections.abc import Callable, Iterator

import lightning.pytorch as pl
import torch
from torch import Tensor

from optarena.errors import OptArenaError

BatchTransform = Callable[[Tensor], Tensor]
# Inputs and targets transformed together (segmentation: image and mask cropped alike).
PairTransform = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]

# "auto" residency: the splits may take at most this share of the GPU's memory.
DEVICE_SHARE = 0.25


class InMemoryLoader:
    """Yields (x, y) batches from tensors; shuffles with its own seeded generator.

    Under data parallelism every rank draws the same permutation (same seed) and takes every
    `world_size`-th index of it, truncated so that all ranks see the same number of batches.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
        rank: int = 0,
        world_size: int = 1,
        pair_transform: PairTransform | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} items but y has {len(y)}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.transform, self.pair_transform = transform, pair_transform
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        # Resume mid-epoch: the generator state before this epoch's permutation, the batches
        # handed out in this pass, and the batches to skip in the next one.
        self._epoch_start: Tensor | None = None
        self._yielded = 0
        self._skip = 0

    def _num_items(self) -> int:
        return len(self.x) // self.world_size

    def __len__(self) -> int:
        n = self._num_items()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self._epoch_start = self.generator.get_state()
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order[self.rank :: self.world_size][: self._num_items()].to(self.x.device)
        start, self._skip = self._skip, 0
        self._yielded = start
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            # index_select copies whole rows: on the CPU ~20x faster than x[idx]
            x, y = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if self.transform is not None:
                x = self.transform(x)
            if self.pair_transform is not None:
                x, y = self.pair_transform(x, y)
            self._yielded = i + 1
            yield x, y

    def state_dict(self) -> dict:
        """The shuffling state; mid-epoch also the epoch's permutation and batches consumed.

        Lightning fetches no batch ahead from a loader that has a length, so the batches
        handed out are the batches trained on.
        """
        if self._epoch_start is not None and 0 < self._yielded < len(self):
            return {"generator": self._epoch_start, "position": self._yielded}
        return {"generator": self.generator.get_state(), "position": 0}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._skip = int(state.get("position", 0))


def resident_device(
    device: torch.device, nbytes: int, policy: bool | str, device_memory: int | None = None
) -> torch.device:
    """Where the splits should live when training on `device`.

    policy True: on `device`; False: on the CPU; "auto": on a CUDA device when the splits take
    at most DEVICE_SHARE of its memory (`device_memory` bytes), else on the CPU.
    """
    cpu = torch.device("cpu")
    if policy is False or device.type == "cpu":
        return cpu
    if policy is True:
        return device
    if device.type != "cuda":
        return cpu
    if device_memory is None:
        device_memory = torch.cuda.get_device_properties(device).total_memory
    return device if nbytes <= DEVICE_SHARE * device_memory else cpu


class InMemoryDataModule(pl.LightningDataModule):
    """Base for datasets held as tensors: subclasses fill `self.splits` in `setup`.

    Public facts every model and callback may rely on: `kind` (the task it calls for:
    classification, segmentation), `num_classes`, `input_shape` (C, H, W for images, (T,) for
    waveforms), `class_names`, `target` (the validation value of the task's headline metric
    that counts as reached: accuracy, mIoU).

    `device_resident` (True | False | "auto"): keep the splits on the training device (learnt
    from the trainer when the dataloaders are built). Batch transforms then run there too.
    """

    kind = "classification"
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    target: float

    def __init__(self, batch_size: int = 64, device_resident: bool | str = "auto") -> None:
        super().__init__()
        if batch_size < 1:
            raise OptArenaError(f"batch_size must be >= 1, got {batch_size}")
        if device_resident not in (True, False, "auto"):
            raise OptArenaError(
                f"data.device_resident must be true, false or auto, got {device_resident!r}")
        self.batch_size = batch_size
        self.device_resident = device_resident
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self._shuffle_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        # The training loader's shuffling state travels in checkpoints through the datamodule:
        # Lightning restores a loader's own state only when resuming mid-epoch.
        self._train_loader: InMemoryLoader | None = None
        self._train_state: dict | None = None

    @classmethod
    def warm(cls, **config: object) -> None:
        """Read what every run with this data config reads alike (the dataset's files) into
        this process, for the runs forked from it: the parallel launcher's fork server calls
        it once per sweep (optarena.sweep.warm). Nothing by default."""

    def train_transform(self) -> BatchTransform | None:
        """The training augmentation applied to whole batches; none by default."""
        return None

    def eval_transform(self) -> BatchTransform | None:
        """The transform applied to validation and test batches (e.g. normalization)."""
        return None

    def pair_transform(self, train: bool) -> PairTransform | None:
        """A transform of inputs and targets together (after `train/eval_transform`)."""
        return None

    def _split(self, split: str) -> tuple[Tensor, Tensor]:
        """The split's tensors, moved (once) to where they should live for this trainer."""
        x, y = self.splits[split]
        if self.trainer is None:  # used outside a Trainer: leave the tensors where they are
            return x, y
        nbytes = sum(t.nelement() * t.element_size() for pair in self.splits.values()
                     for t in pair)
        device = resident_device(self.trainer.strategy.root_device, nbytes,
                                 self.device_resident)
        if x.device != device:
            x, y = x.to(device), y.to(device)
            self.splits[split] = (x, y)
        return x, y

    def _loader(self, split: str, train: bool) -> InMemoryLoader:
        x, y = self._split(split)
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        return InMemoryLoader(
            x, y, self.batch_size, shuffle=train, seed=self._shuffle_seed,
            transform=self.train_transform() if train else self.eval_transform(),
            rank=rank, world_size=world, pair_transform=self.pair_transform(train),
        )

    def train_dataloader(self) -> InMemoryLoader:
        loader = self._loader("train", train=True)
        if self._train_state is not None:
            loader.load_state_dict(self._train_state)
            self._train_state = None
        self._train_loader = loader
        return loader

    def state_dict(self) -> dict:
        return {"train_loader": self._train_loader.state_dict()} if self._train_loader else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._train_state = state_dict.get("train_loader")

    def val_dataloader(self) -> InMemoryLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> InMemoryLoader:
        return self._loader("test", train=False)
