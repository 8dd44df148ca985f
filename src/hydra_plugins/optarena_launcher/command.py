"""The command line of one job: the same script as the sweep, run once with the job's overrides."""


import os
import sys
from collections.abc import Sequence
from pathlib import Path

RETURN_CALLBACK = "hydra_plugins.optarena_launcher.job_return.WriteJobReturn"


def script() -> list[str]:
    """How this process was started: `python path/to/train.py` or `python -m package.module`."""
    import __main__  # imported here: the __main__ of the sweep, not of this module

    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        return [sys.executable, os.path.abspath(sys.argv[0])]
    return [sys.executable, "-m", spec.name]


def config_flags(argv: Sequence[str]) -> list[str]:
    """The sweep's --config-path / --config-name / --config-dir, for the job to compose alike."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(argv))
    flags = []
    for flag, value in (("--config-path", args.config_path), ("--config-name", args.config_name),
                        ("--config-dir", args.config_dir)):
        if value is not None:
            flags.append(f"{flag}={value}")
    return flags


def _quoted(value: str) -> str:
    if '"' in value or "${" in value:
        raise ValueError(f"cannot pass {value!r} as a Hydra override value (quote or '${{')")
    return f'"{value}"'


def job_command(
    base: Sequence[str],
    hydra_overrides: Sequence[str],
    job_overrides: Sequence[str],
    job_dir: Path,
    job_num: int,
    return_file: Path,
) -> list[str]:
    """`python train.py <sweep's hydra overrides> <job overrides>` as a single run in job_dir.

    A single run, not a one-job multirun: Lightning's DDP re-executes exactly this command for
    its other ranks, so it can never re-launch the sweep (lightning-hydra-template#393).
    """
    return [
        *base,
        *hydra_overrides,
        *job_overrides,
        f"hydra.run.dir={_quoted(str(job_dir))}",
        f"hydra.job.num={job_num}",
        f"hydra.job.id={job_num}",
        f"+hydra.callbacks.optarena_job_return._target_={RETURN_CALLBACK}",
        f"+hydra.callbacks.optarena_job_return.path={_quoted(str(return_file))}",
    ]
