"""The `explain.<key>=value` options of `python -m optarena.explain`, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass, fields

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from optarena.errors import OptArenaError

METHODS = ("saliency", "integrated_gradients", "gradcam")


@dataclass(frozen=True)
class ExplainOptions:
    images: int = 8                  # test items shown, class-stratified
    method: str = "saliency"         # saliency | integrated_gradients | gradcam (captum)
    steps: int = 50                  # integrated gradients: path steps (captum's default)
    internal_batch_size: int = 16    # integrated gradients: items x steps per forward pass
    seg_class: int | None = None     # segmentation: class whose predicted mask is explained;
    #                                  null: each image's largest true foreground class

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise OptArenaError(f"explain.method={self.method} is unknown; one of "
                                f"{', '.join(METHODS)}")
        for name in ("images", "steps", "internal_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptArenaError(f"explain.{name} must be an integer >= 1, got {value!r}")
        if self.seg_class is not None and (isinstance(self.seg_class, bool)
                                           or not isinstance(self.seg_class, int)
                                           or self.seg_class < 0):
            raise OptArenaError(f"explain.seg_class must be a class index >= 0 or null, got "
                                f"{self.seg_class!r}")

    @classmethod
    def parse(cls, items: list[str]) -> ExplainOptions:
        """`explain.images=4 explain.method=gradcam` (the `explain.` prefix may be left out)."""
        known = {f.name for f in fields(cls)}
        values: dict = {}
        for item in items:
            if "=" not in item:
                raise OptArenaError(f"'{item}' is not an option: write key=value, e.g. "
                                    "explain.method=gradcam")
            key, value = item.split("=", 1)
            name = key.removeprefix("explain.")
            if name not in known:
                raise OptArenaError(f"unknown option {key}; options: "
                                    f"{', '.join('explain.' + k for k in sorted(known))}")
            try:  # OmegaConf parses values the way Hydra overrides read (8, null, true)
                parsed = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={value}"]))
            except OmegaConfBaseException as err:
                raise OptArenaError(f"cannot read {item}: {err}") from None
            values[name] = parsed["v"]
        return cls(**values)
