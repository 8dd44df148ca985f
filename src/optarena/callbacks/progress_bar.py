"""Lightning's Rich progress bar, fed at most a few times a second during training."""

import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


class ThrottledRichProgressBar(RichProgressBar):
    """RichProgressBar whose training bar and metrics are updated at most `updates_per_second`
    times a second (and at each epoch's last batch).

    Lightning's bar updates its count and gathers the progress-bar metrics at every batch,
    ~0.5 ms a step on a CPU (bench/profile_steps.py), although Rich redraws the display only
    `refresh_rate` times a second: what it shows is the same, its cost per step near zero.
    """

    def __init__(self, updates_per_second: float = 2.0, **kwargs: Any) -> None:
        if updates_per_second <= 0:
            raise ValueError(f"updates_per_second must be > 0, got {updates_per_second}")
        super().__init__(**kwargs)
        self.update_interval = 1.0 / updates_per_second
        self._next_update = 0.0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        if now < self._next_update and batch_idx + 1 < trainer.num_training_batches:
            return
        self._next_update = now + self.update_interval
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
