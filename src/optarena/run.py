"""One run: config -> build (data, model, task, trainer) -> fit, test -> metrics.json.

`build(cfg)` is the one composition that training, the LR finder and saliency maps share, so
each of them sees exactly the model, data, precision and parameter groups a run trains with.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import lightning.pytorch as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.plugins.io import CheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch import nn

from optarena import config_check, record, run_folder, run_lock
from optarena.callbacks.divergence import DivergenceGuard
from optarena.callbacks.exact_resume import prepare_loggers_for_resume
from optarena.callbacks.time_to_target import TimeToTarget
from optarena.checkpoint_io import AtomicCheckpointIO
from optarena.errors import OptArenaError
from optarena.models.shapes import InputMismatchError
from optarena.optim.param_groups import describe
from optarena.regularization import Regularization
from optarena.speed import SpeedSettings
from optarena.sweep import distributed, resume
from optarena.tasks import data_kind, task_class
from optarena.tasks.base import OptimTask
from optarena.tracking import lifecycle as tracking
from optarena.tracking.final import log_final

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")
# Lightning prints its own info lines; without this Hydra's root handler prints them twice.
logging.getLogger("lightning.pytorch").propagate = False

C = TypeVar("C", bound=pl.Callback)


def _build(node: DictConfig, **kwargs: Any) -> Any:
    """instantiate(), re-raising the package's own error as is (Hydra wraps it)."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, OptArenaError):
            raise err.__cause__ from None
        raise


def _instantiate_all(node: DictConfig | None) -> list:
    return [_build(c) for c in (node or {}).values() if c is not None]


class RecordParamGroups(pl.Callback):
    """Writes the optimizer's real parameter groups into the run record when fit starts
    (Lightning has called configure_optimizers by then; a resumed run writes them again)."""

    def __init__(self, summary: record.RunRecord) -> None:
        self.summary = summary

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.summary.record_param_groups([row for opt in trainer.optimizers
                                          for row in describe(opt)])


@dataclass
class Built:
    """Everything a run is made of, ready to fit."""

    cfg: DictConfig
    lr: float
    choices: dict[str, str]
    datamodule: pl.LightningDataModule
    net: nn.Module
    task: OptimTask
    callbacks: list[pl.Callback]
    loggers: list
    trainer: pl.Trainer

    def callback(self, cls: type[C]) -> C | None:
        return next((c for c in self.callbacks if isinstance(c, cls)), None)


