"""Epoch time of a frozen HuBERT (model.freeze=all) with and without the feature cache.

    python bench/hubert_cache.py                       # size=base, random init, 32 clips of 5 s
    python bench/hubert_cache.py --clips 400 --batch-size 20     # ESC-10's size, on a GPU

Both runs train the same Classifier through Lightning on the same random clips; one has the
FeatureCache callback (features once per clip, then only the head trains), the other recomputes
the backbone on every batch. Prints the median epoch time of each and the ratio (goal >= 10x).
"""

import argparse
import logging
import statistics
import time
import warnings

import lightning.pytorch as pl
import torch

from optarena.callbacks.feature_cache import FeatureCache
from optarena.data.in_memory import InMemoryDataModule
from optarena.models.hubert import HubertClassifier
from optarena.tasks.classification import Classifier

logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banners between results
warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")


class RandomClips(InMemoryDataModule):
    num_classes, target = 10, 1.0

    def __init__(self, clips: int, samples: int, batch_size: int) -> None:
        super().__init__(batch_size)
        self.input_shape, self.class_names = (samples,), [str(i) for i in range(10)]
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(clips, samples, generator=g), torch.randint(0, 10, (clips,), generator=g)
        self.splits = {"train": (x, y), "val": (x[:batch_size], y[:batch_size])}


class EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def _now(self) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._now()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(self._now() - self._start)


class TimedFeatureCache(FeatureCache):
    seconds = 0.0

    def _compute(self, trainer: pl.Trainer, net: torch.nn.Module, dm: InMemoryDataModule
                 ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        start = time.perf_counter()
        out = super()._compute(trainer, net, dm)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - start
        return out


def run(cached: bool, args: argparse.Namespace, epochs: int) -> tuple[list[float], float]:
    pl.seed_everything(0, verbose=False)
    samples = round(args.seconds * 16000)
    data = RandomClips(args.clips, samples, args.batch_size)
    net = HubertClassifier((samples,), 10, pretrained=None, size=args.size, freeze="all")
    task = Classifier(net, optimizer=lambda p: torch.optim.Adam(p, lr=1e-3), num_classes=10)
    timer, cache = EpochTimer(), TimedFeatureCache(enabled=cached)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="auto", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, callbacks=[timer, cache])
    trainer.fit(task, datamodule=data)
    return timer.seconds, cache.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="base", choices=["tiny", "base", "large"])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="epochs without the cache")
    parser.add_argument("--cached-epochs", type=int, default=20, help="epochs with the cache")
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"frozen HuBERT {args.size} (random init), {args.clips} clips x {args.seconds} s, "
          f"batch {args.batch_size}, {device}, "
          f"{torch.get_num_threads()} threads")
    slow, _ = run(False, args, args.epochs)
    fast, build = run(True, args, args.cached_epochs)  # cheap: more epochs, a steadier median
    # The first epoch of each includes warm-up; the median of the rest is the steady state.
    slow_epoch = statistics.median(slow[1:] or slow)
    fast_epoch = statistics.median(fast[1:] or fast)
    print(f"  recompute every batch: {slow_epoch:8.3f} s per epoch  (median of "
          f"{', '.join(f'{s:.3f}' for s in slow[1:] or slow)})")
    print(f"  feature cache:         {fast_epoch:8.3f} s per epoch  (median of {len(fast) - 1} "
          f"epochs, min {min(fast[1:] or fast):.3f}); features computed once in {build:.2f} s")
    print(f"  epoch speed-up: {slow_epoch / fast_epoch:.0f}x (goal >= 10x)")
    for n in (args.epochs, 100):
        whole = n * slow_epoch / (build + n * fast_epoch)
        print(f"  a {n}-epoch run, the one-off features included: {whole:.1f}x faster")

if __name__ == "__main__":
    main()
