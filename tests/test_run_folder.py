"""A run folder: one writer, a finished result never replaced unasked, bad knobs refused before
anything is written, resume before the first checkpoint, and a record of what ran."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf, read_write

from optarena import preflight, run_lock
from optarena.checkpoint_io import AtomicCheckpointIO
from optarena.errors import OptArenaError
from optarena.record import write_record
from optarena.run import train
from optarena.sweep import resume
from tests.conftest import ROOT, compose_cfg, compose_full

# batch 64 (the global default; digits x mlp's recipe has 32): 20 steps an epoch
QUICK = ["debug=fast", "logger=csv", "model=mlp", "batch_size=64"]


def _completed(run_dir: Path, overrides: list[str]) -> bytes:
    """A finished run's record in run_dir (as a run of these overrides would leave it)."""
    write_record(run_dir / "metrics.json", {"status": "completed", "overrides": overrides,
                                            "metrics": {"val/acc_best": 0.9}})
    return (run_dir / "metrics.json").read_bytes()


@pytest.fixture(scope="module")
def composed() -> DictConfig:
    """`python train.py`'s config with its hydra node, composed once (Hydra parses the values
    below so: seed=abc is a string, max_epochs=1.5 a float, lr=1e400 infinity)."""
    return compose_full()


@pytest.mark.parametrize(("values", "message"), [
    ({"seed": -1}, "seed must be a whole number in [0, 4294967295], got -1"),
    ({"seed": "abc"}, "seed must be a whole number in [0, 4294967295], got 'abc'"),
    ({"max_epochs": "abc"}, "max_epochs must be a whole number >= 1, got 'abc'"),
    ({"max_epochs": 1.5}, "max_epochs must be a whole number >= 1, got 1.5"),
    ({"batch_size": 2.5}, "batch_size must be a whole number >= 1, got 2.5"),
    ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
    ({"ckpt_path": "/nonexistent.ckpt"}, "ckpt_path=/nonexistent.ckpt: no such file"),
    ({"ckpt_path": "NOTES"}, "is not a Lightning checkpoint (not a file written by torch.save)"),
    ({"hydra.run.dir": "NOTES"}, "the run folder NOTES is a file"),
    ({"resume": True, "overwrite": True}, "give one of them"),
], ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_preflight_refuses_bad_knobs_before_the_run_folder_exists(
        tmp_path: Path, monkeypatch, composed: DictConfig, values: dict, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("NOTES").write_text("not a checkpoint")
    cfg = copy.deepcopy(composed)
    with read_write(cfg):
        for key, value in {"hydra.run.dir": str(tmp_path / "run"), **values}.items():
            OmegaConf.update(cfg, key, value)
    with pytest.raises(OptArenaError) as err:
        preflight.check_run(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NOTES"]  # nothing written


def test_a_sweep_whose_lr_reads_hydra_choices_checks_its_knobs_at_the_start(
        tmp_path: Path) -> None:
    """The seed studies' lr is ${...${hydra:runtime.choices.optimizer}...}: the sweep's check
    runs before Hydra sets its config, and must still refuse a bad knob before any job."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_full(["+experiment=segmentation_optimizers", "data=digits_seg",
                        "channels_last=bad", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    HydraConfig.instance().cfg = None  # as when Hydra calls on_multirun_start
    with pytest.raises(OptArenaError, match="channels_last must be true, false or auto"):
        preflight.check_sweep(cfg)
    assert not (tmp_path / "sweep").exists()


def test_a_read_only_run_folder_is_one_line(tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o555)
    # root writes into read-only folders anyway: answer os.access as for any other user
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != run_dir)
    with pytest.raises(OptArenaError, match=r"run folder .*run is not writable; fix its perm"):
        preflight.check_run(compose_full([f"hydra.run.dir={run_dir}"]))


def test_a_finished_run_is_never_replaced_unasked(tmp_path: Path, make_cfg) -> None:
    run_dir = tmp_path / "run"
    before = _completed(run_dir, ["seed=0"])
    with pytest.raises(OptArenaError, match="holds a completed run; resume=true keeps it .*"
                       "overwrite=true replaces it, or pick another folder"):
        preflight.check_run(compose_full([f"hydra.run.dir={run_dir}", "seed=1"]))
    for typo in ("seed=1", "seed=-1"):  # in process (the basic launcher's jobs): the same
        with pytest.raises(OptArenaError):
            train(make_cfg(typo))
    assert (run_dir / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.json"]


def test_one_writer_per_folder_and_a_dead_writer_does_not_block(tmp_path: Path,
                                                                make_cfg) -> None:
    run_dir = tmp_path / "run"
    code = (f"from optarena import run_lock; run_lock.claim({str(run_dir)!r}); print('held', "
            "flush=True); import time; time.sleep(60)")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert other.stdout.readline().strip() == "held"
        for cfg in (make_cfg(), make_cfg("resume=true")):
            with pytest.raises(OptArenaError, match=f"is being written by pid {other.pid}; wait "
                               f"for it to end or stop it \\(kill {other.pid}\\)"):
                train(cfg)
        assert run_lock.holder(run_dir) and not (run_dir / "metrics.json").exists()
    finally:
        other.kill()  # kill -9: its lock file stays, and blocks no one
        other.wait()
    assert (run_dir / run_lock.LOCK).read_text().startswith(f"{other.pid} ")
    assert run_lock.holder(run_dir) is None
    assert run_lock.claim(run_dir) is True
    run_lock.release(run_dir)


def test_resume_before_the_first_checkpoint_starts_over_and_bad_checkpoints_never_block(
        tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_record(run_dir / "metrics.json", {"status": "running", "overrides": []})
    point = resume.plan(run_dir, [])
    assert point.action == "fresh"
    assert resume.start_from(point, run_dir, None) == (None, None)  # not "nothing to resume"
    (run_dir / resume.LAST_CKPT).parent.mkdir()
    (run_dir / resume.LAST_CKPT).write_bytes(b"PK\x03\x04 cut short by kill -9")
    assert resume.plan(run_dir, []).action == "fresh"  # a torn last.ckpt: start over
    torch.save({"global_step": 7, "state_dict": {}}, run_dir / resume.BEST_CKPT)
    point = resume.plan(run_dir, [])
    assert (point.action, point.ckpt) == ("continue", run_dir / resume.BEST_CKPT)


def test_a_checkpoint_write_cut_short_keeps_the_previous_file(tmp_path: Path,
                                                             monkeypatch) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)

    def killed(obj, f) -> None:
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the write stops here

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert resume.readable_step(path) == 1 and os.listdir(tmp_path) == ["last.ckpt"]


def test_metrics_json_is_strict_json(tmp_path: Path) -> None:
    write_record(tmp_path / "metrics.json", {"lr": float("inf"), "metrics": {"a": float("nan")},
                                             "hparams": {"betas": [0.9, float("-inf")]}})

    def refuse(token: str) -> None:
        raise ValueError(f"non-JSON token {token}")

    record = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=refuse)
    assert record == {"lr": None, "metrics": {"a": None}, "hparams": {"betas": [0.9, None]}}


def test_overwrite_replaces_a_finished_run_and_the_record_says_what_ran(tmp_path: Path) -> None:
    run_dir, events = tmp_path / "run", tmp_path / "outputs" / "tensorboard"
    _completed(run_dir, ["seed=0"])
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_text("the old run's")
    settings = ["debug=fast", "model=mlp", "optimizer=sgd", "lr=5e-4", "data.batch_size=128",
                "trainer.max_epochs=1", "seed=1"]
    cfg = compose_cfg(tmp_path, [*settings, "overwrite=true"])
    version = cfg.logger.tensorboard.version
    (events / "seed=0" / version).mkdir(parents=True)  # the old run's events, another name
    (events / "seed=0" / version / "events.out.tfevents.old").write_text("old")
    started = time.time()
    train(cfg)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["seed"] == 1
    assert (run_dir / "checkpoints" / "last.ckpt").stat().st_mtime >= started
    assert [p.parent.name for p in events.glob("*/*")] == [cfg.logger.tensorboard.name]
    # What ran: the lr of the command line, the data's batch size, the trainer's epochs.
    assert record["lr"] == 5e-4 and record["hparams"]["optimizer"]["lr"] == 5e-4
    assert (record["hparams"]["batch_size"], record["hparams"]["max_epochs"]) == (128, 1)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    group = state["optimizer_states"][0]["param_groups"][0]
    for key in ("lr", "momentum", "weight_decay"):
        assert record["hparams"]["optimizer"][key] == group[key], key
