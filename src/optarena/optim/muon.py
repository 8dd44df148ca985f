"""Muon as its authors run it: Muon for the hidden weights, AdamW for the rest.

Muon (Jordan et al., 2024) orthogonalizes the momentum of each hidden weight matrix; convolution
kernels are flattened to (out, in * kernel) matrices, as in Keller Jordan's CIFAR-10 airbench.
Embeddings, the classifier head, biases and norms go to AdamW (the `head_embedding` and
`bias_norm` groups of optarena.optim.param_groups). timm's Muon holds both algorithms in one
optimizer (its AdamW fallback), so Lightning, the schedulers, the LR monitor and checkpoints
see one ordinary optimizer. Each group is routed explicitly (`use_muon` / `use_fallback`), so
timm's shape heuristics never move a parameter behind the run record's back.
"""

from __future__ import annotations

from collections.abc import Iterable

from timm.optim import Muon

from optarena.optim.param_groups import BIAS_NORM, HIDDEN, ROLE_KEY

MUON_EPS = 1e-7  # timm's (and Keller Jordan's) floor on the norm before Newton-Schulz


class MuonAdamW(Muon):
    """timm's Muon for the `hidden` group, its AdamW fallback for every other group.

    `nesterov` applies to Muon's momentum only: timm's fallback would become NAdamW with it,
    so the fallback groups get nesterov=False (plain AdamW, as the Muon authors pair it).
    adjust_lr_fn=match_rms_adamw (Liu et al., 2025) scales each Muon update to AdamW's RMS
    (0.2 * sqrt(max(out, in)) of the flattened matrix), so one lr serves both parts.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        ns_coefficients: str = "original",
        adjust_lr_fn: str | None = "match_rms_adamw",
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
    ) -> None:
        routed = []
        for group in _with_roles(params):
            hidden = group.get(ROLE_KEY) == HIDDEN
            routed.append({
                **group, "use_muon": hidden, "use_fallback": not hidden,
                "nesterov": bool(nesterov) if hidden else False,
                "eps": MUON_EPS if hidden else adamw_eps,
            })
        super().__init__(
            routed, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_steps=ns_steps, ns_coefficients=ns_coefficients, adjust_lr_fn=adjust_lr_fn,
            conv_mode="flatten", betas=tuple(adamw_betas), eps=adamw_eps,
        )

    @staticmethod
    def updated_by(group: dict) -> str:
        """The algorithm that updates a group (the run record's `param_groups`)."""
        if group.get("use_fallback") or not group.get("use_muon", True):
            return "NAdamW" if group.get("nesterov") else "AdamW"
        return "Muon"


def _with_roles(params: Iterable) -> list[dict]:
    """Groups from optarena's param_groups keep their roles; a plain parameter list, or a group
    without a role, is split by shape (>=2-D: hidden, else bias_norm), as timm would."""
    out = []
    items = list(params)
    for group in items if items and isinstance(items[0], dict) else [{"params": items}]:
        if ROLE_KEY in group:
            out.append(group)
            continue
        params_ = list(group["params"])
        extra = {k: v for k, v in group.items() if k != "params"}
        for role, keep in ((HIDDEN, True), (BIAS_NORM, False)):
            chosen = [p for p in params_ if (p.ndim >= 2) == keep]
            if chosen:
                out.append({**extra, "params": chosen, ROLE_KEY: role})
    return out
