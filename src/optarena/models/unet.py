"""U-Nets for semantic segmentation: (N, C, H, W) images -> (N, classes, H, W) logits.

- `unet_small`: a classic U-Net (Ronneberger et al., 2015): per level two 3x3 convolutions
  (batch norm, ReLU), 2x2 max-pool down, 2x2 transposed convolution up, skip connections by
  concatenation, widths doubling from `base`. 'same' padding instead of the paper's valid
  convolutions, so the output has the input's size. Sized from the data: `depth=auto` pools
  while the bottleneck keeps at least 4 pixels (at most 4 times, the paper's depth).
- `unet`: segmentation_models_pytorch's Unet, a pretrained-capable encoder by name (default
  ResNet-18), `model.pretrained=true` for its ImageNet weights.

Inputs whose sides are not a multiple of the network's total stride are padded (reflect) and
the logits cropped back, so any image size works.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from optarena.errors import OptArenaError
from optarena.models import pretrained as weights_io
from optarena.models.shapes import check_forward, require_image


class PadToMultiple(nn.Module):
    """Pads inputs to a multiple of `multiple` (reflect) and crops the output back."""

    def __init__(self, net: nn.Module, multiple: int) -> None:
        super().__init__()
        self.net, self.multiple = net, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if not (ph or pw):
            return self.net(x)
        mode = "reflect" if ph < h and pw < w else "replicate"
        out = self.net(F.pad(x, (0, pw, 0, ph), mode=mode))
        return out[..., :h, :w]


def _double_conv(c_in: int, c_out: int, batchnorm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Encoder of `depth` levels down, a bottleneck, and a decoder back up with skips."""

    def __init__(self, in_channels: int, num_classes: int, base: int, depth: int,
                 batchnorm: bool, dropout: float) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(_double_conv(c, w, batchnorm))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(c, widths[-1], batchnorm)
        # The paper drops out at the end of the contracting path.
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.up, self.decode = nn.ModuleList(), nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(w_low, w, 2, stride=2))
            self.decode.append(_double_conv(2 * w, w, batchnorm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.dropout(self.bottleneck(x))
        for up, block, skip in zip(self.up, self.decode, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def auto_depth(h: int, w: int, max_depth: int = 4, min_side: int = 4) -> int:
    """Pool while the bottleneck keeps at least `min_side` pixels: 32x32 -> 3, 64+ -> 4."""
    return max(1, min(max_depth, int(math.log2(max(1, min(h, w) // min_side)))))


def unet_small(
    in_shape: Sequence[int],
    num_classes: int,
    base: int = 16,
    depth: int | str = "auto",
    batchnorm: bool = True,
    dropout: float = 0.0,
) -> nn.Module:
    c, h, w = require_image(tuple(in_shape), "unet_small")
    if depth == "auto":
        depth = auto_depth(h, w)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 6:
        raise OptArenaError(f"model.depth must be auto or an integer in 1..6, got {depth!r}")
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise OptArenaError(f"model.base must be an integer >= 1, got {base!r}")
    net = PadToMultiple(UNet(c, num_classes, base, depth, batchnorm, dropout), 2**depth)
    check_forward(net, in_shape, "unet_small")
    return net


unet_small.tasks = ("segmentation",)


def _check_encoder_weights(encoder: str) -> None:
    """Offline without the encoder's ImageNet weights in the Hugging Face cache: fail at once."""
    from huggingface_hub import constants, try_to_load_from_cache
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders.get(encoder, {}).get("pretrained_settings", {}).get("imagenet")
    if settings is None:
        raise OptArenaError(f"segmentation_models_pytorch has no ImageNet weights for encoder "
                            f"{encoder!r}: set model.pretrained=false or pick another encoder")
    repo, revision = settings["repo_id"], settings.get("revision")
    found = try_to_load_from_cache(repo, "model.safetensors", cache_dir=constants.HF_HUB_CACHE,
                                   revision=revision)
    if isinstance(found, str):
        return
    url = f"{constants.ENDPOINT}/{repo}/resolve/{revision or 'main'}/model.safetensors"
    weights_io.ensure_reachable(url, f"ImageNet weights for the {encoder} encoder ({repo})",
                                f"the Hugging Face cache ({constants.HF_HUB_CACHE})")


def _drop_unused_stages(encoder: nn.Module, depth: int) -> None:
    """smp builds a ResNet encoder whole whatever its depth; stages past `depth` never run.
    Removed, so that they are neither counted as parameters nor handed to the optimizer."""
    if not all(hasattr(encoder, f"layer{k}") for k in range(1, 5)):
        return
    for k in range(depth, 5):  # stage s (2..5) runs layer{s-1}
        setattr(encoder, f"layer{k}", nn.Identity())


def unet(
    in_shape: Sequence[int],
    num_classes: int,
    encoder: str = "resnet18",
    pretrained: bool = False,
    encoder_depth: int = 5,
    decoder_channels: Sequence[int] | None = None,
    dropout: float | None = None,
) -> nn.Module:
    """segmentation_models_pytorch's Unet; `dropout` is its head's (before the final conv)."""
    import segmentation_models_pytorch as smp

    c, _, _ = require_image(tuple(in_shape), "unet")
    if encoder not in smp.encoders.get_encoder_names() and not encoder.startswith("tu-"):
        raise OptArenaError(f"model.encoder={encoder!r} is not a segmentation_models_pytorch "
                            "encoder (smp.encoders.get_encoder_names() lists them; 'tu-<name>' "
                            "for any timm model)")
    if pretrained:
        _check_encoder_weights(encoder)
    decoder = list(decoder_channels) if decoder_channels else [256, 128, 64, 32, 16][
        :encoder_depth]
    try:
        net = smp.Unet(encoder_name=encoder, encoder_weights="imagenet" if pretrained else None,
                       encoder_depth=encoder_depth, decoder_channels=decoder, in_channels=c,
                       classes=num_classes)
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        raise OptArenaError(f"model=unet (encoder {encoder}) could not be built: {err}") from err
    _drop_unused_stages(net.encoder, encoder_depth)
    if dropout:
        net.segmentation_head.insert(0, nn.Dropout2d(dropout))
    net = PadToMultiple(net, 2**encoder_depth)
    check_forward(net, in_shape, "unet")
    return net


unet.tasks = ("segmentation",)
