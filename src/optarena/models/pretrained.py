"""Where pretrained weights come from: a local file (`model.weights`), the torch hub or Hugging
Face cache, or a download; and how a state dict is fitted to a model with a new head.

Offline, a missing download must fail fast with a clear error instead of hanging in a
library's retry loop: before any download the host is asked once (optarena.network).
"""

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from optarena import network
from optarena.errors import OptArenaError

# Prefixes a saved state dict may carry: our Lightning checkpoints (Classifier.net), DDP.
PREFIXES = ("net.", "module.", "_orig_mod.")

StateDict = dict[str, Tensor]
# Fits a checkpoint tensor to a model tensor of another shape, or returns None.
Adapter = Callable[[str, Tensor, Tensor], Tensor | None]


def ensure_reachable(url: str, what: str, looked: str) -> None:
    """Raise a clear OptArenaError at once when `url` cannot be reached (offline)."""
    fix = ("run once with internet access to fill the cache, copy the file there, or pass "
           "model.weights=/path/to/weights")
    if network.offline_mode():
        raise OptArenaError(f"{what} are not in {looked} and HF_HUB_OFFLINE is set: {fix}")
    reason = network.unreachable(url)
    if reason is not None:
        raise OptArenaError(f"{what} are not in {looked} and {urlparse(url).netloc} cannot be "
                            f"reached ({reason}): {fix}")


def load_file(path: str | Path) -> StateDict:
    """A state dict from a .pth/.pt/.ckpt/.bin or .safetensors file (our checkpoints too)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise OptArenaError(f"model.weights={path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as load_safetensors

            state = load_safetensors(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any failure means the file is not usable weights
        raise OptArenaError(f"model.weights={path} is not a readable state dict "
                            f"({type(err).__name__}: {err})") from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise OptArenaError(f"model.weights={path} holds no state dict of tensors")
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def torchvision_state_dict(arch: str) -> StateDict:
    """ImageNet weights of a torchvision model: from the torch hub cache, else downloaded."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(arch).DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cached = cache / Path(urlparse(weights.url).path).name
    if not cached.is_file():
        ensure_reachable(weights.url, f"ImageNet weights for {arch} ({cached.name})",
                         f"the torch hub cache ({cache})")
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:
        raise OptArenaError(f"could not load ImageNet weights for {arch} from {cached} "
                            f"({type(err).__name__}: {err}); delete the file to download it "
                            "again, or pass model.weights=/path") from err


def fit_state_dict(net: nn.Module, state: StateDict, new: tuple[str, ...], source: str,
                   adapt: Adapter | None = None) -> None:
    """Load `state` into `net`: equal shapes load; `adapt` may fit others (input channels, ...);
    layers under the `new` prefixes (a classifier head sized for the dataset) keep their fresh
    initialization when the state has no tensor of their shape. Anything else missing or
    mismatched is an error naming the keys."""
    own = net.state_dict()
    fitted, problems = {}, []
    prefixes = tuple(f"{p}." for p in new)
    for key, target in own.items():
        if key not in state:
            if not key.startswith(prefixes) and not key.endswith("num_batches_tracked"):
                problems.append(f"{key} missing")
            continue
        value = state[key]
        if value.shape != target.shape and adapt is not None:
            value = adapt(key, value, target)
        if value is None or value.shape != target.shape:
            if not key.startswith(prefixes):
                problems.append(f"{key} {tuple(state[key].shape)} != {tuple(target.shape)}")
            continue
        fitted[key] = value
    if problems:
        shown = "; ".join(problems[:3]) + (f"; ... ({len(problems)} in all)"
                                            if len(problems) > 3 else "")
        raise OptArenaError(f"the weights from {source} do not fit this model: {shown}")
    net.load_state_dict(fitted, strict=False)
