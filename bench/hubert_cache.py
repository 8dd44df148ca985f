"""Frozen HuBERT (model.freeze=all): epoch and sweep speed-ups of the feature cache.

Epoch time with and without the feature cache; wall time of a sweep whose runs share the cache
against one with a cache per run.

    python bench/hubert_cache.py                       # size=base, random init, 32 clips of 5 s
    python bench/hubert_cache.py --clips 400 --batch-size 20     # ESC-10's size, on a GPU
    python bench/hubert_cache.py --sweep               # 6-run sweep, tiny HuBERT (goal >= 4x)
    python bench/hubert_cache.py --sweep --size base --clips-per-fold 2   # heavier backbone

Epoch figure: both runs train the same Classifier through Lightning on the same random clips;
one has the FeatureCache callback (features once per clip, then only the head trains), the
other recomputes the backbone on every batch. Prints the median epoch time of each and the
ratio (goal >= 10x).

Sweep figure (--sweep): the seed study's config (+experiment=esc10_hubert_optimizers) with a
random-init HuBERT on an ESC-50-format fixture (tests/esc50_fixture.py: ESC-10's 400 clips at
the default --clips-per-fold 20, padded to 5 s), 6 runs (2 optimizers x 3 lrs, one seed: a plain
grid, hydra/sweeper=basic) through
`python train.py -m`, twice: with `callbacks.feature_cache.cache_dir=null` (today's cache, one
per run: every run computes the features) and with the shared cache (the first run computes,
the other five read). The decoded clips are cached before either sweep is timed.
"""

import argparse
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optarena.callbacks.feature_cache import FeatureCache  # noqa: E402
from optarena.data.esc50 import ESC50DataModule  # noqa: E402
from optarena.data.in_memory import InMemoryDataModule  # noqa: E402
from optarena.models.hubert import HubertClassifier  # noqa: E402
from optarena.tasks.classification import Classifier  # noqa: E402
from tests.esc50_fixture import write_esc50  # noqa: E402

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


def sweep(folder: Path, root: Path, args: argparse.Namespace, shared: bool) -> tuple[float, str]:
    """Wall seconds and the runs' logs of the 6-run frozen-HuBERT sweep in `folder`."""
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "+experiment=esc10_hubert_optimizers",
           "model.pretrained=null", f"model.size={args.size}", f"data.root={root}",
           f"data.clip_seconds={args.seconds}", f"max_epochs={args.sweep_epochs}",
           "hydra/sweeper=basic", "optimizer=sgd,adam", "lr_index=0,1,2", "seed=0",
           f"hydra/launcher={args.launcher}",
           "logger=csv", "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false",
           f"hydra.sweep.dir={folder}"]
    if not shared:
        cmd.append("callbacks.feature_cache.cache_dir=null")
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=root.parent, text=True, capture_output=True)
    seconds = time.perf_counter() - start
    runs = list(folder.glob("*/metrics.json"))
    if out.returncode != 0 or len(runs) != 6:
        sys.exit(f"sweep in {folder} failed (exit {out.returncode}, {len(runs)} of 6 runs):\n"
                 f"{out.stdout[-2000:]}{out.stderr[-3000:]}")
    return seconds, "".join(log.read_text() for log in folder.glob("*/*.log"))


def sweep_figure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hubert-sweep-") as tmp:
        root = write_esc50(Path(tmp) / "ESC-50-master", clips_per_fold=args.clips_per_fold)
        data = ESC50DataModule(str(root), "esc10", clip_seconds=args.seconds,
                               cache_dir=str(Path(tmp) / "data" / "cache"))
        data.prepare_data()  # decoded clips cached before timing: both sweeps read them
        clips = len(data.meta)
        print(f"6-run frozen-HuBERT sweep (+experiment=esc10_hubert_optimizers): {args.size} "
              f"random init, {clips} clips x {args.seconds} s, {args.sweep_epochs} epochs per "
              f"run, {args.launcher} launcher, {torch.get_num_threads()} threads")
        results = {}
        for shared in (False, True):
            seconds, logs = sweep(Path(tmp) / ("shared" if shared else "per_run"), root, args,
                                 shared)
            computing = [float(s) for s in re.findall(r"computed once in ([\d.]+) s", logs)]
            read = logs.count("feature cache: read the features")
            results[shared] = seconds
            name = "shared cache (data/cache/features)" if shared else "cache per run (null)"
            print(f"  {name:36s} {seconds:7.1f} s wall; features computed {len(computing)}x "
                  f"({sum(computing):.1f} s), read {read}x; the rest "
                  f"{seconds - sum(computing):.1f} s (start-up, runs' fixed cost, training)")
        print(f"  sweep speed-up: {results[False] / results[True]:.1f}x (goal >= 4x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["tiny", "base", "large"],
                        help="random-init HuBERT size (default: base; tiny with --sweep)")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="clip length (sweep: the fixture's clips are padded to it)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="epochs without the cache")
    parser.add_argument("--cached-epochs", type=int, default=20, help="epochs with the cache")
    parser.add_argument("--sweep", action="store_true",
                        help="the sweep figure (shared cache against one per run) instead")
    parser.add_argument("--clips-per-fold", type=int, default=20,
                        help="sweep: fixture clips per class and fold (20: ESC-10's 400 clips)")
    parser.add_argument("--sweep-epochs", type=int, default=3, help="sweep: epochs per run")
    parser.add_argument("--launcher", default="basic", choices=["basic", "parallel"],
                        help="sweep: Hydra's basic launcher or the parallel one")
    args = parser.parse_args()
    args.size = args.size or ("tiny" if args.sweep else "base")
    if args.sweep:
        sweep_figure(args)
        return
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
