"""Stop a run whose training loss diverged, so that a sweep goes on."""

import math

import lightning.pytorch as pl
import torch


class DivergenceGuard(pl.Callback):
    """Stops training when the loss is NaN/inf or exceeds `factor` x its first value.

    Lightning's EarlyStopping(check_finite=True) only looks at a validation metric once per
    epoch; a diverged run should stop at the step it diverged, with that step recorded.

    Reading a loss on the host waits for the device. On the CPU that costs nothing and every
    step is checked at once; on an accelerator the losses are collected on the device and read
    together every `check_every_n_steps` steps (and at each epoch's end): the step recorded is
    still the first diverged one, the run stops at most that many steps later.
    """

    def __init__(self, factor: float = 100.0, check_every_n_steps: int = 10) -> None:
        if check_every_n_steps < 1:
            raise ValueError(f"check_every_n_steps must be >= 1, got {check_every_n_steps}")
        self.factor, self.check_every_n_steps = factor, check_every_n_steps
        self.start_loss: float | None = None
        self.diverged_step: int | None = None
        self.reason: str | None = None
        self._pending: list[tuple[int, torch.Tensor]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: torch.Tensor | dict, batch: object, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None or self.diverged:
            return
        if loss.device.type == "cpu" and not self._pending:  # one float, no stacking
            self._judge(trainer, trainer.global_step, float(loss))
            return
        self._pending.append((trainer.global_step, loss.detach()))
        # The first loss is read at once: it is the reference, and it goes into checkpoints.
        if self.start_loss is None or len(self._pending) >= self.check_every_n_steps:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: pl.Trainer) -> None:
        """Read the pending losses (one transfer) and stop at the first diverged one."""
        if not self._pending:
            return
        steps = [step for step, _ in self._pending]
        values = torch.stack([loss.float() for _, loss in self._pending]).tolist()
        self._pending = []
        for step, value in zip(steps, values, strict=True):
            if self._judge(trainer, step, value):
                return

    def _judge(self, trainer: pl.Trainer, step: int, value: float) -> bool:
        """Take the first finite loss as the reference; stop at a diverged one (True)."""
        if self.start_loss is None and math.isfinite(value):
            self.start_loss = value
            return False
        if not math.isfinite(value):
            self.reason = f"training loss became {value} at step {step}"
        elif self.start_loss is not None and value > self.factor * max(self.start_loss, 1e-8):
            self.reason = (f"training loss {value:.4g} exceeded {self.factor:g} x its first "
                           f"value {self.start_loss:.4g} at step {step}")
        if self.reason:
            self.diverged_step = step
            trainer.should_stop = True
        return self.reason is not None

    def state_dict(self) -> dict:
        return {"start_loss": self.start_loss}

    def load_state_dict(self, state_dict: dict) -> None:
        self.start_loss = state_dict.get("start_loss")

    @property
    def diverged(self) -> bool:
        return self.diverged_step is not None
