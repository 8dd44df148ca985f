"""hydra/sweeper=tune_confirm: stage 1 at a tuning seed, each optimizer's best at fresh seeds;
the report takes test figures from stage 2 alone."""

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import HydraContext

from hydra_plugins.optarena_sweeper.tune_confirm_sweeper import TuneConfirmSweeper
from optarena.errors import OptArenaError
from optarena.report.build import build_report
from optarena.sweep import trials
from optarena.sweep.tune_confirm import Pick, confirm_seeds, keep_picks, pick, staged
from tests.conftest import CONF
from tests.report_fixtures import make_run
from tests.sweep_helpers import QUICK, run


def test_stage_two_seeds_are_fresh() -> None:
    assert confirm_seeds(3, 0) == [1, 2, 3]
    assert confirm_seeds(2, 7) == [8, 9]
    assert confirm_seeds([4, 2], 0) == [4, 2]
    with pytest.raises(OptArenaError, match=r"hold the tuning seed 0: stage 2 confirms at fresh"):
        confirm_seeds([0, 1, 2], 0)
    with pytest.raises(OptArenaError, match="must be a number of seeds >= 1"):
        confirm_seeds(0, 0)
    with pytest.raises(OptArenaError, match="name a seed twice"):
        confirm_seeds([1, 1], 0)
    assert staged(["optimizer=sgd", "seed=5", "lr=0.1", "stage=tune"], 2, "confirm") == [
        "optimizer=sgd", "lr=0.1", "seed=2", "stage=confirm"]


def test_quasi_random_lrs_are_spread_in_each_optimizers_range() -> None:
    points = trials.unit_points(8, seed=0)
    assert points == trials.unit_points(8, seed=0) and len(set(points)) == 8
    assert all(0 <= u < 1 for u in points)
    assert sorted(int(u * 8) for u in points) == list(range(8))  # one in each eighth (Halton)
    lrs = [float(v) for v in trials.draw(points, 1e-4, 1e-2)]
    assert all(1e-4 * 0.999 <= v <= 1e-2 * 1.001 for v in lrs)
    assert sorted(int(4 * math.log10(v / 1e-4) / 2) for v in lrs) == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(OptArenaError, match="trials must be a number of trials >= 1"):
        trials.check(0, 2.0)


