"""Semantic segmentation around any nn.Module that maps (N, C, H, W) images to per-pixel logits.

Loss: cross-entropy over the labelled pixels (mask value 255 = ignore), plus `dice_weight` x
the multiclass soft Dice loss (segmentation_models_pytorch). Metrics (torchmetrics), over the
whole split, never the mean of per-image values:
- `miou`: mean intersection over union from the split's confusion matrix, over the classes
  present in the prediction or the target (a class absent from both does not count);
- `pixel_acc`: the share of labelled pixels predicted right;
- `dice`: mean Dice (F1) over the classes present, like mIoU.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassJaccardIndex,
)

from optarena.errors import OptArenaError
from optarena.record import Headline
from optarena.tasks.base import OptimizerFactory, OptimTask, SchedulerFactory

IGNORE_INDEX = 255  # mask value of unlabelled pixels (ignored by loss and metrics)
SPLIT_METRICS = ("miou", "pixel_acc", "dice")


def split_metrics(num_classes: int, names: tuple[str, ...] = SPLIT_METRICS) -> nn.ModuleDict:
    """mIoU, pixel accuracy and mean Dice for one split; validate_args=False: the masks are
    ours, and the checks cost a device sync per batch."""
    kw = {"num_classes": num_classes, "ignore_index": IGNORE_INDEX, "validate_args": False}
    make = {
        "miou": lambda: MulticlassJaccardIndex(average="macro", **kw),
        "pixel_acc": lambda: MulticlassAccuracy(average="micro", **kw),
        "dice": lambda: MulticlassF1Score(average="macro", **kw),
    }
    return nn.ModuleDict({name: make[name]() for name in names})


class Segmenter(OptimTask):
    """Per-pixel classification into `num_classes` classes; headline metric val/miou."""

    kind = "segmentation"
    headline = Headline("miou", "max", "mIoU")
    metric_names = ("train/loss", "train/miou", "train/pixel_acc", "val/loss", "val/miou",
                    "val/miou_best", "val/pixel_acc", "val/dice", "test/loss", "test/miou",
                    "test/pixel_acc", "test/dice")

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
        dice_weight: float = 0.0,
    ) -> None:
        super().__init__(net, optimizer, scheduler, l2, weight_decay, exclude_bias_norm,
                         optimizer_name)
        if not isinstance(dice_weight, int | float) or isinstance(dice_weight, bool) \
                or dice_weight < 0:
            raise OptArenaError(f"task.dice_weight must be a number >= 0, got {dice_weight!r}")
        self.num_classes, self.label_smoothing = num_classes, label_smoothing
        self.dice_weight = float(dice_weight)
        self.dice_loss = None
        if self.dice_weight:
            from segmentation_models_pytorch.losses import DiceLoss

            self.dice_loss = DiceLoss("multiclass", from_logits=True, ignore_index=IGNORE_INDEX)
        self.train_metrics = split_metrics(num_classes, ("miou", "pixel_acc"))
        self.val_metrics, self.test_metrics = split_metrics(num_classes), split_metrics(num_classes)
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        for metric in self.train_metrics.values():  # a run resumed mid-epoch continues them
            metric.persistent(True)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy averaged over the labelled pixels (0, not NaN, when none is)."""
        logits = logits.float()
        ce = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum",
                             label_smoothing=self.label_smoothing)
        loss = ce / (y != IGNORE_INDEX).sum().clamp_min(1)
        if self.dice_loss is not None:
            loss = loss + self.dice_weight * self.dice_loss(logits, y)
        return loss

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, y = batch
        logits = self(x)
        return self.loss(logits, y), logits.argmax(dim=1), y

    def headline_value(self) -> torch.Tensor:
        return self.val_metrics["miou"].compute()

    def _update(self, metrics: nn.ModuleDict, preds: torch.Tensor, y: torch.Tensor) -> None:
        for metric in metrics.values():
            metric.update(preds, y)

    def _log_split(self, split: str, metrics: nn.ModuleDict, loss: Metric) -> None:
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, prog_bar=split == "val")
        for name, metric in metrics.items():
            self.log(f"{split}/{name}", metric, on_step=False, on_epoch=True,
                     prog_bar=split == "val" and name == "miou")

    # --- training -------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        if not self.resuming_mid_epoch():
            for metric in self.train_metrics.values():
                metric.reset()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
                      ) -> torch.Tensor:
        loss, preds, y = self._step(batch)
        self._update(self.train_metrics, preds, y)
        return loss

    def on_train_epoch_end(self) -> None:
        for name, metric in self.train_metrics.items():
            self.log(f"train/{name}", metric.compute(), on_step=False, on_epoch=True)

    # --- evaluation -----------------------------------------------------------------------
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.val_loss(loss, weight=len(y))
        self._update(self.val_metrics, preds, y)
        self._log_split("val", self.val_metrics, self.val_loss)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.test_loss(loss, weight=len(y))
        self._update(self.test_metrics, preds, y)
        self._log_split("test", self.test_metrics, self.test_loss)
