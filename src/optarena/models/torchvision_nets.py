"""torchvision's ResNet-18 and VGG-16, sized from the datamodule, optionally with ImageNet
weights (`model.pretrained`) or weights from a file (`model.weights`), and frozen in part
(`model.freeze`).

Stems: `imagenet` keeps torchvision's layers; `cifar` fits 32x32 inputs. ResNet-18's CIFAR
stem is a 3x3 stride-1 conv without max-pool (the usual CIFAR ResNet). VGG-16's CIFAR stem
pools the 1x1x512 feature map of a 32x32 image to 512 features instead of copying it to 7x7
(25,088): the first classifier layer shrinks from 25,088 to 512 inputs, and ImageNet weights
are folded onto it (summed over the 49 copies), which computes the same function at 32x32.
"""

from collections.abc import Sequence

import torchvision
from torch import Tensor, nn

from optarena.errors import OptArenaError
from optarena.models import pretrained as weights_io
from optarena.models.freeze import freeze as apply_freeze
from optarena.models.shapes import check_forward, require_image

STEMS = ("auto", "imagenet", "cifar")


def _check_stem(stem: str, model: str) -> None:
    if stem not in STEMS:
        raise OptArenaError(f"model.stem for {model} must be one of {', '.join(STEMS)}, "
                            f"got {stem!r}")


def _conv(c_in: int, c_out: int, kernel: int, stride: int, padding: int, bias: bool) -> nn.Conv2d:
    """A conv initialized as torchvision initializes its ResNet and VGG convs."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


def _adapter(first_conv: str) -> weights_io.Adapter:
    def adapt(key: str, value: Tensor, target: Tensor) -> Tensor | None:
        if key == first_conv and value.shape[2:] == target.shape[2:]:
            from timm.models import adapt_input_conv  # sums RGB kernels for grey inputs

            return adapt_input_conv(target.shape[1], value)
        if key == "classifier.0.weight" and value.shape[1] == 49 * target.shape[1]:
            return value.view(value.shape[0], target.shape[1], 49).sum(2)  # VGG's CIFAR stem
        return None

    return adapt


def _load_weights(net: nn.Module, arch: str, pretrained: bool, weights: str | None,
                  first_conv: str, new: tuple[str, ...]) -> None:
    if weights:
        state, source = weights_io.load_file(weights), f"model.weights={weights}"
    elif pretrained:
        state, source = weights_io.torchvision_state_dict(arch), f"torchvision's {arch}"
    else:
        return
    weights_io.fit_state_dict(net, state, new, source, _adapter(first_conv))


def resnet18(
    in_shape: Sequence[int],
    num_classes: int,
    stem: str = "auto",
    pretrained: bool = False,
    weights: str | None = None,
    freeze: str = "none",
    k: int = 1,
) -> nn.Module:
    """stem=auto: the CIFAR stem for inputs under 64 pixels trained from scratch; the ImageNet
    stem when loading weights (its 7x7 conv1 weights need it) or for larger inputs."""
    c, h, w = require_image(tuple(in_shape), "resnet18")
    _check_stem(stem, "resnet18")
    loading = bool(pretrained or weights)
    if stem == "auto":
        stem = "imagenet" if loading or min(h, w) >= 64 else "cifar"
    if stem == "cifar" and loading and freeze != "none":
        raise OptArenaError("model.stem=cifar replaces resnet18's conv1, which then has no "
                            f"pretrained weights and would stay random under freeze={freeze}: "
                            "use model.stem=imagenet (or freeze=none to fine-tune it)")
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    if stem == "cifar":
        net.conv1 = _conv(c, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    elif c != 3:
        net.conv1 = _conv(c, 64, 7, 2, 3, bias=False)
    new = ("fc", "conv1") if stem == "cifar" else ("fc",)
    _load_weights(net, "resnet18", pretrained, weights, "conv1.weight", new)
    apply_freeze(net, freeze, k)
    check_forward(net, in_shape, "resnet18")
    return net


def vgg16(
    in_shape: Sequence[int],
    num_classes: int,
    stem: str = "imagenet",
    batchnorm: bool = False,
    dropout: float = 0.5,
    pretrained: bool = False,
    weights: str | None = None,
    freeze: str = "none",
    k: int = 1,
) -> nn.Module:
    """VGG-16 (`batchnorm=true`: VGG-16-BN). stem=auto means imagenet here. Inputs whose side
    is not a multiple of 32 get max-pools that round up, so even 8x8 digits pass."""
    c, h, w = require_image(tuple(in_shape), "vgg16")
    _check_stem(stem, "vgg16")
    arch = "vgg16_bn" if batchnorm else "vgg16"
    net = torchvision.models.get_model(arch, weights=None, num_classes=num_classes,
                                       dropout=dropout)
    if c != 3:
        net.features[0] = _conv(c, 64, 3, 1, 1, bias=True)
    if h % 32 or w % 32:
        for layer in net.features:
            if isinstance(layer, nn.MaxPool2d):
                layer.ceil_mode = True
    if stem == "cifar":
        net.avgpool = nn.AdaptiveAvgPool2d(1)
        net.classifier[0] = nn.Linear(512, 4096)
        nn.init.normal_(net.classifier[0].weight, 0, 0.01)  # torchvision's VGG init
        nn.init.zeros_(net.classifier[0].bias)
    _load_weights(net, arch, pretrained, weights, "features.0.weight", ("classifier.6",))
    apply_freeze(net, freeze, k)
    check_forward(net, in_shape, "vgg16")
    return net
