"""HuBERT backbones: pretrained from a local directory or the Hugging Face Hub, or random init.

Loading never waits on network retries: the local cache is tried first, and the Hub is only
asked when it answers a plain connection within a few seconds (transformers itself retries a
missing connection for about 20 s before it gives up).
"""

import os
from pathlib import Path

from huggingface_hub import constants
from transformers import HubertConfig, HubertModel

from optarena import network
from optarena.errors import OptArenaError

# Random-init sizes (model.pretrained=null). base and large are the published architectures;
# tiny keeps the 320x downsampling convolution stack but is small enough for a CPU test.
SIZES: dict[str, dict] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 128, "conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16,
             "num_conv_pos_embedding_groups": 4},
    "base": {},  # HubertConfig's defaults are hubert-base (94M parameters)
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "intermediate_size": 4096, "feat_extract_norm": "layer",
              "do_stable_layer_norm": True, "conv_bias": True},
}


def _ways_out(pretrained: str) -> str:
    return (f"either save the weights to a directory while online (HubertModel.from_pretrained("
            f"'{pretrained}').save_pretrained(DIR)) and set model.pretrained=DIR, or train from "
            "random init with model.pretrained=null model.size=tiny|base")


def load_backbone(pretrained: str | None, size: str = "base") -> HubertModel:
    """HubertModel from a directory or Hub id (cache first), or randomly initialised of `size`."""
    if pretrained is None:
        if size not in SIZES:
            raise OptArenaError(f"model.size must be one of {', '.join(SIZES)}, got {size!r}")
        return HubertModel(HubertConfig(**SIZES[size]))
    path = Path(pretrained).expanduser()
    if path.is_dir():
        try:
            return HubertModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise OptArenaError(f"cannot load HuBERT from directory {path} ({err}); it needs the "
                                "files save_pretrained() writes (config.json, model.safetensors)"
                                ) from None
    if pretrained.startswith((".", "/", "~")) or pretrained.count("/") > 1:
        raise OptArenaError(f"model.pretrained={pretrained}: no such directory; "
                            + _ways_out("facebook/hubert-base-ls960"))
    try:
        return HubertModel.from_pretrained(pretrained, local_files_only=True)
    except OSError:
        pass  # not in the local cache
    endpoint = os.environ.get("HF_ENDPOINT", constants.ENDPOINT)
    if network.offline_mode() or network.unreachable(endpoint) is not None:
        raise OptArenaError(f"model.pretrained={pretrained}: weights are not in the Hugging Face "
                            f"cache ({constants.HF_HUB_CACHE}) and the Hub cannot be reached; "
                            + _ways_out(pretrained))
    try:
        return HubertModel.from_pretrained(pretrained)
    except OSError as err:
        raise OptArenaError(f"model.pretrained={pretrained}: cannot download ({err}); check the "
                            f"id, or {_ways_out(pretrained)}") from None
