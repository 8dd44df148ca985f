"""Find run directories and load them into one table (one row per run)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from optarena.errors import OptArenaError
from optarena.record import Headline, choice, find_run_dirs, last_line, read_record

# Override keys that define the groups or the replicate, never a "swept knob".
GROUP_KEYS = ("data", "model", "optimizer")
NON_KNOBS = {*GROUP_KEYS, "seed", "lr", "stage"}  # stage: tune | confirm (tune_confirm sweeps)
# Folders inside a run (or beside runs) that never hold runs: skip them while walking.
RUN_COLUMNS = [
    "task",
    "kind",
    "metric",
    "data",
    "model",
    "optimizer",
    "lr",
    "seed",
    "stage",
    "setting",
    "status",
    "val_score",
    "test_score",
    "val_acc_best",
    "test_acc",
    "target_metric",
    "target",
    "steps_to_target",
    "seconds_to_target",
    "steps",
    "epochs",
    "max_epochs",
    "batch_size",
    "wall_seconds",
    "diverged_step",
    "error",
    "run_dir",
]


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise OptArenaError(
            f"cannot parse {path}: {err.__class__.__name__}; fix or delete the file"
        ) from None


def parse_overrides(overrides: list[str] | None) -> dict[str, str]:
    """Hydra override strings ('+a.b=1', 'lr=0.01') -> {key: value}; deletions are ignored."""
    out: dict[str, str] = {}
    for item in overrides or []:
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.split("=", 1)
        out[key.lstrip("+")] = value
    return out


def _num(value: Any) -> float:
    """A metric value as float; None / missing -> NaN (not run), 'inf' strings -> inf."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _config_lr(config: dict) -> float:
    lr = config.get("lr")
    if lr is None and isinstance(config.get("optimizer"), dict):
        lr = config["optimizer"].get("lr")
    return _num(lr) if not isinstance(lr, str) else math.nan


def _kind_of(config: dict) -> dict[str, Any]:
    """Task and headline of a run that wrote no record yet, from its data config's class."""
    from optarena.tasks import data_kind, task_class

    try:
        kind = data_kind((config.get("data") or {}).get("_target_", ""))
    except Exception:  # not importable here: the run is still shown, as classification
        return {}
    return {"task": kind, "metric": task_class(kind).headline.as_record()}


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """One run -> (row of RUN_COLUMNS, its overrides as {key: value})."""
    metrics = read_record(run_dir, strict=True)
    config = _read_yaml(run_dir / ".hydra" / "config.yaml") or {}
    hydra_cfg = _read_yaml(run_dir / ".hydra" / "hydra.yaml") or {}
    choices = (hydra_cfg.get("hydra", hydra_cfg).get("runtime") or {}).get("choices") or {}
    overrides = parse_overrides(
        metrics.get("overrides")
        if metrics and metrics.get("overrides") is not None
        else _read_yaml(run_dir / ".hydra" / "overrides.yaml")
    )
    if metrics is None:  # still running (or killed before writing its summary)
        metrics = {
            "status": "running",
            **_kind_of(config),
            **{k: choice(choices, k) or overrides.get(k) for k in GROUP_KEYS},
            "lr": _config_lr(config),
            "seed": config.get("seed", overrides.get("seed")),
        }
    values = metrics.get("metrics") or {}
    target = metrics.get("target") or {}
    headline = Headline.of(metrics)
    row = {
        "data": str(metrics.get("data") or "?"),
        "model": str(metrics.get("model") or "?"),
        "optimizer": str(metrics.get("optimizer") or "?"),
        "lr": _num(metrics.get("lr")),
        "lr_source": metrics.get("lr_source"),  # finder: lr=find (its lr differs per seed)
        "seed": metrics.get("seed"),
        "status": str(metrics.get("status") or "running"),
        # tune | confirm in a tune-then-confirm sweep (report/stages.py); '' for a plain run.
        "stage": str(metrics.get("stage") or overrides.get("stage") or config.get("stage") or ""),
        # Every recorded metric as a column (test/miou -> test_miou), for claims on any of them.
        **{name.replace("/", "_"): _num(v) for name, v in values.items()},
        "recorded": tuple(name.replace("/", "_") for name in values),
        "val_acc_best": _num(values.get("val/acc_best")),
        "test_acc": _num(values.get("test/acc")),
        "kind": str(metrics.get("task") or "classification"),
        "metric": headline.name,
        # The headline metric, whatever the task: the selection and test columns.
        "val_score": _num(values.get(headline.best)),
        "test_score": _num(values.get(headline.test)),
        "target_metric": target.get("metric") or headline.val,
        "target": _num(target.get("value")),
        # From metrics.json; a null step means never reached (resolved in stats.time_to_target).
        "steps_to_target": _num(target.get("step")),
        "seconds_to_target": _num(target.get("seconds")),
        "steps": _num(metrics.get("steps")),
        "epochs": _num(metrics.get("epochs")),
        "wall_seconds": _num(metrics.get("wall_seconds")),
        "diverged_step": _num(metrics.get("diverged_step")),
        "error": last_line(metrics.get("error")),
        "run_dir": str(run_dir),
        "config_target": config.get("target"),
        "claims": config.get("claims") or [],
        # What the run trained for (the study references match on them) and its whole config.
        "max_epochs": _num((metrics.get("hparams") or {}).get("max_epochs",
                                                              config.get("max_epochs"))),
        "batch_size": _num((metrics.get("hparams") or {}).get("batch_size",
                                                              config.get("batch_size"))),
        "reference": config.get("reference") or [],
        "config": config,
    }
    row["task"] = f"{row['data']}/{row['model']}"
    return row, overrides


