"""Multiclass classification around any nn.Module that maps inputs to logits."""

import time
from collections.abc import Callable

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from optarena.errors import OptArenaError
from optarena.optim.param_groups import DECAY_KEY, param_groups

OptimizerFactory = Callable[..., Optimizer]
SchedulerFactory = Callable[..., dict]


class Classifier(pl.LightningModule):
    """Cross-entropy classifier; logs train/val/test loss and accuracy, val/acc_best, time.

    `l2` (coupled) and `weight_decay` (decoupled) are applied here, before each optimizer step,
    to the decayed parameter group: torch's own `weight_decay` means coupled L2 for some
    optimizers and decoupled decay for others, so a fair comparison needs one meaning for all.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        num_classes: int,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        l2: float = 0.0,
        weight_decay: float = 0.0,
        exclude_bias_norm: bool = True,
        optimizer_name: str = "optimizer",
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.optimizer_name = optimizer_name
        self.label_smoothing, self.l2, self.weight_decay = label_smoothing, l2, weight_decay
        self.exclude_bias_norm = exclude_bias_norm
        # validate_args=False: predictions and labels are ours; the checks cost a device sync.
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            for _ in range(3))
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()
        # Checkpointed, so that a resumed run continues the epoch's training metrics and the
        # best validation accuracy instead of starting them afresh.
        for metric in (self.train_acc, self.val_acc_best):
            metric.persistent(True)
        self._fit_start = time.perf_counter()
        self._seconds_before = 0.0  # training time of the attempts before a resume

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
        return loss, logits.argmax(dim=-1), y

    def _seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._fit_start

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["time/seconds"] = self._seconds()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._seconds_before = float(checkpoint.get("time/seconds", 0.0))

    # --- training -------------------------------------------------------------------------
    def on_train_start(self) -> None:
        self._fit_start = time.perf_counter()
        self._set_optimizer_mode(train=True)

    def on_train_epoch_start(self) -> None:
        # A run resumed from an end-of-epoch checkpoint restored the finished epoch's counts:
        # start afresh, unless resuming mid-epoch (some but not all batches done).
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if done == 0 or done >= self.trainer.num_training_batches:
            self.train_acc.reset()

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        loss, preds, y = self._step(batch)
        self.train_acc.update(preds, y)
        return loss

    def on_train_batch_end(self, outputs: dict, batch: object, batch_idx: int) -> None:
        # Step values are logged only at the steps Lightning writes to the loggers (every
        # log_every_n_steps, and the step a callback stopped the run at: this hook runs after
        # the callbacks'). Each self.log costs ~1 ms of Lightning bookkeeping, which at every
        # step was most of the framework's overhead on small models (bench/overhead.py).
        if self.trainer._logger_connector.should_update_logs:
            self.log("train/loss", outputs["loss"], on_step=True, on_epoch=False, prog_bar=True)
            self.log("time/seconds", self._seconds(), on_step=True, on_epoch=False)

    def on_train_epoch_end(self) -> None:
        self.log("train/acc", self.train_acc.compute(), on_step=False, on_epoch=True)

    def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
        # Before the optimizer's step (which runs training_step as its closure).
        self._set_optimizer_mode(train=True)

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

    # --- evaluation -----------------------------------------------------------------------
    def on_validation_start(self) -> None:
        self._set_optimizer_mode(train=False)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.val_loss(loss, weight=len(y))
        self.val_acc(preds, y)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)
        self.log("time/seconds", self._seconds())

    def on_train_end(self) -> None:
        self._set_optimizer_mode(train=False)

    def on_test_start(self) -> None:
        self._set_optimizer_mode(train=False)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.test_loss(loss, weight=len(y))
        self.test_acc(preds, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    # --- optimizer ------------------------------------------------------------------------
    def _set_optimizer_mode(self, train: bool) -> None:
        """Schedule-Free optimizers evaluate at averaged weights: switch them with the model."""
        if self._trainer is None:
            return
        for opt in self.trainer.optimizers:
            switch = getattr(opt, "train" if train else "eval", None)
            in_train = opt.param_groups[0].get("train_mode")
            if callable(switch) and in_train is not None and in_train != train:
                switch()

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
