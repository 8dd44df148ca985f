"""Hydra callback: a user mistake ends the command with one `error:` line (exit 2) before Hydra
writes anything into the run folder and before the seconds of importing torch and Lightning.

Checks the plain top-level knobs (optarena.knobs), the run folder (a file, read-only, a
finished run that this one would replace, another process writing it) and takes the folder's
writer lock (optarena.run_lock), held until the process ends. A sweep checks its knobs and
sweep folder at its start; each job is checked again when it runs (optarena.run.train).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from optarena import knobs, run_folder, run_lock
from optarena.errors import OptArenaError
from optarena.sweep import resume
from optarena.sweep.run_dirs import claimed_here


def _fail(err: OptArenaError) -> None:
    from optarena.sweep.run_dirs import unclaim_empty

    unclaim_empty()  # the new outputs/DATE/TIME folder Hydra's run dir resolved to
    print(f"error: {err}", file=sys.stderr, flush=True)
    sys.exit(2)


def check_run(config: DictConfig) -> Path:
    """The checks of one run, before Hydra makes its folder; returns the folder."""
    _set_hydra_config(config)  # ${hydra:...} in the run dir
    knobs.check(config)
    run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir")))
    run_folder.check_usable(run_dir)
    if not run_lock.is_first_rank():  # a DDP rank re-running the command: rank 0 writes
        return run_dir
    if config.get("resume"):
        resume.check_same_run(run_dir, list(config.hydra.overrides.task))
        in_sweep = not OmegaConf.is_missing(config.hydra.job, "num")  # a launcher's job
        # A folder named on the command line that exists is resumed, even one a kill left
        # empty (the run starts over there); a new one is a typo or a forgotten hydra.run.dir.
        if not in_sweep and (not run_dir.exists() or claimed_here(run_dir)):
            raise OptArenaError(
                f"resume=true: nothing to resume in {run_dir} (a new folder); name the "
                "interrupted run's folder: hydra.run.dir=outputs/DATE/TIME")
    elif not config.get("overwrite"):
        run_folder.refuse_finished(run_dir)
    run_lock.claim(run_dir)
    return run_dir


def _set_hydra_config(config: DictConfig) -> None:
    """${hydra:...} in a knob (the experiments' per-optimizer lr grids) resolves in a callback
    that runs before Hydra sets its config."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        HydraConfig.instance().set_config(config)


def check_sweep(config: DictConfig) -> None:
    """The checks of a sweep at its start: the knobs it shares, and its folder."""
    _set_hydra_config(config)
    knobs.check(config)
    sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir")))
    run_folder.check_usable(sweep_dir)
    if not (config.get("resume") or config.get("overwrite")):
        run_folder.refuse_finished_in_sweep(sweep_dir)


class Preflight(Callback):
    """conf/hydra/default.yaml lists it first among the callbacks."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_run(config)
        except OptArenaError as err:
            _fail(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_sweep(config)
        except OptArenaError as err:
            _fail(err)
