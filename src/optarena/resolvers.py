"""OmegaConf resolvers used by the config tree (registered once, before Hydra composes)."""

from pathlib import Path

from omegaconf import OmegaConf


def run_name() -> str:
    """The run's name in TensorBoard: its command-line overrides (`optimizer=adam,lr=0.001`)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return "default"
    return HydraConfig.get().job.override_dirname or "default"


def run_id(output_dir: str) -> str:
    """A flat, unique id for a run: its output dir below `outputs/` or `multirun/`, '/' -> '_'."""
    parts = Path(output_dir).parts
    for anchor in ("outputs", "multirun"):
        if anchor in parts:
            return "_".join(parts[len(parts) - parts[::-1].index(anchor):]) or "run"
    return "_".join(parts[-3:])


def register() -> None:
    for name, fn in {"optarena.run_name": run_name, "optarena.run_id": run_id}.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=False)
