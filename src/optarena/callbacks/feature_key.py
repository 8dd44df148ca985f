"""The key of a run's frozen-backbone features: everything that changes them, hashed.

- the backbone weights: a sha256 of every frozen parameter and every buffer of the model. It
  tells apart what the weights' names would (hub id and revision, a local directory's files,
  random init's seed and size) and also a changed file under the same name; hashing HuBERT-base
  takes a fraction of a second, loading it takes longer.
- what else the model's `feature_spec()` declares (HuBERT: pooling, normalization);
- the data: the datamodule's `cache_identity()` (ESC-50: root, subset, folds, sample rate, clip
  length, the list of files with their sizes); a datamodule without one is keyed by a hash
  of its splits' tensors;
- how they are computed: precision, device type, extraction batch size, and
  FEATURE_VERSION, bumped whenever the extraction code changes what it produces.
"""

import hashlib
import json

import torch
from torch import Tensor, nn

from optarena.callbacks.feature_store import tensor_digest

FEATURE_VERSION = 1  # bump when frozen_features() or its caching changes its output


def weights_digest(net: nn.Module) -> str:
    """sha256 of the frozen parameters and all buffers, in name order."""
    named = [(n, p) for n, p in net.named_parameters() if not p.requires_grad]
    named += list(net.named_buffers())
    named.sort(key=lambda item: item[0])
    names = hashlib.sha256(json.dumps([n for n, _ in named]).encode()).hexdigest()
    return hashlib.sha256((names + tensor_digest([t for _, t in named])).encode()).hexdigest()


def data_identity(datamodule: object, splits: dict[str, tuple[Tensor, Tensor]]) -> dict:
    """The datamodule's own description of its splits, else a hash of their tensors."""
    identify = getattr(datamodule, "cache_identity", None)
    if identify is not None:
        return identify()
    tensors = [t for name in sorted(splits) for t in splits[name]]
    return {"datamodule": type(datamodule).__name__, "splits_sha256": tensor_digest(tensors)}


def feature_key(net: nn.Module, datamodule: object, splits: dict[str, tuple[Tensor, Tensor]],
                precision: str, device: torch.device, batch_size: int) -> tuple[str, dict]:
    """(a short hex key, the description it hashes)."""
    spec = net.feature_spec() if hasattr(net, "feature_spec") else {"model": type(net).__name__}
    description = {
        "version": FEATURE_VERSION,
        "model": spec,
        "weights_sha256": weights_digest(net),
        "data": data_identity(datamodule, splits),
        "splits": {name: list(x.shape) for name, (x, _) in sorted(splits.items())},
        "precision": str(precision),
        "device": device.type,
        "batch_size": batch_size,
    }
    blob = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], description
