"""The default progress bar: Lightning's Rich bar, fed a few times a second, not every step."""

from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import RichProgressBar

from optarena.callbacks import progress_bar
from optarena.callbacks.progress_bar import ThrottledRichProgressBar


def test_the_bar_is_fed_at_most_updates_per_second_and_at_each_epochs_last_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fed, clock = [], [100.0]
    monkeypatch.setattr(RichProgressBar, "on_train_batch_end",
                        lambda self, trainer, module, out, batch, i: fed.append(i))
    monkeypatch.setattr(progress_bar.time, "monotonic", lambda: clock[0])
    bar, trainer = ThrottledRichProgressBar(updates_per_second=2), SimpleNamespace(
        num_training_batches=50)
    for i in range(50):  # a whole epoch within 0.25 s: the first batch and the last
        bar.on_train_batch_end(trainer, None, None, None, i)
        clock[0] += 0.005
    assert fed == [0, 49]
    clock[0] += 0.5  # half a second later the next batch shows
    bar.on_train_batch_end(trainer, None, None, None, 0)
    bar.on_train_batch_end(trainer, None, None, None, 1)
    assert fed == [0, 49, 0]


def test_a_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="updates_per_second must be > 0"):
        ThrottledRichProgressBar(updates_per_second=0)
