"""The report end to end on fabricated sweeps: files, contents, and bad input."""

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
from report_fixtures import make_run, make_seeds

from optarena.report.__main__ import main
from optarena.report.build import default_out

SRC = Path(__file__).resolve().parents[1] / "src"
CLAIM = {"a": "adam", "b": "sgd", "metric": "test_acc", "better": "higher"}
REFERENCE = {"data": "digits", "model": "cnn_small", "optimizer": "adam", "lr": 0.01,
             "metric": "test_acc", "value": 0.95, "source": "seeds/004_08bbe4b7002e05e5.txt"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """2 optimizers x 2-3 lrs x 3 seeds, plus a diverged, a failed and a running run; each
    optimizer's best lr lies inside its grid (adam's grid reaches 1.0 through the diverged run)."""
    root = tmp_path_factory.mktemp("multirun") / "10-00-00"
    for optimizer, base, grid in (("adam", 0.93, ((0.01, 0.0), (0.001, -0.05))),
                                  ("sgd", 0.88, ((0.1, -0.03), (0.01, 0.0), (0.001, -0.05)))):
        for lr, shift in grid:
            make_seeds(
                root,
                f"{optimizer}_{lr}",
                [
                    {"val_acc_best": base + shift + d, "test_acc": base + shift + d}
                    for d in (-0.01, 0.0, 0.01)
                ],
                optimizer=optimizer,
                lr=lr,
                config={"claims": [CLAIM], "reference": [REFERENCE]},
            )
    make_run(
        root,
        "adam_1.0",
        optimizer="adam",
        lr=1.0,
        status="diverged",
        val_acc_best=0.3,
        test_acc=None,
        error="loss is nan at step 30",
    )
    make_run(
        root,
        "sgd_boom",
        optimizer="sgd",
        lr=0.01,
        seed=5,
        status="failed",
        val_acc_best=None,
        test_acc=None,
        error="Traceback ...\nRuntimeError: out of memory",
    )
    make_run(root, "sgd_live", optimizer="sgd", lr=0.001, seed=6, write_metrics=False)
    return root


@pytest.fixture(scope="module")
def written(sweep):
    rc = main([str(sweep)])
    assert rc == 0
    return sweep / "report"


def test_writes_every_output(written):
    names = {p.name for p in written.iterdir()}
    assert {
        "report.md",
        "report.html",
        "runs.csv",
        "summary.csv",
        "profile.png",
        "curves_step_digits-cnn_small.png",
        "curves_seconds_digits-cnn_small.png",
        "sensitivity_digits-cnn_small.png",
    } <= names
    for png in written.glob("*.png"):
        height, width, _ = matplotlib.image.imread(png).shape
        assert height > 300 and width > 500


def test_runs_csv_keeps_every_run(written):
    runs = pd.read_csv(written / "runs.csv")
    assert len(runs) == 18
    assert runs["status"].value_counts().to_dict() == {
        "completed": 15,
        "diverged": 1,
        "failed": 1,
        "running": 1,
    }
    summary = pd.read_csv(written / "summary.csv").set_index("optimizer")
    assert summary.loc["adam", "lr"] == 0.01 and summary.loc[
        "adam", "test_acc_mean"
    ] == pytest.approx(0.93)
    assert (summary.loc["sgd", "failed"], summary.loc["sgd", "n"]) == (1, 3)


def test_markdown_shows_the_answer_and_the_unfinished(written):
    md = (written / "report.md").read_text()
    assert "| digits/cnn_small | adam | lr=0.01 | 0.9300 | 0.9300 ± 0.0100 |" in md
    assert "| digits/cnn_small | sgd | lr=0.01 | 0.8800 | 0.8800 ± 0.0100 |" in md
    assert (
        "RuntimeError: out of memory" in md and "loss is nan at step 30" in md and "running" in md
    )
    assert "| adam vs sgd: test_acc, higher is better | digits/cnn_small | mean |" in md
    assert "| adam: 0.9300 [0.9052, 0.9548], n=3 | sgd: 0.8800 [0.8552, 0.9048], n=3 |" in md
    assert "| paired t (3 seeds) | < 1e-12 | 0.05 | supported |" in md
    assert "![lr sensitivity, digits/cnn_small](sensitivity_digits-cnn_small.png)" in md
    reproduction = md.split("## 7. Reproduction")[1]
    assert ("| digits/cnn_small | adam | test_acc | 0.9500 | 0.9300 [0.9052, 0.9548], n=3 | "
            "-0.0200 | yes | lr=0.01 (as the study: lr) | seeds/004_08bbe4b7002e05e5.txt |"
            ) in reproduction


def test_html_is_self_contained(written):
    page = (written / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert '.png"' not in page and "<table" in page


def test_terminal_prints_headline_and_paths(sweep, tmp_path, capsys):
    assert main([str(sweep), "--out", str(tmp_path / "r"), "--target", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "adam" in out and "0.9300 ± 0.0100" in out and "never (0/3 reached)" in out
    assert "runs: 15 completed, 1 diverged, 1 failed, 1 running" in out
    # claims, not markup: the difference [interval], its test, p, Holm level and verdict
    assert "+0.0500 [+0.0500, +0.0500]" in out and "paired t (3 seeds)" in out
    assert "< 1e-12" in out and "supported" in out
    assert str(tmp_path / "r" / "report.md") in out


@pytest.mark.parametrize("case", ["missing", "empty", "not_a_sweep", "corrupt"])
def test_bad_input_is_one_clear_line(tmp_path, capsys, case):
    target = tmp_path / "in"
    if case != "missing":
        target.mkdir()
    if case == "not_a_sweep":
        (target / "notes.txt").write_text("hello")
        (target / "sub").mkdir()
    if case == "corrupt":
        make_run(target, "run0")
        (target / "run0" / "metrics.json").write_text("{not json")
    assert main([str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    expected = {
        "missing": "no such directory",
        "empty": "no runs found",
        "not_a_sweep": "no runs found",
        "corrupt": "unreadable",
    }[case]
    assert expected in err and str(target) in err


def test_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "optarena.report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: no such directory")


def test_default_output_folder(tmp_path):
    one, two = tmp_path / "multirun" / "a" / "10-00", tmp_path / "multirun" / "b" / "11-00"
    assert default_out([one]) == one / "report"
    assert default_out([one, two]) == (tmp_path / "multirun").resolve() / "report"


def test_a_sweep_whose_runs_all_failed_still_gets_its_report(tmp_path, capsys):
    for seed in (0, 1):
        make_run(tmp_path, f"r{seed}", seed=seed, status="failed", val_acc_best=None,
                 test_acc=None, error="RuntimeError: CUDA error")
    assert main([str(tmp_path)]) == 0
    assert "runs: 2 failed" in capsys.readouterr().out
    md = (tmp_path / "report" / "report.md").read_text()
    assert "no finished run" in md and "RuntimeError: CUDA error" in md


def test_a_corrupt_run_is_listed_and_the_good_ones_reported(tmp_path, capsys):
    for seed in (0, 1):
        make_run(tmp_path, f"r{seed}", seed=seed)
    make_run(tmp_path, "r2", seed=2, extra_overrides=["batch_size=32"])
    (tmp_path / "r1" / "metrics.json").write_text("{not json")
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "runs: 2 completed, 1 unreadable" in out
    assert f"left out: unreadable {tmp_path / 'r1' / 'metrics.json'}" in out
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"| {tmp_path / 'r1'} | unreadable " in md
    # A run that did not override a swept knob shows the value it ran with.
    settings = set(pd.read_csv(tmp_path / "report" / "runs.csv")["setting"])
    assert settings == {"lr=0.001, batch_size=64", "lr=0.001, batch_size=32"}
