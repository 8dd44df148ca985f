"""Parameter groups by role: hidden weights, the input/output layers, biases and norms.

Every optimizer gets the same groups, named after what they hold (the LR monitor logs
`lr-Adam/hidden`, ...): `hidden` (the weights of linear and convolution layers between input
and output, and any other >=2-D weight), `head_embedding` (the output layer's weight,
embedding tables, position embeddings and class tokens) and `bias_norm` (1-D and scalar
parameters: biases, norm scales). Weight decay never touches `bias_norm` unless
exclude_bias_norm=False. The split matters to hybrid optimizers (Muon updates `hidden` only,
AdamW the rest); for the others the groups share every hyperparameter.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim import Optimizer

DECAY_KEY = "optarena_decay"  # kept in each param group; True where (weight) decay applies
ROLE_KEY = "name"  # the group's role; Lightning's LR monitor names groups by this key
HIDDEN, HEAD_EMBEDDING, BIAS_NORM = "hidden", "head_embedding", "bias_norm"
EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)
WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


def output_layer(net: nn.Module) -> nn.Module | None:
    """The layer that produces the model's output: timm's `get_classifier()` where the model
    (or a module inside a wrapper) has one, else the last linear or convolution layer in
    registration order, which is the last one applied for every model in conf/model/."""
    for module in net.modules():
        get = getattr(module, "get_classifier", None)
        if callable(get):
            head = get()
            if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
                return head
            break
    layers = [m for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]
    return layers[-1] if layers else None


def roles(net: nn.Module) -> dict[int, str]:
    """The role of every parameter (by id): hidden, head_embedding or bias_norm."""
    head = output_layer(net)
    io = {id(p) for p in head.parameters()} if head is not None else set()
    for module in net.modules():
        if isinstance(module, EMBEDDINGS):
            io.update(id(p) for p in module.parameters())
    out: dict[int, str] = {}
    for p in net.parameters():
        if p.ndim <= 1:
            out[id(p)] = BIAS_NORM
        elif id(p) in io or p.shape[0] == 1:  # (1, tokens, dim): position embedding, class token
            out[id(p)] = HEAD_EMBEDDING
        else:
            out[id(p)] = HIDDEN
    return out


def param_groups(net: nn.Module, exclude_bias_norm: bool = True) -> list[dict]:
    """The non-empty groups among hidden, head_embedding (both decayed) and bias_norm (not
    decayed, weight_decay 0, unless exclude_bias_norm=False). Frozen parameters are left out."""
    role = roles(net)
    groups = {name: [] for name in (HIDDEN, HEAD_EMBEDDING, BIAS_NORM)}
    for p in net.parameters():
        if p.requires_grad:
            groups[role[id(p)]].append(p)
    out = []
    for name, params in groups.items():
        if not params:
            continue
        group: dict[str, Any] = {"params": params, ROLE_KEY: name, DECAY_KEY: True}
        if name == BIAS_NORM and exclude_bias_norm:
            group.update({DECAY_KEY: False, "weight_decay": 0.0})
        out.append(group)
    return out


def describe(optimizer: Optimizer) -> list[dict[str, Any]]:
    """The optimizer's real groups as the run record lists them: role, which algorithm
    updates it, whether optarena's decay applies, the optimizer's own weight_decay, and its
    tensor and parameter counts."""
    updated_by = getattr(optimizer, "updated_by", None)
    rows = []
    for group in optimizer.param_groups:
        params = group["params"]
        rows.append({
            "group": group.get(ROLE_KEY, ""),
            "optimizer": updated_by(group) if callable(updated_by) else type(optimizer).__name__,
            "decay": bool(group.get(DECAY_KEY, True)),
            "weight_decay": float(group.get("weight_decay", 0.0) or 0.0),
            "tensors": len(params),
            "parameters": int(sum(p.numel() for p in params)),
        })
    return rows
