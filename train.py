"""Train one model with one optimizer: `python train.py optimizer=adan lr=1e-3` (see README)."""

import sys

import hydra
from omegaconf import DictConfig

from optarena.errors import OptArenaError
from optarena.resolvers import register

register()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from optarena.run import train  # imported here so that --help and --cfg stay fast

    try:
        return train(cfg)
    except OptArenaError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
