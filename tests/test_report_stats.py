"""Selection on validation, intervals over seeds, time to target (report stats)."""

import math

import pandas as pd
import pytest
from report_fixtures import make_run, make_seeds

from optarena.report import stats
from optarena.report.collect import collect_runs, load_curves

T_975_DF2 = 4.302652729749464  # Student t 0.975 quantile, 2 degrees of freedom


def load(root, target=None):
    runs, knobs = collect_runs([root])
    return stats.resolve_targets(runs, target), knobs


def row(summary, optimizer, task="digits/cnn_small"):
    return summary[(summary["task"] == task) & (summary["optimizer"] == optimizer)].iloc[0]


def test_mean_std_and_t_interval_over_seeds(tmp_path):
    make_seeds(tmp_path, "adam", [{"test_acc": 0.90}, {"test_acc": 0.92}, {"test_acc": 0.94}])
    s = row(stats.summarize(load(tmp_path)[0]), "adam")
    half = T_975_DF2 * 0.02 / math.sqrt(3)  # 0.04968...
    assert s["n"] == 3
    assert s["test_acc_mean"] == pytest.approx(0.92)
    assert s["test_acc_std"] == pytest.approx(0.02)
    assert (s["test_acc_ci_low"], s["test_acc_ci_high"]) == pytest.approx(
        (0.92 - half, 0.92 + half)
    )
    assert half == pytest.approx(0.049683, abs=1e-6)


def test_accuracy_interval_is_clipped_to_one():
    mean, _, low, high, _ = stats.mean_ci(pd.Series([0.98, 1.0, 1.0]))
    assert high == 1.0 and low == pytest.approx(mean - T_975_DF2 * 0.011547005 / math.sqrt(3))


def test_one_seed_has_no_interval():
    mean, std, low, high, n = stats.mean_ci(pd.Series([0.9, None]))
    assert (mean, n) == (0.9, 1)
    assert all(math.isnan(v) for v in (std, low, high))


def test_lr_is_chosen_on_validation_even_when_test_disagrees(tmp_path):
    # lr=0.01 is best on validation; lr=0.001 would win on test. The choice must ignore test.
    make_seeds(
        tmp_path, "hi", [{"val_acc_best": v, "test_acc": 0.80} for v in (0.95, 0.96, 0.97)], lr=0.01
    )
    make_seeds(
        tmp_path,
        "lo",
        [{"val_acc_best": v, "test_acc": 0.99} for v in (0.90, 0.91, 0.92)],
        lr=0.001,
    )
    s = row(stats.summarize(load(tmp_path)[0]), "adam")
    assert s["lr"] == 0.01 and s["setting"] == "lr=0.01"
    assert s["val_acc_best_mean"] == pytest.approx(0.96)
    assert s["test_acc_mean"] == pytest.approx(0.80)


def test_other_swept_knobs_define_the_setting(tmp_path):
    for wd, vals in (("0.0", (0.90, 0.92)), ("0.1", (0.95, 0.97))):
        make_seeds(
            tmp_path,
            f"wd{wd}",
            [{"val_acc_best": v} for v in vals],
            lr=0.01,
            extra_overrides=[f"optimizer.weight_decay={wd}", "max_epochs=5"],
        )
    runs, knobs = load(tmp_path)
    assert knobs == ["optimizer.weight_decay"]  # max_epochs takes one value: not swept
    s = row(stats.summarize(runs), "adam")
    assert s["setting"] == "lr=0.01, optimizer.weight_decay=0.1"
    assert s["val_acc_best_mean"] == pytest.approx(0.96)


def test_diverged_seeds_count_against_a_setting(tmp_path):
    # lr=0.1 has the higher val/acc_best on its surviving seeds but 2 of 3 diverge before any
    # validation (counted 0): the stable lr=0.01 must win.
    make_seeds(
        tmp_path,
        "big",
        [
            {"val_acc_best": 0.99},
            {"status": "diverged", "val_acc_best": None, "test_acc": None},
            {"status": "diverged", "val_acc_best": None, "test_acc": None},
        ],
        lr=0.1,
    )
    make_seeds(tmp_path, "ok", [{"val_acc_best": 0.90}] * 3, lr=0.01)
    make_run(
        tmp_path, "crashed", lr=0.01, seed=7, status="failed", val_acc_best=None, test_acc=None
    )
    runs, _ = load(tmp_path)
    scores = stats.selection_scores(runs).set_index("setting")
    assert scores.loc["lr=0.1", "val_mean"] == pytest.approx(0.33)
    assert scores.loc["lr=0.1", "diverged"] == 2
    s = row(stats.summarize(runs), "adam")
    assert (s["lr"], s["n"], s["failed"], s["diverged"]) == (0.01, 3, 1, 0)