def load_curves(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's csv/metrics.csv (CSVLogger), or None when it has none yet.

    CSVLogger's `step` is the 0-based index of the last optimizer step; it becomes the number
    of steps taken (+1), the count metrics.json's target step uses (trainer.global_step).
    """
    path = Path(run_dir) / "csv" / "metrics.csv"
    if not path.is_file():  # tolerate CSVLogger's default csv/version_N/ layout
        found = sorted(Path(run_dir).glob("csv/*/metrics.csv"))
        if not found:
            return None
        path = found[-1]
    try:
        curve = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    if "step" in curve:
        curve["step"] = curve["step"] + 1
    return curve


def collect_runs(
    paths: list[Path], unreadable: list[tuple[Path, str]] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """All runs under `paths` as a DataFrame, plus the swept knob columns it added.

    A knob is an override key (other than data/model/optimizer/seed/lr) taking more than one
    value among the runs; a run's `setting` is its lr plus those knobs' values.
    `unreadable`: given a list, a run whose files cannot be read (a corrupt metrics.json) is
    left out and added there as (folder, why); without one it is an error. Either way it is an
    error when no run is readable.
    """
    run_dirs = find_run_dirs(paths)
    if not run_dirs:
        shown = ", ".join(str(p) for p in paths)
        raise OptArenaError(
            f"no runs found under {shown}: expected run folders holding metrics.json or "
            ".hydra/config.yaml (e.g. multirun/DATE/TIME from `python train.py -m ...`)"
        )
    loaded, skipped = [], []
    for run_dir in run_dirs:
        try:
            loaded.append(load_run(run_dir))
        except OptArenaError as err:
            if unreadable is None:
                raise
            skipped.append((run_dir, str(err)))
    if not loaded:
        raise OptArenaError(f"no readable run: {skipped[0][1]}" + (
            f" (and {len(skipped) - 1} more unreadable)" if len(skipped) > 1 else ""))
    if unreadable is not None:
        unreadable += skipped
    rows, overrides = zip(*loaded, strict=True)
    runs = pd.DataFrame(list(rows))
    runs["override_map"] = list(overrides)
    keys = sorted({k for o in overrides for k in o} - NON_KNOBS)
    knobs = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    # A run that did not override a knob ran at its configured value: show that value.
    values = [
        {k: o[k] if k in o else _config_value(row["config"], k) for k in knobs}
        for row, o in zip(rows, overrides, strict=True)
    ]
    for knob in knobs:
        runs[knob] = [v[knob] for v in values]
    runs["setting"] = [
        _setting_label(lr, v, source == "finder")
        for lr, v, source in zip(runs["lr"], values, runs["lr_source"], strict=True)
    ]
    return runs, knobs


def _config_value(config: dict, key: str) -> str:
    """`a.b` of a run's config as its override would read; '' when the config has no such key."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, bool):
        return str(node).lower()
    return "null" if node is None else str(node)


def _setting_label(lr: float, knobs: dict[str, str], found: bool = False) -> str:
    """`lr=0.001, knob=value`; lr=find runs (found) are one setting whatever lr each seed got."""
    parts = [f"lr={'find' if found else format(lr, 'g')}"]
    parts += [f"{k}={v}" for k, v in knobs.items() if v != ""]
    return ", ".join(parts)
