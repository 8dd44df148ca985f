"""Smith's LR range test (optarena.lr_find, docs/lr_find.md): the suggestion, group ratios,
every optimizer config, lr=find in train.py, finder folders in the report, bad input."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from optarena.errors import OptArenaError
from optarena.finder.range_test import run_range_test
from optarena.finder.settings import FinderSettings
from optarena.finder.suggest import smooth, suggest
from tests.conftest import CONF, ROOT, compose_cfg

OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
# A range test of a few steps on digits with a small MLP: seconds per optimizer.
TINY = ["debug=fast", "logger=csv", "model=mlp", "model.hidden=[32]", "batch_size=256",
        "lr_find.steps=8", "lr_find.skip_start=1", "lr_find.skip_end=1", "lr_find.beta=0",
        "lr_find.min_lr=1e-3", "lr_find.max_lr=3"]


def around_default(name: str) -> list[str]:
    """A range from 1/30 to 300 times the optimizer's own lr: in 8 steps the loss falls near
    the default for every optimizer (SGD's 0.01 and Lion's 1e-4 alike) and blows up above."""
    lr = float(compose_cfg(Path("."), [f"optimizer={name}"]).optimizer.lr)
    return [f"lr_find.min_lr={lr / 30:.3g}", f"lr_find.max_lr={lr * 300:.3g}"]


class LeastSquares(pl.LightningModule):
    """0.5 * mean squared error of a linear model on whitened inputs: the Hessian is X'X/n
    (eigenvalues near 1), so SGD is stable only below 2 / lambda_max, and at lr << 0.1 it
    barely moves in the test's steps. `head_ratio`: the bias group at that fraction of the lr."""

    def __init__(self, dim: int, head_ratio: float = 1.0) -> None:
        super().__init__()
        self.net = nn.Linear(dim, 1)
        self.head_ratio = head_ratio
        self.seen: list[list[float]] = []  # the lr of each group at every training step

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append([g["lr"] for g in self.trainer.optimizers[0].param_groups])
        return 0.5 * ((self.net(x).squeeze(1) - y) ** 2).mean()

    def configure_optimizers(self):
        lr = 0.01
        return torch.optim.SGD([{"params": [self.net.weight], "name": "weight"},
                                {"params": [self.net.bias], "name": "bias",
                                 "lr": lr * self.head_ratio}], lr=lr)


