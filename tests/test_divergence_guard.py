"""The divergence guard records the first diverged step, however often it reads the losses."""

import math
from types import SimpleNamespace

import pytest
import torch

from optarena.callbacks.divergence import DivergenceGuard


class _DeviceLoss(torch.Tensor):
    """A CPU tensor that reports an accelerator device, to take the deferred path on a CPU."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("meta")


def _feed(guard: DivergenceGuard, losses: list[float], on_device: bool) -> SimpleNamespace:
    trainer = SimpleNamespace(global_step=0, should_stop=False)
    for step, value in enumerate(losses, start=1):
        if trainer.should_stop:
            break
        trainer.global_step = step
        loss = torch.tensor(value)
        if on_device:
            loss = loss.as_subclass(_DeviceLoss)
        guard.on_train_batch_end(trainer, None, {"loss": loss}, None, step - 1)
    trainer.stopped_after = trainer.global_step
    return trainer


@pytest.mark.parametrize("bad", [math.nan, math.inf, 500.0])
def test_cpu_stops_at_the_diverged_step(bad: float) -> None:
    guard = DivergenceGuard(factor=100.0)
    trainer = _feed(guard, [2.0, 1.5, 1.0, bad, 1.0, 1.0], on_device=False)
    assert trainer.should_stop and guard.diverged_step == 4 and trainer.stopped_after == 4
    assert "step 4" in guard.reason


def test_device_losses_are_read_in_batches_but_the_first_bad_step_is_recorded() -> None:
    guard = DivergenceGuard(factor=100.0, check_every_n_steps=5)
    losses = [2.0, 1.5, 1.0, 0.9, 0.8, 0.7, math.nan, 1e6, 0.5, 0.4, 0.3, 0.2, 0.1]
    trainer = _feed(guard, losses, on_device=True)
    assert guard.start_loss == 2.0  # read at once
    assert guard.diverged_step == 7 and "nan" in guard.reason
    assert trainer.stopped_after == 11  # the batch of steps 7..11 is read at step 11


def test_epoch_end_reads_what_is_pending() -> None:
    guard = DivergenceGuard(check_every_n_steps=50)
    trainer = _feed(guard, [1.0, 1.0, math.inf], on_device=True)
    assert not trainer.should_stop
    guard.on_train_epoch_end(trainer, None)
    assert trainer.should_stop and guard.diverged_step == 3


def test_a_run_that_stays_finite_is_never_stopped() -> None:
    guard = DivergenceGuard(check_every_n_steps=3)
    trainer = _feed(guard, [2.0 / (i + 1) for i in range(20)], on_device=True)
    guard.on_train_epoch_end(trainer, None)
    assert not trainer.should_stop and not guard.diverged
