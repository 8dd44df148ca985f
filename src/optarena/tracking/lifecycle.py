"""The tracker runs of a run folder across attempts: a resumed run continues them, a folder
that starts over retires them (as optarena.run_folder does for TensorBoard events)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger, WandbLogger

from optarena.tracking.extras import installed


def continue_runs(loggers: list[Logger]) -> None:
    """Before a resumed fit: MLflow and W&B log into the run folder's earlier run."""
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            from optarena.tracking import mlflow_runs

            mlflow_runs.continue_run(logger)
        elif isinstance(logger, WandbLogger):
            from optarena.tracking import wandb_runs

            wandb_runs.continue_run(logger)


def retire_previous(run_dir: Path, logger_cfg: Any) -> list[str]:
    """A run starting over in `run_dir`: the MLflow runs of its earlier attempts are marked
    deleted (W&B's live in <run dir>/wandb/, removed with the folder's other outputs).
    Returns what was retired, as `mlflow run <id>`."""
    retired: list[str] = []
    for node in (logger_cfg or {}).values():
        if node is None or not str(node.get("_target_", "")).endswith(".mlflow_logger"):
            continue
        if not installed("mlflow"):
            continue
        from optarena.tracking import mlflow_runs

        retired += [f"mlflow run {run_id}" for run_id in mlflow_runs.retire_runs(
            str(node.tracking_uri), str(node.experiment_name), str(run_dir))]
    return retired