def _least_squares_data(n: int = 4096, dim: int = 8) -> tuple[pl.LightningDataModule, float]:
    """The data and lambda_max of its Hessian (bias column included)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, dim, generator=gen)
    y = x @ torch.randn(dim, generator=gen) + 3.0 + 0.05 * torch.randn(n, generator=gen)
    design = torch.cat([x, torch.ones(n, 1)], 1)
    lam_max = float(torch.linalg.eigvalsh(design.T @ design / n).max())
    data = pl.LightningDataModule.from_datasets(TensorDataset(x, y), batch_size=64)
    return data, lam_max


def _trainer(tmp_path: Path, steps: int) -> pl.Trainer:
    return pl.Trainer(max_steps=steps, max_epochs=-1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, num_sanity_val_steps=0)


def test_suggestion_lands_in_the_known_good_range(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)  # the model's start and the batches' order
    data, lam_max = _least_squares_data()
    settings = FinderSettings(min_lr=1e-4, max_lr=10.0, steps=80, skip_start=10, skip_end=5)
    test = run_range_test(_trainer(tmp_path, 80), LeastSquares(8), data, settings)
    got = suggest(test.lrs, test.raw, settings)
    # Good: fast enough to fit in tens of steps (>= 0.02), below the stability edge 2/lambda.
    assert 0.02 <= got.lr < 2 / lam_max, (got, lam_max)
    assert got.method == "steepest" and got.steepest == got.lr
    assert test.lrs[0] == pytest.approx(1e-4) and test.lrs == sorted(test.lrs)
    # The loss blew up past the stability edge and the test stopped there.
    assert test.steps < 80 and max(test.lrs) > 2 / lam_max


def test_group_ratios_survive_the_finder(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    data, _ = _least_squares_data(n=1024)
    settings = FinderSettings(min_lr=1e-4, max_lr=1.0, steps=15, skip_start=2, skip_end=2,
                              stop_factor=None)
    module = LeastSquares(8, head_ratio=0.1)
    test = run_range_test(_trainer(tmp_path, 15), module, data, settings)
    assert test.group_ratios == pytest.approx({"weight": 1.0, "bias": 0.1})
    seen = np.asarray(module.seen)
    assert len(seen) == 15
    # Each step: the weight group at the ramp's lr, the bias group at a tenth of it.
    np.testing.assert_allclose(seen[:, 0], test.lrs, rtol=1e-9)
    np.testing.assert_allclose(seen[:, 1] / seen[:, 0], 0.1, rtol=1e-9)
    # Lightning's ramp: exponential from min_lr to max_lr.
    assert seen[0, 0] == pytest.approx(1e-4) and seen[-1, 0] == pytest.approx(1.0, rel=0.2)
    # The hooks are gone afterwards: the module trains as before.
    assert "on_train_batch_start" not in module.__dict__


def test_smoothing_and_suggestion_methods() -> None:
    losses = np.array([2.0, 4.0, 4.0])
    np.testing.assert_allclose(smooth(losses, 0.5), [2.0, 10 / 3, 26 / 7])
    np.testing.assert_allclose(smooth(losses, 0.0), losses)
    lrs = list(np.logspace(-5, 0, 40))
    # A clean valley: flat, a fall between 1e-3 and 1e-2, a blow-up after 1e-1.
    x = np.log10(lrs)
    loss = 2 - 1.5 / (1 + np.exp(-(x + 2.5) * 6)) + np.where(x > -1, (x + 1) * 20, 0)
    settings = FinderSettings(beta=0.0, skip_start=2, skip_end=2)
    steep = suggest(lrs, list(loss), settings)
    assert 10**-2.8 < steep.lr < 10**-2.2  # the inflection at 10^-2.5
    mini = suggest(lrs, list(loss), FinderSettings(beta=0.0, skip_start=2, skip_end=2,
                                                  method="minimum"))
    assert mini.lr == pytest.approx(mini.minimum / 10) and 10**-2 < mini.minimum <= 10**-0.9
    with pytest.raises(OptArenaError, match="never fell"):
        suggest(lrs, list(np.linspace(1, 5, 40)), settings)
    with pytest.raises(OptArenaError, match="only 3 finite losses"):
        suggest(lrs, [2.0, 1.9, 1.8, math.nan, *[1.0] * 36], settings)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_runs_the_finder(tmp_path: Path, name: str) -> None:
    from optarena.lr_find import find

    cfg = compose_cfg(tmp_path, [*TINY, f"optimizer={name}", *around_default(name)])
    result = find(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    assert saved["suggestion"] == result["suggestion"] and saved["optimizer"] == name
    assert (tmp_path / "run" / "lr_find.png").stat().st_size > 10_000
    lr, settings = saved["suggestion"]["lr"], saved["settings"]
    assert settings["min_lr"] <= lr <= settings["max_lr"]
    assert len(saved["lrs"]) == len(saved["loss"]) == saved["steps"] and saved["steps"] >= 6
    # The loss fell before the suggestion was read off it; every group at the base lr.
    assert min(saved["smoothed"][: saved["suggestion"]["index"] + 1]) < saved["loss"][0]
    assert set(saved["group_ratios"].values()) == {1.0}
    assert not (tmp_path / "run" / "metrics.json").exists()  # a range test is not a run


def test_lr_find_trains_at_the_suggestion_and_records_its_source(tmp_path: Path) -> None:
    from optarena import run

    cfg = compose_cfg(tmp_path, [*TINY, "lr=find", "max_epochs=1",
                                 "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2",
                                 "+trainer.limit_test_batches=2"])
    run.train(cfg)
    run_dir = tmp_path / "run"
    found = json.loads((run_dir / "lr_find.json").read_text())
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed"
    assert record["lr"] == found["suggestion"]["lr"] == record["hparams"]["optimizer"]["lr"]
    assert record["lr_source"] == "finder" and record["lr_find"] == "lr_find.json"
    assert (run_dir / "lr_find.png").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file()
    # Trained at it: the optimizer's lr in the last checkpoint is the suggestion.
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    groups = state["optimizer_states"][0]["param_groups"]
    assert {g["lr"] for g in groups} == {found["suggestion"]["lr"]}


@pytest.mark.parametrize(("overrides", "source"), [([], "optimizer_default"),
                                                   (["lr=0.05"], "config")])
def test_lr_source_of_other_runs(tmp_path: Path, overrides: list[str], source: str) -> None:
    from optarena.run import run_record

    cfg = compose_cfg(tmp_path, ["debug=fast", *overrides])
    base = run_record(cfg, 0.05).base
    assert base["lr_source"] == source and base["lr_find"] is None


def _range_test_folder(root: Path, name: str, optimizer: str, seed: int, valley: float,
                       finished: bool = True) -> Path:
    """A folder as `python -m optarena.lr_find` leaves it: .hydra/ (job name lr_find) and,
    when finished, lr_find.json / lr_find.png of a curve falling fastest at lr `valley`."""
    import yaml

    from optarena.finder import output
    from optarena.finder.range_test import RangeTest

    folder = root / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "lr": None}))
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
        {"hydra": {"job": {"name": "lr_find"}, "runtime": {"choices": {"optimizer": optimizer}}}}))
    if finished:
        settings = FinderSettings(beta=0.0, skip_start=2, skip_end=2)
        lrs = list(np.logspace(-6, 1, 50))
        x = np.log10(lrs)
        loss = list(2 - 1.5 / (1 + np.exp(-(x - math.log10(valley)) * 6)) + (x > 0) * x * 9)
        test = RangeTest(lrs, loss, {"hidden": 1.0})
        identity = {"data": "digits", "model": "cnn_small", "optimizer": optimizer, "seed": seed}
        output.write(folder, output.result(test, suggest(lrs, loss, settings), settings, identity))
    return folder


def test_a_range_test_folder_is_not_a_run(tmp_path: Path) -> None:
    from optarena.record import find_run_dirs
    from tests.report_fixtures import make_run

    run = make_run(tmp_path, "grid_0", optimizer="adam", lr=0.001)
    _range_test_folder(tmp_path, "finder_0", "adam", 0, 1e-3)
    _range_test_folder(tmp_path, "finder_1", "adam", 1, 1e-3, finished=False)  # still running
    # train.py lr=find: a run with the range test inside its folder
    found = make_run(tmp_path, "found_0", optimizer="adam", lr=0.002)
    (found / "lr_find.json").write_text("{}")
    assert find_run_dirs([tmp_path]) == [found, run]


def test_report_shows_the_finder_beside_the_grid(tmp_path: Path) -> None:
    from optarena.report.build import build_report
    from tests.report_fixtures import make_run

    grid, finders = tmp_path / "grid", tmp_path / "finder"
    for lr, acc in ((1e-3, 0.90), (3e-3, 0.95), (1e-2, 0.80)):
        for seed in (0, 1):
            make_run(grid, f"adam_{lr:g}_s{seed}", optimizer="adam", lr=lr, seed=seed,
                     val_acc_best=acc, test_acc=acc)
    make_run(grid, "sgd_0.1_s0", optimizer="sgd", lr=0.1, val_acc_best=0.9, test_acc=0.9)
    for seed, valley in enumerate((1e-3, 2e-3, 4e-3)):
        _range_test_folder(finders, f"adam_{seed}", "adam", seed, valley)
    _range_test_folder(finders, "madgrad_0", "madgrad", 0, 1e-2)
    broken = _range_test_folder(finders, "broken", "adam", 3, 1e-3, finished=False)
    (broken / "lr_find.json").write_text('{"status": "comp')  # killed mid-write
    report = build_report([grid, finders], out=tmp_path / "report")

    rows = {r["optimizer"]: r for _, r in report.finder.iterrows()}
    assert set(rows) == {"adam", "madgrad"}  # sgd ran no range test
    suggestions = sorted(json.loads((finders / f"adam_{s}" / "lr_find.json").read_text())
                         ["suggestion"]["lr"] for s in range(3))
    adam = rows["adam"]
    assert adam["seeds"] == 3 and adam["method"] == "steepest"
    assert adam["finder lr (median)"] == f"{suggestions[1]:.3g}"
    assert adam["spread [min, max]"] == f"[{suggestions[0]:.3g}, {suggestions[2]:.3g}]"
    assert adam["grid lr (validation)"] == "0.003"
    assert adam["finder / grid"] == f"{suggestions[1] / 3e-3:.3g}"
    assert rows["madgrad"]["finder / grid"] == "no grid runs"
    # Range tests are no runs: 7 grid runs in every table, and the finder figure is written.
    assert len(report.headline) == 2 and "7 completed" in report.status
    md = (tmp_path / "report" / "report.md").read_text()
    assert "8. Is the LR finder stable?" in md and "lr_find_digits-cnn_small.png" in md
    assert [d for d, _ in report.unreadable] == [broken]  # left out, with its line
    assert f"Left out: unreadable {broken / 'lr_find.json'}" in md
    assert (tmp_path / "report" / "lr_find_digits-cnn_small.png").stat().st_size > 10_000


def test_a_report_of_range_tests_alone_shows_the_finder(tmp_path: Path, capsys) -> None:
    """`python -m optarena.lr_find -m optimizer=...` then the report on that sweep alone."""
    from optarena.report.__main__ import main

    for optimizer, valley in (("adam", 1e-3), ("sgd", 1e-1)):
        for seed in (0, 1):
            _range_test_folder(tmp_path / "finder", f"{optimizer}_{seed}", optimizer, seed, valley)
    assert main([str(tmp_path / "finder")]) == 0
    out = capsys.readouterr().out
    assert "runs: no training runs, LR range tests only" in out
    assert "Is the LR finder stable?" in out and "no grid runs" in out
    md = (tmp_path / "finder" / "report" / "report.md").read_text()
    assert "8. Is the LR finder stable?" in md and "give a sweep beside them" in md
    assert (tmp_path / "finder" / "report" / "lr_find_digits-cnn_small.png").stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2  # nothing at all: still the one-line error


@pytest.mark.parametrize(("override", "says"), [
    ("lr=fnd", "lr must be a number or find"),
    ("lr_find.method=valley", "lr_find.method must be one of steepest, minimum"),
    ("lr_find.steps=6", "lr_find.steps=6 leaves fewer than 5 points"),
    ("lr_find.min_lr=20", "0 < min_lr < max_lr"),
    ("lr_find.beta=1", "lr_find.beta is the smoothing factor in [0, 1)"),
    ("+lr_find.bogus=1", "lr_find.bogus is not a knob of the range test"),
])
def test_bad_input_gets_its_line(tmp_path: Path, override: str, says: str) -> None:
    from optarena import config_check
    from optarena.lr_find import check

    cfg = compose_cfg(tmp_path, ["debug=fast", override])
    with pytest.raises(OptArenaError, match=re.escape(says)):
        check(cfg, tmp_path / "run")
    if override != "lr=fnd":  # train.py lr=find checks the finder's knobs before it starts
        cfg = compose_cfg(tmp_path, ["debug=fast", "lr=find", override])
        with pytest.raises(OptArenaError, match=re.escape(says)):
            config_check.check(cfg)
    assert not (tmp_path / "run").exists()


def test_a_finished_range_test_is_not_overwritten_unasked(tmp_path: Path) -> None:
    from optarena.lr_find import check

    _range_test_folder(tmp_path, "run", "adam", 0, 1e-3)
    with pytest.raises(OptArenaError, match="already holds a range test.*overwrite=true"):
        check(compose_cfg(tmp_path, ["debug=fast"]), tmp_path / "run")
    check(compose_cfg(tmp_path, ["debug=fast", "overwrite=true"]), tmp_path / "run")


@pytest.mark.slow
def test_lr_find_command_sweep_and_its_errors(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}

    def lr_find(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "optarena.lr_find", *args], cwd=tmp_path,
                              env=env, text=True, capture_output=True, timeout=300)

    done = lr_find("-m", "optimizer=adam,madgrad", *TINY, "hydra.sweep.dir=sweep")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("suggested lr") == 2
    for job, name in ((0, "adam"), (1, "madgrad")):
        saved = json.loads((tmp_path / "sweep" / str(job) / "lr_find.json").read_text())
        assert saved["optimizer"] == name and f"{saved['suggestion']['lr']:.3g}" in done.stdout
    bad = lr_find("lr_find.method=valley", "hydra.run.dir=bad")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: lr_find.method must be one of steepest, minimum, got 'valley'"]
    assert not (tmp_path / "bad" / "lr_find.json").exists()


def test_the_finder_runs_on_segmentation(tmp_path: Path) -> None:
    from optarena.lr_find import find

    finder = [o for o in TINY if not o.startswith(("model", "batch_size"))]
    cfg = compose_cfg(tmp_path, [*finder, "data=digits_seg", "model=unet_small", "batch_size=16",
                                 "data.scenes={train:64,val:16,test:16}"])
    result = find(cfg, tmp_path / "run")
    assert (result["data"], result["model"]) == ("digits_seg", "unet_small")
    assert 1e-3 <= result["suggestion"]["lr"] <= 3 and result["steps"] >= 6
    assert all(math.isfinite(v) for v in result["loss"][:3])  # per-pixel cross-entropy
