"""The shared feature cache's key, built through the real config: what changes it, what not."""

import shutil
from pathlib import Path

import pytest
import torch

from optarena.callbacks.feature_cache import FeatureCache
from optarena.models.hubert_weights import load_backbone
from optarena.run import build
from tests.conftest import FAST, compose_cfg
from tests.esc50_fixture import write_esc50

FROZEN = ["model=hubert", "model.pretrained=null", "model.size=tiny", "model.freeze=all",
          "model.pooling=layers"]


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc50") / "ESC-50-master")


def _key(tmp_path: Path, root: Path, *overrides: str) -> str:
    clips = root.parent / "decoded"  # decoded once for all the tests of the module
    cfg = compose_cfg(tmp_path, [*FAST, f"data.root={root}", "data.clip_seconds=0.5",
                                 f"data.cache_dir={clips}", "batch_size=8", *FROZEN, *overrides])
    built = build(cfg)
    built.datamodule.setup("fit")
    cache = built.callback(FeatureCache)
    assert cache is not None and cache.cache_dir == tmp_path / "data" / "cache" / "features"
    return cache.key(built.trainer, built.net, built.datamodule)[0]


@pytest.fixture(scope="module")
def base_key(tmp_path_factory, esc50_root: Path) -> str:
    return _key(tmp_path_factory.mktemp("base"), esc50_root)


@pytest.mark.parametrize("override", [
    "model.pooling=mean", "seed=4",  # random init: the seed's weights
    "data.test_fold=3", "data=esc50", "data.sample_rate=8000",
    "data.clip_seconds=0.4", "trainer.precision=bf16-mixed", "callbacks.feature_cache.batch_size=4",
])
def test_each_key_input_gives_a_new_entry(tmp_path: Path, esc50_root: Path, base_key: str,
                                          override: str) -> None:
    assert _key(tmp_path, esc50_root, override) != base_key


def test_another_dataset_root_gives_a_new_entry(tmp_path: Path, esc50_root: Path,
                                                base_key: str) -> None:
    copy = shutil.copytree(esc50_root, tmp_path / "copy")
    assert _key(tmp_path, copy) != base_key


def test_training_settings_share_the_entry(tmp_path: Path, esc50_root: Path,
                                           base_key: str) -> None:
    assert _key(tmp_path, esc50_root, "optimizer=sgd", "lr=0.1", "max_epochs=7",
                "model.head_hidden=null", "model.dropout=0.3") == base_key


def test_pretrained_weights_are_keyed_by_content_not_seed(tmp_path: Path,
                                                          esc50_root: Path) -> None:
    weights = tmp_path / "weights"
    torch.manual_seed(0)
    load_backbone(None, "tiny").save_pretrained(weights)
    args = (esc50_root, "model.pretrained=" + str(weights))
    first = _key(tmp_path / "a", *args, "seed=0")
    assert _key(tmp_path / "b", *args, "seed=1") == first  # seeds share pretrained features
    torch.manual_seed(1)
    load_backbone(None, "tiny").save_pretrained(weights)  # new weights under the same name
    assert _key(tmp_path / "c", *args, "seed=0") != first
