"""Checks of the composed config that Hydra cannot make: values, and the resolved lr."""

from omegaconf import DictConfig

from optarena.errors import OptArenaError


def resolved_lr(cfg: DictConfig) -> float:
    """The top-level `lr` wins; without it, the optimizer's own recommended default."""
    lr = cfg.lr if cfg.lr is not None else cfg.optimizer.get("lr")
    if lr is None:
        raise OptArenaError("no learning rate: set lr=<value> (the optimizer config has none)")
    if isinstance(lr, bool) or not isinstance(lr, int | float):
        raise OptArenaError(f"lr must be a number, got {lr!r}")
    return float(lr)


def check(cfg: DictConfig) -> None:
    """Raise OptArenaError with what to fix for values no run can use."""
    lr = resolved_lr(cfg)
    if not lr > 0:
        raise OptArenaError(f"lr must be > 0, got {lr}")
    for key in ("max_epochs", "batch_size"):
        if int(cfg[key]) < 1:
            raise OptArenaError(f"{key} must be >= 1, got {cfg[key]}")
    if cfg.target is not None and not 0 < float(cfg.target) <= 1:
        raise OptArenaError(f"target is a validation accuracy in (0, 1], got {cfg.target}")
