"""Each regularization option changes the model, loss or update that it claims to."""

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from optarena import config_check
from optarena.errors import OptArenaError
from optarena.regularization import Regularization
from optarena.tasks.classification import Classifier


def _build(make_cfg, *overrides: str) -> tuple[nn.Module, Regularization]:
    cfg = make_cfg(*overrides)
    reg = Regularization.from_cfg(cfg.regularization)
    net = instantiate(cfg.model, in_shape=(1, 8, 8), num_classes=10,
                      **reg.model_kwargs(cfg.model, "m"))
    return net, reg


def test_dropout_adds_dropout_layers_with_p(make_cfg) -> None:
    net, _ = _build(make_cfg, "regularization=dropout", "regularization.dropout=0.3")
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert drops and all(m.p == 0.3 for m in drops)
    plain, _ = _build(make_cfg, "model=mlp")
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())


def test_batchnorm_adds_norm_layers(make_cfg) -> None:
    net, _ = _build(make_cfg, "model=mlp", "regularization=batchnorm")
    assert any(isinstance(m, nn.BatchNorm1d) for m in net.modules())


def test_a_regularization_the_model_already_has_is_said(make_cfg, caplog) -> None:
    # digits x cnn_small's recipe turns batch norm on: regularization=batchnorm changes nothing.
    _build(make_cfg, "model=cnn_small", "regularization=batchnorm")
    assert "model.batchnorm is True already" in caplog.text
    caplog.clear()
    _build(make_cfg, "model=mlp", "regularization=batchnorm")
    assert "already" not in caplog.text


def _one_sgd_step(make_cfg, *overrides: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the first layer before and after one SGD step with a zero loss gradient."""
    cfg = make_cfg("model=mlp", "optimizer=sgd", "lr=0.1", *overrides)
    net, reg = _build(make_cfg, "model=mlp", *overrides)
    task = Classifier(net, instantiate(cfg.optimizer, lr=config_check.resolved_lr(cfg)), 10,
                      l2=reg.l2, weight_decay=reg.weight_decay)
    opt = task.configure_optimizers()["optimizer"]
    w = net.net[1].weight
    before = w.detach().clone()
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    task.on_before_optimizer_step(opt)
    opt.step()
    return before, w.detach()


def test_l2_is_added_to_the_gradient(make_cfg) -> None:
    before, after = _one_sgd_step(make_cfg, "regularization=l2", "regularization.l2=0.5")
    assert torch.allclose(after, before - 0.1 * 0.5 * before, atol=1e-6)


def test_decoupled_weight_decay_shrinks_weights(make_cfg) -> None:
    before, after = _one_sgd_step(make_cfg, "regularization=decoupled_wd",
                                  "regularization.weight_decay=0.2")
    assert torch.allclose(after, before * (1 - 0.1 * 0.2), atol=1e-6)


def test_no_regularization_leaves_weights_alone(make_cfg) -> None:
    before, after = _one_sgd_step(make_cfg)
    assert torch.equal(before, after)


def test_label_smoothing_raises_the_loss_of_a_confident_right_answer() -> None:
    net = nn.Identity()
    logits, y = torch.tensor([[20.0, -20.0]]), torch.tensor([0])
    plain = Classifier(net, torch.optim.SGD, 2)._step((logits, y))[0]
    smooth = Classifier(net, torch.optim.SGD, 2, label_smoothing=0.2)._step((logits, y))[0]
    assert plain < 1e-6 < 1.0 < smooth


def test_unsupported_option_is_a_clear_error(make_cfg) -> None:
    cfg = make_cfg("regularization=batchnorm")
    reg = Regularization.from_cfg(cfg.regularization)
    cfg.model._target_ = "torch.nn.Identity"
    with pytest.raises(OptArenaError, match="does not support regularization 'batchnorm'"):
        reg.model_kwargs(cfg.model, "identity")
