"""Beyond the parallel launcher: DDP in a sweep, SLURM / Ray / Optuna configs, unique sweep dirs."""

import json
import math
import multiprocessing
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf, open_dict

from optarena.errors import OptArenaError
from optarena.sweep.distributed import check_no_sweep_relaunch
from optarena.sweep.run_dirs import unique_dir
from tests.conftest import compose_full
from tests.sweep_helpers import QUICK, popen, run


def _compose(*overrides: str):
    return compose_full(list(overrides))


def _runs(sweep_dir: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text())
            for p in sweep_dir.glob("*/metrics.json")}


@pytest.mark.filterwarnings("ignore:(?s).*validated against ConfigStore schema")
def test_slurm_ray_and_optuna_configs_compose() -> None:
    slurm = _compose("hydra/launcher=slurm", "hydra.launcher.partition=gpu").hydra.launcher
    assert slurm._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (slurm.partition, slurm.gpus_per_node, slurm.tasks_per_node) == ("gpu", 1, 1)
    ray = _compose("hydra/launcher=ray").hydra.launcher
    assert ray._target_.endswith("ray_launcher.RayLauncher") and ray.ray.remote.num_gpus == 1
    cfg = _compose("hparams_search=optuna_lr", "optimizer=sgd")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.n_trials == 20  # the same budget whichever optimizer is tuned
    lr = cfg.optimizer.lr
    assert OmegaConf.to_container(sweeper, resolve=True)["params"]["lr"] == (
        f"tag(log, interval({lr / 100:.3g}, {lr * 100:.3g}))")


def test_ddp_selects_the_parallel_launcher_and_refuses_an_in_process_multirun() -> None:
    cfg = _compose("trainer=ddp")
    assert cfg.hydra.launcher._target_.endswith("ParallelLauncher")
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2
    cfg = _compose("trainer=ddp", "hydra/launcher=basic", "hydra.mode=MULTIRUN")
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    with pytest.raises(OptArenaError, match="re-launch the whole sweep.*hydra/launcher=parallel"):
        check_no_sweep_relaunch(cfg)


def _claim(path: str, barrier, out) -> None:
    barrier.wait()
    out.put(unique_dir(path))


def test_runs_started_together_get_their_own_folders(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path / "10-00-00"), barrier, out))
             for _ in range(3)]
    for p in procs:
        p.start()
    claimed = sorted(out.get(timeout=30) for _ in procs)
    assert claimed == [str(tmp_path / n) for n in ("10-00-00", "10-00-00_2", "10-00-00_3")]
    hydra_cfg = _compose().hydra
    for key in ("run", "sweep"):
        assert OmegaConf.to_container(hydra_cfg[key])["dir"].startswith("${optarena.unique_dir:")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_in_a_two_job_sweep_runs_two_jobs(tmp_path: Path) -> None:
    out = run(tmp_path, "-m", "trainer=ddp", "trainer.accelerator=cpu", "seed=0,1", *QUICK,
              "hydra.launcher.n_jobs=2", "hydra.launcher.preload=[]",  # new interpreters
              "max_epochs=1", "hydra.sweep.dir=sweep")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    runs = _runs(tmp_path / "sweep")
    assert sorted(runs) == [0, 1] and all(r["status"] == "completed" for r in runs.values())
    log = (tmp_path / "sweep" / "0" / "job.log").read_text()
    assert "MEMBER: 2/2" in log  # rank 1 of 2 trained this job
    # No rank re-launched the sweep: no other sweep or run folder appeared.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == ["0", "1", "multirun.yaml"]


@pytest.mark.slow
def test_optuna_on_submitit_and_ray_sweeps_started_together(tmp_path: Path) -> None:
    """Two sweeps in the same second, same folder pattern: each gets its own folder.

    One tunes lr with Optuna, its trials run by submitit's local executor (what
    hydra/launcher=slurm runs on a cluster); the other runs 2 jobs on a local Ray.
    """
    same = "hydra.sweep.dir=${optarena.unique_dir:multirun/same}"
    common = [*QUICK, "max_epochs=1", "optimizer=sgd", same]
    optuna = popen(tmp_path, "-m", "hparams_search=optuna_lr", "hydra/launcher=submitit_local",
                   "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", *common)
    ray = popen(tmp_path, "-m", "hydra/launcher=ray", "hydra.launcher.ray.remote.num_gpus=0",
                "hydra.launcher.ray.init.num_cpus=2", "seed=0,1", *common)
    outputs = [p.communicate(timeout=300) for p in (optuna, ray)]
    for proc, (stdout, stderr) in zip((optuna, ray), outputs, strict=True):
        assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    folders = sorted((tmp_path / "multirun").iterdir())
    assert [f.name for f in folders] == ["same", "same_2"]
    tuned = next(f for f in folders if (f / "optimization_results.yaml").exists())
    other = next(f for f in folders if f != tuned)
    for folder in folders:
        runs = _runs(folder)
        assert sorted(runs) == [0, 1] and all(r["status"] == "completed" for r in runs.values())
    trials = _runs(tuned)
    best = yaml.safe_load((tuned / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(r["metrics"]["val/acc_best"] for r in trials.values())
    lrs = [r["lr"] for r in trials.values()]
    assert lrs[0] != lrs[1] and all(1e-4 <= lr <= 1.0 for lr in lrs)  # sgd's 0.01, x/100 each way
    assert {r["seed"] for r in _runs(other).values()} == {0, 1}
    assert not any(math.isnan(r["metrics"]["test/acc"]) for r in trials.values())
