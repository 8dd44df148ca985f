"""The composable regularization options (conf/regularization/) and where each one acts."""

import inspect
import logging
from dataclasses import asdict, dataclass
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from optarena.errors import OptArenaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Regularization:
    dropout: float | None = None      # model: p of its dropout layers
    batchnorm: bool = False           # model: gains batch-norm layers
    l2: float = 0.0                   # task: coupled L2 added to the gradient
    weight_decay: float = 0.0         # task: decoupled weight decay
    label_smoothing: float = 0.0      # task: cross-entropy label smoothing
    augment: bool = False             # data: training augmentation
    exclude_bias_norm: bool = True    # task: no decay on 1-D parameters

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> "Regularization":
        values = OmegaConf.to_container(cfg, resolve=True)
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise OptArenaError(f"unknown regularization key(s) {sorted(unknown)}; "
                                f"known: {sorted(cls.__dataclass_fields__)}")
        reg = cls(**values)
        reg.check()
        return reg

    def check(self) -> None:
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise OptArenaError(f"regularization.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise OptArenaError("regularization.label_smoothing must be in [0, 1), "
                                f"got {self.label_smoothing}")
        for name in ("l2", "weight_decay"):
            if getattr(self, name) < 0:
                value = getattr(self, name)
                raise OptArenaError(f"regularization.{name} must be >= 0, got {value}")

    def model_kwargs(self, model_cfg: DictConfig, model_name: str) -> dict[str, Any]:
        """The model arguments this regularization sets; an error if the model lacks them."""
        wanted = {}
        if self.dropout is not None:
            wanted["dropout"] = self.dropout
        if self.batchnorm:
            wanted["batchnorm"] = True
        accepted = _accepted(model_cfg, wanted, f"model={model_name}")
        for key, value in accepted.items():
            if model_cfg.get(key) == value:  # e.g. digits x cnn_small's recipe has batch norm
                log.warning("regularization.%s=%s: model.%s is %s already (the model's default "
                            "or its data x model recipe), so this run's network is the one it "
                            "has without it; to compare, run both sides with model.%s off "
                            "(false / 0)", key, value, key, value, key)
        return accepted

    def data_kwargs(self, data_cfg: DictConfig, data_name: str) -> dict[str, Any]:
        return _accepted(data_cfg, {"augment": True} if self.augment else {}, f"data={data_name}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _accepted(cfg: DictConfig, wanted: dict[str, Any], who: str) -> dict[str, Any]:
    if not wanted:
        return {}
    params = inspect.signature(get_object(cfg._target_)).parameters
    missing = [k for k in wanted if k not in params]
    if missing:
        raise OptArenaError(f"{who} does not support regularization {missing[0]!r}; "
                            "remove it from regularization=[...] or pick another option")
    return wanted
