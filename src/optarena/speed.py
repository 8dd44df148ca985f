"""Speed settings that depend on the device: precision, channels_last, torch.compile, cuDNN.

`trainer.precision=auto`: bf16-mixed on a CUDA GPU (16-mixed on one without bf16), 32-true
on the CPU. `channels_last=auto`: on a CUDA GPU for conv nets (two or more 2-D convolutions).
`trainer.benchmark=null`: cuDNN autotuning on a CUDA GPU unless the run is deterministic.
`compile=true`: torch.compile the model (in place, so checkpoints keep their keys).
"""

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from optarena.errors import OptArenaError


def trains_on_cuda(accelerator: str, cuda_available: bool | None = None) -> bool:
    """Whether Lightning's `accelerator` setting will train on a CUDA GPU."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and cuda_available)


def resolve_precision(precision: Any, on_cuda: bool, bf16_supported: bool | None = None) -> Any:
    if precision != "auto":
        return precision
    if not on_cuda:
        return "32-true"
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return "bf16-mixed" if bf16_supported else "16-mixed"


def is_conv_net(net: nn.Module) -> bool:
    """Two or more 2-D convolutions (a ViT's one patch-embedding conv does not make it one)."""
    return sum(isinstance(m, nn.Conv2d) for m in net.modules()) >= 2


def resolve_channels_last(setting: Any, on_cuda: bool, net: nn.Module) -> bool:
    if setting == "auto":
        return on_cuda and is_conv_net(net)
    if isinstance(setting, bool):
        return setting
    raise OptArenaError(f"channels_last must be true, false or auto, got {setting!r}")


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    x, *rest = args
    if isinstance(x, torch.Tensor) and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *rest)


@dataclass(frozen=True)
class SpeedSettings:
    precision: Any
    benchmark: bool | None
    channels_last: Any
    compile: bool
    on_cuda: bool

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> "SpeedSettings":
        on_cuda = trains_on_cuda(str(cfg.trainer.get("accelerator", "auto")))
        benchmark = cfg.trainer.get("benchmark")
        if benchmark is None:
            benchmark = on_cuda and not cfg.trainer.get("deterministic", False)
        compile_ = cfg.get("compile", False)
        if not isinstance(compile_, bool):
            raise OptArenaError(f"compile must be true or false, got {compile_!r}")
        return cls(precision=resolve_precision(cfg.trainer.get("precision", "auto"), on_cuda),
                   benchmark=benchmark, channels_last=cfg.get("channels_last", "auto"),
                   compile=compile_, on_cuda=on_cuda)

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"precision": self.precision, "benchmark": self.benchmark}

    def prepare(self, net: nn.Module) -> nn.Module:
        """channels_last weights and inputs, and torch.compile, as settled for this device."""
        if resolve_channels_last(self.channels_last, self.on_cuda, net):
            net.to(memory_format=torch.channels_last)
            net.register_forward_pre_hook(_to_channels_last)
        if self.compile:
            net.compile()
        return net
