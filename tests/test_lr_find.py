"""Smith's LR range test (optarena.lr_find, docs/lr_find.md): the suggestion, group ratios,
every optimizer config, lr=find in train.py, finder folders in the report, bad input."""

from __future__ import annotations

import json
import math
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
from tests.conftest import CONF, compose_cfg

OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))
# A range test of a few steps on digits with a small MLP: seconds per optimizer.
TINY = ["debug=fast", "logger=csv", "model=mlp", "model.hidden=[32]", "batch_size=32",
        "lr_find.steps=7", "lr_find.skip_start=1", "lr_find.skip_end=1", "lr_find.beta=0",
        "lr_find.min_lr=1e-3", "lr_find.max_lr=3"]


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

    cfg = compose_cfg(tmp_path, [*TINY, f"optimizer={name}"])
    result = find(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    assert saved["suggestion"] == result["suggestion"] and saved["optimizer"] == name
    assert (tmp_path / "run" / "lr_find.png").stat().st_size > 10_000
    lr = saved["suggestion"]["lr"]
    assert 1e-3 <= lr <= 3 and len(saved["lrs"]) == len(saved["loss"]) == saved["steps"]
    assert 5 <= saved["steps"] <= 7
    # The loss fell before the suggestion was read off it; every group at the base lr.
    assert min(saved["smoothed"][: saved["suggestion"]["index"] + 1]) < saved["loss"][0]
    assert set(saved["group_ratios"].values()) == {1.0}
    assert not (tmp_path / "run" / "metrics.json").exists()  # a range test is not a run
