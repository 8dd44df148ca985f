"""Multiclass classification around any nn.Module that maps inputs to logits."""

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from optarena.record import Headline
from optarena.tasks.base import OptimizerFactory, OptimTask, SchedulerFactory


class Classifier(OptimTask):
    """Cross-entropy classifier; logs train/val/test loss and accuracy, val/acc_best, time."""

    kind = "classification"
    headline = Headline("acc", "max", "accuracy")
    metric_names = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best",
                    "test/loss", "test/acc")

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
        super().__init__(net, optimizer, scheduler, l2, weight_decay, exclude_bias_norm,
                         optimizer_name)
        self.label_smoothing = label_smoothing
        # validate_args=False: predictions and labels are ours; the checks cost a device sync.
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            for _ in range(3))
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        # Checkpointed, so that a run resumed mid-epoch continues the epoch's training accuracy.
        self.train_acc.persistent(True)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
        return loss, logits.argmax(dim=-1), y

    def headline_value(self) -> torch.Tensor:
        return self.val_acc.compute()

    # --- training -------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        if not self.resuming_mid_epoch():
            self.train_acc.reset()

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        loss, preds, y = self._step(batch)
        self.train_acc.update(preds, y)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/acc", self.train_acc.compute(), on_step=False, on_epoch=True)

    # --- evaluation -----------------------------------------------------------------------
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.val_loss(loss, weight=len(y))
        self.val_acc(preds, y)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.test_loss(loss, weight=len(y))
        self.test_acc(preds, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
