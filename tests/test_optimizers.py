"""Every optimizer in conf/optimizer/, built through the real config path, lowers the loss."""

import copy
import io
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from optarena import config_check
from optarena.models.cnn import CNNSmall
from optarena.optim.muon import MuonAdamW
from optarena.optim.param_groups import (
    BIAS_NORM,
    DECAY_KEY,
    HEAD_EMBEDDING,
    HIDDEN,
    ROLE_KEY,
    describe,
    param_groups,
)
from tests.conftest import CONF, compose_cfg

OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))


def _problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    net = nn.Sequential(nn.Linear(10, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 3))
    return net, x, y


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_lowers_the_loss_and_records_its_groups(tmp_path: Path, name: str) -> None:
    cfg = compose_cfg(tmp_path, [f"optimizer={name}"])
    net, x, y = _problem()
    opt = instantiate(cfg.optimizer, lr=config_check.resolved_lr(cfg))(param_groups(net))
    if hasattr(opt, "train"):
        opt.train()  # Schedule-Free
    loss_fn = nn.CrossEntropyLoss()
    start = loss_fn(net(x), y).item()
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    if hasattr(opt, "eval"):
        opt.eval()
    end = loss_fn(net(x), y).item()
    assert end < 0.85 * start, f"{name}: loss {start:.3f} -> {end:.3f}"
    _check_group_record(cfg, name)  # here: composing the config is most of the time


def test_param_groups_keep_decay_off_biases_and_norms() -> None:
    net, _, _ = _problem()
    hidden, head, no_decay = param_groups(net)
    assert [g[ROLE_KEY] for g in (hidden, head, no_decay)] == [HIDDEN, HEAD_EMBEDDING, BIAS_NORM]
    assert hidden["params"] == [net[0].weight] and head["params"] == [net[3].weight]
    assert hidden[DECAY_KEY] and head[DECAY_KEY] and "weight_decay" not in hidden
    assert no_decay["weight_decay"] == 0.0 and all(p.ndim == 1 for p in no_decay["params"])
    groups = param_groups(net, exclude_bias_norm=False)
    assert all(g[DECAY_KEY] for g in groups) and all("weight_decay" not in g for g in groups)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


class _ConvNet(nn.Module):
    """A conv kernel, a norm, a hidden linear layer, a class-token-like (1, n) tensor, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 16))
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x) + self.token)


def test_muon_groups_on_cnn_small_hold_its_conv_kernels() -> None:
    net = CNNSmall((3, 32, 32), 10)  # the CIFAR-10 study's layout: 2 convs, 3 linear layers
    opt = instantiate(compose_cfg(Path("."), ["optimizer=muon"]).optimizer)(param_groups(net))
    muon = [p for g in opt.param_groups if opt.updated_by(g) == "Muon" for p in g["params"]]
    convs = [m.weight for m in net.features if isinstance(m, nn.Conv2d)]
    hidden_linear = [net.classifier[1].weight, net.classifier[3].weight]
    assert {id(p) for p in muon} == {id(p) for p in convs + hidden_linear}
    assert all(p.ndim == 4 for p in convs)
    adamw = {id(p) for g in opt.param_groups if opt.updated_by(g) == "AdamW" for p in g["params"]}
    assert id(net.classifier[-1].weight) in adamw and id(net.classifier[-1].bias) in adamw


def _step(net: nn.Module, opt: torch.optim.Optimizer) -> None:
    if hasattr(opt, "train"):
        opt.train()  # Schedule-Free
    opt.zero_grad()
    net(torch.randn(4, 3, 4, 4)).logsumexp(1).sum().backward()
    opt.step()


def _check_group_record(cfg: DictConfig, name: str) -> None:
    """The param-group record (describe) against the optimizer's real groups and state."""
    torch.manual_seed(0)
    net = _ConvNet()
    opt = instantiate(cfg.optimizer, lr=config_check.resolved_lr(cfg))(param_groups(net))
    _step(net, opt)
    rows = describe(opt)
    assert len(rows) == len(opt.param_groups) == 3
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in net.parameters())
    by_role = {r["group"]: r for r in rows}
    assert by_role[HIDDEN]["tensors"] == 2  # the conv kernel and the hidden linear weight
    assert by_role[HEAD_EMBEDDING]["tensors"] == 2  # the head's weight and the (1, n) token
    assert not by_role[BIAS_NORM]["decay"] and by_role[BIAS_NORM]["weight_decay"] == 0.0
    for row, group in zip(rows, opt.param_groups, strict=True):
        assert row["tensors"] == len(group["params"])
        assert row["parameters"] == sum(p.numel() for p in group["params"])
        state = [opt.state[p] for p in group["params"]]
        if name == "muon":  # who updates it, read back from the optimizer's own state
            kind = "Muon" if all("momentum_buffer" in s for s in state) else (
                "AdamW" if all("exp_avg" in s for s in state) else "mixed")
            assert row["optimizer"] == kind == ("Muon" if row["group"] == HIDDEN else "AdamW")
        else:
            assert row["optimizer"] == type(opt).__name__


def test_muon_checkpoint_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    net = _ConvNet()
    opt = MuonAdamW(param_groups(net))
    _step(net, opt)
    twin = copy.deepcopy(net)
    again = MuonAdamW(param_groups(twin))
    saved = io.BytesIO()  # through bytes, as a checkpoint is (a loaded dict would alias)
    torch.save(opt.state_dict(), saved)
    saved.seek(0)
    again.load_state_dict(torch.load(saved))
    torch.manual_seed(1)
    _step(net, opt)
    torch.manual_seed(1)
    _step(twin, again)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
