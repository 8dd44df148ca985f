"""Loggers whose packages come in the optional `tracking` extra: a missing one, or a W&B mode
that does not exist, is one error line before anything is written (no torch here: called by
optarena.knobs, which preflight runs before Hydra writes the run folder)."""

from __future__ import annotations

import importlib.util
from typing import Any

from optarena.errors import OptArenaError

# The end of a logger's `_target_` -> (its config option, the module it needs, the pinned
# package that provides it; pyproject.toml's `tracking` extra pins the same).
NEEDS = {
    "mlflow_logger": ("mlflow", "mlflow", "mlflow-skinny==3.17.2"),
    "MLFlowLogger": ("mlflow", "mlflow", "mlflow-skinny==3.17.2"),
    "wandb_logger": ("wandb", "wandb", "wandb==0.31.0"),
    "WandbLogger": ("wandb", "wandb", "wandb==0.31.0"),
}
WANDB_MODES = ("offline", "online", "disabled")


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (mlflow takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: an import that is known to fail
        return False


def require(module: str) -> None:
    """Raise OptArenaError naming the `pip install` that provides `module`, if it is missing."""
    for option, needed, package in NEEDS.values():
        if needed == module and not installed(module):
            raise OptArenaError(
                f"logger={option} needs the {module} package, which is not installed: "
                f"pip install -e '.[tracking]' (or pip install {package}), or drop {option} "
                "from logger=[...]")


def check(logger_cfg: Any) -> None:
    """Every configured logger's package is installed; W&B's mode is one it knows."""
    for node in (logger_cfg or {}).values():
        if node is None:
            continue
        target = str(node.get("_target_", "")).rsplit(".", 1)[-1]
        if target in NEEDS:
            require(NEEDS[target][1])
        if target == "wandb_logger" and node.get("mode") not in WANDB_MODES:
            raise OptArenaError(f"logger.wandb.mode must be one of {', '.join(WANDB_MODES)}, "
                                f"got {node.get('mode')!r}")
