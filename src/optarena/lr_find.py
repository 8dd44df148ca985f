"""Smith's LR range test on the run train.py would build: `python -m optarena.lr_find [overrides]`.

Takes every override train.py takes (`optimizer=adan model=cnn_bn3 data=cifar10`, `-m` for a
sweep) and writes into its own run folder lr_find.json (lrs, raw and smoothed losses, the
suggestion and how it was chosen, the settings) and lr_find.png; prints the suggestion. Knobs:
`lr_find.*` (conf/lr_find/default.yaml, docs/lr_find.md). `python train.py lr=find` runs the
same test inside its run folder first, then trains at the suggestion (lr_for_training).
A finder folder holds no metrics.json: the report reads it as a range test, not as a run.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from optarena.errors import OptArenaError
from optarena.record import RANGE_TEST, RANGE_TEST_PLOT
from optarena.resolvers import register

CONF = Path(__file__).resolve().parents[2] / "conf"

register()
warnings.filterwarnings("ignore", message="(?s).*is validated against ConfigStore schema")


def check(cfg: DictConfig, run_dir: Path) -> None:
    """Every knob, and an earlier finished range test in the folder, before anything is
    written (the folder itself was checked by optarena.preflight)."""
    from optarena import config_check, knobs, run_folder
    from optarena.finder.settings import FinderSettings

    knobs.check(cfg)  # the lr given is not used, but a typo in it is still one
    settings = FinderSettings.from_cfg(cfg.get("lr_find"))
    probe = cfg.copy()
    with open_dict(probe):
        probe.lr = settings.min_lr  # the lr given (or find) is not used by the test
    config_check.check(probe)
    run_folder.check_usable(run_dir)
    if (run_dir / RANGE_TEST).exists() and not cfg.get("overwrite"):
        raise OptArenaError(f"{run_dir} already holds a range test ({RANGE_TEST}); overwrite=true "
                            "replaces it, or pick another folder (hydra.run.dir=...)")


def find(cfg: DictConfig, run_dir: Path) -> dict:
    """Run the range test on the run `cfg` describes; write lr_find.json and lr_find.png into
    `run_dir`; return the record (its `suggestion.lr` is the suggested lr)."""
    from optarena import record
    from optarena.finder import output
    from optarena.finder.range_test import build_for_range_test, run_range_test
    from optarena.finder.settings import FinderSettings
    from optarena.finder.suggest import suggest

    settings = FinderSettings.from_cfg(cfg.get("lr_find"))
    built = build_for_range_test(cfg, settings)
    test = run_range_test(built.trainer, built.task, built.datamodule, settings)
    suggestion = suggest(test.lrs, test.raw, settings)
    identity = record.identity(built.choices, None, cfg.seed, record.hydra_overrides())
    identity.pop("lr")
    result = output.result(test, suggestion, settings, identity)
    output.write(run_dir, result)
    return result


def lr_for_training(cfg: DictConfig, run_dir: Path, resumed: bool) -> float:
    """lr=find in train.py: the range test in the run folder, its suggestion the run's lr. A
    resumed run keeps the suggestion its folder's lr_find.json recorded."""
    from optarena.finder import output

    path = run_dir / output.JSON
    if resumed and path.is_file():
        return float(output.read(path)["suggestion"]["lr"])
    result = find(cfg, run_dir)
    _say(result, run_dir)
    return float(result["suggestion"]["lr"])


def _say(result: dict, run_dir: Path) -> None:
    s = result["suggestion"]
    ran = f"{result['steps']} of {result['settings']['steps']} steps"
    if result["stopped_early"]:
        ran += " (stopped: the loss diverged)"
    print(f"lr_find: {result['optimizer']} on {result['data']}/{result['model']}, seed "
          f"{result['seed']}: suggested lr {s['lr']:.3g}\n"
          f"  method {s['method']}: {s['how']} (steepest {s['steepest_lr']:.3g}, minimum/10 "
          f"{s['minimum_over_10_lr']:.3g}); {ran}\n"
          f"  wrote {run_dir / RANGE_TEST}, {RANGE_TEST_PLOT}", flush=True)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def main(cfg: DictConfig) -> float | None:
    run_dir = Path(cfg.paths.output_dir)
    try:
        check(cfg, run_dir)
        result = find(cfg, run_dir)
    except OptArenaError as err:
        print(f"error: {err}", file=sys.stderr)
        if _in_multirun():
            raise  # this job failed; the other jobs of the sweep go on
        sys.exit(2)
    _say(result, run_dir)
    return float(result["suggestion"]["lr"])


if __name__ == "__main__":
    main()
