"""Frozen-backbone feature cache: compute each clip's features once, train the head on them.

Works for any model that offers it (`can_cache_features`, `frozen_features(x)`, `classify`,
`features_cached`; see models/hubert.py with model.freeze=all) on an in-memory datamodule.
Every split's inputs are replaced by their features before the loaders are built; the model
then maps features to logits. The logits are those of the uncached model (tests check it),
because a frozen backbone in eval mode is a fixed function of the clip.

With `cache_dir` set (default `data/cache/features`), the features are shared on disk by every
run of the machine with the same key (feature_key.py: weights, model and data settings,
precision, code version): the first run computes and writes them, the others read them, and
parallel jobs that start together wait for the one that computes (feature_store.py). With
`cache_dir: null` each run computes its own.

Training augmentation changes the clips every epoch, so it turns the cache off (with a note).
Checkpoints leave out the frozen parameters (they equal the pretrained weights, or the seeded
random init, that the run's config rebuilds); the model loads checkpoints non-strictly.
"""

import logging
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import Tensor

from optarena.callbacks.feature_key import feature_key
from optarena.callbacks.feature_store import FeatureStore
from optarena.data.in_memory import InMemoryDataModule

log = logging.getLogger(__name__)


class FeatureCache(pl.Callback):
    def __init__(self, enabled: bool = True, batch_size: int | None = None,
                 slim_checkpoints: bool = True, cache_dir: str | None = None) -> None:
        self.enabled, self.batch_size, self.slim_checkpoints = enabled, batch_size, slim_checkpoints
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self._features: dict | None = None  # the splits this callback produced
        self.active = False
        self.source: str | None = None  # "computed" | "read" (from the shared cache) once set up
        self.cache_file: Path | None = None  # the shared cache's file, when there is one

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        net, dm = getattr(pl_module, "net", None), trainer.datamodule
        if not (self.enabled and getattr(net, "can_cache_features", False)):
            return
        if not isinstance(dm, InMemoryDataModule) or not dm.splits:
            log.info("feature cache off: the datamodule does not hold its data in memory")
            return
        if dm.splits is not self._features:
            if dm.train_transform() is not None:
                log.warning("feature cache off: training augmentation changes the clips every "
                            "epoch, so the frozen backbone runs on every batch")
                return
            self._features = self._shared(trainer, net, dm)
            dm.splits = self._features
        net.features_cached, self.active = True, True
        if self.slim_checkpoints:
            pl_module.strict_loading = False

    def _shared(self, trainer: pl.Trainer, net: torch.nn.Module, dm: InMemoryDataModule
                ) -> dict[str, tuple[Tensor, Tensor]]:
        """The features from the shared cache, or computed (and written there)."""
        if self.cache_dir is None:
            self.source = "computed"
            return self._compute(trainer, net, dm)
        key, description = self.key(trainer, net, dm)
        spec, data = description["model"], description["data"]
        label = "-".join(str(part) for part in (spec.get("model"), data.get("subset")) if part)
        store = FeatureStore(self.cache_dir, label, key, description)
        self.cache_file = store.path
        labels = {name: y for name, (_, y) in dm.splits.items()}
        features, self.source = store.get(labels, lambda: self._compute(trainer, net, dm))
        if self.source == "read":
            log.info("feature cache: read the features of %d clips from %s",
                     sum(len(y) for y in labels.values()), store.path)
        return features

    def key(self, trainer: pl.Trainer, net: torch.nn.Module, dm: InMemoryDataModule
            ) -> tuple[str, dict]:
        """The shared cache's key of this run's features, and what it hashes."""
        return feature_key(net, dm, dm.splits, trainer.precision, trainer.strategy.root_device,
                           self.batch_size or dm.batch_size)

    @torch.no_grad()
    def _compute(self, trainer: pl.Trainer, net: torch.nn.Module, dm: InMemoryDataModule
                 ) -> dict[str, tuple[Tensor, Tensor]]:
        device, training = trainer.strategy.root_device, net.training
        start = time.perf_counter()
        net.to(device).eval()
        size = self.batch_size or dm.batch_size
        out = {}
        with trainer.precision_plugin.forward_context():
            for name, (x, y) in dm.splits.items():
                parts = [net.frozen_features(x[i : i + size].to(device)).float()
                         for i in range(0, len(x), size)]
                out[name] = (torch.cat(parts).to(x.device), y)
        net.train(training)
        shape = tuple(out["train"][0].shape[1:]) if "train" in out else "?"
        log.info("feature cache: %d clips -> features of shape %s, computed once in %.1f s",
                 sum(len(y) for _, y in out.values()), shape, time.perf_counter() - start)
        return out

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict) -> None:
        if not (self.active and self.slim_checkpoints):
            return
        frozen = {name for name, p in pl_module.named_parameters() if not p.requires_grad}
        state = checkpoint["state_dict"]
        for key in frozen & state.keys():
            del state[key]
