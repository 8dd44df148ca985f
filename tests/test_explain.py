"""python -m optarena.explain: heat maps of finished runs, the sweep comparison, bad input, and
the attribution shapes for segmentation and audio models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from optarena.explain.__main__ import main
from optarena.explain.attribute import BINS, attribute
from optarena.explain.inputs import stratified, subject
from optarena.explain.load import LoadedRun
from optarena.explain.options import ExplainOptions
from optarena.explain.single import explain_one
from optarena.report.build import build_report
from optarena.run import build, train
from tests.conftest import FAST, ROOT, compose_cfg
from tests.esc50_fixture import write_esc50


def _trained(folder: Path, *overrides: str) -> Path:
    """A finished tiny digits run in `folder`, with the .hydra/ files Hydra writes beside it."""
    cfg = compose_cfg(folder, [*FAST, "max_epochs=2", *overrides])
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    saved = OmegaConf.to_container(HydraConfig.get(), resolve=False)
    OmegaConf.save(OmegaConf.create({"hydra": saved}), hydra_dir / "hydra.yaml")
    (hydra_dir / "overrides.yaml").write_text(json.dumps(list(overrides)))
    return run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A two-optimizer sweep folder: 0/run (sgd), 1/run (adam), 2 epochs each."""
    root = tmp_path_factory.mktemp("sweep")
    for i, overrides in enumerate((["optimizer=sgd", "lr=0.1"], ["optimizer=adam"])):
        _trained(root / str(i), *overrides)
    return root


@pytest.fixture(scope="module")
def run_dir(sweep: Path) -> Path:
    return sweep / "1" / "run"


def test_items_are_class_stratified_and_fixed() -> None:
    labels = [2, 0, 0, 1, 2, 1, 0]
    assert stratified(labels, 4) == [1, 3, 0, 2]  # one of each class, then class 0 again
    assert stratified(labels, 100) == [1, 3, 0, 2, 5, 4, 6]


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "gradcam"])
def test_explain_writes_a_figure_with_a_heat_map_that_is_not_constant(run_dir: Path,
                                                                      method: str) -> None:
    assert main([str(run_dir), f"explain.method={method}", "explain.images=6",
                 "explain.steps=8"]) == 0
    out = run_dir / "explain"
    assert (out / f"{method}.png").stat().st_size > 5000
    heat = np.load(out / f"{method}.npz")["heat"]
    assert heat.shape == (6, 8, 8)  # digits: 8x8 images
    assert all(h.max() > h.min() for h in heat)  # each plotted map varies over the image
    items = json.loads((out / f"{method}.json").read_text())["items"]
    assert [i["true"] for i in items] == ["0", "1", "2", "3", "4", "5"]
    assert sum(i["correct"] for i in items) >= 4  # two epochs of Adam on digits


def test_the_sweep_comparison_has_one_row_per_optimizer_and_the_report_embeds_it(
        sweep: Path) -> None:
    assert main([str(sweep), "explain.images=4"]) == 0
    meta = json.loads((sweep / "explain" / "comparison.json").read_text())
    assert [r["label"].split(",")[0] for r in meta["rows"]] == ["adam", "sgd"]
    assert [Path(r["run_dir"]) for r in meta["rows"]] == [sweep / "1" / "run", sweep / "0" / "run"]
    assert all(len(r["predicted"]) == 4 for r in meta["rows"])
    report = build_report([sweep])
    md = (report.out_dir / "report.md").read_text()
    assert "What the models look at" in md and "explain_comparison.png" in md
    assert (report.out_dir / "explain_comparison.png").is_file()


