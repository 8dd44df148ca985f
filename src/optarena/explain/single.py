"""Explain one run: rebuild it, attribute its fixed test items, write explain/<method>.png."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optarena.explain import figure
from optarena.explain.attribute import attribute
from optarena.explain.inputs import subject
from optarena.explain.load import LoadedRun, load
from optarena.explain.options import ExplainOptions

OUT_DIR = "explain"


@dataclass
class Explained:
    run: LoadedRun
    row: figure.Row
    written: list[Path]


def figure_name(options: ExplainOptions) -> str:
    return f"{options.method}.png"  # saliency.png by default


def model_name(run: LoadedRun) -> str:
    return f"model={run.record.get('model') or run.built.cfg.model._target_.rsplit('.', 1)[-1]}"


def explain_one(run_dir: Path, options: ExplainOptions) -> tuple[figure.Row, LoadedRun]:
    """The run's heat maps on the fixed test items (nothing written)."""
    run = load(Path(run_dir))
    items = subject(run, options.images, options.seg_class)
    heat = attribute(items, options, model_name(run))
    return figure.Row(run.label, items, heat), run


def explain_run(run_dir: Path, options: ExplainOptions) -> Explained:
    """Write <run dir>/explain/<method>.png, and beside it the items (.json) and the plotted
    heat maps (.npz)."""
    row, run = explain_one(run_dir, options)
    out = Path(run_dir) / OUT_DIR
    task = f"{run.record.get('data', '?')}/{run.record.get('model', '?')}"
    title = (f"{options.method.replace('_', ' ')}: {task}, {row.label} "
             f"({run.checkpoint.name}, test items)")
    png = figure.save(figure.figure([row], title), out / figure_name(options))
    stem = out / figure_name(options).removesuffix(".png")
    np.savez_compressed(stem.with_suffix(".npz"), heat=row.heat, indices=row.subject.indices)
    stem.with_suffix(".json").write_text(json.dumps({
        "method": options.method, "checkpoint": str(run.checkpoint), "kind": row.subject.kind,
        "items": [{"test_index": i, "true": t, "predicted": p, "correct": ok}
                  for i, (t, p), ok in zip(row.subject.indices, row.subject.titles,
                                           row.subject.correct, strict=True)],
    }, indent=1) + "\n")
    return Explained(run, row, [png, stem.with_suffix(".json"), stem.with_suffix(".npz")])
