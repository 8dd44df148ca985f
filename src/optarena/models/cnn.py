"""Small convolutional classifiers."""

from collections.abc import Sequence

import torch
from torch import nn

from optarena.models.shapes import require_image


class CNNSmall(nn.Module):
    """Conv blocks (conv -> [BN] -> leaky ReLU -> 2x2 max-pool), then a fully connected block.

    With padding='auto' the convolutions are valid (unpadded) when the input is large enough,
    as in the CIFAR-10 study (62,006 parameters at 3x32x32); an input too small for that
    (8x8 digits) gets 3x3 'same' convolutions instead.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (6, 16),
        kernel_size: int = 5,
        hidden: Sequence[int] = (120, 84),
        dropout: float = 0.0,
        batchnorm: bool = False,
        padding: str | int = "auto",
    ) -> None:
        super().__init__()
        c, h, w = require_image(tuple(in_shape), "cnn_small")
        if padding == "auto":
            side = min(h, w)
            for _ in channels:
                side = (side - kernel_size + 1) // 2
            if side < 1:
                kernel_size = min(kernel_size, 3)
            padding = 0 if side >= 1 else kernel_size // 2
        layers: list[nn.Module] = []
        for out in channels:
            layers.append(nn.Conv2d(c, out, kernel_size, padding=padding))
            if batchnorm:
                layers.append(nn.BatchNorm2d(out))
            layers += [nn.LeakyReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c = out
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *in_shape)).numel()
        head: list[nn.Module] = [nn.Flatten()]
        for units in hidden:
            head += [nn.Linear(flat, units), nn.LeakyReLU()]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            flat = units
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
