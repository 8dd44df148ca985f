"""A multilayer perceptron on the flattened input."""

import math
from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Linear -> [BN] -> ReLU -> [dropout] per hidden layer, then a linear head."""

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(in_shape)
        for units in hidden:
            layers.append(nn.Linear(width, units))
            if batchnorm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
