"""Train one model with one optimizer: `python train.py optimizer=adan lr=1e-3` (see README).

Returns val/acc_best (0.0 for a run that diverged before its first validation): the value
that hparams_search sweepers maximise.
"""

import sys
import warnings

import hydra
from omegaconf import DictConfig

from optarena.errors import OptArenaError
from optarena.resolvers import register

register()
# conf/hydra/launcher/ray.yaml is checked against the Ray plugin's schema of the same name, as
# intended; Hydra's notice that such matching is deprecated is noise to our users.
warnings.filterwarnings("ignore", message="(?s).*is validated against ConfigStore schema")


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from optarena.run import train  # imported here so that --help and --cfg stay fast

    try:
        return train(cfg)
    except OptArenaError as err:
        print(f"error: {err}", file=sys.stderr)
        if _in_multirun():
            raise  # this job is recorded as failed; the other jobs of the sweep go on
        sys.exit(2)


if __name__ == "__main__":
    main()
