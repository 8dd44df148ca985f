"""A run folder before a run writes to it: usable, never holding a finished result that this
run would replace unasked, and cleared of an earlier attempt when the run starts over.

No torch here: optarena.preflight runs these checks before Hydra writes the folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from pathlib import Path
from typing import Any

from optarena.errors import OptArenaError
from optarena.record import FINISHED, RANGE_TEST, RANGE_TEST_PLOT, RECORD, read_record

# What a run writes into its folder and a fresh start replaces (lr_find.*: lr=find's range
# test; .hydra/ and the logs of this attempt stay; the sweep launcher's job.log keeps every
# attempt's output).
OUTPUTS = (RECORD, "checkpoints", "csv", "wandb", RANGE_TEST, RANGE_TEST_PLOT)


def check_usable(run_dir: Path) -> None:
    """The folder can be created and written: not a file, not read-only."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise OptArenaError(f"the run folder {run_dir} is a file; remove it or pick another "
                            "folder (hydra.run.dir=... / hydra.sweep.dir=...)")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        where = (f"the run folder {run_dir}" if existing == run_dir
                 else f"{existing} (where the run folder {run_dir} would be made)")
        raise OptArenaError(f"{where} is not writable; fix its permissions (chmod u+w) or pick "
                            "another folder (hydra.run.dir=... / hydra.sweep.dir=...)")


def finished_record(run_dir: Path) -> dict | None:
    """The record of a run that ended on its own (completed, diverged) in `run_dir`, or None."""
    record = read_record(run_dir)
    return record if record is not None and record.get("status") in FINISHED else None


def refuse_finished(run_dir: Path) -> None:
    """A run without resume=true or overwrite=true never replaces a finished result."""
    record = finished_record(run_dir)
    if record is not None:
        raise OptArenaError(
            f"{run_dir} holds a {record['status']} run; resume=true keeps it (and returns its "
            "result), overwrite=true replaces it, or pick another folder (hydra.run.dir=...)")


def refuse_finished_in_sweep(sweep_dir: Path) -> None:
    """The same for a sweep folder: its finished jobs are kept (resume) or replaced (overwrite)."""
    from optarena.record import find_run_dirs

    if not Path(sweep_dir).is_dir():
        return
    done = [d for d in find_run_dirs([Path(sweep_dir)]) if finished_record(d) is not None]
    if done:
        raise OptArenaError(
            f"{sweep_dir} holds {len(done)} finished run(s) ({done[0]}, ...); resume=true keeps "
            "them and runs only the rest, overwrite=true replaces them, or pick another "
            "hydra.sweep.dir")


def tensorboard_dirs(logger_cfg: Any) -> list[Path]:
    """Every event folder of this run: <save_dir>/<any run name>/<this run's version>.

    The name is the run's overrides, so a run replaced with other overrides has its old
    events under another name; the version (the run id) is the same.
    """
    found: list[Path] = []
    for node in (logger_cfg or {}).values():
        if node is None or not str(node.get("_target_", "")).endswith("TensorBoardLogger"):
            continue
        version = node.get("version")
        if version in (None, ""):
            continue
        pattern = os.path.join(glob.escape(str(node.save_dir)), "*", glob.escape(str(version)))
        found += [Path(p) for p in glob.glob(pattern) if os.path.isdir(p)]
    return found


def clear_previous(run_dir: Path, logger_cfg: Any, keep: Path | None = None) -> list[Path]:
    """A run starting over in `run_dir`: remove the earlier attempt's record, checkpoints,
    curves and TensorBoard events (one run, one event folder). `keep`: a checkpoint the run
    starts from (ckpt_path inside this folder) stays. Returns what was removed."""
    run_dir = Path(run_dir)
    removed = []
    for name in OUTPUTS:
        path = run_dir / name
        if keep is not None and path.is_dir() and Path(keep).resolve().is_relative_to(
                path.resolve()):
            continue
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    for events in tensorboard_dirs(logger_cfg):
        shutil.rmtree(events, ignore_errors=True)
        removed.append(events)
        with contextlib.suppress(OSError):  # the run name's folder, when nothing else is in it
            events.parent.rmdir()
    return removed
