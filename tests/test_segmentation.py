"""Segmentation: metrics from the confusion matrix, joint augmentation, U-Nets, training on
digits_seg, model/data kinds, and a report on mIoU."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from report_fixtures import make_run

from optarena.data.augment import random_crop_flip_pair
from optarena.data.digits_seg import DigitsSegDataModule
from optarena.errors import OptArenaError
from optarena.models.unet import unet, unet_small
from optarena.run import train
from optarena.tasks.segmentation import IGNORE_INDEX, Segmenter, split_metrics

# Few, small scenes (16x16, 1-2 digits): a U-Net learns them in seconds on the CPU.
SMALL = ["model=unet_small", "data.canvas=16", "data.max_digits=2", "batch_size=32",
         "data.scenes={train: 640, val: 128, test: 128}"]


def test_miou_is_the_mean_over_present_classes_of_the_split_confusion_matrix() -> None:
    # Two "images" of 4 pixels; class 3 never occurs (neither predicted nor labelled), and one
    # pixel is ignored. By hand over the whole split (not per image):
    #   class 0: tp 2, fp 2, fn 1 -> 2/5;  class 1: tp 1, fp 1, fn 1 -> 1/3;
    #   class 2: tp 1, fp 0, fn 1 -> 1/2;  class 3 absent -> not counted.
    target = torch.tensor([[[0, 0], [1, 2]], [[1, 2], [0, IGNORE_INDEX]]])
    preds = torch.tensor([[[0, 1], [1, 2]], [[0, 0], [0, 1]]])
    metrics = split_metrics(num_classes=4)
    for p, t in zip(preds, target, strict=True):  # one batch per image: state accumulates
        for m in metrics.values():
            m.update(p[None], t[None])
    miou = metrics["miou"].compute().item()
    assert miou == pytest.approx((2 / 5 + 1 / 3 + 1 / 2) / 3)
    # The mean of per-image IoUs would differ: the metric is over the split.
    assert metrics["pixel_acc"].compute().item() == pytest.approx(4 / 7)
    dice = [2 * 2 / (2 * 2 + 2 + 1), 2 * 1 / (2 + 1 + 1), 2 * 1 / (2 + 0 + 1)]
    assert metrics["dice"].compute().item() == pytest.approx(sum(dice) / 3)


def test_cross_entropy_ignores_unlabelled_pixels_and_is_zero_when_all_are() -> None:
    task = Segmenter(torch.nn.Identity(), optimizer=torch.optim.SGD, num_classes=3)
    logits = torch.randn(1, 3, 2, 2)
    y = torch.tensor([[[0, 1], [IGNORE_INDEX, 2]]])
    flat = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1).reshape(-1, 3)[[0, 1, 3]],
                                             torch.tensor([0, 1, 2]))
    assert task.loss(logits, y).item() == pytest.approx(flat.item(), rel=1e-6)
    assert task.loss(logits, torch.full_like(y, IGNORE_INDEX)).item() == 0.0
    with_dice = Segmenter(torch.nn.Identity(), optimizer=torch.optim.SGD, num_classes=3,
                          dice_weight=1.0)
    assert with_dice.loss(logits, y).item() > task.loss(logits, y).item()


def test_joint_crop_and_flip_keep_image_and_mask_aligned() -> None:
    torch.manual_seed(0)
    # The mask is a function of the image (label = pixel value), so any misalignment shows.
    x = torch.randint(1, 200, (16, 1, 12, 12), dtype=torch.uint8)
    y = x[:, 0].clone()
    xa, ya = random_crop_flip_pair(x, y, padding=3, flip=True, mask_fill=IGNORE_INDEX)
    padded = ya == IGNORE_INDEX
    assert padded.any() and (~padded).any()  # some crops moved, padding became "ignore"
    assert torch.equal(xa[:, 0][~padded], ya[~padded])  # every labelled pixel still matches
    assert (xa[:, 0][padded] == 0).all()
    assert not torch.equal(xa, x)  # something was cropped or flipped


def test_digit_scenes_label_exactly_the_digit_ink_and_split_by_digits() -> None:
    dm = DigitsSegDataModule(scenes={"train": 50, "val": 10, "test": 20})
    dm.setup()
    images, masks = dm.splits["train"]
    assert images.shape == (50, 1, 24, 24) and images.dtype == torch.uint8
    assert masks.shape == (50, 24, 24) and int(masks.max()) <= 10
    labelled = masks > 0
    assert (images[:, 0][labelled] > 0.3 * 255 - 1).all()  # labels only on ink
    assert labelled.float().mean() > 0.05  # and there is ink
    per_scene = [len(set(torch.unique(m).tolist()) - {0}) for m in masks]
    assert max(per_scene) >= 2  # several digits per scene
    again = DigitsSegDataModule(scenes={"train": 50, "val": 10, "test": 20})
    again.setup()
    assert torch.equal(again.splits["test"][1], dm.splits["test"][1])  # fixed by split_seed
    with pytest.raises(OptArenaError, match="data.scenes must give a count"):
        DigitsSegDataModule(scenes={"train": 10})


@pytest.mark.parametrize("factory", [unet_small, unet])
def test_unets_keep_the_image_size_of_any_input(factory) -> None:
    for shape in ((1, 32, 32), (3, 45, 37)):
        net = factory(shape, num_classes=5)
        assert net(torch.zeros(2, *shape)).shape == (2, 5, *shape[1:])


def test_unet_parameter_counts_as_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "segmentation.md").read_text()
    for net in (unet_small((1, 24, 24), 11), unet_small((1, 64, 64), 11),
                unet_small((3, 128, 128), 3), unet((1, 64, 64), 11), unet((3, 64, 64), 3),
                unet((1, 24, 24), 11, encoder_depth=3, decoder_channels=[64, 32, 16])):
        count = sum(p.numel() for p in net.parameters())
        assert f"| {count:,} |" in doc


def test_unet_pretrained_offline_is_one_clear_line(offline, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(OptArenaError) as err:
        unet((3, 32, 32), 3, pretrained=True)
    assert "\n" not in str(err.value) and "resnet18" in str(err.value)
    assert "cannot be reached" in str(err.value)


def test_the_unet_learns_digit_scenes_well_above_chance(make_cfg, tmp_path: Path) -> None:
    best = train(make_cfg(*SMALL, "max_epochs=10", "lr=3e-3"))
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "completed" and record["task"] == "segmentation"
    assert record["metric"] == {"name": "val/miou", "mode": "max"}
    assert best == record["metrics"]["val/miou_best"]
    metrics = record["metrics"]
    # Chance: background everywhere scores only the background class, mIoU < 1/11.
    assert metrics["test/miou"] > 0.25 and metrics["test/pixel_acc"] > 0.85
    assert {"test/dice", "val/dice", "train/miou"} <= metrics.keys()
    curves = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "val/miou" in curves and "val/miou_best" in curves
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.parametrize(("overrides", "message"), [
    (["model=unet_small", "data=digits"], "model=unet_small does segmentation, but data=digits "
                                          "is a classification dataset"),
    (["data=digits_seg"], "model=cnn_small does classification, but data=digits_seg is a "
                          "segmentation dataset"),
    (["task.dice_weight=0.5"], "task.dice_weight is not an option of the classification task"),
    ([*SMALL, "task.dice_weight=-1"], "task.dice_weight must be a number >= 0"),
])
def test_mismatched_model_data_and_task_options_are_one_line(make_cfg, overrides, message,
                                                             tmp_path: Path) -> None:
    with pytest.raises(OptArenaError) as err:
        train(make_cfg(*overrides, "max_epochs=1"))
    assert message in str(err.value) and "\n" not in str(err.value)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "failed"


def test_a_two_optimizer_segmentation_sweep_reports_miou(tmp_path: Path) -> None:
    from optarena.report import profiles, stats
    from optarena.report.build import build_report
    from optarena.report.collect import collect_runs
    from tests.conftest import FAST, compose_cfg

    sweep = tmp_path / "sweep"
    for i, optimizer in enumerate(("adam", "sgd")):
        cfg = compose_cfg(tmp_path / f"job{i}", [*FAST, *SMALL, f"optimizer={optimizer}",
                                                 "max_epochs=2", "data.scenes={train: 96, "
                                                 "val: 32, test: 32}"])
        cfg.paths.output_dir = str(sweep / str(i))
        train(cfg)
        claim = {"a": "adam", "b": "sgd", "metric": "test_miou", "better": "higher"}
        (sweep / str(i) / ".hydra").mkdir()
        (sweep / str(i) / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"claims": [claim]}))
    report = build_report([sweep])
    columns = list(report.headline.columns)
    assert "val mIoU" in columns and "test mIoU mean ± std" in columns
    assert set(report.headline["optimizer"]) == {"adam", "sgd"}
    assert list(report.claims["claim"]) == ["adam vs sgd: test_miou, higher is better"]
    md = (sweep / "report" / "report.md").read_text()
    assert "test mIoU" in md and "val/miou" in md
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert set(runs["kind"]) == {"segmentation"} and set(runs["metric"]) == {"miou"}

    # With classification runs beside them: a metric column, one profile over both tasks.
    for i, optimizer in enumerate(("adam", "sgd")):
        make_run(sweep, f"cls{i}", optimizer=optimizer, val_acc_best=0.9 + i / 100)
    both = build_report([sweep])
    assert set(both.headline["metric"]) == {"acc", "mIoU"}
    profile = (sweep / "report" / "report.md").read_text().split("## 5. Performance profile")[1]
    assert "profile.png" in profile or "Left out" in profile
    r, excluded = profiles.ratios(stats.summarize(stats.resolve_targets(
        collect_runs([sweep])[0])))
    assert {*r.index, *excluded} == {"digits/cnn_small", "digits_seg/unet_small"}
