"""`hydra/sweeper=tune_confirm`: its settings (override any as hydra.sweeper.<name>=...)."""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TuneConfirmConf:
    _target_: str = "hydra_plugins.optarena_sweeper.tune_confirm_sweeper.TuneConfirmSweeper"
    # Stage 1 runs every setting at this one seed; its runs choose, never report.
    tune_seed: int = 0
    # Stage 2 runs each optimizer's chosen setting at these seeds: a number N (the N seeds after
    # tune_seed) or a list ([1,2,3]); never the tuning seed. Unless set on the command line, a
    # swept seed=... (an experiment's seed list) gives them instead.
    seeds: Any = 3
    # null: stage 1 is the grid of the sweep's overrides (optimizer=sgd,adam lr=..., and
    # `params`). N: N quasi-random lrs per optimizer instead (AlgoPerf), log-uniform over the
    # experiment's lr_grid span for it, else lr_decades either side of its default lr.
    trials: Any = None
    lr_decades: float = 2.0
    # Swept overrides from config, as hydra/sweeper=basic takes them (experiments set these).
    params: Any = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="tune_confirm", node=TuneConfirmConf, provider="optarena")
