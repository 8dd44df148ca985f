"""Tune, then confirm (`hydra/sweeper=tune_confirm`, docs/sweeps.md): the seeds of each stage,
each optimizer's pick from stage 1 (chosen exactly as the report chooses: optarena.report.stats),
and the picks file that keeps a resumed sweep's stage 2 on the settings it started with.

No torch here: the sweeper imports this in the launching process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from optarena.errors import OptArenaError
from optarena.knobs import MAX_SEED
from optarena.record import defining_overrides, find_run_dirs, read_record

TUNE, CONFIRM = "tune", "confirm"
PICKS_FILE = "tune_confirm.yaml"
SET_BY_SWEEPER = ("seed", "stage")  # keys the sweeper gives every job itself


@dataclass(frozen=True)
class Pick:
    """One optimizer's stage-1 winner on one task (data x model)."""

    task: str
    optimizer: str
    setting: str          # the report's label: "lr=0.001, lr_index=3"
    metric: str           # what it was chosen on: the task's headline, e.g. val/acc_best
    value: float          # its value at the tuning seed
    overrides: list[str]  # the stage-1 job's overrides, run again in stage 2 at fresh seeds


def confirm_seeds(seeds: Any, tune_seed: Any) -> list[int]:
    """Stage 2's seeds: `seeds` = N gives N fresh seeds after the tuning seed (tune_seed+1, ...);
    a list gives those. Never the tuning seed, never one seed twice."""
    if not _whole(tune_seed):
        raise OptArenaError(f"hydra.sweeper.tune_seed must be a whole number >= 0, got "
                            f"{tune_seed!r}")
    if _whole(seeds) and seeds >= 1:
        out = list(range(tune_seed + 1, tune_seed + 1 + seeds))
    elif isinstance(seeds, list | tuple) and seeds and all(_whole(s) for s in seeds):
        out = [int(s) for s in seeds]
    else:
        raise OptArenaError(f"stage 2's seeds (hydra.sweeper.seeds, or the sweep's seed=...) "
                            f"must be a number of seeds >= 1 (e.g. 5) or whole numbers >= 0 "
                            f"(e.g. [1,2,3], seed=1,2,3), got {seeds!r}")
    if tune_seed in out:
        raise OptArenaError(f"stage 2's seeds {out} hold the tuning seed {tune_seed}: stage 2 "
                            "confirms at fresh seeds only; drop it (or pick another "
                            "hydra.sweeper.tune_seed)")
    if len(set(out)) != len(out):
        raise OptArenaError(f"stage 2's seeds {out} name a seed twice; give each once")
    return out


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED


def staged(overrides: list[str], seed: int, stage: str) -> list[str]:
    """A job's overrides at `seed` in `stage` (seed= and stage= replaced)."""
    kept = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in SET_BY_SWEEPER]
    return [*kept, f"seed={seed}", f"stage={stage}"]


def _key(overrides: list[str]) -> tuple[str, ...]:
    return tuple(defining_overrides(list(overrides)))


def stage1_runs(sweep_dir: Path, jobs: list[list[str]]) -> dict[Path, list[str]]:
    """The run folders under `sweep_dir` that hold a record of one of these jobs -> its overrides
    (matched on the record's overrides, so any launcher and any hydra.sweep.subdir work)."""
    wanted = {_key(job): job for job in jobs}
    found: dict[Path, list[str]] = {}
    for run_dir in find_run_dirs([sweep_dir]) if sweep_dir.is_dir() else []:
        record = read_record(run_dir)
        job = wanted.get(_key((record or {}).get("overrides") or []))
        if job is not None:
            found[run_dir] = job
    return found


def pick(sweep_dir: Path, jobs: list[list[str]]) -> tuple[list[Pick], Counter]:
    """Each (task, optimizer)'s validation-best stage-1 setting, and the stage-1 status counts.

    The report's selection (stats.best_settings) decides: a diverged run counts with its best
    validation value before divergence (0 if none); a failed run, or a job that left no record,
    has no result and is only counted.
    """
    from optarena.report.collect import collect_runs
    from optarena.report.stats import FINISHED, at_setting, best_settings

    found = stage1_runs(sweep_dir, jobs)
    counts: Counter = Counter()
    counts["no record"] = len(jobs) - len(found)
    if not found:
        return [], counts
    runs, _ = collect_runs(sorted(found))
    counts.update(runs["status"])
    picks = []
    for _, best in best_settings(runs).iterrows():
        at = at_setting(runs, best)
        at = at[at["status"].isin(FINISHED)]
        run_dir = Path(at["run_dir"].iloc[0])
        picks.append(Pick(best["task"], best["optimizer"], best["setting"],
                          f"val/{best['metric']}_best", float(best["val_mean"]),
                          found[run_dir]))
    return picks, +counts


def keep_picks(sweep_dir: Path, picks: list[Pick], tune_seed: int, seeds: list[int],
               resume: bool) -> Path:
    """Write the picks to <sweep dir>/tune_confirm.yaml. Resumed, the picks and seeds must be
    those its stage 2 started with: a stage-1 run that failed and has now finished best would
    otherwise send stage 2 to another setting, beside runs of the old one."""
    path = Path(sweep_dir) / PICKS_FILE
    now = {"tune_seed": tune_seed, "seeds": seeds,  # overrides: without resume, overwrite
           "picks": [{**asdict(p), "overrides": list(_key(p.overrides))} for p in picks]}
    before = yaml.safe_load(path.read_text()) if resume and path.is_file() else None
    if before and _plan(before) != _plan(now):
        raise OptArenaError(
            f"resume=true: stage 1 now picks {_describe(now)}, but the stage 2 in {sweep_dir} "
            f"started with {_describe(before)} ({path}); a stage-1 run that had failed has "
            "finished since, or the seeds changed: run stage 2 into a new hydra.sweep.dir, or "
            "resume with the same hydra.sweeper.seeds")
    header = ("# hydra/sweeper=tune_confirm: each optimizer's setting chosen on validation at the "
              "tuning seed (stage 1),\n# run again at each of `seeds` (stage 2). Written by the "
              "sweep; a resumed sweep checks it.\n")
    path.write_text(header + yaml.safe_dump(now, sort_keys=False, width=100))
    return path


def _plan(saved: dict) -> tuple:
    return (saved.get("tune_seed"), list(saved.get("seeds") or []),
            sorted((p["task"], p["optimizer"], _key(p["overrides"]))
                   for p in saved.get("picks") or []))


def _describe(saved: dict) -> str:
    picks = ", ".join(f"{p['optimizer']} {p['setting']}" for p in saved.get("picks") or [])
    return f"[{picks}] at seeds {saved.get('seeds')}"
