"""Checks of the composed config that Hydra cannot make: values, the resolved lr, and whether
model, data and task options fit together; all before anything is built or written.

The plain top-level knobs are checked by optarena.knobs (also run before start-up by
optarena.preflight); here come the checks that need the data, model and task classes.
"""

import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf

from optarena import knobs
from optarena.errors import OptArenaError
from optarena.regularization import Regularization
from optarena.tasks import check_model_fits, data_kind, task_class


def lr_source(cfg: DictConfig) -> str:
    """Where the run's lr comes from: `finder` (lr=find), `config` (lr=<value>) or
    `optimizer_default` (the optimizer config's own lr)."""
    if cfg.lr == knobs.FIND:
        return "finder"
    return "config" if cfg.lr is not None else "optimizer_default"


def resolved_lr(cfg: DictConfig) -> float:
    """The top-level `lr` wins; without it, the optimizer's own recommended default.
    lr=find has no value before the range test has run (optarena.lr_find)."""
    if cfg.lr == knobs.FIND:
        raise OptArenaError("lr=find: the lr is the range test's suggestion, known only after "
                            "it ran (optarena.lr_find.lr_for_training)")
    lr = cfg.lr if cfg.lr is not None else cfg.optimizer.get("lr")
    if lr is None:
        raise OptArenaError("no learning rate: set lr=<value> (the optimizer config has none)")
    return knobs.check_lr(lr, "lr" if cfg.lr is not None else "optimizer.lr")


def task_options(cfg: DictConfig, kind: str) -> dict[str, Any]:
    """The `task.<option>` values set (not null), checked against the task of this data."""
    given = OmegaConf.to_container(cfg.task, resolve=True) if cfg.get("task") else {}
    options = {k: v for k, v in given.items() if v is not None}
    accepted = inspect.signature(task_class(kind).__init__).parameters
    for key in options:
        if key not in accepted or key in ("self", "net", "optimizer", "num_classes"):
            raise OptArenaError(
                f"task.{key} is not an option of the {kind} task (data={_choice(cfg, 'data')}); "
                "remove it, or pick data of the kind it applies to")
    return options


def _choice(cfg: DictConfig, group: str) -> str:
    from optarena.record import choice, hydra_choices

    return choice(hydra_choices(), group) or group


def check_scheduler(node: Any) -> None:
    """The schedule's options are its factory's (conf/scheduler/); options without a schedule
    are refused before start-up (optarena.knobs)."""
    from hydra.utils import get_method

    given = OmegaConf.to_container(node, resolve=True) if node else {}
    target = given.pop("_target_", None)
    if target is None:
        return
    given.pop("_partial_", None)
    accepted = set(inspect.signature(get_method(target)).parameters) - {"optimizer", "total_steps"}
    unknown = sorted(set(given) - accepted)
    if unknown:
        name = target.rsplit(".", 1)[-1]
        raise OptArenaError(f"scheduler.{unknown[0]} is not an option of {name}; its options: "
                            f"{', '.join(sorted(accepted)) or 'none'}")


def check(cfg: DictConfig) -> None:
    """Raise OptArenaError with what to fix for values no run can use."""
    knobs.check(cfg)
    if lr_source(cfg) == "finder":
        from optarena.finder.settings import FinderSettings

        FinderSettings.from_cfg(cfg.get("lr_find"))
    else:
        resolved_lr(cfg)
    kind = data_kind(cfg.data._target_)
    headline = task_class(kind).headline
    if cfg.target is not None and not 0 < float(cfg.target) <= 1:
        raise OptArenaError(f"target is a validation {headline.words} in (0, 1], got {cfg.target}")
    check_model_fits(cfg.model._target_, kind, _choice(cfg, "model"), _choice(cfg, "data"))
    task_options(cfg, kind)
    Regularization.from_cfg(cfg.regularization)
    check_scheduler(cfg.get("scheduler"))
    if cfg.get("ckpt_path") is not None:
        check_checkpoint(cfg.ckpt_path)


def check_checkpoint(path: str) -> None:
    """ckpt_path: a complete Lightning checkpoint (weights, optimizer, loop state)."""
    from optarena.sweep.resume import readable_step

    if readable_step(knobs.check_ckpt_file(path)) is None:
        raise OptArenaError(
            f"ckpt_path={path} is not a Lightning checkpoint (cut short, or weights saved "
            "without the training state); pass a run's checkpoints/last.ckpt or best.ckpt")
