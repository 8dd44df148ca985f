"""Muon for 2-D hidden weights, AdamW for the rest, behind one optimizer interface.

torch.optim.Muon only takes 2-D parameters and is meant for hidden layers; everything else
(conv kernels, biases, norms, the classifier head) needs another optimizer. Lightning, the
schedulers and the LR monitor expect one optimizer, so this adapter holds both and exposes
their param groups as its own.
"""

from collections import ChainMap
from collections.abc import Callable, Iterable

import torch
from torch.optim import AdamW, Muon, Optimizer


class MuonWithAdamW(Optimizer):
    """The last 2-D parameter (the classifier head, registered last by convention) goes to AdamW."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = "match_rms_adamw",
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
    ) -> None:
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        matrices = [p for g in groups for p in g["params"] if p.ndim == 2]
        head = matrices[-1] if matrices else None
        muon_groups, adamw_groups = [], []
        for g in groups:
            extra = {k: v for k, v in g.items() if k != "params"}
            hidden = [p for p in g["params"] if p.ndim == 2 and p is not head]
            rest = [p for p in g["params"] if not (p.ndim == 2 and p is not head)]
            if hidden:
                muon_groups.append({**extra, "params": hidden})
            if rest:
                adamw_groups.append({**extra, "params": rest})
        self.muon = Muon(
            muon_groups, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
        ) if muon_groups else None
        self.adamw = AdamW(
            adamw_groups, lr=lr, weight_decay=weight_decay, betas=tuple(adamw_betas), eps=adamw_eps
        ) if adamw_groups else None
        self.parts = [o for o in (self.muon, self.adamw) if o is not None]
        # The base class is not initialised on purpose: its state lives in the two parts.
        self.defaults = {"lr": lr, "weight_decay": weight_decay}
        self.param_groups = [g for o in self.parts for g in o.param_groups]
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    @property
    def state(self) -> ChainMap:  # type: ignore[override]
        return ChainMap(*(o.state for o in self.parts))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for o in self.parts:
            o.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.parts:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"muon": self.muon and self.muon.state_dict(),
                "adamw": self.adamw and self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        for name in ("muon", "adamw"):
            part = getattr(self, name)
            if part is not None:
                part.load_state_dict(state_dict[name])
        self.param_groups = [g for o in self.parts for g in o.param_groups]

    def __repr__(self) -> str:
        return f"MuonWithAdamW(muon={self.muon!r}, adamw={self.adamw!r})"
