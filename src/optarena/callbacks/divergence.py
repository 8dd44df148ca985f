"""Stop a run whose training loss diverged, so that a sweep goes on."""

import math

import lightning.pytorch as pl
import torch


class DivergenceGuard(pl.Callback):
    """Stops training when the loss is NaN/inf or exceeds `factor` x its first value.

    Lightning's EarlyStopping(check_finite=True) only looks at a validation metric once per
    epoch; a diverged run should stop at the step it diverged, with that step recorded.
    """

    def __init__(self, factor: float = 100.0) -> None:
        self.factor = factor
        self.start_loss: float | None = None
        self.diverged_step: int | None = None
        self.reason: str | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: torch.Tensor | dict, batch: object, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        value = float(loss.detach())
        if self.start_loss is None and math.isfinite(value):
            self.start_loss = value
            return
        if not math.isfinite(value):
            self.reason = f"training loss became {value} at step {trainer.global_step}"
        elif self.start_loss is not None and value > self.factor * max(self.start_loss, 1e-8):
            self.reason = (f"training loss {value:.4g} exceeded {self.factor:g} x its first value "
                           f"{self.start_loss:.4g} at step {trainer.global_step}")
        if self.reason:
            self.diverged_step = trainer.global_step
            trainer.should_stop = True

    def state_dict(self) -> dict:
        return {"start_loss": self.start_loss}

    def load_state_dict(self, state_dict: dict) -> None:
        self.start_loss = state_dict.get("start_loss")

    @property
    def diverged(self) -> bool:
        return self.diverged_step is not None