def _plan(experiment: list[str], arguments: list[str], **settings: object
          ) -> tuple[list[list[str]], list | None]:
    """Stage 1's jobs and stage 2's swept seeds, as the sweeper an experiment configures (and
    hydra.sweeper.<settings>) plans them for a command line (nothing launched)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=experiment, return_hydra_config=True)
        node = {**{k: v for k, v in cfg.hydra.sweeper.items() if k != "_target_"}, **settings}
        sweeper = TuneConfirmSweeper(**node)
        sweeper.config = cfg
        sweeper.hydra_context = HydraContext(
            config_loader=GlobalHydra.instance().config_loader(), callbacks=None)
        return sweeper._grid([*experiment, *arguments])  # the command line's overrides


def test_esc10_study_tunes_24_runs_then_confirms_4_x_5() -> None:
    grid, seeds = _plan(["+experiment=esc10_hubert_optimizers"], [])
    assert len(grid) == 24 and seeds == [1, 2, 3, 4, 5]
    assert len(grid) + 4 * len(confirm_seeds(seeds, 0)) == 44
    assert not any(o.startswith("seed=") for job in grid for o in job)  # staged() adds it


@pytest.mark.parametrize("experiment", ["esc10_hubert_optimizers", "segmentation_optimizers"])
def test_tuned_studies_keep_their_plain_grid_under_the_basic_sweeper(experiment: str) -> None:
    from tests.conftest import compose_full

    tuned = compose_full([f"+experiment={experiment}"]).hydra.sweeper
    plain = compose_full([f"+experiment={experiment}", "hydra/sweeper=basic"]).hydra.sweeper
    assert tuned._target_.endswith("TuneConfirmSweeper")
    assert plain._target_.endswith("BasicSweeper") and plain.params == tuned.params
    assert "0" not in plain.params.seed.split(",")  # stage 2's seeds: never the tuning seed


def test_trials_draw_each_optimizer_its_own_lrs_from_its_grid_span() -> None:
    experiment = ["+experiment=esc10_hubert_optimizers"]
    grid, _ = _plan(experiment, ["optimizer=sgd,adam"], trials=3)
    lrs = {opt: [float(o[3:]) for job in grid if f"optimizer={opt}" in job for o in job
                 if o.startswith("lr=")] for opt in ("sgd", "adam")}
    assert len(grid) == 6 and all(len(v) == 3 for v in lrs.values())
    assert all(0.003 * 0.99 <= v <= 1.0 * 1.01 for v in lrs["sgd"])      # sgd's grid span
    assert all(0.0001 * 0.99 <= v <= 0.03 * 1.01 for v in lrs["adam"])  # adam's
    assert not any(o.startswith("lr_index=") for job in grid for o in job)
    with pytest.raises(OptArenaError, match=r"trials=3 draws the lrs itself: drop lr=0\.1,0\.01"):
        _plan(experiment, ["lr=0.1,0.01"], trials=3)


def test_picks_follow_the_reports_selection_over_diverged_and_failed_runs(tmp_path: Path) -> None:
    jobs = [[f"optimizer={o}", f"lr={lr}", "seed=0", "stage=tune"]
            for o in ("adam", "sgd") for lr in (0.1, 0.01, 0.001)]
    make_run(tmp_path, "0", lr=0.1, status="failed", val_acc_best=None, test_acc=None,
             extra_overrides=["stage=tune"])                    # no result: not a candidate
    make_run(tmp_path, "1", lr=0.01, status="diverged", val_acc_best=0.7,
             extra_overrides=["stage=tune"])                    # its best before diverging
    make_run(tmp_path, "2", lr=0.001, val_acc_best=0.6, extra_overrides=["stage=tune"])
    make_run(tmp_path, "3", optimizer="sgd", lr=0.1, val_acc_best=0.5,
             extra_overrides=["stage=tune"])                    # sgd's other jobs left no record
    picks, counts = pick(tmp_path, jobs)
    assert [(p.optimizer, p.setting, p.value) for p in picks] == [
        ("adam", "lr=0.01", 0.7), ("sgd", "lr=0.1", 0.5)]
    assert picks[0].overrides == jobs[1] and picks[0].metric == "val/acc_best"
    assert counts == {"completed": 2, "diverged": 1, "failed": 1, "no record": 2}


def test_a_resumed_sweep_whose_pick_changed_stops_with_one_clear_line(tmp_path: Path) -> None:
    old = Pick("digits/mlp", "adam", "lr=0.01", "val/acc_best", 0.9,
               ["optimizer=adam", "lr=0.01", "seed=0", "stage=tune"])
    keep_picks(tmp_path, [old], 0, [1, 2], resume=False)
    keep_picks(tmp_path, [old], 0, [1, 2], resume=True)  # the same picks: fine
    new = Pick("digits/mlp", "adam", "lr=0.1", "val/acc_best", 0.95,
               ["optimizer=adam", "lr=0.1", "seed=0", "stage=tune", "resume=true"])
    with pytest.raises(OptArenaError, match=r"stage 1 now picks \[adam lr=0\.1\] at seeds "
                       r"\[1, 2\], but the stage 2 in .* started with \[adam lr=0\.01\]"):
        keep_picks(tmp_path, [new], 0, [1, 2], resume=True)


def test_report_takes_test_figures_from_stage_two_only(tmp_path: Path) -> None:
    # Stage 1: two lrs at seed 0; the tuning seed's test value (0.10) is far from stage 2's.
    make_run(tmp_path, "0", lr=0.01, seed=0, val_acc_best=0.95, test_acc=0.10,
             extra_overrides=["stage=tune"])
    make_run(tmp_path, "1", lr=0.1, seed=0, val_acc_best=0.60, test_acc=0.50,
             extra_overrides=["stage=tune"])
    for i, acc in enumerate((0.90, 0.92, 0.94)):
        make_run(tmp_path, str(2 + i), lr=0.01, seed=1 + i, val_acc_best=0.93, test_acc=acc,
                 extra_overrides=["stage=confirm"])
    report = build_report([tmp_path])
    summary = pd.read_csv(report.out_dir / "summary.csv")
    assert summary.loc[0, "n"] == 3 and summary.loc[0, "test_acc_mean"] == pytest.approx(0.92)
    assert summary.loc[0, "test_acc_ci_low"] > 0.85  # 0.10 would drag the interval down
    md = (report.out_dir / "report.md").read_text()
    assert "comes from stage 2 alone" in md and "tuning seed 0" in md
    assert re.search(r"\| digits/cnn_small \| adam \| tune \| 2 \|", md)  # still counted


def test_stage_is_a_checked_knob(make_cfg) -> None:
    from optarena.run import train

    with pytest.raises(OptArenaError, match="stage must be tune, confirm or null"):
        train(make_cfg("stage=final"))


def _records(sweep_dir: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text())
            for p in sweep_dir.glob("*/metrics.json")}


@pytest.mark.slow
def test_tune_confirm_digits_sweep_runs_4_plus_2x2_resumes_nothing_reports_stage_2(
        tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "hydra/sweeper=tune_confirm", "optimizer=sgd,adam", "lr=0.1,0.003",
            "hydra.sweeper.seeds=2", *QUICK, "max_epochs=1", f"hydra.sweep.dir={sweep_dir}"]
    out = run(tmp_path, *args)
    assert out.returncode == 0, out.stderr[-3000:]
    records = _records(sweep_dir)
    assert sorted(records) == list(range(8))
    tuned = {n: r for n, r in records.items() if r["stage"] == "tune"}
    confirmed = {n: r for n, r in records.items() if r["stage"] == "confirm"}
    assert sorted(tuned) == [0, 1, 2, 3] and {r["seed"] for r in tuned.values()} == {0}
    assert sorted(confirmed) == [4, 5, 6, 7]
    for opt in ("sgd", "adam"):  # stage 2 runs the validation-best stage-1 lr at seeds 1, 2
        mine = [r for r in tuned.values() if r["optimizer"] == opt]
        best = max(mine, key=lambda r: r["metrics"]["val/acc_best"])["lr"]
        again = [r for r in confirmed.values() if r["optimizer"] == opt]
        assert sorted((r["lr"], r["seed"]) for r in again) == [(best, 1), (best, 2)]

    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sweep_dir.glob("*/metrics.json")}
    again = run(tmp_path, *args, "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(re.findall(r"is already completed; nothing to do", again.stdout + again.stderr)) == 8
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    assert sorted(_records(sweep_dir)) == list(range(8))  # no new folder either

    report = build_report([sweep_dir])
    summary = pd.read_csv(report.out_dir / "summary.csv").set_index("optimizer")
    for opt in ("sgd", "adam"):
        tests = [r["metrics"]["test/acc"] for r in confirmed.values() if r["optimizer"] == opt]
        assert summary.loc[opt, "n"] == 2
        assert summary.loc[opt, "test_acc_mean"] == pytest.approx(sum(tests) / 2)
