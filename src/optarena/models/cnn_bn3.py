"""The best architecture of the CIFAR-10 regularization study (seeds/001)."""

from collections.abc import Sequence

import torch
from torch import nn

from optarena.models.shapes import require_image


class CNNBN3(nn.Module):
    """3 blocks of 3x3 conv -> ReLU -> [batch norm] -> 2x2 max-pool -> [dropout], then two fully
    connected layers (hidden -> ReLU -> [dropout] -> classes).

    Max-pools round up, so inputs as small as 8x8 (digits) pass all three blocks.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.25,
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        c, _, _ = require_image(tuple(in_shape), "cnn_bn3")
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
            if batchnorm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            c = out
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features.eval()(torch.zeros(1, *in_shape)).numel()
        self.features.train()
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
