"""Device-dependent speed settings: the decisions (GPU paths cannot run here) and their effects."""

import pytest
import torch
from torch import nn

from optarena.errors import OptArenaError
from optarena.models.cnn import CNNSmall
from optarena.models.mlp import MLP
from optarena.speed import (
    SpeedSettings,
    resolve_channels_last,
    resolve_precision,
    trains_on_cuda,
)


def test_which_runs_train_on_cuda() -> None:
    assert trains_on_cuda("auto", cuda_available=True)
    assert not trains_on_cuda("auto", cuda_available=False)
    assert trains_on_cuda("gpu", cuda_available=False)  # Lightning then says there is no GPU
    assert not trains_on_cuda("cpu", cuda_available=True)


def test_precision_auto_is_bf16_on_gpu_fp32_on_cpu() -> None:
    assert resolve_precision("auto", on_cuda=False) == "32-true"
    assert resolve_precision("auto", on_cuda=True, bf16_supported=True) == "bf16-mixed"
    assert resolve_precision("auto", on_cuda=True, bf16_supported=False) == "16-mixed"
    assert resolve_precision("32-true", on_cuda=True) == "32-true"  # an explicit choice wins


def test_channels_last_auto_is_for_conv_nets_on_gpu() -> None:
    cnn, mlp = CNNSmall((3, 32, 32), 10), MLP((3, 32, 32), 10)
    vit = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.Flatten(), nn.Linear(512, 10))
    assert resolve_channels_last("auto", on_cuda=True, net=cnn)
    assert not resolve_channels_last("auto", on_cuda=True, net=mlp)
    assert not resolve_channels_last("auto", on_cuda=True, net=vit)  # one patch-embedding conv
    assert not resolve_channels_last("auto", on_cuda=False, net=cnn)
    assert resolve_channels_last(True, on_cuda=False, net=cnn)
    with pytest.raises(OptArenaError, match="channels_last must be"):
        resolve_channels_last("yes", on_cuda=False, net=cnn)


def test_cpu_run_settings_from_the_config(make_cfg) -> None:
    speed = SpeedSettings.from_cfg(make_cfg("trainer=cpu"))
    assert speed.trainer_kwargs() == {"precision": "32-true", "benchmark": False}
    net = CNNSmall((3, 32, 32), 10)
    assert speed.prepare(net) is net and not net._forward_pre_hooks


def test_gpu_run_settings_from_the_config(make_cfg, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    speed = SpeedSettings.from_cfg(make_cfg("trainer=gpu", "compile=true"))
    assert speed.trainer_kwargs() == {"precision": "bf16-mixed", "benchmark": True}
    deterministic = SpeedSettings.from_cfg(make_cfg("trainer=gpu", "trainer.deterministic=true"))
    assert deterministic.benchmark is False
    net = speed.prepare(CNNSmall((3, 32, 32), 10))
    conv = net.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert net._compiled_call_impl is not None  # compiled in place: state_dict keys unchanged
    assert "features.0.weight" in net.state_dict()


def test_channels_last_hook_converts_inputs_and_keeps_outputs() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    x = torch.randn(2, 3, 32, 32)
    expected = net(x)
    seen = []
    net[0].register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    SpeedSettings("32-true", False, True, False, on_cuda=False).prepare(net)
    assert torch.allclose(net(x), expected, atol=1e-5)
    assert seen[-1].is_contiguous(memory_format=torch.channels_last)
