"""Curve aggregation over seeds for the figures."""

import numpy as np
import pandas as pd
import pytest

from optarena.report.figures import _series, mean_band


def seed(steps, ys, seconds):
    return pd.DataFrame({"step": steps, "y": ys, "seconds": seconds}, dtype=float)


def test_seeds_align_on_steps_and_average_their_seconds():
    # Same steps, different speeds: the band is per step, seconds are the seeds' mean.
    band = mean_band(
        [seed([10, 20], [0.5, 0.7], [1.0, 2.0]), seed([10, 20], [0.7, 0.9], [3.0, 6.0])]
    )
    assert band["step"].tolist() == [10, 20]
    assert band["seconds"].tolist() == [2.0, 4.0]
    assert band["mean"].tolist() == pytest.approx([0.6, 0.8])
    assert band["std"].tolist() == pytest.approx([0.1, 0.1])


def test_a_seed_that_stopped_early_drops_out():
    band = mean_band([seed([10, 20, 30], [0.5, 0.6, 0.7], [1, 2, 3]), seed([10], [0.9], [1])])
    assert band["n"].tolist() == [2, 1, 1]
    assert band["mean"].tolist() == pytest.approx([0.7, 0.6, 0.7])


def test_series_takes_the_time_from_the_last_logged_row_and_skips_nan():
    curve = pd.DataFrame(
        {
            "step": [5, 10, 10, 15],
            "val/acc": [np.nan, np.nan, 0.8, np.inf],
            "time/seconds": [0.5, 1.0, np.nan, 1.5],
        }
    )
    rows = _series(curve, "val/acc")
    assert rows.to_dict("list") == {"step": [10], "y": [0.8], "seconds": [1.0]}
