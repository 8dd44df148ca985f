"""logger=mlflow and logger=wandb: one tracker run per run folder, named by its overrides, with
the record's hyperparameters and final metrics; resume continues it, overwrite retires it; a
missing `tracking` extra is one error line."""

import glob
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import open_dict

from optarena import knobs
from optarena.errors import OptArenaError
from optarena.run import train
from tests.conftest import ROOT, compose_cfg, compose_full

SETTINGS = ["debug=fast", "model=mlp", "batch_size=64", "optimizer=sgd", "lr=0.05", "seed=3",
            "trainer.max_epochs=1"]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return f"file:{tmp_path / 'outputs' / 'mlruns'}"  # the default: <root>/outputs/mlruns


def test_mlflow_run_has_the_params_and_final_metrics_and_follows_its_folder(
        tmp_path: Path, store: str) -> None:
    import mlflow
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    loggers = "logger=[tensorboard,csv,mlflow]"
    cfg = compose_cfg(tmp_path, [*SETTINGS, loggers])
    assert cfg.logger.mlflow.tracking_uri == store
    train(cfg)
    run_dir, record = Path(cfg.paths.output_dir), _record(Path(cfg.paths.output_dir))
    # Every logger got the settings: CSV its hparams.yaml, TensorBoard its hparams tab.
    hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert (hparams["lr"], hparams["optimizer"], hparams["status"]) == (0.05, "sgd", "completed")
    events = b"".join(p.read_bytes() for p in (tmp_path / "outputs" / "tensorboard").glob(
        "*/*/events.out.tfevents.*"))
    assert b"_hparams_/session_start_info" in events and b"hp/test_acc" in events
    mlflow.set_tracking_uri(store)
    runs = mlflow.search_runs(experiment_names=["optarena"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert (run["params.lr"], run["params.optimizer"], run["params.seed"]) == ("0.05", "sgd", "3")
    assert run["params.status"] == "completed"
    assert run["tags.mlflow.runName"] == cfg.logger.mlflow.run_name
    assert run["tags.optarena.run_dir"] == str(run_dir.resolve())
    assert run["status"] == "FINISHED"
    for name, value in record["metrics"].items():  # the latest value of each is the final one
        assert run[f"metrics.{name}"] == pytest.approx(value, rel=1e-6), name
    client = MlflowClient(store)
    assert len(client.get_metric_history(run["run_id"], "test/acc")) == 1  # not logged twice

    # resume=true continues the folder's MLflow run (here: nothing left to train but the test).
    (run_dir / "metrics.json").write_text(json.dumps({**record, "status": "running"}))
    train(compose_cfg(tmp_path, [*SETTINGS, loggers, "resume=true"]))
    again = mlflow.search_runs(experiment_names=["optarena"])
    assert list(again["run_id"]) == [run["run_id"]]

    # overwrite=true: the replaced run's MLflow run is marked deleted, not left beside the new.
    train(compose_cfg(tmp_path, [*SETTINGS, loggers, "overwrite=true"]))
    live = mlflow.search_runs(experiment_names=["optarena"])
    deleted = mlflow.search_runs(experiment_names=["optarena"],
                                 run_view_type=ViewType.DELETED_ONLY)
    assert len(live) == 1 and live.iloc[0]["run_id"] != run["run_id"]
    assert list(deleted["run_id"]) == [run["run_id"]]


def _wandb_records(path: Path) -> list:
    """The records of a W&B transaction log (run-ID.wandb). Written by hand: since wandb-core
    (Go) writes these files, the Python package has no reader. Format: a 7-byte header, then
    LevelDB log blocks of 32 KiB, each chunk: crc32 (4), length (2, LE), type (1: full,
    2: first, 3: middle, 4: last), then the chunk of a serialised protobuf Record."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw, pos, records, pending = path.read_bytes(), 7, [], b""
    assert raw[:4] == b":W&B"
    while pos + 7 <= len(raw):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = struct.unpack_from("<HB", raw, pos + 4)
        if kind == 0:
            break
        pending += raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_wandb_offline_writes_its_run_into_the_run_folder_with_the_config(
        tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, [*SETTINGS, "logger=[csv,wandb]"])
    train(cfg)  # returns when the run's file is complete (wandb_runs.finish)
    run_dir = Path(cfg.paths.output_dir)
    logs = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(logs) == 1, os.listdir(run_dir / "wandb")
    records = _wandb_records(Path(logs[0]))
    config = {item.key: json.loads(item.value_json)
              for r in records if r.WhichOneof("record_type") == "config"
              for item in r.config.update}
    summary = {item.key: json.loads(item.value_json)
               for r in records if r.WhichOneof("record_type") == "summary"
               for item in r.summary.update}
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (config["lr"], config["optimizer"], config["seed"]) == (0.05, "sgd", 3)
    assert runs[0].display_name == cfg.logger.wandb.name and runs[0].project == "optarena"
    assert summary["test/acc"] == pytest.approx(_record(run_dir)["metrics"]["test/acc"])


def test_a_resumed_run_continues_the_folders_wandb_run(tmp_path: Path) -> None:
    from lightning.pytorch.loggers import WandbLogger

    from optarena.tracking import wandb_runs

    earlier = tmp_path / "wandb" / "offline-run-20261202_054102-9xs5jdyn"
    earlier.mkdir(parents=True)
    (tmp_path / "wandb" / "latest-run").symlink_to(earlier.name)
    logger = WandbLogger(save_dir=str(tmp_path), mode="offline")
    assert wandb_runs.continue_run(logger) == "9xs5jdyn"
    assert logger._wandb_init["id"] == "9xs5jdyn" and logger._wandb_init["resume"] == "allow"
    fresh = WandbLogger(save_dir=str(tmp_path / "elsewhere"), mode="offline")
    assert wandb_runs.continue_run(fresh) is None and fresh._wandb_init["id"] is None


@pytest.mark.parametrize("logger", ["mlflow", "wandb"])
def test_a_missing_extra_names_the_pip_install(monkeypatch, logger: str) -> None:
    monkeypatch.setitem(sys.modules, logger, None)  # as if the package were not installed
    cfg = compose_full([f"+logger={logger}"])
    with pytest.raises(OptArenaError, match=rf"logger={logger} needs the {logger} package.*"
                                            r"pip install -e '\.\[tracking\]'"):
        knobs.check(cfg)


def test_an_unknown_wandb_mode_is_refused() -> None:
    cfg = compose_full(["+logger=wandb"])
    with open_dict(cfg):
        cfg.logger.wandb.mode = "sync"
    with pytest.raises(OptArenaError, match="logger.wandb.mode must be one of offline, online"):
        knobs.check(cfg)


@pytest.mark.slow
def test_train_py_without_the_extra_prints_one_line_and_writes_nothing(tmp_path: Path) -> None:
    block = ("import runpy, sys; sys.modules['mlflow'] = None; "
             f"sys.argv = ['train.py', *sys.argv[1:]]; runpy.run_path({str(ROOT / 'train.py')!r},"
             " run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}
    done = subprocess.run([sys.executable, "-c", block, "+logger=mlflow", "debug=fast"],
                          cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: logger=mlflow needs the mlflow package")
    assert "pip install -e '.[tracking]' (or pip install mlflow-skinny==" in lines[0]
    assert not (tmp_path / "outputs").exists()
