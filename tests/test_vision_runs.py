"""Whole runs on the CIFAR-10 and MNIST fixtures, and the seeds' experiment configs."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from optarena.errors import OptArenaError
from optarena.run import train
from tests.conftest import CONF, compose_cfg
from tests.vision_fixtures import write_cifar10, write_mnist


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_cnn_bn3_learns_the_cifar10_fixture(make_cfg, tmp_path: Path) -> None:
    write_cifar10(tmp_path / "data", per_batch=24, test=20)
    cfg = make_cfg("data=cifar10", "model=cnn_bn3", "model.channels=[8,16,16]", "model.hidden=32",
                   "data.verify_checksums=false", "data.val_size=20", "data.augment=false",
                   "batch_size=10", "max_epochs=3", "trainer.log_every_n_steps=1")
    train(cfg)
    summary = _summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["data"] == "cifar10"
    loss = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")["train/loss"].dropna()
    assert len(loss) == 3 * 10  # 100 training images in batches of 10, 3 epochs
    assert loss.tail(5).mean() < 0.7 * loss.head(5).mean()
    assert summary["metrics"]["test/acc"] > 0.3  # 10 classes: chance is 0.1


def test_mnist_through_the_torchvision_pipeline(make_cfg, tmp_path: Path) -> None:
    write_mnist(tmp_path / "data", train=200, test=40, gz=True)
    cfg = make_cfg("data=mnist", "data.verify_checksums=false", "data.pipeline=torchvision",
                   "data.num_workers=0", "data.val_size=20", "regularization=augment",
                   "trainer.log_every_n_steps=1", "max_epochs=3")
    best = train(cfg)
    summary = _summary(tmp_path / "run")
    assert summary["status"] == "completed" and best > 0.3
    assert summary["target"]["value"] == 0.99  # MNIST's own target


def test_missing_dataset_is_an_optarena_error_before_training(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(OptArenaError, match="CIFAR-10 not found: no .*data.download=true"):
        train(make_cfg("data=cifar10", "model=cnn_bn3"))
    assert _summary(tmp_path / "run")["status"] == "failed"


def test_augment_on_digits_is_refused(make_cfg) -> None:
    with pytest.raises(OptArenaError, match="data=digits does not support regularization "
                                            "'augment'"):
        train(make_cfg("regularization=augment"))


BACKBONES = sorted(p.stem for p in (CONF / "experiment" / "cifar10_backbones").glob("*.yaml"))


def test_experiments_sweep_what_their_seeds_studied(tmp_path: Path) -> None:
    def params(name: str) -> dict:
        compose_cfg(tmp_path, [f"+experiment={name}"])  # it composes
        path = CONF / "experiment" / f"{name}.yaml"
        return yaml.safe_load(path.read_text())["hydra"]["sweeper"]["params"]

    arms = params("cifar10_backbones")["+experiment/cifar10_backbones"].split(",")
    assert sorted(arms) == BACKBONES
    assert params("cifar10_regularization")["regularization"] == "none,dropout,l2,batchnorm"
    assert params("mnist_classic_optimizers")["optimizer"].split(",") == [
        "sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "nadam"]
    for name in ("cifar10_regularization", "mnist_classic_optimizers"):
        for option in params(name).get("optimizer", "adam").split(","):
            assert (CONF / "optimizer" / f"{option}.yaml").exists()
    cfg = compose_cfg(tmp_path, ["+experiment=mnist_classic_optimizers"])
    assert (cfg.max_epochs, cfg.batch_size) == (50, 64)
    assert cfg.data._target_.endswith("MNISTDataModule")


@pytest.mark.parametrize(("arm", "model", "lr", "batch", "epochs"), [
    ("simple_cnn", "CNNSmall", 1e-3, 32, 20), ("cnn_dropout", "CNNSmall", 0.01, 32, 10),
    ("vgg16", "vgg16", 0.01, 32, 10), ("resnet18", "resnet18", 0.01, 64, 20),
    ("vit", "vit", 3e-5, 64, 20),
])
def test_each_backbone_runs_at_the_seeds_settings(tmp_path: Path, arm, model, lr, batch,
                                                   epochs) -> None:
    cfg = compose_cfg(tmp_path, ["+experiment=cifar10_backbones",
                                 f"+experiment/cifar10_backbones={arm}"])
    assert cfg.model._target_.endswith(model) and cfg.data._target_.endswith("CIFAR10DataModule")
    assert (cfg.lr, cfg.batch_size, cfg.max_epochs) == (lr, batch, epochs)
    if arm == "vgg16":
        assert cfg.model.pretrained and cfg.model.freeze == "backbone"


def test_regularization_experiment_starts_from_the_bare_network(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path, ["+experiment=cifar10_regularization", "regularization=none"])
    assert not cfg.model.batchnorm and cfg.model.dropout == 0.0 and not cfg.data.augment
    cfg = compose_cfg(tmp_path, ["+experiment=cifar10_regularization", "regularization=batchnorm"])
    assert cfg.regularization.batchnorm
