"""One W&B run per run folder, written inside it (<run dir>/wandb/): built by Lightning's
WandbLogger (the `_target_` of conf/logger/wandb.yaml), offline unless mode=online. A resumed
run continues the folder's latest W&B run (same id); a folder that starts over removes its
wandb/ folder with its other outputs (optarena.run_folder.OUTPUTS)."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import WandbLogger

from optarena.tracking.extras import require

FOLDER = "wandb"


def wandb_logger(mode: str, project: str, name: str, run_dir: str, **kwargs) -> WandbLogger:
    """Lightning's WandbLogger for the run in `run_dir`; `kwargs` go to wandb.init."""
    require("wandb")
    import wandb

    if wandb.run is not None:  # left by an earlier job of this process (the basic launcher)
        wandb.finish()
    return WandbLogger(name=name, project=project, save_dir=run_dir, mode=mode, **kwargs)


def latest_id(run_dir: Path) -> str | None:
    """The id of the folder's latest W&B run: wandb/latest-run -> [offline-]run-DATE_TIME-ID."""
    latest = Path(run_dir) / FOLDER / "latest-run"
    if not latest.exists():
        return None
    return latest.resolve().name.rsplit("-", 1)[-1]


def continue_run(logger: WandbLogger) -> str | None:
    """A resumed run logs into its folder's latest W&B run (when there is one)."""
    run_id = latest_id(Path(logger.save_dir)) if logger.save_dir else None
    if run_id is not None and logger._wandb_init.get("id") is None:
        logger._wandb_init.update(id=run_id, resume="allow")
    return run_id


def finish(logger: WandbLogger) -> None:
    """End the W&B run and wait until wandb-core has written it: run.finish() returns before
    the run's file is complete, and a job forked by the parallel launcher ends with os._exit,
    which skips wandb's own atexit teardown. The next job of this process starts its own."""
    import wandb

    if logger._experiment is not None:
        logger._experiment.finish()
    wandb.teardown()
