"""Checks that a model can take the data it is given."""

from collections.abc import Sequence

import torch
from torch import nn

from optarena.errors import OptArenaError


class InputMismatchError(OptArenaError):
    """The model cannot take the data's inputs (run.py names the model/data pair)."""


def require_image(in_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """(C, H, W) of an image input, or a clear error for other inputs (e.g. waveforms)."""
    if len(in_shape) != 3:
        raise InputMismatchError(
            f"model={model} needs images (channels, height, width), but the data gives inputs of "
            f"shape {tuple(in_shape)}; pick an image dataset (digits, mnist, cifar10) or an "
            "audio model for audio data"
        )
    c, h, w = in_shape
    return int(c), int(h), int(w)


def require_waveform(in_shape: tuple[int, ...], model: str) -> int:
    """The sample count of a mono waveform input (T,), or a clear error for other inputs."""
    if len(in_shape) != 1:
        raise InputMismatchError(
            f"model={model} needs mono waveforms (samples,), but the data gives inputs of shape "
            f"{tuple(in_shape)}; pick an audio dataset (esc10, esc50) or an image model for "
            "image data"
        )
    return int(in_shape[0])


def check_forward(net: nn.Module, in_shape: Sequence[int], model: str) -> None:
    """One forward pass on a zero batch (eval mode, no grad), so that an input too small for the
    architecture is a clear error when the model is built, not a crash mid-training."""
    if any(p.is_meta for p in net.parameters()):
        return
    was_training = net.training
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(2, *in_shape))
    except RuntimeError as err:
        raise InputMismatchError(
            f"model={model} cannot take inputs of shape {tuple(in_shape)}: "
            f"{str(err).splitlines()[0]}") from err
    finally:
        net.train(was_training)
