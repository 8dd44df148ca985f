"""The default run on digits, through the real config and the real training loop."""

import json

from optarena.run import train


def test_default_run_learns_digits_and_writes_metrics_json(make_cfg, tmp_path):
    cfg = make_cfg("max_epochs=8")
    best = train(cfg)
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["status"] == "completed"
    assert best == summary["metrics"]["val/acc_best"] >= 0.9
    assert summary["metrics"]["test/acc"] >= 0.9
    names = (summary["data"], summary["model"], summary["optimizer"])
    assert names == ("digits", "cnn_small", "adam")
    assert summary["lr"] == 0.001 and summary["epochs"] == 8 and summary["steps"] > 0
    assert summary["target"]["value"] == 0.95 and summary["target"]["step"] is not None
    assert (tmp_path / "run" / "csv" / "metrics.csv").exists()
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").exists()
