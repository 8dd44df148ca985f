"""One run: config -> data, model, task, trainer -> fit, test -> metrics.json (DESIGN.md)."""

import logging
import warnings
from pathlib import Path

import lightning.pytorch as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from optarena import config_check
from optarena.callbacks.divergence import DivergenceGuard
from optarena.callbacks.exact_resume import prepare_loggers_for_resume
from optarena.callbacks.run_summary import RunSummary, group_choices, overrides
from optarena.callbacks.time_to_target import TimeToTarget
from optarena.errors import OptArenaError
from optarena.models.shapes import InputMismatchError
from optarena.regularization import Regularization
from optarena.speed import SpeedSettings
from optarena.sweep import distributed, resume
from optarena.sweep.outcome import objective
from optarena.tasks.classification import Classifier

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")
# Lightning prints its own info lines; without this Hydra's root handler prints them twice.
logging.getLogger("lightning.pytorch").propagate = False


def _build(node: DictConfig, **kwargs) -> object:
    """instantiate(), re-raising the package's own error as is (Hydra wraps it)."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, OptArenaError):
            raise err.__cause__ from None
        raise


def _instantiate_all(node: DictConfig | None) -> list:
    return [instantiate(c) for c in (node or {}).values() if c is not None]


def train(cfg: DictConfig) -> float:
    """Train, test on the best-validation checkpoint, write metrics.json; return val/acc_best.

    resume=true: a finished run returns its recorded result, an interrupted one continues
    from its last.ckpt (docs/sweeps.md).
    """
    run_dir = Path(cfg.paths.output_dir)
    try:
        config_check.check(cfg)
        lr = config_check.resolved_lr(cfg)
        distributed.check_no_sweep_relaunch(cfg)
    except OptArenaError as err:
        if not (run_dir / "metrics.json").exists():  # never over an earlier attempt's record
            RunSummary(run_dir, cfg, None).write_failed(err)
        raise
    ckpt_path, resumed_at_step = cfg.ckpt_path, None
    if cfg.get("resume") or resume.requeued():
        point = resume.plan(run_dir, overrides())
        if point.action == "skip":
            log.info("resume: %s is already %s; nothing to do", run_dir, point.summary["status"])
            return objective(point.summary)
        ckpt_path, resumed_at_step = resume.start_from(point, run_dir, cfg.ckpt_path)
    summary = RunSummary(run_dir, cfg, lr, resumed_at_step=resumed_at_step)
    summary.write("running")
    trainer = None
    try:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        choices = group_choices()
        reg = Regularization.from_cfg(cfg.regularization)
        data_name, model_name = choices.get("data", "data"), choices.get("model", "model")
        # _convert_="all": plain lists/dicts, so checkpoints hold no OmegaConf objects.
        datamodule = _build(cfg.data, **reg.data_kwargs(cfg.data, data_name), _convert_="all")
        try:
            net = _build(cfg.model, in_shape=datamodule.input_shape,
                         num_classes=datamodule.num_classes,
                         **reg.model_kwargs(cfg.model, model_name), _convert_="all")
        except InputMismatchError as err:
            raise OptArenaError(
                f"model={model_name} cannot train on data={data_name}: {err}") from err
        speed = SpeedSettings.from_cfg(cfg)  # precision, channels_last, compile for the device
        net = speed.prepare(net)
        scheduler = (instantiate(cfg.scheduler, _convert_="all")
                     if cfg.scheduler.get("_target_") else None)
        task = Classifier(
            net, optimizer=instantiate(cfg.optimizer, lr=lr, _convert_="all"), scheduler=scheduler,
            num_classes=datamodule.num_classes, label_smoothing=reg.label_smoothing,
            l2=reg.l2, weight_decay=reg.weight_decay, exclude_bias_norm=reg.exclude_bias_norm,
            optimizer_name=choices.get("optimizer", "optimizer"),
        )
        callbacks = _instantiate_all(cfg.callbacks)
        loggers = _instantiate_all(cfg.logger)
        if resumed_at_step is not None and summary.enabled:
            prepare_loggers_for_resume(loggers, resumed_at_step)
        trainer = instantiate(cfg.trainer, **speed.trainer_kwargs(), callbacks=callbacks,
                              logger=loggers)
        with warnings.catch_warnings():
            if resumed_at_step is not None:  # continuing in its own folder is the point
                warnings.filterwarnings("ignore", ".*directory .* exists and is not empty.*")
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        fit_metrics = dict(trainer.callback_metrics)
        guard = next((c for c in callbacks if isinstance(c, DivergenceGuard)), None)
        diverged = guard is not None and guard.diverged
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        if not diverged:
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
            trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics = {**fit_metrics, **trainer.callback_metrics}
        ttt = next((c for c in callbacks if isinstance(c, TimeToTarget)), None)
        result = summary.write(
            "diverged" if diverged else "completed", metrics=metrics,
            target=ttt.as_dict() if ttt else None,
            error=guard.reason if diverged else None,
            diverged_step=guard.diverged_step if diverged else None,
            epochs=trainer.current_epoch, steps=trainer.global_step,
        )
        _log_hparams(trainer, cfg, result)
        log.info("%s: val/acc_best=%s test/acc=%s -> %s", result["status"],
                 result["metrics"]["val/acc_best"], result["metrics"]["test/acc"], summary.path)
        return objective(result)
    except BaseException as err:
        progress = ({"epochs": trainer.current_epoch, "steps": trainer.global_step}
                    if trainer else {})
        summary.write_failed(err, **progress)
        raise


def _log_hparams(trainer: pl.Trainer, cfg: DictConfig, result: dict) -> None:
    """The TensorBoard hparams tab: this run's settings against its outcome."""
    params = {
        "data": result["data"], "model": result["model"], "optimizer": result["optimizer"],
        "scheduler": result["scheduler"], "lr": result["lr"], "seed": result["seed"],
        "batch_size": cfg.batch_size, "max_epochs": cfg.max_epochs, "status": result["status"],
        **{f"reg/{k}": v for k, v in
           OmegaConf.to_container(cfg.regularization, resolve=True).items()},
    }
    outcome = {f"hp/{k.replace('/', '_')}": v for k, v in result["metrics"].items()
               if v is not None}
    for logger in trainer.loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            logger.log_hyperparams(params, outcome)
