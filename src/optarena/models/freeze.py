"""`model.freeze`: none | backbone | all_but_last_k (with `model.k`).

The unit of freezing is a *weight layer*: a convolution or linear layer together with the
parameters registered after it up to the next one (its norm layer, biases), in the model's
registration order (which is its forward order for torchvision and timm models). Parameters
registered before the first weight layer (a ViT's class token and position embedding) belong
to the first. `backbone` trains the last weight layer only: the classifier head that was
sized for the dataset; `all_but_last_k` trains the last k.

Frozen parameters get requires_grad=False (so the optimizer never sees them) and frozen batch
norm layers become timm's FrozenBatchNorm2d: their running statistics cannot drift, and they
normalize with them in training too.
"""

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from optarena.errors import OptArenaError

MODES = ("none", "backbone", "all_but_last_k")


def weight_layer_groups(net: nn.Module) -> tuple[list[list[str]], dict[str, int]]:
    """Parameter names grouped by weight layer in registration order, and each module's group."""
    groups: list[list[str]] = []
    leading: list[str] = []
    module_group: dict[str, int] = {}
    seen: set[int] = set()
    for module_name, module in net.named_modules():
        if isinstance(module, _ConvNd | nn.Linear):
            groups.append([])
        module_group[module_name] = max(len(groups) - 1, 0)
        for param_name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            name = f"{module_name}.{param_name}" if module_name else param_name
            (groups[-1] if groups else leading).append(name)
    if groups:
        groups[0][:0] = leading
    return groups, module_group


def freeze(net: nn.Module, mode: str = "none", k: int = 1) -> nn.Module:
    """Freeze all but the last k weight layers (k=1 for `backbone`); returns the model."""
    if mode not in MODES:
        raise OptArenaError(f"model.freeze must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none":
        return net
    train_last = 1 if mode == "backbone" else k
    groups, module_group = weight_layer_groups(net)
    if isinstance(train_last, bool) or not isinstance(train_last, int) or \
            not 1 <= train_last < len(groups):
        raise OptArenaError(
            f"model.k must be an integer in [1, {len(groups) - 1}] for this model "
            f"({len(groups)} weight layers), got {k!r}")
    cutoff = len(groups) - train_last
    frozen = {name for group in groups[:cutoff] for name in group}
    for name, param in net.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
    _freeze_batch_norm(net, [name for name, group in module_group.items() if group < cutoff])
    return net


def _freeze_batch_norm(net: nn.Module, frozen_modules: list[str]) -> None:
    from timm.layers import freeze_batch_norm_2d

    for name in frozen_modules:
        module = net.get_submodule(name)
        if not name or not isinstance(module, _BatchNorm):
            continue
        if isinstance(module, nn.BatchNorm2d | nn.SyncBatchNorm):
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            setattr(parent, child, freeze_batch_norm_2d(module))
        else:  # BatchNorm1d/3d: no frozen variant; at least keep the statistics fixed
            module.momentum = 0.0
