"""Explain a sweep: per task, one figure with a row per optimizer at the setting the report
chooses on validation (optarena.report's own selection), the same test items in every row."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from optarena.errors import OptArenaError
from optarena.explain import figure
from optarena.explain.load import find_checkpoint
from optarena.explain.options import ExplainOptions
from optarena.explain.single import OUT_DIR, explain_one
from optarena.report import stages, stats
from optarena.report.build import slug
from optarena.report.collect import collect_runs
from optarena.report.explain_figures import PREFIX

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    task: str
    path: Path
    rows: list[figure.Row]
    left_out: list[str] = field(default_factory=list)  # optimizers without a usable run


def chosen_runs(runs: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """{task: {optimizer: run folders at its chosen setting, completed, by seed}}: the report's
    selection, on the runs it reports (a tune-then-confirm sweep's stage 2, never the tuning
    seed's runs)."""
    runs = stages.reported(runs)
    best = stats.best_settings(runs)
    out: dict[str, dict[str, list[str]]] = {}
    for _, b in best.iterrows():
        at = stats.at_setting(runs, b)
        at = at[at["status"] == "completed"]
        out.setdefault(b["task"], {})[b["optimizer"]] = (
            at.sort_values(["seed", "run_dir"])["run_dir"].tolist())
    return out


def _with_checkpoint(run_dirs: list[str]) -> str | None:
    return next((d for d in run_dirs if find_checkpoint(Path(d)) is not None), None)


def file_name(task: str, several_tasks: bool, options: ExplainOptions) -> str:
    parts = [PREFIX, slug(task) if several_tasks else "",
             options.method if options.method != "saliency" else ""]
    return "_".join(p for p in parts if p) + ".png"


def explain_sweep(sweep_dir: Path, options: ExplainOptions) -> list[Comparison]:
    runs, _ = collect_runs([Path(sweep_dir)], unreadable=[])
    chosen = chosen_runs(runs)
    if not chosen:
        raise OptArenaError(f"{sweep_dir} holds no finished run to explain: let the sweep "
                            "finish (or resume it with resume=true), then run this again")
    done: list[Comparison] = []
    for task, by_optimizer in sorted(chosen.items()):
        rows, dirs, left_out = [], [], []
        for optimizer, run_dirs in sorted(by_optimizer.items()):
            run_dir = _with_checkpoint(run_dirs)
            if run_dir is None:
                left_out.append(optimizer)
                continue
            log.info("explaining %s: %s", optimizer, run_dir)
            row, _ = explain_one(Path(run_dir), options)
            rows.append(row)
            dirs.append(run_dir)
        if not rows:
            raise OptArenaError(f"{task}: no optimizer has a completed run with a checkpoint "
                                "at its chosen setting")
        if any(r.subject.indices != rows[0].subject.indices for r in rows):
            raise OptArenaError(f"{task}: the runs' test splits differ (different data "
                                "settings), so their items cannot be compared")
        title = (f"{options.method.replace('_', ' ')}: {task}, one row per optimizer at its "
                 "validation-chosen setting (same test items)")
        if left_out:
            title += f"\nleft out (no completed run with a checkpoint): {', '.join(left_out)}"
        out = Path(sweep_dir) / OUT_DIR
        path = figure.save(figure.figure(rows, title),
                           out / file_name(task, len(chosen) > 1, options))
        path.with_suffix(".json").write_text(json.dumps({
            "task": task, "method": options.method, "left_out": left_out,
            "rows": [{"label": r.label, "run_dir": d, "predicted": [p for _, p in r.subject.titles],
                      "correct": r.subject.correct} for r, d in zip(rows, dirs, strict=True)],
            "test_indices": rows[0].subject.indices,
        }, indent=1) + "\n")
        done.append(Comparison(task, path, rows, left_out))
    return done
