"""Whole runs on digits: divergence, sweeps, determinism, TensorBoard, schedules."""

import json
from pathlib import Path

import pandas as pd
import pytest

from optarena.run import train
from tests.conftest import run_train


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_huge_sgd_lr_ends_diverged_with_exit_code_0(tmp_path: Path) -> None:
    out = run_train(tmp_path, "optimizer=sgd", "lr=1e4", "debug=fast", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    summary = _summary(tmp_path / "run")
    assert summary["status"] == "diverged"
    assert summary["diverged_step"] is not None and summary["diverged_step"] < summary["steps"] + 1
    assert "training loss" in summary["error"]
    assert summary["metrics"]["test/acc"] is None


@pytest.mark.slow
def test_a_2x2_grid_leaves_4_run_dirs_and_tensorboard_names_them(tmp_path: Path) -> None:
    out = run_train(tmp_path, "-m", "optimizer=sgd,adam", "lr=0.01,0.001", "debug=fast",
                    "max_epochs=1", "hydra.sweep.dir=sweep")
    assert out.returncode == 0, out.stderr
    runs = sorted(p.parent for p in (tmp_path / "sweep").glob("*/metrics.json"))
    assert len(runs) == 4
    combos = {(s["optimizer"], s["lr"]) for s in map(_summary, runs)}
    assert combos == {("sgd", 0.01), ("sgd", 0.001), ("adam", 0.01), ("adam", 0.001)}
    assert all(_summary(r)["status"] == "completed" for r in runs)
    names = {p.parent.parent.name for p in
             (tmp_path / "outputs" / "tensorboard").glob("*/*/events.out.tfevents.*")}
    assert "debug=fast,lr=0.001,max_epochs=1,optimizer=adam" in names and len(names) == 4


def test_same_seed_gives_identical_metrics_on_cpu(tmp_path: Path, make_cfg) -> None:
    from tests.conftest import FAST, compose_cfg

    results = []
    for i in range(2):
        cfg = compose_cfg(tmp_path / str(i), [*FAST, "seed=7", "max_epochs=1"])
        train(cfg)
        results.append(_summary(Path(cfg.paths.output_dir))["metrics"])
    assert results[0] == results[1]
    cfg = compose_cfg(tmp_path / "2", [*FAST, "seed=8", "max_epochs=1"])
    train(cfg)
    assert _summary(Path(cfg.paths.output_dir))["metrics"] != results[0]


@pytest.mark.parametrize("scheduler", ["cosine", "warmup_cosine", "onecycle", "step"])
def test_schedulers_change_the_logged_lr(make_cfg, tmp_path: Path, scheduler: str) -> None:
    train(make_cfg(f"scheduler={scheduler}", "model=mlp", "batch_size=64", "max_epochs=2"))
    curves = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")
    lr = curves.filter(like="lr-").iloc[:, 0].dropna().to_numpy()
    assert len(lr) > 3 and lr.max() > 1.5 * lr.min() and lr[-1] < lr.max()


def test_constant_lr_stays_constant(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("model=mlp", "batch_size=64", "max_epochs=1"))
    curves = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")
    lr = curves.filter(like="lr-").iloc[:, 0].dropna()
    assert len(lr) > 1 and lr.nunique() == 1 and lr.iloc[0] == 0.001


def test_schedule_free_is_evaluated_in_eval_mode(make_cfg, tmp_path: Path) -> None:
    best = train(make_cfg("optimizer=schedulefree_adamw", "model=mlp", "batch_size=64",
                          "max_epochs=2"))
    summary = _summary(tmp_path / "run")
    assert summary["status"] == "completed" and best > 0.8


def test_muon_trains_the_cnn_and_records_its_groups(make_cfg, tmp_path: Path) -> None:
    # lr 3e-3: two epochs on digits; Muon's default 1e-3 needs more of them.
    assert train(make_cfg("optimizer=muon", "lr=0.003", "max_epochs=2")) > 0.9
    groups = {g["group"]: g for g in _summary(tmp_path / "run")["hparams"]["param_groups"]}
    # cnn_small on digits: 2 conv kernels and 2 hidden linear weights; the head; 9 biases/norms.
    assert (groups["hidden"]["optimizer"], groups["hidden"]["tensors"]) == ("Muon", 4)
    assert (groups["head_embedding"]["optimizer"], groups["head_embedding"]["tensors"]) == (
        "AdamW", 1)
    assert groups["bias_norm"]["optimizer"] == "AdamW" and not groups["bias_norm"]["decay"]
