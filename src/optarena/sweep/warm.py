"""Imported in the parallel launcher's fork server: what every job of the sweep would import
and load alike is imported and loaded there once, and each job forked from it inherits it.

The fork server's only hook is importing its preload modules, so the launcher describes the
sweep in an environment variable (`spec`), which this module reads when imported (`warm`):
the sweep's config is composed once (Hydra's plugin scan and parser caches), the modules of
its `_target_`s (data, model, optimizer, scheduler, loggers, callbacks) are imported, and the
data module's `warm(**data config)` reads the dataset's files into the process (e.g.
DigitsDataModule). Each job still splits, seeds and shuffles on its own.
A warm-up that fails is skipped: the job then imports or loads by itself, and reports errors.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from typing import Any

ENV = "OPTARENA_WARM"
_GROUPS = ("data", "model", "optimizer", "scheduler")
_LISTS = ("logger", "callbacks")
# Imported by a logger on its first use rather than with its module.
_LAZY = {"lightning.pytorch.loggers.TensorBoardLogger": "torch.utils.tensorboard"}


def _targets(cfg: Any) -> list[str]:
    from omegaconf import OmegaConf

    found = [OmegaConf.select(cfg, f"{group}._target_", default=None) for group in _GROUPS]
    for group in _LISTS:
        node = OmegaConf.select(cfg, group, default=None) or {}
        found += [OmegaConf.select(item, "_target_", default=None) for item in node.values()
                  if item is not None]
    return [str(t) for t in found if t]


def spec(cfg: Any) -> str:
    """The sweep's config (the launcher's, before each job's overrides) -> what to warm."""
    from omegaconf import OmegaConf

    targets = _targets(cfg)
    modules = sorted({t.rsplit(".", 1)[0] for t in targets}
                     | {_LAZY[t] for t in targets if t in _LAZY})
    data = None
    with contextlib.suppress(Exception):  # ${hydra:...} and the like resolve only in a job
        data = OmegaConf.to_container(cfg.data, resolve=True)
    sources = OmegaConf.select(cfg, "hydra.runtime.config_sources", default=None) or []
    main = next((str(s.path) for s in sources if s.provider == "main" and s.schema == "file"),
                None)
    name = OmegaConf.select(cfg, "hydra.job.config_name", default=None)
    config = {"dir": main, "name": str(name)} if main and name else None
    return json.dumps({"modules": modules, "data": data, "config": config})


def _compose(config: dict) -> None:
    """Compose the sweep's config once and forget it: Hydra's plugin scan and the override
    and interpolation parsers' caches (ANTLR) are then warm in every forked job."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=config["dir"], version_base="1.3"):
        compose(config["name"], return_hydra_config=True)


def warm(text: str | None) -> None:
    """Import the modules and warm the data that `text` (a `spec`) names."""
    if not text:
        return
    wanted = json.loads(text)
    if wanted.get("config"):
        with contextlib.suppress(Exception):
            _compose(wanted["config"])
    for module in wanted.get("modules", []):
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    data = wanted.get("data") or {}
    target = str(data.pop("_target_", ""))
    if "." not in target:
        return
    with contextlib.suppress(Exception):
        module, name = target.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        if callable(getattr(cls, "warm", None)):
            cls.warm(**data)


warm(os.environ.get(ENV))
