"""Tasks (LightningModules around a plain nn.Module), one per kind of data.

A datamodule states its `kind`; the task of that kind trains on it. Each task declares its
headline metric, which everything outside the task reads instead of naming a metric: the
checkpoint monitor, time to target, the sweeper's objective, the run record, the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from optarena.errors import OptArenaError

if TYPE_CHECKING:
    from optarena.tasks.base import OptimTask

TASKS = {
    "classification": "optarena.tasks.classification.Classifier",
    "segmentation": "optarena.tasks.segmentation.Segmenter",
}


def data_kind(data_target: str) -> str:
    """The kind of a datamodule class (by its `_target_`); classification unless it says."""
    from hydra.utils import get_class

    try:
        cls = get_class(str(data_target))
    except Exception as err:  # an unknown class is the data config's mistake
        raise OptArenaError(f"data._target_={data_target} cannot be imported: {err}") from err
    kind = getattr(cls, "kind", "classification")
    if kind not in TASKS:
        raise OptArenaError(f"{data_target} has kind {kind!r}; known kinds: {', '.join(TASKS)}")
    return kind


def task_class(kind: str) -> type[OptimTask]:
    from hydra.utils import get_class

    return get_class(TASKS[kind])


def headline_field(data_target: str, field: str) -> str:
    """Config resolver `${optarena.headline:${data._target_},FIELD}`: the headline metric of
    the task this data calls for. FIELD: val (val/acc), best (val/acc_best), mode (max),
    direction (maximize)."""
    headline = task_class(data_kind(data_target)).headline
    fields = {"val": headline.val, "best": headline.best, "test": headline.test,
              "mode": headline.mode, "direction": headline.direction}
    if field not in fields:
        raise ValueError(f"optarena.headline: unknown field {field!r}; one of {sorted(fields)}")
    return fields[field]


def check_model_fits(model_target: str, kind: str, model_name: str, data_name: str) -> None:
    """A model states the kinds it does (`tasks` on its class or factory; classification by
    default): a segmentation model on classification data, or the reverse, is one clear error."""
    from hydra.utils import get_object

    try:
        kinds = tuple(getattr(get_object(str(model_target)), "tasks", ("classification",)))
    except Exception as err:  # an unknown class is the model config's mistake
        raise OptArenaError(f"model._target_={model_target} cannot be imported: {err}") from err
    if kind in kinds:
        return
    fix = ("a segmentation dataset (digits_seg, mnist_seg, seg_folder, oxford_pets) or a "
           "classification model" if kind == "classification" else
           "a segmentation model (unet_small, unet) or a classification dataset")
    raise OptArenaError(f"model={model_name} does {' and '.join(kinds)}, but data={data_name} "
                        f"is a {kind} dataset: pick {fix}")
