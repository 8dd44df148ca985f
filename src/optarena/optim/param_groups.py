"""Parameter groups: weight decay on weights, none on biases and norm parameters."""

from torch import nn

DECAY_KEY = "optarena_decay"  # kept in each param group; True where (weight) decay applies


def param_groups(net: nn.Module, exclude_bias_norm: bool = True) -> list[dict]:
    """Two groups: matrices/kernels (decayed) and 1-D tensors (biases, norm scales: not decayed).

    With exclude_bias_norm=False every parameter is decayed. Frozen parameters are left out.
    """
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (no_decay if exclude_bias_norm and p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, DECAY_KEY: True}]
    if no_decay:
        groups.append({"params": no_decay, DECAY_KEY: False, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]
