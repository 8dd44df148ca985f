"""Fabricate run directories that follow docs/run-directory.md, with known values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml


def val_curve(
    val_acc_best: float, epochs: int = 5, steps_per_epoch: int = 10, seconds_per_step: float = 0.1
) -> list[tuple[int, float, float]]:
    """(step, val/acc, seconds) rising linearly from 0.5 to val_acc_best."""
    out = []
    for e in range(epochs):
        acc = 0.5 + (val_acc_best - 0.5) * (e + 1) / epochs
        step = (e + 1) * steps_per_epoch
        out.append((step, round(acc, 6), round(step * seconds_per_step, 6)))
    return out


def first_reach(
    curve: list[tuple[int, float, float]], target: float
) -> tuple[float | None, float | None]:
    for step, acc, seconds in curve:
        if acc >= target:
            return step, seconds
    return None, None


def make_run(
    root: Path,
    name: str,
    *,
    data: str = "digits",
    model: str = "cnn_small",
    optimizer: str = "adam",
    lr: float = 0.001,
    seed: int = 0,
    val_acc_best: float | None = 0.9,
    test_acc: float | None = 0.9,
    status: str = "completed",
    target: float = 0.8,
    target_step: float | None | str = "curve",
    target_seconds: float | None | str = "curve",
    curve: list[tuple[int, float, float]] | None = None,
    extra_overrides: list[str] = (),
    config: dict | None = None,
    write_metrics: bool = True,
    error: str | None = None,
    hparams: dict | None = None,
) -> Path:
    """One run folder under root/name. target_step/seconds 'curve' = computed from the curve."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    overrides = [f"optimizer={optimizer}", f"lr={lr}", f"seed={seed}", *extra_overrides]
    cfg = {
        "lr": lr,
        "seed": seed,
        "max_epochs": 5,
        "batch_size": 64,
        "data": {"_target_": f"optarena.data.{data}"},
        "model": {"_target_": f"optarena.models.{model}"},
        "optimizer": {"_target_": f"torch.optim.{optimizer}", "_partial_": True, "lr": "${lr}"},
        **(config or {}),
    }
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    choices = {"data": data, "model": model, "optimizer": optimizer, "scheduler": "none"}
    (run / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}})
    )

    if curve is None:
        curve = val_curve(val_acc_best) if val_acc_best is not None else []
    reach = first_reach(curve, target)
    step = reach[0] if target_step == "curve" else target_step
    seconds = reach[1] if target_seconds == "curve" else target_seconds
    if curve:
        _write_curve(run, curve)
    if not write_metrics:
        return run
    metrics = {
        "status": status,
        "error": error,
        "data": data,
        "model": model,
        "optimizer": optimizer,
        "scheduler": "none",
        "lr": lr,
        "seed": seed,
        "overrides": overrides,
        "hparams": {"batch_size": 64, "max_epochs": 5, **(hparams or {})},
        "metrics": {
            "train/loss": 0.1,
            "val/acc": val_acc_best,
            "val/acc_best": val_acc_best,
            "test/acc": test_acc,
        },
        "target": {"metric": "val/acc", "value": target, "step": step, "seconds": seconds},
        "diverged_step": 30 if status == "diverged" else None,
        "epochs": 5,
        "steps": 50,
        "wall_seconds": 5.0,
        "versions": {
            "python": "3.11",
            "torch": "2.11.0",
            "lightning": "2.6.6",
            "optarena": "0.1.0",
        },
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def _write_curve(run: Path, curve: list[tuple[int, float, float]]) -> None:
    """CSVLogger layout: train rows (train/loss each 5 steps), val rows (val/acc per epoch).

    Like Lightning, `step` is the 0-based index of the last step (metrics.json counts steps).
    """
    lines = ["epoch,step,train/loss,val/acc,time/seconds"]
    last = 0
    for epoch, (step, acc, seconds) in enumerate(curve):
        for s in range(last + 5, step + 1, 5):
            loss = (1.1 - curve[-1][1]) * 4 / math.sqrt(s)
            lines.append(f"{epoch},{s - 1},{loss:.5f},,{seconds * s / step:.4f}")
        lines.append(f"{epoch},{step - 1},,{acc},{seconds}")
        last = step
    (run / "csv").mkdir()
    (run / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")


def make_seeds(root: Path, prefix: str, values: list[dict], **common) -> list[Path]:
    """One run per dict of per-seed values (seed = its index), sharing `common` arguments."""
    return [
        make_run(root, f"{prefix}_s{i}", seed=i, **{**common, **v}) for i, v in enumerate(values)
    ]
