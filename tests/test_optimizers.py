"""Every optimizer in conf/optimizer/, built through the real config path, lowers the loss."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from optarena import config_check
from optarena.optim.muon import MuonWithAdamW
from optarena.optim.param_groups import DECAY_KEY, param_groups
from tests.conftest import CONF, compose_cfg

OPTIMIZERS = sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml"))


def _problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    net = nn.Sequential(nn.Linear(10, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 3))
    return net, x, y


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_lowers_the_loss(tmp_path: Path, name: str) -> None:
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


def test_param_groups_keep_decay_off_biases_and_norms() -> None:
    net, _, _ = _problem()
    decay, no_decay = param_groups(net)
    assert decay[DECAY_KEY] and all(p.ndim == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.ndim == 1 for p in no_decay["params"])
    (everything,) = param_groups(net, exclude_bias_norm=False)
    assert len(everything["params"]) == len(list(net.parameters()))


def test_muon_takes_hidden_matrices_and_adamw_the_rest() -> None:
    net, x, y = _problem()
    opt = MuonWithAdamW(param_groups(net))
    hidden, head = net[0].weight, net[3].weight
    muon_params = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    assert muon_params == {id(hidden)}
    assert id(head) in {id(p) for g in opt.adamw.param_groups for p in g["params"]}
    nn.CrossEntropyLoss()(net(x), y).backward()
    opt.step()
    state = opt.state_dict()
    again = MuonWithAdamW(param_groups(net))
    again.load_state_dict(state)
    assert again.state_dict()["muon"]["state"].keys() == state["muon"]["state"].keys()