@pytest.mark.parametrize(("target", "args", "message"), [
    ("empty", [], "is neither a run nor a sweep folder"),
    ("no_ckpt", [], "holds no checkpoint"),
    ("diverged", [], "diverged"),
    ("run", ["explain.method=lime"], "explain.method=lime is unknown; one of saliency, "
                                     "integrated_gradients, gradcam"),
    ("run", ["explain.size=3"], "unknown option explain.size"),
    ("mlp", ["explain.method=gradcam"], "needs a convolutional layer, and model=mlp has none"),
])
def test_bad_input_is_one_error_line(run_dir: Path, sweep: Path, tmp_path: Path, capsys,
                                     target: str, args: list[str], message: str) -> None:
    folder = {"run": run_dir, "empty": tmp_path}.get(target, tmp_path / target)
    if target in ("no_ckpt", "diverged"):
        (folder / ".hydra").mkdir(parents=True)
        for name in ("config.yaml", "hydra.yaml"):
            (folder / ".hydra" / name).write_bytes((run_dir / ".hydra" / name).read_bytes())
        status = {"status": "diverged", "error": "training loss nan at step 3"}
        if target == "diverged":
            (folder / "metrics.json").write_text(json.dumps(status))
    if target == "mlp":
        folder = _trained(tmp_path / "mlp", "model=mlp", "batch_size=64", "max_epochs=1")
    assert main([str(folder), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    if target in ("empty", "no_ckpt", "diverged"):
        assert not (folder / "explain").exists()  # nothing written


@pytest.mark.slow
def test_the_command_line_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "optarena.explain", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: no such directory: {tmp_path / 'nowhere'}; pass a run folder "
        "(outputs/DATE/TIME) or a sweep folder (multirun/DATE/TIME)"]


def _built(tmp_path: Path, *overrides: str) -> LoadedRun:
    """An untrained model built as train.py builds it (shapes do not need training)."""
    built = build(compose_cfg(tmp_path, [*FAST, *overrides]))
    built.task.eval()
    return LoadedRun(tmp_path, tmp_path / "none.ckpt", {}, built)


@pytest.fixture(scope="module")
def unet(tmp_path_factory) -> LoadedRun:
    return _built(tmp_path_factory.mktemp("unet"), "model=unet_small",
                  "data.scenes={train: 32, val: 16, test: 24}")


@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_segmentation_explains_the_predicted_mask_of_one_class(unet: LoadedRun,
                                                               method: str) -> None:
    run = unet
    items = subject(run, 3, seg_class=None)
    heat = attribute(items, ExplainOptions(method=method))
    assert heat.shape == (3, 24, 24) and items.masks.shape == (3, 2, 24, 24)
    assert all(t != 0 for t in items.targets.tolist())  # never the background class
    pinned = subject(run, 2, seg_class=4)
    assert pinned.targets.tolist() == [4, 4] and pinned.titles[0][0] == "3"  # class 4 = digit 3


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc50") / "ESC-50-master")


def _audio(root: Path, *overrides: str) -> list[str]:
    return [f"data.root={root}", "data.clip_seconds=0.5", "batch_size=8", *overrides]


@pytest.fixture(scope="module")
def logmel(tmp_path_factory, esc50_root: Path) -> LoadedRun:
    return _built(tmp_path_factory.mktemp("logmel"), *_audio(esc50_root, "model=logmel_cnn"))


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "gradcam"])
def test_logmel_cnn_gets_a_time_by_mel_map(logmel: LoadedRun, method: str) -> None:
    run = logmel
    items = subject(run, 4)
    heat = attribute(items, ExplainOptions(method=method, steps=4))
    frames = 0.5 * 16000 // 160 + 1  # hop 10 ms
    assert items.kind == "spectrogram" and heat.shape == (4, 64, frames)
    assert items.display.shape == (4, 64, frames)  # the dB spectrogram, as drawn
    assert all(h.max() > h.min() for h in heat)


def test_hubert_is_explained_over_time_on_the_waveform(tmp_path: Path, esc50_root: Path
                                                       ) -> None:
    run = _built(tmp_path, *_audio(esc50_root, "model=hubert", "model.pretrained=null",
                                   "model.size=tiny", "model.freeze=all"))
    items = subject(run, 3)
    assert items.kind == "waveform" and not run.net.features_cached  # the real backbone
    for method in ("saliency", "gradcam"):
        heat = attribute(items, ExplainOptions(method=method))
        assert heat.shape == (3, BINS) and all(h.max() > h.min() for h in heat)


def test_a_feature_cached_hubert_run_is_explained_through_the_real_backbone(
        tmp_path: Path, esc50_root: Path) -> None:
    """The cache leaves the frozen backbone out of the checkpoint; explain rebuilds it from the
    config (seeded) and attributes on the waveform through it."""
    run_dir = _trained(tmp_path, *_audio(esc50_root, "model=hubert", "model.pretrained=null",
                                         "model.size=tiny", "model.freeze=all", "max_epochs=1"))
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    assert not any(k.startswith("net.backbone.") for k in state)  # a slim checkpoint
    row, run = explain_one(run_dir, ExplainOptions(images=3))
    assert not run.net.features_cached
    head = run.net.head.state_dict()
    assert head and all(torch.equal(v.cpu(), state[f"net.head.{k}"]) for k, v in head.items())
    assert row.heat.shape == (3, BINS) and all(h.max() > h.min() for h in row.heat)


@pytest.mark.slow
def test_a_fresh_process_resolves_the_runs_hydra_interpolations(run_dir: Path) -> None:
    """Hydra writes `paths.root_dir: ${hydra:runtime.cwd}` into config.yaml; the command has no
    Hydra app around it, so it registers Hydra's resolvers and reads the run's hydra.yaml."""
    code = ("from pathlib import Path; from omegaconf import OmegaConf\n"
            "from optarena.explain.load import run_config, saved_hydra\n"
            f"run = Path({str(run_dir)!r}); cfg = run_config(run)\n"
            "cfg.paths.root_dir = '${hydra:runtime.cwd}'\n"
            "with saved_hydra(run): print(cfg.paths.root_dir)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(HydraConfig.get().runtime.cwd)


def test_a_tune_then_confirm_sweep_explains_the_confirmed_runs_the_report_shows() -> None:
    import pandas as pd

    from optarena.explain.sweep import chosen_runs

    def run(lr: float, seed: int, stage: str, val: float) -> dict:
        return {"task": "digits/cnn_small", "optimizer": "adam", "setting": f"lr={lr}", "lr": lr,
                "metric": "acc", "seed": seed, "stage": stage, "status": "completed",
                "val_score": val, "run_dir": f"{stage}_{lr}_{seed}"}

    # Stage 1 chose lr=0.1 at seed 0; pooled with its weaker confirmations it would lose to
    # lr=0.01, whose one run is the tuning seed's, which the report never shows.
    runs = pd.DataFrame([run(0.1, 0, "tune", 0.97), run(0.01, 0, "tune", 0.96),
                         run(0.1, 1, "confirm", 0.90), run(0.1, 2, "confirm", 0.91)])
    assert chosen_runs(runs) == {"digits/cnn_small": {"adam": ["confirm_0.1_1",
                                                               "confirm_0.1_2"]}}
