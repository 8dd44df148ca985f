"""bench/gpu.py: its table and ratios, the one line without a GPU, and its CPU path end to end
(the same code a GPU machine runs, at tiny sizes)."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, compose_full

spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
gpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu)


def _rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in `text`, as cells."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| model", "| jobs"))]


def test_epoch_seconds_leave_out_the_warm_up_epoch(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "completed"}))
    # Validation ends at 5.0 s (epoch 0, warm-up), 7.0 s and 9.5 s: epochs of 2.0 and 2.5 s.
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,time/seconds,train/loss,val/acc\n0,9,1.0,2.3,\n0,19,5.0,,0.2\n"
        "1,39,7.0,,0.4\n2,59,9.5,,0.5\n")
    assert gpu.epoch_seconds(tmp_path) == pytest.approx(2.25)


def test_table_and_ratios() -> None:
    runs = [{"model": "cnn_bn3", "setting": "fp32", "epoch_s": 2.0, "images_s": 500.0},
            {"model": "cnn_bn3", "setting": gpu.ALL, "epoch_s": 0.5, "images_s": 2000.0}]
    shared = [{"jobs": 1, "model": "cnn_bn3", "aggregate_images_s": 1000.0,
               "per_job_images_s": 1000.0, "sweep_wall_s": 30.0},
              {"jobs": 2, "model": "cnn_bn3", "aggregate_images_s": 1800.0,
               "per_job_images_s": 900.0, "sweep_wall_s": 33.0}]
    assert gpu.ratios(runs, shared) == [
        "cnn_bn3: bf16+channels_last+compile vs fp32: 4.00x images/s",
        "cnn_bn3: 2 jobs vs 1 job on one GPU: 1.80x aggregate images/s"]
    assert _rows("\n".join(gpu.markdown(runs, shared))) == [
        ["cnn_bn3", "fp32", "2.000", "500", "1.00x"],
        ["cnn_bn3", gpu.ALL, "0.500", "2000", "4.00x"],
        ["1", "cnn_bn3", "1000", "1000", "1.00x", "30.0"],
        ["2", "cnn_bn3", "1800", "900", "1.80x", "33.0"]]


def test_without_a_gpu_it_says_so_in_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gpu.main([])
    out = capsys.readouterr().out.splitlines()
    assert out == ["bench/gpu.py: no CUDA GPU on this machine, nothing measured "
                   "(bench/gpu.py --device cpu --tiny checks the script on the CPU)"]


@pytest.mark.parametrize("setting", list(gpu.SETTINGS))
def test_the_gpu_runs_overrides_compose_to_what_they_name(tmp_path: Path, setting: str) -> None:
    """The CPU path cannot run the GPU path's overrides: compose them as train.py would."""
    args = gpu.parse_args([])
    cfg = compose_full(gpu.run_overrides(args, tmp_path, "resnet18", setting, tmp_path / "r"))
    assert cfg.trainer.accelerator == "gpu" and cfg.model._target_.endswith("resnet18")
    assert (cfg.data.root, cfg.data.val_size, cfg.batch_size) == (str(tmp_path), 5000, 128)
    assert cfg.trainer.precision == ("32-true" if "bf16" not in setting else "auto")
    assert (cfg.channels_last, cfg.compile) == ("channels_last" in setting, "compile" in setting)


def test_the_shared_gpu_sweep_overrides_put_n_jobs_on_one_gpu(tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    args = gpu.parse_args([])
    overrides = gpu.sweep_overrides(args, tmp_path, 4, tmp_path / "s")
    assert overrides[:2] == ["-m", "hydra/launcher=parallel"] and "seed=0,1,2,3" in overrides
    cfg = compose_full([o for o in overrides[1:] if not o.startswith("seed=")])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("ParallelLauncher")
    assert (launcher.jobs_per_gpu, list(launcher.gpus)) == (4, ["3"])
    assert cfg.trainer.accelerator == "gpu" and cfg.hydra.sweep.dir == str(tmp_path / "s")


@pytest.mark.slow
def test_the_cpu_path_runs_the_runs_and_the_shared_sweeps_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cpu", "--tiny",
         "--models", "cnn_bn3", "--settings", "fp32", "--jobs", "1,2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(done.stdout)
    assert [r[:2] for r in rows] == [["cnn_bn3", "fp32"], ["1", "cnn_bn3"], ["2", "cnn_bn3"]]
    _, _, epoch_s, images_s, ratio = rows[0]
    # epoch_s is printed to 3 decimals, images/s to whole images: within that rounding
    low, high = float(epoch_s) - 0.0005, float(epoch_s) + 0.0005
    assert low > 0 and 240 / high - 0.5 <= float(images_s) <= 240 / low + 0.5
    assert ratio == "1.00x" and rows[1][4] == "1.00x"
    aggregate, per_job = float(rows[2][2]), float(rows[2][3])
    assert aggregate == pytest.approx(2 * per_job, abs=1)  # the sum over the 2 jobs
    assert re.search(r"^cnn_bn3: 2 jobs vs 1 job on one GPU: \d+\.\d\dx aggregate images/s$",
                     done.stdout, re.M)
    assert "240 training images (+60 validation)" in done.stdout
