"""What every task shares: the optimizer under comparison, its regularization, its timing.

A task is a LightningModule around a plain nn.Module. This base builds the optimizer over the
parameter groups (no decay on biases and norms), applies coupled L2 and decoupled weight decay
the same way for every optimizer, switches Schedule-Free optimizers between train and eval
mode, keeps the training time across resumes, and tracks the best validation value of the
task's headline metric. Subclasses (classification, segmentation) compute losses and metrics.
"""

import time
from collections.abc import Callable
from typing import ClassVar

import lightning.pytorch as pl
import torch
from torch import nn
from torch.optim import Optimizer
from torchmetrics import MaxMetric, MinMetric

from optarena.errors import OptArenaError
from optarena.optim.param_groups import DECAY_KEY, param_groups
from optarena.record import Headline

OptimizerFactory = Callable[..., Optimizer]
SchedulerFactory = Callable[..., dict]


class OptimTask(pl.LightningModule):
    """Subclasses declare `kind`, `headline` (the metric that picks checkpoints and settings),
    `metric_names` (what metrics.json records) and implement the steps and `headline_value`.

    `l2` (coupled) and `weight_decay` (decoupled) are applied here, before each optimizer step,
    to the decayed parameter group: torch's own `weight_decay` means coupled L2 for some
    optimizers and decoupled decay for others, so a fair comparison needs one meaning for all.
    """

    kind: ClassVar[str]
    headline: ClassVar[Headline]
    metric_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        l2: float = 0.0,
        weight_decay: float = 0.0,
        exclude_bias_norm: bool = True,
        optimizer_name: str = "optimizer",
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.optimizer_name = optimizer_name
        self.l2, self.weight_decay = l2, weight_decay
        self.exclude_bias_norm = exclude_bias_norm
        # The best validation value so far, named after the headline (val_acc_best, ...);
        # checkpointed, so that a resumed run keeps it instead of starting afresh.
        best = MaxMetric() if self.headline.mode == "max" else MinMetric()
        best.persistent(True)
        setattr(self, self._best_attr, best)
        self._fit_start = time.perf_counter()
        self._seconds_before = 0.0  # training time of the attempts before a resume

    @property
    def _best_attr(self) -> str:
        return self.headline.best.replace("/", "_")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def headline_value(self) -> torch.Tensor:
        """This validation epoch's value of the headline metric."""
        raise NotImplementedError

    # --- time ----------------------------------------------------------------------------
    def _seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._fit_start

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["time/seconds"] = self._seconds()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._seconds_before = float(checkpoint.get("time/seconds", 0.0))

    def log_step_values(self, loss: torch.Tensor) -> None:
        """train/loss and time/seconds, only at the steps Lightning writes to the loggers.

        Those are every log_every_n_steps, and the step a callback stopped the run at (this
        runs from on_train_batch_end, after the callbacks'). Each self.log costs ~1 ms of
        Lightning bookkeeping, which at every step was most of the framework's overhead on
        small models (bench/overhead.py).
        """
        if self.trainer._logger_connector.should_update_logs:
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
            self.log("time/seconds", self._seconds(), on_step=True, on_epoch=False)

    def on_train_batch_end(self, outputs: dict, batch: object, batch_idx: int) -> None:
        self.log_step_values(outputs["loss"])

    def resuming_mid_epoch(self) -> bool:
        """A run resumed mid-epoch (some but not all of its batches done) keeps the epoch's
        training metrics; one resumed from an end-of-epoch checkpoint starts them afresh."""
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return 0 < done < self.trainer.num_training_batches

    # --- the best validation value ---------------------------------------------------------
    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        best = getattr(self, self._best_attr)
        best(self.headline_value())
        self.log(self.headline.best, best.compute(), prog_bar=True)
        self.log("time/seconds", self._seconds())

    # --- Schedule-Free optimizers evaluate at averaged weights -----------------------------
    def _set_optimizer_mode(self, train: bool) -> None:
        if self._trainer is None:
            return
        for opt in self.trainer.optimizers:
            switch = getattr(opt, "train" if train else "eval", None)
            in_train = opt.param_groups[0].get("train_mode")
            if callable(switch) and in_train is not None and in_train != train:
                switch()

    def on_train_start(self) -> None:
        self._fit_start = time.perf_counter()
        self._set_optimizer_mode(train=True)

    def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
        # Before the optimizer's step (which runs training_step as its closure).
        self._set_optimizer_mode(train=True)

    def on_validation_start(self) -> None:
        self._set_optimizer_mode(train=False)

    def on_train_end(self) -> None:
        self._set_optimizer_mode(train=False)

    def on_test_start(self) -> None:
        self._set_optimizer_mode(train=False)

    # --- the optimizer ---------------------------------------------------------------------
    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        if not (self.l2 or self.weight_decay):
            return
        with torch.no_grad():
            for group in optimizer.param_groups:
                if not group.get(DECAY_KEY, True):
                    continue
                shrink = 1.0 - float(group["lr"]) * self.weight_decay
                for p in group["params"]:
                    if self.l2 and p.grad is not None:
                        p.grad.add_(p, alpha=self.l2)
                    if self.weight_decay:
                        p.mul_(shrink)

    def configure_optimizers(self) -> dict:
        groups = param_groups(self.net, self.exclude_bias_norm)
        try:
            optimizer = self.optimizer_factory(groups)
        except (ValueError, TypeError) as err:
            raise OptArenaError(f"optimizer={self.optimizer_name}: {err}") from err
        config: dict = {"optimizer": optimizer}
        if self.scheduler_factory is not None:
            total = int(self.trainer.estimated_stepping_batches)
            config["lr_scheduler"] = self.scheduler_factory(optimizer, total_steps=total)
        return config
