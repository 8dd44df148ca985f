"""OmegaConf resolvers used by the config tree (registered once, before Hydra composes)."""

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

# A '/' in a run name (a path value, a nested group `+experiment/cifar10_backbones=vgg16`)
# would make TensorBoard folders within folders: it is written as the look-alike U+2215.
NAME_SLASH = "\u2215"
# A folder name holds at most 255 bytes (ext4, APFS); a sweep with many overrides passes that
# ("File name too long"). Longer names keep their start and end with a hash of the whole name.
MAX_NAME_BYTES = 200


def fit_name(name: str) -> str:
    """`name`, or its first bytes + '~' + 10 hex digits of its sha1, within MAX_NAME_BYTES."""
    raw = name.encode()
    if len(raw) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(raw).hexdigest()[:10]
    return raw[: MAX_NAME_BYTES - len(digest) - 1].decode(errors="ignore") + "~" + digest


def run_name() -> str:
    """The run's name in TensorBoard: its command-line overrides (`optimizer=adam,lr=0.001`)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return "default"
    return fit_name((HydraConfig.get().job.override_dirname or "default").replace("/", NAME_SLASH))


def run_id(output_dir: str) -> str:
    """A flat, unique id for a run: its output dir below `outputs/` or `multirun/`, '/' -> '_'."""
    parts = Path(output_dir).parts
    for anchor in ("outputs", "multirun"):
        if anchor in parts:
            return "_".join(parts[len(parts) - parts[::-1].index(anchor):]) or "run"
    return "_".join(parts[-3:])


def lr_search_range(default_lr: float, decades: float = 2.0) -> str:
    """Optuna's lr search space: log-uniform over `decades` either side of the default lr."""
    low, high = float(default_lr) / 10**decades, float(default_lr) * 10**decades
    return f"tag(log, interval({low:.3g}, {high:.3g}))"


def register() -> None:
    from optarena.sweep.run_dirs import unique_dir
    from optarena.tasks import headline_field

    resolvers = {"optarena.run_name": run_name, "optarena.run_id": run_id,
                 "optarena.unique_dir": unique_dir, "optarena.lr_search_range": lr_search_range,
                 "optarena.headline": headline_field}
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=False)
