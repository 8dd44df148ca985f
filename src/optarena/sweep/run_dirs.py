"""Run and sweep folders that two runs started in the same second never share.

Hydra names folders by the second (`multirun/DATE/TIME`), so two sweeps started together
write into one folder (lightning-hydra-template#511). `${optarena.unique_dir:PATH}` claims
PATH, or PATH_2, PATH_3, ...: the first one this process creates itself (mkdir is atomic).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_claimed: dict[str, str] = {}


def _env_key(path: str) -> str:
    return "OPTARENA_DIR_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]


def unique_dir(path: str) -> str:
    """The folder claimed for `path` by this process (or by the process that started it).

    Hydra resolves the run/sweep dir more than once, and cluster launchers and DDP ranks
    resolve it again in child processes: the claim is remembered in this process and in
    the environment that child processes inherit, so all of them get the same folder.
    """
    if path in _claimed:
        return _claimed[path]
    inherited = os.environ.get(_env_key(path))
    if inherited is not None:
        return inherited
    candidate, n = path, 1
    while True:
        try:
            Path(candidate).mkdir(parents=True, exist_ok=False)
            break
        except FileExistsError:
            n += 1
            candidate = f"{path}_{n}"
    _claimed[path] = candidate
    os.environ[_env_key(path)] = candidate
    return candidate


def claimed_here(path: Path) -> bool:
    """Whether this process created `path` as a new run or sweep folder."""
    return os.path.exists(path) and any(os.path.samefile(path, p) for p in _claimed.values()
                                        if os.path.exists(p))


def unclaim_empty() -> None:
    """Remove the folders this process claimed that are still empty (and their parent, the
    date folder, when that is empty too): a command that stopped at a bad option leaves none."""
    for path in _claimed.values():
        for folder in (Path(path), Path(path).parent):
            try:
                folder.rmdir()  # only succeeds on an empty folder
            except OSError:
                break
