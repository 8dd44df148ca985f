"""resume=true: a killed sweep continues where it stopped and ends as if never interrupted."""

import csv
import json
from pathlib import Path

import pytest

from optarena.errors import OptArenaError
from optarena.run import train
from tests.conftest import compose_cfg
from tests.sweep_helpers import QUICK, crash, run

# Dropout draws from the global RNG; a checkpoint every 7 steps lands mid-epoch (20 per epoch).
SETTINGS = [*QUICK, "max_epochs=2", "regularization=dropout",
            "callbacks.resume_checkpoint.train_time_interval=null",
            "callbacks.resume_checkpoint.every_n_train_steps=7"]


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _curves(run_dir: Path) -> list[dict]:
    """metrics.csv rows without the wall-clock column."""
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "time/seconds"} for row in csv.DictReader(f)]


@pytest.mark.slow
def test_killed_sweep_resumes_only_the_rest_and_matches_an_unbroken_run(tmp_path: Path) -> None:
    sweep = ["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=1", "seed=0,1",
             *SETTINGS, "hydra.sweep.dir=sweep", *crash(26, plan="[none,kill_group]")]
    killed = run(tmp_path, *sweep)
    assert killed.returncode == -9, killed.stderr[-2000:]  # kill -9 of the whole sweep
    first, second = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    assert _summary(first)["status"] == "completed"
    assert _summary(second)["status"] == "running"  # killed mid-epoch 2, after step 26
    first_record = (first / "metrics.json").read_bytes()

    resumed = run(tmp_path, *sweep, "resume=true")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "#0 seed=0 : already completed, skipped" in resumed.stdout + resumed.stderr
    assert (first / "metrics.json").read_bytes() == first_record  # not run again
    result = _summary(second)
    assert result["status"] == "completed" and result["resumed_at_step"] == 21
    assert result["steps"] == 40 and "resume=true" not in result["overrides"]

    # The same job, never interrupted (in this process): same metrics, same curves.
    cfg = compose_cfg(tmp_path / "unbroken", [*SETTINGS, "seed=1"])
    train(cfg)
    unbroken = Path(cfg.paths.output_dir)
    assert result["metrics"] == _summary(unbroken)["metrics"]
    assert _curves(second) == _curves(unbroken)


def test_resume_skips_a_finished_run_and_refuses_a_different_one(tmp_path: Path,
                                                                 monkeypatch) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = {"status": "diverged", "overrides": ["debug=fast", "logger=csv", "seed=3"],
              "metrics": {"val/acc_best": None}}
    (run_dir / "metrics.json").write_text(json.dumps(record))
    cfg = compose_cfg(tmp_path, ["debug=fast", "logger=csv", "seed=3", "resume=true"])
    assert train(cfg) == 0.0  # no training: a run that diverged before validation returns 0
    assert json.loads((run_dir / "metrics.json").read_text()) == record
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # a requeued SLURM job resumes by itself
    assert train(compose_cfg(tmp_path, ["debug=fast", "logger=csv", "seed=3"])) == 0.0
    monkeypatch.delenv("SLURM_RESTART_COUNT")
    cfg = compose_cfg(tmp_path, ["debug=fast", "logger=csv", "seed=4", "resume=true"])
    with pytest.raises(OptArenaError, match=r"holds another run \(.*seed=3\), not this one"):
        train(cfg)


def test_resume_of_a_single_run_needs_its_folder(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["debug=fast", "logger=csv", "resume=true"])
    with pytest.raises(OptArenaError, match="nothing to resume in .*hydra.run.dir="):
        train(cfg)


def test_a_single_run_continues_from_its_last_checkpoint(tmp_path: Path) -> None:
    settings = [*QUICK, "max_epochs=1"]
    cfg = compose_cfg(tmp_path, settings)
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    done, curves = _summary(run_dir), _curves(run_dir)
    # As if killed while testing: its last checkpoint is the final one, nothing left to train.
    (run_dir / "metrics.json").write_text(json.dumps({**done, "status": "running"}))
    train(compose_cfg(tmp_path, [*settings, "resume=true"]))
    again = _summary(run_dir)
    assert again["status"] == "completed" and again["resumed_at_step"] == done["steps"]
    assert again["metrics"] == done["metrics"] and _curves(run_dir) == curves