def test_time_to_target_median_counts_never_as_infinity(tmp_path):
    make_seeds(
        tmp_path,
        "a",
        [
            {"target_step": 100, "target_seconds": 2.0},
            {"target_step": 200, "target_seconds": 4.0},
            {"target_step": None, "target_seconds": None},
        ],
        optimizer="adam",
    )
    make_seeds(
        tmp_path,
        "s",
        [
            {"target_step": 100, "target_seconds": 1.0},
            {"target_step": None, "target_seconds": None},
            {"target_step": None, "target_seconds": None},
        ],
        optimizer="sgd",
    )
    summary = stats.summarize(load(tmp_path)[0])
    adam, sgd = row(summary, "adam"), row(summary, "sgd")
    assert (adam["steps_to_target_median"], adam["seconds_to_target_median"]) == (200, 4.0)
    assert (adam["reached"], adam["finished"]) == (2, 3)
    assert (adam["steps_ci_low"], adam["steps_ci_high"]) == (100, math.inf)
    assert adam["ttt_ci_coverage"] == pytest.approx(0.75)  # [min, max] of 3 seeds
    assert sgd["steps_to_target_median"] == math.inf and sgd["reached"] == 1


def test_median_interval_uses_order_statistics_from_six_seeds():
    med, low, high, coverage, n = stats.median_ci(pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10.0]))
    assert (med, low, high, coverage, n) == (5.5, 2.0, 9.0, 0.95, 10)
    med, low, high, _, _ = stats.median_ci(
        pd.Series([1, 2, 3, 4, math.inf, math.inf, math.inf, math.inf])
    )
    assert (med, low, high) == (math.inf, 1.0, math.inf)


def test_target_flag_recomputes_from_logged_curve(tmp_path):
    # Curve: val/acc at steps 10..50 = 0.58, 0.66, 0.74, 0.82, 0.90 (seconds = step / 10).
    make_run(tmp_path, "r", val_acc_best=0.9, target=0.8)
    runs, _ = load(tmp_path)
    assert (runs.at[0, "steps_to_target"], runs.at[0, "seconds_to_target"]) == (40, 4.0)
    runs, _ = load(tmp_path, target=0.7)
    assert (
        runs.at[0, "target"],
        runs.at[0, "steps_to_target"],
        runs.at[0, "seconds_to_target"],
    ) == (0.7, 30, 3.0)
    # Recomputing the recorded target from the CSV gives the recorded numbers (steps counted).
    assert stats.first_reach(load_curves(tmp_path / "r"), "val/acc", 0.8) == (40, 4.0)
    runs, _ = load(tmp_path, target=0.97)
    assert runs.at[0, "steps_to_target"] == math.inf


def test_config_target_overrides_metrics_json_and_flag_wins(tmp_path):
    make_run(tmp_path, "r", val_acc_best=0.9, target=0.8, config={"target": 0.6})
    runs, _ = load(tmp_path)
    assert (runs.at[0, "target"], runs.at[0, "steps_to_target"]) == (0.6, 20)
    runs, _ = load(tmp_path, target=0.85)
    assert (runs.at[0, "target"], runs.at[0, "steps_to_target"]) == (0.85, 50)


def test_unfinished_runs_have_no_time_and_still_get_a_row(tmp_path):
    make_run(tmp_path, "done", optimizer="adam")
    make_run(tmp_path, "live", optimizer="sgd", lr=0.05, write_metrics=False)
    runs, _ = load(tmp_path)
    live = runs[runs["optimizer"] == "sgd"].iloc[0]
    assert (live["status"], live["lr"], live["data"]) == ("running", 0.05, "digits")
    assert math.isnan(live["steps_to_target"])
    s = row(stats.summarize(runs), "sgd")
    assert (s["setting"], s["running"], s["n"]) == ("", 1, 0)
