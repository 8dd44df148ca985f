"""When a run ends, every logger gets the run record's resolved hyperparameters and final
metrics (metrics.json's `metrics`), once, in the form that logger shows best."""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch.loggers import (
    CSVLogger,
    Logger,
    MLFlowLogger,
    TensorBoardLogger,
    WandbLogger,
)

from optarena.tracking import wandb_runs


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def log_final(loggers: list[Logger], params: dict[str, Any], metrics: dict[str, Any],
              step: int) -> None:
    """`params`: the run's settings; `metrics`: the record's final metrics (None: not run)."""
    final = {k: float(v) for k, v in metrics.items() if v is not None}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):  # its hparams tab: settings against outcome
            logger.log_hyperparams(params, {f"hp/{k.replace('/', '_')}": v
                                            for k, v in final.items()})
        elif isinstance(logger, CSVLogger):
            # csv/hparams.yaml; the final metrics are metrics.json's, and metrics.csv keeps
            # only the curves the report reads.
            logger.log_hyperparams(params)
        elif isinstance(logger, WandbLogger):  # W&B's place for final values: the summary
            logger.log_hyperparams(params)
            logger.experiment.summary.update(final)
            wandb_runs.finish(logger)
        elif isinstance(logger, MLFlowLogger):
            # A run's "latest" value of each metric is its final one; log only those that the
            # curves did not already end on (test/acc was logged by the test; the last
            # train/loss step may not have been), so no point is logged twice.
            logger.log_hyperparams(params)
            latest = logger.experiment.get_run(logger.run_id).data.metrics
            logger.log_metrics({k: v for k, v in final.items() if not _same(latest.get(k), v)},
                               step=step)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(final, step=step)
        logger.save()
