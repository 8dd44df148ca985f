"""A finished run, rebuilt from its own folder: `.hydra/config.yaml` through `run.build`, then
the weights of its best checkpoint (else last.ckpt)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from optarena.errors import OptArenaError
from optarena.record import read_record

if TYPE_CHECKING:
    from optarena.data.in_memory import InMemoryDataModule
    from optarena.run import Built

CHECKPOINTS = ("best.ckpt", "last.ckpt")


@dataclass
class LoadedRun:
    run_dir: Path
    checkpoint: Path
    record: dict
    built: Built

    @property
    def net(self) -> torch.nn.Module:
        return self.built.net

    @property
    def datamodule(self) -> InMemoryDataModule:
        return self.built.datamodule

    @property
    def kind(self) -> str:
        return self.built.task.kind

    @property
    def label(self) -> str:
        r = self.record
        lr = r.get("lr")
        lr_text = f"{lr:g}" if isinstance(lr, int | float) else "?"
        return f"{r.get('optimizer', '?')}, lr={lr_text}, seed={r.get('seed')}"


def find_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint, else its last, else None."""
    paths = (Path(run_dir) / "checkpoints" / name for name in CHECKPOINTS)
    return next((path for path in paths if path.is_file()), None)


def checkpoint_of(run_dir: Path) -> Path:
    """The run's best checkpoint, else its last; an error naming the folder when it has none."""
    if (path := find_checkpoint(run_dir)) is not None:
        return path
    raise OptArenaError(f"{run_dir} holds no checkpoint (checkpoints/best.ckpt or last.ckpt): "
                        "train it first, or resume it (resume=true) if it was interrupted")


def check_run(run_dir: Path) -> tuple[dict, Path]:
    """The run's record and checkpoint, or the error that says why it cannot be explained."""
    if not run_dir.is_dir():
        raise OptArenaError(f"no such directory: {run_dir}")
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise OptArenaError(f"{run_dir} is not a run folder (no .hydra/config.yaml): pass a "
                            "folder that train.py wrote, e.g. outputs/DATE/TIME")
    record = read_record(run_dir, strict=True) or {}
    if record.get("status") == "diverged":
        raise OptArenaError(f"{run_dir} diverged ({record.get('error') or 'loss blew up'}): its "
                            "weights explain nothing; pick a run that completed")
    return record, checkpoint_of(run_dir)


@contextlib.contextmanager
def saved_hydra(run_dir: Path) -> Iterator[None]:
    """The run's own `.hydra/hydra.yaml` as the Hydra context while its config is used, so
    `${hydra:...}` interpolations and the recorded group choices read as in training."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's own resolvers (hydra:, now:), as an app run registers them
    path = run_dir / ".hydra" / "hydra.yaml"
    instance = HydraConfig.instance()
    before = instance.cfg
    if path.is_file():
        # Set directly: set_config() insists on Hydra's structured schema, which a saved
        # hydra.yaml with plugin settings (launcher, env) does not match.
        instance.cfg = OmegaConf.load(path)
    try:
        yield
    finally:
        instance.cfg = before


def run_config(run_dir: Path) -> DictConfig:
    """The run's composed config, made to rebuild the model quietly and exactly as trained."""
    try:
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    except (OSError, OmegaConfBaseException) as err:
        raise OptArenaError(f"cannot read {run_dir}/.hydra/config.yaml ({err})") from None
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)  # where it is now, even if the folder moved
        cfg.compile = False  # attributions need plain autograd, and no compile wait
    return cfg


def load(run_dir: Path) -> LoadedRun:
    """Rebuild the run with `run.build` (no callbacks, no loggers: nothing is written) and load
    its checkpoint's weights into the model."""
    from optarena.run import build

    run_dir = Path(run_dir)
    record, checkpoint = check_run(run_dir)
    cfg = run_config(run_dir)
    with saved_hydra(run_dir):
        try:
            # One process on one device whatever the run trained on (ddp, several GPUs).
            built = build(cfg, callbacks=[], loggers=[], trainer_overrides={
                "accelerator": "auto", "devices": 1, "strategy": "auto", "num_nodes": 1,
                "enable_progress_bar": False, "enable_model_summary": False})
        except OmegaConfBaseException as err:
            raise OptArenaError(f"cannot rebuild {run_dir} from its .hydra/config.yaml "
                                f"({err.__class__.__name__}: {err})") from None
    _load_weights(built.task, checkpoint)
    built.task.eval()
    return LoadedRun(run_dir, checkpoint, record, built)


def _load_weights(task: torch.nn.Module, checkpoint: Path) -> None:
    """The checkpoint's state dict into the task. By hand rather than load_from_checkpoint:
    the net is built from the config, not from saved hyperparameters. Frozen parameters may be
    missing (the feature cache leaves them out; the config rebuilds them, seeded)."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    except (OSError, RuntimeError, KeyError, EOFError) as err:
        raise OptArenaError(f"cannot read {checkpoint} ({err}); it may be cut short: use the "
                            "other checkpoint or rerun the training") from None
    missing, unexpected = task.load_state_dict(state, strict=False)
    frozen = {name for name, p in task.named_parameters() if not p.requires_grad}
    wrong = [k for k in missing if k not in frozen] + list(unexpected)
    if wrong:
        raise OptArenaError(f"{checkpoint} does not fit the model of the run's config "
                            f"({len(wrong)} mismatched tensors, e.g. {wrong[0]}): was the "
                            "config edited after training?")
