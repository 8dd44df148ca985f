"""A real 2 x 2 digits sweep through train.py, then the report on it."""

import re

import matplotlib.image
import pandas as pd
import pytest
from conftest import run_train

from optarena.report.__main__ import main

SWEEP = ["optimizer=adam,sgd", "lr=0.01,0.001", "max_epochs=2", "debug=fast", "logger=csv"]


@pytest.mark.slow
def test_report_on_a_real_digits_sweep(tmp_path, capsys):
    sweep_dir = tmp_path / "multirun" / "sweep"
    proc = run_train(tmp_path, "-m", *SWEEP, f"hydra.sweep.dir={sweep_dir}", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert main([str(sweep_dir)]) == 0
    out_dir = sweep_dir / "report"
    runs = pd.read_csv(out_dir / "runs.csv")
    assert len(runs) == 4 and set(runs["optimizer"]) == {"adam", "sgd"}
    assert set(runs["lr"]) == {0.01, 0.001} and set(runs["status"]) <= {"completed", "diverged"}

    md = (out_dir / "report.md").read_text()
    for optimizer in ("adam", "sgd"):  # a headline row per optimizer, its lr chosen on val,
        # which on a 2-point grid is always one of its ends: flagged
        assert re.search(rf"^\| digits/\S+ \| {optimizer} \| lr=0\.0?01 \(grid edge\) \|", md,
                         re.MULTILINE)
    assert "**Grid edges**" in md
    assert "adam" in capsys.readouterr().out
    pngs = sorted(out_dir.glob("*.png"))
    assert {p.name.split("_")[0] for p in pngs} >= {"curves", "sensitivity"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(png).ndim == 3
