"""HuBERT (tiny, random init): freezing, pooling, the feature cache; pretrained weight errors."""

import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from optarena.errors import OptArenaError
from optarena.models.hubert import HubertClassifier
from optarena.models.hubert_weights import load_backbone

TINY = {"pretrained": None, "size": "tiny"}


def _net(**kwargs) -> HubertClassifier:
    torch.manual_seed(0)
    return HubertClassifier((8000,), 4, **{**TINY, **kwargs})


def _snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters()}


@pytest.mark.parametrize(("freeze", "fixed", "trained"), [
    ("feature_encoder", ["backbone.feature_extractor."], ["backbone.encoder.", "head."]),
    ("all", ["backbone."], ["head.", "layer_weights"]),
    ("none", [], ["backbone.feature_extractor.", "backbone.encoder.", "head."]),
])
def test_freeze_modes_leave_the_right_parameters_unchanged(freeze, fixed, trained) -> None:
    net = _net(freeze=freeze, pooling="layers")
    before = _snapshot(net)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(4, 8000), torch.tensor([0, 1, 2, 3])
    for _ in range(2):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {k for k, v in net.named_parameters() if not torch.equal(v, before[k])}
    for prefix in fixed:
        assert not {k for k in changed if k.startswith(prefix)}, prefix
    for prefix in trained:
        assert {k for k in changed if k.startswith(prefix)}, prefix


@pytest.mark.parametrize("pooling", ["mean", "layers"])
def test_cached_features_give_the_same_logits(pooling: str) -> None:
    net = _net(freeze="all", pooling=pooling, head_hidden=None).train()
    x = torch.randn(6, 8000)
    with torch.no_grad():
        net.head.eval()  # the head's dropout aside, training mode must not change the backbone
        uncached = net(x)
        features = torch.cat([net.frozen_features(x[:4]), net.frozen_features(x[4:])])
        net.features_cached = True
        cached = net(features)
    assert features.shape == ((6, 3, 64) if pooling == "layers" else (6, 64))
    torch.testing.assert_close(cached, uncached, atol=1e-5, rtol=1e-5)


def test_pretrained_offline_names_both_ways_out_without_waiting(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OptArenaError) as err:
        load_backbone("optarena-tests/hubert-not-cached")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "not in the Hugging Face cache" in message
    assert "model.pretrained=DIR" in message and "model.pretrained=null" in message


def test_pretrained_from_a_local_directory(tmp_path: Path) -> None:
    net = _net()
    net.backbone.save_pretrained(tmp_path / "hubert")
    loaded = load_backbone(str(tmp_path / "hubert"))
    torch.testing.assert_close(loaded.state_dict(), net.backbone.state_dict())
    with pytest.raises(OptArenaError, match="no such directory"):
        load_backbone(str(tmp_path / "missing"))


def test_pretrained_weights_need_16_khz() -> None:
    with pytest.raises(OptArenaError, match="data.sample_rate=16000"):
        HubertClassifier((8000,), 4, pretrained="facebook/hubert-base-ls960", sample_rate=8000)
