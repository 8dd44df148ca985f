"""Performance profiles and the area score, on hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from report_fixtures import make_seeds

from optarena.report import profiles, stats
from optarena.report.collect import collect_runs

INF = math.inf
# Median steps to target per task: adam/sgd ratios are (1, 2, 1) and (2, 1, inf);
# t4 is reached by nobody and must be left out.
TIMES = {
    "t1": {"adam": 100, "sgd": 200},
    "t2": {"adam": 300, "sgd": 150},
    "t3": {"adam": 100, "sgd": INF},
    "t4": {"adam": INF, "sgd": INF},
}


def summary_of(times: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"task": t, "optimizer": o, "steps_to_target_median": v}
            for t, per in times.items()
            for o, v in per.items()
        ]
    )


def test_ratios_and_excluded_tasks():
    r, excluded = profiles.ratios(summary_of(TIMES))
    assert excluded == ["t4"]
    assert r["adam"].tolist() == [1.0, 2.0, 1.0]
    assert r["sgd"].tolist() == [2.0, 1.0, INF]


@pytest.mark.parametrize(
    ("tau", "adam", "sgd"),
    [
        (1.0, 2 / 3, 1 / 3),
        (1.5, 2 / 3, 1 / 3),
        (2.0, 1.0, 2 / 3),
        (4.0, 1.0, 2 / 3),
        (1e9, 1.0, 2 / 3),
    ],
)
def test_rho_at_chosen_tau(tau, adam, sgd):
    r, _ = profiles.ratios(summary_of(TIMES))
    assert profiles.rho(r, tau).to_dict() == pytest.approx({"adam": adam, "sgd": sgd})


def test_area_score_closed_form_matches_numeric_integral():
    r, _ = profiles.ratios(summary_of(TIMES))
    score = profiles.area_score(r)
    # adam: tasks add (3, 2, 3)/3 -> 8/9; sgd: (2, 3, 0)/3 -> 5/9.
    assert score["adam"] == pytest.approx(8 / 9) and score["sgd"] == pytest.approx(5 / 9)
    taus = np.linspace(1, 4, 301)
    numeric = {
        name: np.trapezoid([profiles.rho(r, t)[name] for t in taus], taus) / 3 for name in r.columns
    }
    assert numeric == pytest.approx(score.to_dict(), abs=0.02)


def test_optimizer_missing_from_a_task_counts_as_never():
    times = {"t1": {"adam": 100, "sgd": 50}, "t2": {"adam": 100}}
    r, excluded = profiles.ratios(summary_of(times))
    assert excluded == [] and r.loc["t2", "sgd"] == INF
    assert profiles.area_score(r)["sgd"] == pytest.approx(0.5)


def test_profile_from_run_directories(tmp_path):
    # Per-seed steps -> medians adam 40 (reached on 2 of 3 seeds), sgd never: ratio 1 vs inf.
    make_seeds(
        tmp_path,
        "a",
        [{"target_step": 40}, {"target_step": 30}, {"target_step": None}],
        optimizer="adam",
    )
    make_seeds(tmp_path, "s", [{"target_step": None}] * 2, optimizer="sgd")
    runs, _ = collect_runs([tmp_path])
    r, excluded = profiles.ratios(stats.summarize(stats.resolve_targets(runs)))
    assert excluded == [] and r.loc["digits/cnn_small"].to_dict() == {"adam": 1.0, "sgd": INF}
