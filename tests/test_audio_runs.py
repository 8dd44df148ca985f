"""Audio runs through the real config: model picks its data, mismatches, training, the study."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from optarena.errors import OptArenaError
from optarena.report.claims import parse_claims
from optarena.run import train
from tests.conftest import CONF, FAST, compose_cfg, run_train
from tests.esc50_fixture import write_esc50

TINY_HUBERT = ["model=hubert", "model.pretrained=null", "model.size=tiny"]


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc50") / "ESC-50-master")


def _audio(root: Path, *overrides: str) -> list[str]:
    return [*FAST, f"data.root={root}", "data.clip_seconds=0.5", "batch_size=8", *overrides]


def _summary(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


@pytest.mark.parametrize(("overrides", "data"), [
    (["model=hubert"], "esc10"), (["model=logmel_cnn"], "esc10"),
    (["model=hubert", "data=esc50"], "esc50"), (["data=esc50", "model=hubert"], "esc50"),
])
def test_audio_models_pick_esc10_unless_data_is_given(tmp_path: Path, overrides, data) -> None:
    cfg = compose_cfg(tmp_path, overrides)
    assert cfg.data.subset == data


def test_mismatched_model_and_data_fail_at_start(tmp_path: Path, esc50_root: Path) -> None:
    with pytest.raises(OptArenaError, match="model=hubert cannot train on data=digits: .*"
                                            "needs mono waveforms"):
        train(compose_cfg(tmp_path / "a", [*FAST, *TINY_HUBERT, "data=digits"]))
    with pytest.raises(OptArenaError, match="model=cnn_small cannot train on data=esc10: .*"
                                            "needs images"):
        train(compose_cfg(tmp_path / "b", _audio(esc50_root, "data=esc10", "model=cnn_small")))


def test_logmel_cnn_learns_the_fixture(tmp_path: Path, esc50_root: Path) -> None:
    cfg = compose_cfg(tmp_path, _audio(esc50_root, "model=logmel_cnn", "max_epochs=6",
                                       "model.time_mask_seconds=0.05"))
    best = train(cfg)
    curves = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")
    loss = curves["val/loss"].dropna().to_numpy()
    assert loss[-1] < 0.7 * loss[0]
    assert best >= 0.75  # 4 classes: chance is 0.25


def test_feature_cache_trains_like_recomputing(tmp_path: Path, esc50_root: Path) -> None:
    runs = {}
    for cache in ("true", "false"):
        cfg = compose_cfg(tmp_path / cache, _audio(
            esc50_root, *TINY_HUBERT, "model.freeze=all", "model.pooling=layers",
            "max_epochs=3", "seed=3", f"callbacks.feature_cache.enabled={cache}"))
        train(cfg)
        runs[cache] = (_summary(cfg)["metrics"], Path(cfg.paths.output_dir))
    (cached, cached_dir), (recomputed, _) = runs["true"], runs["false"]
    assert cached["test/acc"] is not None
    for name, value in recomputed.items():
        assert cached[name] == pytest.approx(value, abs=1e-4), name
    # The frozen backbone is left out of the cached run's checkpoints; the head is in them.
    state = torch.load(cached_dir / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    assert not any(k.startswith("net.backbone.") for k in state)
    assert any(k.startswith("net.head.") for k in state) and "net.layer_weights" in state


def test_runs_with_the_same_key_share_the_features(tmp_path: Path, esc50_root: Path,
                                                   caplog) -> None:
    shared = tmp_path / "features"

    def run(name: str, *overrides: str) -> tuple[dict, str]:
        cfg = compose_cfg(tmp_path / name, _audio(
            esc50_root, *TINY_HUBERT, "model.freeze=all", "max_epochs=2", "seed=3",
            f"callbacks.feature_cache.cache_dir={shared}", *overrides))
        caplog.clear()
        with caplog.at_level("INFO", logger="optarena.callbacks"):
            train(cfg)
        return _summary(cfg)["metrics"], caplog.text

    _, first = run("a", "optimizer=adam")
    files = list(shared.glob("*.pt"))
    assert len(files) == 1 and f"wrote {files[0]}" in first
    written = files[0].stat().st_mtime_ns
    read_metrics, second = run("b", "optimizer=sgd")  # another optimizer: the same features
    assert f"read the features of 40 clips from {files[0]}" in second
    assert "computed once" not in second
    assert list(shared.glob("*.pt")) == files and files[0].stat().st_mtime_ns == written
    own_metrics, third = run("c", "optimizer=sgd", "callbacks.feature_cache.cache_dir=null")
    assert "computed once" in third and list(shared.glob("*.pt")) == files
    assert read_metrics == own_metrics  # read or computed, the run trains the same


@pytest.mark.slow
def test_parallel_jobs_starting_together_compute_the_features_once(tmp_path: Path,
                                                                   esc50_root: Path) -> None:
    out = run_train(tmp_path, "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                    *_audio(esc50_root, *TINY_HUBERT, "model.freeze=all", "max_epochs=1"),
                    "optimizer=sgd,adam", "hydra.sweep.dir=sweep")
    assert out.returncode == 0, out.stderr[-3000:]
    logs = [p.read_text() for p in sorted((tmp_path / "sweep").glob("*/train.log"))]
    assert len(logs) == 2
    assert sum("computed once" in log for log in logs) == 1
    assert sum("feature cache: read the features of 40 clips" in log for log in logs) == 1
    assert len(list((tmp_path / "data" / "cache" / "features").glob("*.pt"))) == 1


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "madgrad", "adan"])
def test_study_config_gives_each_optimizer_its_own_grid(tmp_path: Path, optimizer: str) -> None:
    raw = yaml.safe_load((CONF / "experiment" / "esc10_hubert_optimizers.yaml").read_text())
    sweep = raw["hydra"]["sweeper"]["params"]
    assert sweep["optimizer"].split(",") == ["sgd", "adam", "madgrad", "adan"]
    indices = [int(i) for i in str(sweep["lr_index"]).split(",")]
    grid = raw["lr_grid"][optimizer]
    assert indices == list(range(len(grid)))
    for i in (0, len(grid) - 1):
        cfg = compose_cfg(tmp_path, ["+experiment=esc10_hubert_optimizers",
                                     f"optimizer={optimizer}", f"lr_index={i}"])
        assert cfg.lr == grid[i] and cfg.model.freeze == "all" and cfg.batch_size == 20
        assert (cfg.data.subset, cfg.data.test_fold, cfg.data.val_fold) == ("esc10", 5, 4)
    claims, problems = parse_claims(pd.Series([raw["claims"]]))
    assert not problems and {(c.a, c.b, c.metric) for c in claims} >= {
        ("adan", "adam", "steps_to_target"), ("madgrad", "adam", "test_acc")}


def test_augmentation_turns_the_feature_cache_off(tmp_path: Path, esc50_root: Path,
                                                  caplog) -> None:
    cfg = compose_cfg(tmp_path, _audio(esc50_root, *TINY_HUBERT, "model.freeze=all",
                                       "regularization.augment=true", "max_epochs=1"))
    with caplog.at_level("WARNING", logger="optarena.callbacks.feature_cache"):
        train(cfg)
    assert "feature cache off: training augmentation" in caplog.text
    state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt",
                       weights_only=False)["state_dict"]
    assert any(k.startswith("net.backbone.") for k in state)  # full checkpoint without the cache


def test_missing_weights_are_not_called_a_data_mismatch(tmp_path: Path, esc50_root: Path,
                                                        monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose_cfg(tmp_path, _audio(esc50_root, "model=hubert",
                                       "model.pretrained=optarena-tests/hubert-not-cached"))
    with pytest.raises(OptArenaError, match=r"^model.pretrained=optarena-tests/hubert-not-cached: "
                                            "weights are not in the Hugging Face cache"):
        train(cfg)
    assert _summary(cfg)["status"] == "failed"


@pytest.mark.slow
def test_logmel_cnn_recipe_trains_the_fixture(tmp_path: Path, esc50_root: Path) -> None:
    """`model=logmel_cnn` alone takes conf/data_model/esc10_logmel_cnn.yaml (batch 16, 40 epochs);
    on the fixture's 0.5 s clips (time masks shortened to fit) that run learns the 4 classes."""
    quiet = ["logger=csv", "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false",
             "+trainer.enable_model_summary=false"]  # debug=fast without its 2 epochs
    cfg = compose_cfg(tmp_path, [*quiet, "model=logmel_cnn", f"data.root={esc50_root}",
                                 "data.clip_seconds=0.5", "model.time_mask_seconds=0.05"])
    assert (cfg.batch_size, cfg.data.batch_size, cfg.trainer.max_epochs) == (16, 16, 40)
    train(cfg)
    record = _summary(cfg)
    assert (record["epochs"], record["steps"]) == (40, 80)  # 24 training clips: 2 steps an epoch
    curves = pd.read_csv(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")
    loss = curves["val/loss"].dropna().to_numpy()
    assert loss[-5:].mean() < 0.3 * loss[0]
    assert record["metrics"]["test/acc"] >= 0.9  # 4 classes: chance is 0.25
