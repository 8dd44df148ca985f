"""Checks that a model can take the data it is given."""

from optarena.errors import OptArenaError


def require_image(in_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """(C, H, W) of an image input, or a clear error for other inputs (e.g. waveforms)."""
    if len(in_shape) != 3:
        raise OptArenaError(
            f"model={model} needs images (channels, height, width), but the data gives inputs of "
            f"shape {tuple(in_shape)}; pick an image dataset (digits, mnist, cifar10) or an "
            "audio model for audio data"
        )
    c, h, w = in_shape
    return int(c), int(h), int(w)
