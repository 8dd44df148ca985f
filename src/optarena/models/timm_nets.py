"""timm models: any model by name (`model=timm model.name=convnext_atto`) and a small ViT for
32x32 images (`model=vit`), sized from the datamodule, optionally pretrained and frozen.

Weights come from `model.weights` (a file), else the Hugging Face / torch hub cache, else a
download that is first checked to be reachable (so that an offline run fails at once).
timm then fits them: a new classifier for the dataset's classes, the input conv for its
channels, a ViT's patch and position embeddings for its patch and image size.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from optarena.errors import OptArenaError
from optarena.models import pretrained as weights_io
from optarena.models.freeze import freeze as apply_freeze
from optarena.models.shapes import check_forward, require_image

log = logging.getLogger(__name__)
# Square sizes tried, in order, for inputs too small for a model (8x8 digits for a ConvNeXt).
UPSAMPLE_SIDES = (16, 32, 64, 128, 224)


class Upsampled(nn.Module):
    """Resizes inputs (bilinear) to `size` before the model: for inputs smaller than it takes."""

    def __init__(self, model: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.model, self.size = model, tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(F.interpolate(x, size=self.size, mode="bilinear", align_corners=False))


def fit_input_size(net: nn.Module, in_shape: Sequence[int], label: str) -> nn.Module:
    """The model, or the model behind an Upsampled to the smallest size it takes."""
    try:
        check_forward(net, in_shape, label)
        return net
    except OptArenaError as err:
        c, h, w = in_shape
        for side in (s for s in UPSAMPLE_SIDES if s > max(h, w)):
            try:
                check_forward(net, (c, side, side), label)
            except OptArenaError:
                continue
            log.info("model=%s cannot take %dx%d inputs: they are upsampled to %dx%d", label,
                     h, w, side, side)
            return Upsampled(net, (side, side))
        raise err


def _hub_weights(name: str) -> dict[str, Any] | None:
    """A pretrained_cfg overlay pointing at cached weights, or None to let timm download."""
    import timm
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError as err:
        raise OptArenaError(f"model.name={name}: {err}") from err
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise OptArenaError(f"timm has no pretrained weights for {name}: set "
                            "model.pretrained=false, or pass model.weights=/path")
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else [
            "model.safetensors", "pytorch_model.bin"]
        for filename in files:
            found = try_to_load_from_cache(repo, filename, cache_dir=constants.HF_HUB_CACHE,
                                           revision=revision or None)
            if isinstance(found, str):
                return {"file": found, "source": ""}
        url = f"{constants.ENDPOINT}/{repo}/resolve/{revision or 'main'}/{files[0]}"
        looked = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
    else:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name
        if cached.is_file():
            return {"file": str(cached), "source": ""}
        url, looked = cfg.url, f"the torch hub cache ({cached.parent})"
    weights_io.ensure_reachable(url, f"pretrained weights for timm's {name}", looked)
    return None


def _create(
    name: str, model: str, in_shape: Sequence[int], num_classes: int, pretrained: bool,
    weights: str | None, freeze: str, k: int, kwargs: dict[str, Any],
) -> nn.Module:
    import timm

    c, _, _ = require_image(tuple(in_shape), model)
    overlay = None
    if weights:
        overlay = {"state_dict": weights_io.load_file(weights), "source": ""}
    elif pretrained:
        overlay = _hub_weights(name)
    try:
        net = timm.create_model(name, pretrained=bool(weights or pretrained),
                                num_classes=num_classes, in_chans=c,
                                pretrained_cfg_overlay=overlay, **kwargs)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            close = timm.list_models(f"*{name.split('.')[0][:8]}*")[:8]
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise OptArenaError(f"timm has no model named {name!r}{hint} "
                                "(timm.list_models() lists all)") from err
        raise OptArenaError(f"model={model} ({name}) could not be built: {err}") from err
    except TypeError as err:
        raise OptArenaError(f"model={model} ({name}) does not take an option: {err}") from err
    apply_freeze(net, freeze, k)
    if model == "vit":  # built for the data's size: a failure is a real error
        check_forward(net, in_shape, f"{model} ({name})")
        return net
    return fit_input_size(net, in_shape, f"{model} ({name})")


def timm_model(
    in_shape: Sequence[int],
    num_classes: int,
    name: str,
    pretrained: bool = False,
    weights: str | None = None,
    freeze: str = "none",
    k: int = 1,
    dropout: float | None = None,
    img_size: str | None = None,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Any timm model. dropout -> timm's `drop_rate` (before the classifier); img_size=auto
    passes the data's image size (for models with a fixed size, e.g. ViTs); kwargs go to
    timm.create_model as they are."""
    extra = dict(kwargs or {})
    if dropout is not None:
        extra["drop_rate"] = dropout
    if img_size == "auto":
        extra["img_size"] = tuple(in_shape[1:])
    elif img_size is not None:
        raise OptArenaError(f"model.img_size must be auto or null, got {img_size!r}")
    return _create(name, "timm", in_shape, num_classes, pretrained, weights, freeze, k, extra)


def vit(
    in_shape: Sequence[int],
    num_classes: int,
    name: str = "vit_tiny_patch16_224",
    patch_size: int = 4,
    dropout: float = 0.1,
    emb_dropout: float = 0.1,
    pretrained: bool = False,
    weights: str | None = None,
    freeze: str = "none",
    k: int = 1,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """A timm Vision Transformer at the data's image size with `patch_size` patches.

    dropout (attention weights and the outputs of attention and MLP) and emb_dropout (after
    the position embedding) mean what they mean in vit-pytorch, which the seed study used."""
    _, h, w = require_image(tuple(in_shape), "vit")
    if h % patch_size or w % patch_size:
        raise OptArenaError(f"model=vit: the image size {h}x{w} is not a multiple of "
                            f"model.patch_size={patch_size}")
    extra = {"img_size": (h, w), "patch_size": patch_size, "attn_drop_rate": dropout,
             "proj_drop_rate": dropout, "pos_drop_rate": emb_dropout, **(kwargs or {})}
    return _create(name, "vit", in_shape, num_classes, pretrained, weights, freeze, k, extra)
