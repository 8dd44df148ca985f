"""Record the first step and second at which the task's headline metric reaches a target."""

import time

import lightning.pytorch as pl


class TimeToTarget(pl.Callback):
    """`metric`: the task's headline (conf/callbacks/default.yaml resolves it: val/acc,
    val/miou); `target=None` takes the datamodule's `target` (each dataset states its own)."""

    def __init__(self, metric: str = "val/acc", target: float | None = None,
                 mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min, got {mode!r}")
        self.mode = mode
        self.metric, self.target = metric, target
        self.step: int | None = None
        self.seconds: float | None = None
        self._start = time.perf_counter()
        self._elapsed_before = 0.0  # training time of the attempts before a resume

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter() - self._elapsed_before
        if self.target is None:
            self.target = getattr(trainer.datamodule, "target", None)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.step is not None or self.target is None:
            return
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return
        if (float(value) >= self.target) if self.mode == "max" else (float(value) <= self.target):
            self.step = trainer.global_step
            self.seconds = time.perf_counter() - self._start

    def as_dict(self) -> dict:
        return {"metric": self.metric, "value": self.target, "step": self.step,
                "seconds": self.seconds}

    def state_dict(self) -> dict:
        return {"target": self.target, "step": self.step, "seconds": self.seconds,
                "elapsed": time.perf_counter() - self._start}

    def load_state_dict(self, state_dict: dict) -> None:
        self.target, self.step, self.seconds = (state_dict["target"], state_dict["step"],
                                                state_dict["seconds"])
        self._elapsed_before = state_dict.get("elapsed", 0.0)
