"""Tune, then confirm: stage 1 runs every optimizer over its own grid (or N quasi-random lrs)
at one tuning seed; each optimizer's validation-best setting then runs at fresh seeds (stage 2).

Why a sweeper of our own: Hydra's basic sweeper runs the full factorial (every setting at
every seed), Optuna tunes one study without confirming its winner at fresh seeds. Both stages go
through whichever launcher is configured (basic, parallel, slurm, ...); jobs are numbered
stage 1 first (0..n-1), then stage 2, so a resumed sweep finds every job in its folder.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
LR_KEYS = ("lr", "lr_index")  # what quasi-random trials draw instead of a grid


class TuneConfirmSweeper(Sweeper):
    def __init__(self, tune_seed: int = 0, seeds: Any = 3, trials: int | None = None,
                 lr_decades: float = 2.0, params: dict[str, str] | None = None) -> None:
        self.tune_seed, self.seeds, self.trials = tune_seed, seeds, trials
        self.lr_decades = lr_decades
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        from optarena.errors import OptArenaError
        from optarena.sweep import trials
        from optarena.sweep.tune_confirm import TUNE, confirm_seeds, staged

        assert self.config is not None and self.launcher is not None
        try:  # every setting checked before anything is written
            trials.check(self.trials, self.lr_decades)
            grid, swept_seeds = self._grid(arguments)
            seeds = confirm_seeds(self._seeds(swept_seeds), self.tune_seed)
        except OptArenaError as err:
            _fail(err)
        stage1 = [staged(job, self.tune_seed, TUNE) for job in grid]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        self.validate_batch_is_legal(stage1)  # a composition error shows before any job runs
        log.info(f"tune_confirm stage 1: {len(stage1)} run(s) at tuning seed {self.tune_seed}; "
                 f"then each optimizer's best on validation at seeds {seeds}")
        first = self.launcher.launch(stage1, initial_job_idx=0)
        second = self._confirm(sweep_dir, stage1, seeds)
        return [list(first), list(second)]

    def _confirm(self, sweep_dir: Path, stage1: list[list[str]],
                 seeds: list[int]) -> list[JobReturn]:
        """Pick each optimizer's best stage-1 setting, run it at `seeds` (stage 2)."""
        from optarena.errors import OptArenaError
        from optarena.sweep.tune_confirm import CONFIRM, keep_picks, pick, staged

        assert self.config is not None and self.launcher is not None
        picks, counts = pick(sweep_dir, stage1)
        without = {s: n for s, n in counts.items() if s not in ("completed", "diverged")}
        if without:
            log.warning("tune_confirm stage 1: " + ", ".join(f"{n} {s}" for s, n in
                        without.items()) + " (no result): each pick is made among the others")
        if not picks:
            _fail(OptArenaError(f"tune_confirm: no stage-1 run in {sweep_dir} finished, so "
                                "there is nothing to confirm; see the summary below, fix the "
                                "cause and run the same command with resume=true"))
        try:
            keep_picks(sweep_dir, picks, self.tune_seed, seeds,
                       bool(OmegaConf.select(self.config, "resume", default=False)))
        except OptArenaError as err:
            _fail(err)
        for p in picks:
            log.info(f"tune_confirm pick: {p.task} {p.optimizer}: {p.setting} "
                     f"({p.metric}={p.value:.4f} at seed {self.tune_seed})")
        stage2 = [staged(p.overrides, seed, CONFIRM) for p in picks for seed in seeds]
        self.validate_batch_is_legal(stage2)
        log.info(f"tune_confirm stage 2: {len(stage2)} run(s) ({len(picks)} setting(s) x "
                 f"{len(seeds)} seeds)")
        return self.launcher.launch(stage2, initial_job_idx=len(stage1))

    def _seeds(self, swept: list | None) -> Any:
        """Stage 2's seeds: hydra.sweeper.seeds when the command line sets it, else a swept
        seed=... (an experiment's seed list), else hydra.sweeper.seeds' default."""
        assert self.config is not None
        given = any(str(o).lstrip("+").split("=", 1)[0] == "hydra.sweeper.seeds"
                    for o in self.config.hydra.overrides.hydra)
        if swept is not None and not given:
            return swept
        return OmegaConf.to_container(self.seeds) if OmegaConf.is_config(self.seeds) else self.seeds

    # --- stage 1's jobs -------------------------------------------------------------------
    def _grid(self, arguments: list[str]) -> tuple[list[list[str]], list[int] | None]:
        """Stage 1's jobs: the grid of `params` and the command line's overrides, or with
        trials=N each combination of the non-lr overrides times N quasi-random lrs; and the
        seeds a swept seed=... names (stage 2's: an experiment's seed list serves either
        sweeper), None without one."""
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        from optarena.errors import OptArenaError
        from optarena.sweep.tune_confirm import SET_BY_SWEEPER

        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        from_config = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()])
        given = parser.parse_overrides(list(arguments))
        seeds = None
        for override in [*from_config, *given]:
            if _key(override) == "seed":  # the command line's comes last and wins
                seeds = _seeds(override)
            elif _key(override) in SET_BY_SWEEPER:
                raise OptArenaError(
                    f"hydra/sweeper=tune_confirm sets each job's stage itself: drop "
                    f"{override.input_line}")
        kept = [o for o in [*from_config, *given] if _key(o) not in SET_BY_SWEEPER]
        if self.trials is None:
            return BasicSweeper.split_arguments(kept, None)[0], seeds
        for override in given:
            if _key(override) in LR_KEYS:
                raise OptArenaError(
                    f"hydra.sweeper.trials={self.trials} draws the lrs itself: drop "
                    f"{override.input_line} (or drop hydra.sweeper.trials for that grid)")
        dropped = [o for o in from_config if _key(o) in LR_KEYS]
        if dropped:
            log.info(f"tune_confirm: trials={self.trials} replace the experiment's "
                     f"{', '.join(o.input_line for o in dropped)}")
        rest = [o for o in kept if _key(o) not in LR_KEYS]
        return [combo + [f"lr={lr}"] for combo in BasicSweeper.split_arguments(rest, None)[0]
                for lr in self._trial_lrs(combo)], seeds

    def _trial_lrs(self, combo: list[str]) -> list[str]:
        """N lrs for one combination of the other overrides (its optimizer's own range)."""
        from optarena.record import choice
        from optarena.sweep import trials

        assert self.hydra_context is not None and self.config is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(combo))
        optimizer = choice(cfg.hydra.runtime.choices, "optimizer") or "optimizer"
        low, high = trials.lr_range(cfg, optimizer, self.lr_decades)
        return trials.draw(trials.unit_points(self.trials, self.tune_seed), low, high)


def _key(override: Override) -> str:
    return override.get_key_element().lstrip("+~")


def _seeds(override: Override) -> list[Any]:
    """The values of seed=1,2,3 (or seed=range(1,4)) as numbers, checked by confirm_seeds."""
    values = (list(override.sweep_string_iterator()) if override.is_discrete_sweep()
              else [override.get_value_element_as_str()])
    return [int(v) if v.isdigit() else v for v in values]


def _fail(err: Exception) -> None:
    """One `error:` line and exit status 2, as train.py does for a bad option."""
    from optarena.sweep.run_dirs import unclaim_empty

    unclaim_empty()  # a sweep folder this command created and left empty
    print(f"error: {err}", file=sys.stderr, flush=True)
    sys.exit(2)
