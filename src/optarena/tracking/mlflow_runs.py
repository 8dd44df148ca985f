"""One MLflow run per run folder: built by Lightning's MLFlowLogger (the `_target_` of
conf/logger/mlflow.yaml), tagged with the folder so that a resumed run continues its MLflow
run and a folder that starts over (overwrite=true, a failed run run again) retires the
earlier attempt's run instead of leaving it to linger beside the new one."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger

from optarena.errors import OptArenaError
from optarena.tracking.extras import require

RUN_DIR_TAG = "optarena.run_dir"


def _local_store(tracking_uri: str) -> Path | None:
    """The folder of a local file store (`file:/path`, a plain path), else None."""
    if tracking_uri.startswith("file:"):
        return Path(tracking_uri.removeprefix("file:").removeprefix("//"))
    return None if "://" in tracking_uri or tracking_uri.startswith("sqlite:") \
        else Path(tracking_uri)


def _allow_file_store(tracking_uri: str) -> None:
    # MLflow 3.7+ refuses a file store unless told: it is in maintenance mode upstream, but it
    # needs no database (mlflow-skinny suffices) and parallel jobs write separate run folders.
    if _local_store(tracking_uri) is not None:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


@contextlib.contextmanager
def _store_lock(tracking_uri: str):
    """Jobs of a parallel sweep starting together create the experiment once (a file store
    checks names by listing folders: two creators would make two experiments of one name)."""
    store = _local_store(tracking_uri)
    if store is None:
        yield
        return
    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".optarena.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _experiment_id(client, name: str, tracking_uri: str) -> str:
    with _store_lock(tracking_uri):
        found = client.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id if found is not None else client.create_experiment(name)


def mlflow_logger(tracking_uri: str, experiment_name: str, run_name: str, run_dir: str,
                  **kwargs) -> MLFlowLogger:
    """Lightning's MLFlowLogger for the run in `run_dir`, its experiment made safely."""
    require("mlflow")
    _allow_file_store(tracking_uri)
    tags = {**kwargs.pop("tags", {}), RUN_DIR_TAG: str(Path(run_dir).resolve())}
    logger = MLFlowLogger(experiment_name=experiment_name, run_name=run_name,
                          tracking_uri=tracking_uri, tags=tags, **kwargs)
    try:
        logger._experiment_id = _experiment_id(logger._mlflow_client, experiment_name,
                                               tracking_uri)
    except Exception as err:  # an unreachable server, a store that is not MLflow's
        raise OptArenaError(f"logger=mlflow: the tracking store {tracking_uri} did not answer "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); check "
                            "logger.mlflow.tracking_uri (or MLFLOW_TRACKING_URI)") from err
    return logger


def _runs_of(client, experiment_id: str, run_dir: str) -> list:
    """The live MLflow runs of a run folder, newest first."""
    value = str(Path(run_dir).resolve())
    if "'" in value:  # MLflow's filter strings cannot quote it: filter here
        runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])
        return [r for r in runs if r.data.tags.get(RUN_DIR_TAG) == value]
    return list(client.search_runs([experiment_id], f"tags.`{RUN_DIR_TAG}` = '{value}'",
                                   order_by=["attributes.start_time DESC"]))


def continue_run(logger: MLFlowLogger) -> str | None:
    """A resumed run logs into its folder's latest MLflow run (when there is one)."""
    run_dir = (logger.tags or {}).get(RUN_DIR_TAG)
    if run_dir is None or logger._run_id is not None:
        return None
    runs = _runs_of(logger._mlflow_client, logger._experiment_id, run_dir)
    if runs:
        logger._run_id = runs[0].info.run_id
    return logger._run_id


def retire_runs(tracking_uri: str, experiment_name: str, run_dir: str) -> list[str]:
    """A run folder that starts over: its earlier MLflow runs are marked deleted (MLflow's
    soft delete: `mlflow runs restore --run-id ID` brings one back). Returns their ids."""
    _allow_file_store(tracking_uri)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    ids = [r.info.run_id for r in _runs_of(client, experiment.experiment_id, run_dir)]
    for run_id in ids:
        client.delete_run(run_id)
    return ids
