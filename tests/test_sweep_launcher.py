"""The parallel launcher: GPU slots, job commands, and a real 4-job sweep with crashes."""

import json
from pathlib import Path

import pytest

from hydra_plugins.optarena_launcher.command import job_command
from hydra_plugins.optarena_launcher.parallel_launcher import distinguishing
from hydra_plugins.optarena_launcher.slots import (
    Slot,
    SlotPool,
    job_env,
    parse_visible_devices,
    plan_slots,
)
from tests.sweep_helpers import QUICK, crash, run


def test_one_job_per_gpu_and_a_freed_gpu_goes_to_the_next_job() -> None:
    slots = plan_slots(["0", "1", "2", "3"], n_jobs_total=18, cpus=16)
    assert [s.gpus for s in slots] == [("0",), ("1",), ("2",), ("3",)]
    assert all(s.threads == 4 for s in slots)
    pool = SlotPool(slots)
    running = [pool.take() for _ in range(4)]
    assert not pool.has_free()  # job 5 waits
    pool.give_back(running[2])  # the job on GPU 2 ends
    assert pool.take().gpus == ("2",)


def test_jobs_per_gpu_gpus_per_job_and_caps() -> None:
    two_each = plan_slots(["0", "1"], n_jobs_total=10, jobs_per_gpu=2, cpus=8)
    assert [s.gpus for s in two_each] == [("0",), ("1",), ("0",), ("1",)]  # spread first
    assert all(s.threads == 2 for s in two_each)
    pairs = plan_slots(["4", "5", "6", "7", "GPU-x"], n_jobs_total=9, gpus_per_job=2, cpus=4)
    assert [s.gpus for s in pairs] == [("4", "5"), ("6", "7")]  # the odd GPU stays idle
    assert [s.gpus for s in plan_slots(["0", "1", "2"], n_jobs_total=2, cpus=4)] == [("0",),
                                                                                      ("1",)]
    assert len(plan_slots(["0", "1", "2"], n_jobs_total=9, n_jobs=1, cpus=4)) == 1
    with pytest.raises(ValueError, match="gpus_per_job=3 but only 2"):
        plan_slots(["0", "1"], n_jobs_total=2, gpus_per_job=3)


def _places(slots: list) -> list[tuple]:
    return [(s.gpus, s.threads) for s in slots]


def test_cpu_only_machine_divides_the_cores() -> None:
    assert _places(plan_slots([], n_jobs_total=18, cpus=8)) == [((), 1)] * 8
    assert _places(plan_slots([], n_jobs_total=2, cpus=8)) == [((), 4)] * 2
    assert _places(plan_slots([], n_jobs_total=18, n_jobs=3, cpus=8)) == [((), 2)] * 3
    assert plan_slots([], n_jobs_total=5, threads_per_job=3, cpus=2)[0].threads == 3
    ddp = plan_slots([], n_jobs_total=9, gpus_per_job=2, cpus=8)  # 2 processes per job
    assert _places(ddp) == [((), 1)] * 4  # 4 jobs x 2 processes x 1 thread = 8 cores


def test_visible_devices_and_the_job_environment() -> None:
    assert parse_visible_devices(None) is None
    assert parse_visible_devices("") == [] and parse_visible_devices("-1") == []
    assert parse_visible_devices("2,3") == ["2", "3"]
    assert parse_visible_devices("GPU-a1,GPU-b2,-1,4") == ["GPU-a1", "GPU-b2"]
    env = job_env(Slot(("3", "5"), 6), {"CUDA_VISIBLE_DEVICES": "0,3,5"}, hide_gpus=False)
    assert env["CUDA_VISIBLE_DEVICES"] == "3,5" and env["OMP_NUM_THREADS"] == "6"
    assert job_env(Slot((), 1), {}, hide_gpus=True)["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in job_env(Slot((), 1), {}, hide_gpus=False)


def test_a_job_is_a_single_run_of_the_same_script_in_its_folder(tmp_path: Path) -> None:
    cmd = job_command(["python", "/repo/train.py", "--config-name=train"],
                      ["hydra/launcher=parallel"], ["optimizer=adam", "lr=0.01"],
                      tmp_path / "sweep" / "3", 3, tmp_path / "3.pkl")
    assert cmd[:6] == ["python", "/repo/train.py", "--config-name=train",
                       "hydra/launcher=parallel", "optimizer=adam", "lr=0.01"]
    assert f'hydra.run.dir="{tmp_path}/sweep/3"' in cmd and "hydra.job.num=3" in cmd
    assert "-m" not in cmd and not any(c.startswith("hydra.mode") for c in cmd)
    shown = distinguishing([["optimizer=sgd", "seed=0"], ["optimizer=adam", "seed=0"]])
    assert shown == [["optimizer=sgd"], ["optimizer=adam"]]


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_parallel_sweep_records_crashes_and_divergence_and_goes_on(tmp_path: Path) -> None:
    # Jobs: #0 lr=0.1 seed=0 trains, #1 lr=0.1 seed=1 raises, #2 lr=10000.0 seed=0 diverges,
    # #3 lr=10000.0 seed=1 segfaults at its first step.
    out = run(tmp_path, "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
              "optimizer=sgd", "lr=0.1,10000.0", "seed=0,1", *QUICK, "max_epochs=1",
              "hydra.sweep.dir=sweep", *crash(1, plan="[none,raise,none,segfault]"))
    assert out.returncode == 1, out.stderr[-3000:]
    runs = {int(p.parent.name): _summary(p.parent) for p in (tmp_path / "sweep").glob("*/"
                                                                                     "metrics.json")}
    assert sorted(runs) == [0, 1, 2, 3]
    statuses = [runs[i]["status"] for i in range(4)]
    assert statuses == ["completed", "failed", "diverged", "failed"]
    assert runs[0]["metrics"]["val/acc_best"] > 0.5
    # What the job returned (for sweepers such as Optuna) reached the launcher.
    launcher_log = out.stdout + out.stderr
    assert "#0 lr=0.1 seed=0 : completed in" in launcher_log
    assert f"returned {runs[0]['metrics']['val/acc_best']}" in launcher_log
    assert "#2 lr=10000.0 seed=0 : diverged in" in launcher_log
    assert "RuntimeError: forced crash at step 1" in runs[1]["error"]
    # The segfaulted job could not write its metrics.json: the launcher did, with its log tail.
    assert runs[3]["error"].endswith("killed by SIGSEGV")
    assert "Segmentation fault" in runs[3]["error"]  # faulthandler's report, from job.log
    assert runs[3]["seed"] == 1 and runs[3]["data"] == "digits" and runs[3]["lr"] == 1e4
    assert (tmp_path / "sweep" / "3" / "job.log").is_file()
    summary = out.stdout[out.stdout.index("Sweep sweep:"):]
    assert "4 run(s): 1 completed, 1 diverged, 2 failed" in summary
    assert "lr=0.1 seed=1  <- RuntimeError: forced crash at step 1" in summary
    assert "lr=10000.0 seed=1  <- killed by SIGSEGV" in summary
    assert "lr=10000.0 seed=0  <- training loss" in summary
    assert "resume=true hydra.sweep.dir=sweep" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