def build(cfg: DictConfig, *, callbacks: list[pl.Callback] | None = None,
          loggers: list | None = None, resumed_at_step: int | None = None,
          trainer_overrides: dict[str, Any] | None = None) -> Built:
    """Seed, then config -> datamodule, model, task, callbacks, loggers, trainer.

    `callbacks` / `loggers`: use these instead of the config's (a tool that is not a training
    run: no checkpoints, no run record). `trainer_overrides` replace Trainer arguments.
    """
    config_check.check(cfg)
    lr = config_check.resolved_lr(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    choices = record.hydra_choices()
    data_name = record.choice(choices, "data") or "data"
    model_name = record.choice(choices, "model") or "model"
    kind = data_kind(cfg.data._target_)
    reg = Regularization.from_cfg(cfg.regularization)
    # _convert_="all": plain lists/dicts, so checkpoints hold no OmegaConf objects.
    datamodule = _build(cfg.data, **reg.data_kwargs(cfg.data, data_name), _convert_="all")
    try:
        net = _build(cfg.model, in_shape=datamodule.input_shape,
                     num_classes=datamodule.num_classes,
                     **reg.model_kwargs(cfg.model, model_name), _convert_="all")
    except InputMismatchError as err:
        raise OptArenaError(f"model={model_name} cannot train on data={data_name}: {err}") from err
    speed = SpeedSettings.from_cfg(cfg)  # precision, channels_last, compile for the device
    net = speed.prepare(net)
    scheduler = (instantiate(cfg.scheduler, _convert_="all")
                 if cfg.scheduler.get("_target_") else None)
    task = task_class(kind)(
        net, optimizer=instantiate(cfg.optimizer, lr=lr, _convert_="all"), scheduler=scheduler,
        num_classes=datamodule.num_classes, label_smoothing=reg.label_smoothing,
        l2=reg.l2, weight_decay=reg.weight_decay, exclude_bias_norm=reg.exclude_bias_norm,
        optimizer_name=record.choice(choices, "optimizer") or "optimizer",
        **config_check.task_options(cfg, kind),
    )
    callbacks = _instantiate_all(cfg.callbacks) if callbacks is None else callbacks
    loggers = _instantiate_all(cfg.logger) if loggers is None else loggers
    if resumed_at_step is not None and record.RunRecord.writes_here():
        prepare_loggers_for_resume(loggers, resumed_at_step)
    trainer_kwargs = {**speed.trainer_kwargs(), **(trainer_overrides or {})}
    plugins = [instantiate(p) if isinstance(p, DictConfig) else p
               for p in trainer_kwargs.pop("plugins", None) or cfg.trainer.get("plugins") or []]
    if not any(isinstance(p, CheckpointIO) for p in plugins):  # a kill never leaves half a file
        plugins.append(AtomicCheckpointIO())
    trainer = instantiate(cfg.trainer, **trainer_kwargs, plugins=plugins, callbacks=callbacks,
                          logger=loggers)
    return Built(cfg, lr, choices, datamodule, net, task, callbacks, loggers, trainer)


def run_record(cfg: DictConfig, lr: float | None, resumed_at_step: int | None = None
               ) -> record.RunRecord:
    """The record of this run (its identity, where its lr comes from, hyperparameters, task and
    headline metric)."""
    try:
        kind = data_kind(cfg.data._target_)
    except OptArenaError:  # a data config that cannot be imported is recorded as it failed
        kind = "classification"
    task = task_class(kind)
    base = record.identity(record.hydra_choices(), lr, cfg.seed, record.hydra_overrides(),
                           cfg.get("stage"))
    source = config_check.lr_source(cfg)
    base.update(lr_source=source, lr_find=record.RANGE_TEST if source == "finder" else None)
    return record.RunRecord(Path(cfg.paths.output_dir), base, record.hparams(cfg, lr), kind,
                            task.headline, task.metric_names, resumed_at_step)


def train(cfg: DictConfig) -> float:
    """Train, test on the best-validation checkpoint, write metrics.json; return the best
    validation value of the task's headline metric (val/acc_best, val/miou_best).

    resume=true: a finished run returns its recorded result, an interrupted one continues
    from its last.ckpt, one stopped before its first checkpoint starts over (docs/sweeps.md).
    Without it, a folder holding a finished run is refused unless overwrite=true.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_folder.check_usable(run_dir)
    writer = run_lock.is_first_rank()  # DDP: rank 0 writes the folder, the others only train
    lr = _check(cfg, run_dir, writer)
    claimed = writer and run_lock.claim(run_dir)  # one writer per folder, before any write
    try:
        return _train(cfg, run_dir, lr, writer)
    finally:
        if claimed:
            run_lock.release(run_dir)


def _check(cfg: DictConfig, run_dir: Path, writer: bool) -> float | None:
    """Every knob, and the folder's finished run, before anything is written; the lr (None for
    lr=find: the range test gives it)."""
    try:
        config_check.check(cfg)
        distributed.check_no_sweep_relaunch(cfg)
        if writer and not (cfg.get("resume") or cfg.get("overwrite") or resume.requeued()):
            run_folder.refuse_finished(run_dir)
        if config_check.lr_source(cfg) == "finder":
            return None
        return config_check.resolved_lr(cfg)
    except OptArenaError as err:
        # A sweep's job folder says why the job failed; never over an earlier record, nor in
        # a folder that another process writes.
        if writer and not (run_dir / record.RECORD).exists() and not run_lock.holder(run_dir):
            run_record(cfg, None).write_failed(err)
        raise


def _train(cfg: DictConfig, run_dir: Path, lr: float | None, writer: bool) -> float:
    ckpt_path, resumed_at_step = cfg.ckpt_path, None
    if cfg.get("resume") or resume.requeued():
        point = resume.plan(run_dir, record.hydra_overrides())
        if point.action == "skip":
            log.info("resume: %s is already %s; nothing to do", run_dir, point.summary["status"])
            return record.objective(point.summary)
        ckpt_path, resumed_at_step = resume.start_from(point, run_dir, cfg.ckpt_path)
    if resumed_at_step is None and writer:  # a fresh start: nothing of an earlier attempt stays
        removed = run_folder.clear_previous(run_dir, cfg.get("logger"), keep=ckpt_path)
        if removed:  # an earlier attempt's MLflow runs do not linger beside this one
            for retired in tracking.retire_previous(run_dir, cfg.get("logger")):
                log.info("%s of the earlier attempt in %s: marked deleted", retired, run_dir)
        if removed and cfg.get("overwrite"):
            log.info("overwrite=true: replaced the run in %s", run_dir)
    summary = run_record(cfg, lr, resumed_at_step)
    summary.write("running")
    trainer = None
    try:
        if lr is None:  # lr=find: the range test first, in this folder; then train at its lr
            cfg, lr = _at_found_lr(cfg, run_dir, resumed_at_step is not None, summary)
        built = build(cfg, resumed_at_step=resumed_at_step)
        trainer, task, datamodule = built.trainer, built.task, built.datamodule
        trainer.callbacks.append(RecordParamGroups(summary))
        with warnings.catch_warnings():
            if resumed_at_step is not None:  # continuing in its own folder is the point
                warnings.filterwarnings("ignore", ".*directory .* exists and is not empty.*")
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        fit_metrics = dict(trainer.callback_metrics)
        guard = built.callback(DivergenceGuard)
        diverged = guard is not None and guard.diverged
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        if not diverged:
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
            trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics = {**fit_metrics, **trainer.callback_metrics}
        ttt = built.callback(TimeToTarget)
        result = summary.write(
            "diverged" if diverged else "completed", metrics=metrics,
            target=ttt.as_dict() if ttt else None,
            error=guard.reason if diverged else None,
            diverged_step=guard.diverged_step if diverged else None,
            epochs=trainer.current_epoch, steps=trainer.global_step,
        )
        _log_hparams(trainer, cfg, result)
        headline = task.headline
        log.info("%s: %s=%s %s=%s -> %s", result["status"], headline.best,
                 result["metrics"][headline.best], headline.test,
                 result["metrics"][headline.test], summary.path)
        return record.objective(result)
    except BaseException as err:
        progress = ({"epochs": trainer.current_epoch, "steps": trainer.global_step}
                    if trainer else {})
        summary.write_failed(err, **progress)
        raise


def _at_found_lr(cfg: DictConfig, run_dir: Path, resumed: bool, summary: record.RunRecord
                 ) -> tuple[DictConfig, float]:
    """lr=find: the config with the range test's suggestion as its lr; the record says so."""
    from optarena.lr_find import lr_for_training

    lr = lr_for_training(cfg, run_dir, resumed)
    cfg = cfg.copy()
    cfg.lr = lr
    summary.base.update(lr=lr, hparams=record.hparams(cfg, lr))
    summary.write("running")
    return cfg, lr


def _log_hparams(trainer: pl.Trainer, cfg: DictConfig, result: dict) -> None:
    """Every logger gets this run's settings and its final metrics (optarena.tracking.final)."""
    params = {
        "data": result["data"], "model": result["model"], "optimizer": result["optimizer"],
        "scheduler": result["scheduler"], "lr": result["lr"], "seed": result["seed"],
        "batch_size": result["hparams"]["batch_size"],
        "max_epochs": result["hparams"]["max_epochs"], "status": result["status"],
        **{f"reg/{k}": v for k, v in
           OmegaConf.to_container(cfg.regularization, resolve=True).items()},
    }
    log_final(trainer.loggers, params, result["metrics"], result["steps"])
