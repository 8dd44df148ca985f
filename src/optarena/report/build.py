"""Build the comparison report: run dirs -> tables, figures, report.md/html, CSVs."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from optarena.errors import OptArenaError
from optarena.report import claims as claim_logic
from optarena.report import (
    figures,
    finder,
    grid_edges,
    profiles,
    reproduction,
    stages,
    stats,
    tables,
)
from optarena.report.collect import RUN_COLUMNS, collect_runs
from optarena.report.explain_figures import blocks as explain_blocks
from optarena.report.render import Block, Heading, Image, Table, Text, html_page, markdown

PROTOCOL = (
    "Protocol: each task (data × model) is judged on its headline metric: accuracy for "
    "classification, mIoU for segmentation. For each task and optimizer, the setting (lr and "
    "any other swept knob, seeds pooled) with the best mean validation value (`val/acc_best`, "
    "`val/miou_best`) over seeds is chosen; the test value is reported only at that setting, so "
    "the choice never sees the test set. Diverged runs count in the selection with their best "
    "validation value before divergence (0 if none); failed and running runs have no result "
    "and are only counted. Intervals on test values are 95% t-intervals over seeds; times to "
    "target are medians over seeds, a run that never reaches the target counting as ∞ "
    "(AlgoPerf)."
)
TIME_TEXT = (
    "Steps and seconds until the task's validation metric first reaches its target, median "
    "over seeds at the chosen setting; `never` = not reached (∞). Interval: order-statistic "
    "interval of the median (95% from 6 seeds on; with fewer seeds [min, max], its coverage "
    "shown)."
)
CURVES_TEXT = (
    "The validation metric and training loss against optimizer steps and against seconds, one "
    "line per optimizer at its chosen setting: mean over seeds, band = ± one standard "
    "deviation."
)
SENSITIVITY_TEXT = (
    "Mean best validation value against lr (log axis), per optimizer (the best over other "
    "knobs at each lr). Red x: at least one seed diverged there; star: the chosen setting "
    "(stars on one point nest, each later one smaller); red ring: chosen at the smallest or "
    "largest value of its grid (extend the grid)."
)
PROFILE_TEXT = (
    "Dolan–Moré profile over all tasks in the input, on median steps to target at each "
    "optimizer's chosen setting: r = t / fastest t per task, ρ(τ) = fraction of tasks with "
    "r ≤ τ; never reaching the target (or not run on a task) is r = ∞. Area score = "
    "(1/(r_max−1)) ∫₁^{r_max} ρ(τ) dτ with r_max = 4 (AlgoPerf): 1 = fastest on every task."
)
CLAIMS_TEXT = (
    "Each claim is judged per task at both optimizers' chosen settings, on the difference a − b "
    "with a two-sided test: means (test values) by Student's paired t over seeds when both ran "
    "the same seeds (a seed fixes initialisation and data order), else Welch's t; times to "
    "target by Mann–Whitney U (ranks: never reached = slowest). The p-values of all rows are "
    "corrected together by Holm–Bonferroni (family-wise error 5%): the k-th smallest of m is "
    "compared with 0.05 / (m − k + 1), its level. supported: significant and a better; not "
    "supported: significant and b better; else inconclusive (also with fewer than 2 seeds, and "
    "always when a side's chosen setting is at the edge of its grid). The interval of a "
    "difference of means is at confidence 1 − level, so it excludes 0 exactly when p ≤ level. "
    "Each side's own value and 95% interval (means: t; times: median, order-statistic) are shown."
)
REPRODUCTION_TEXT = (
    "Each figure a study reports (the experiment's `reference:` entries), beside ours at the same "
    "setting: the same data, model and optimizer, and the lr, epochs, batch size and other "
    "settings where the study states them; what it leaves open is chosen on validation (the "
    "setting column says which). Ours: mean and 95% t-interval over seeds; `inside` says whether "
    "the study's figure lies in that interval (a single run of theirs against our seeds: a "
    "figure outside it is one our runs do not reproduce). `not run` names the missing setting."
)
NO_REFERENCES_TEXT = (
    "No study figures stated: an experiment config may add e.g. "
    "`reference: [{data: cifar10, model: cnn_small, lr: 0.001, metric: test_acc, value: 0.6671, "
    "source: seeds/004_08bbe4b7002e05e5.txt}]`."
)
NO_CLAIMS_TEXT = (
    "No claims stated: an experiment config may add e.g. "
    "`claims: [{a: adan, b: adam, metric: steps_to_target, better: lower}]`."
)


@dataclass
class Report:
    out_dir: Path
    headline: pd.DataFrame
    status: str = ""  # e.g. "12 completed, 1 diverged, 1 failed, 1 running"
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    reproduction: pd.DataFrame = field(default_factory=pd.DataFrame)
    finder: pd.DataFrame = field(default_factory=pd.DataFrame)  # LR range tests in the input
    written: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (run folder, why)


def default_out(paths: list[Path]) -> Path:
    """`<dir>/report` for one input, else `report` in the inputs' common parent folder."""
    if len(paths) == 1:
        return paths[0] / "report"
    return Path(os.path.commonpath([p.resolve() for p in paths])) / "report"


def slug(task: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", task).strip("-")


def build_report(paths: list[Path], target: float | None = None, out: Path | None = None) -> Report:
    """Read every run under `paths`, write the report into `out`, return the headline table."""
    paths = [Path(p) for p in paths]
    unreadable: list[tuple[Path, str]] = []
    try:
        runs, knobs = collect_runs(paths, unreadable)
    except OptArenaError:
        if not finder.find_range_tests(paths):
            raise
        return _range_tests_only(paths, out)  # `python -m optarena.lr_find -m ...` alone
    runs = stats.resolve_targets(runs, target)
    out_dir = Path(out) if out is not None else default_out(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out_dir.glob("curves_*.png"), *out_dir.glob("sensitivity_*.png")]:
        old.unlink()  # a previous report's figures, possibly of tasks no longer in the input
    for old in [out_dir / "profile.png", *out_dir.glob("lr_find_*.png")]:
        old.unlink(missing_ok=True)

    # Tune-then-confirm sweeps: stage-1 runs (the tuning seed) give no test figure.
    reported = stages.reported(runs)
    scores = stats.selection_scores(stages.for_sensitivity(runs))
    best = stats.best_settings(reported)
    edges = grid_edges.find(runs, knobs, best)
    summary = grid_edges.annotate(stats.summarize(reported), edges)
    targets = stats.task_targets(runs)
    headline = stages.label_pending(tables.headline(summary, edges), runs)
    counts = runs["status"].value_counts()
    status = [f"{n} {status}" for status, n in counts.items()]
    status += [f"{len(unreadable)} unreadable"] if unreadable else []
    report = Report(out_dir, headline, ", ".join(status), unreadable=unreadable)

    blocks: list[Block] = [
        Heading("optarena comparison report", 1),
        Text(
            f"Inputs: {', '.join(f'`{p}`' for p in paths)} — {len(runs)} run(s), "
            f"{runs['task'].nunique()} task(s), {runs['optimizer'].nunique()} optimizer(s)"
            + (f"; swept knobs besides lr and seed: {', '.join(knobs)}" if knobs else "")
            + "."
        ),
        Text(PROTOCOL),
        *([Text(text)] if (text := stages.protocol(runs)) else []),
    ]
    blocks += [
        Heading("1. Best setting per optimizer (chosen on validation), test result"),
        Table(headline),
        *_edge_blocks(edges),
        Heading("Run status", 3),
        Table(tables.status(runs)),
    ]
    not_done = tables.unfinished(runs)
    if len(not_done):
        blocks += [Text("Runs that did not complete (shown, not dropped):"), Table(not_done)]
    if unreadable:
        blocks += [
            Text(f"Unreadable run folders, left out of every table ({len(unreadable)}):"),
            Table(pd.DataFrame([{"run_dir": str(d), "why": why} for d, why in unreadable])),
        ]

    blocks += [
        Heading("2. Time to target"),
        Text(TIME_TEXT + (f" Target set with --target {target:g}." if target is not None else "")),
        Table(tables.time_to_target(summary, targets, edges)),
    ]

    blocks += [
        Heading("3. Curves"),
        Text(CURVES_TEXT),
    ]
    blocks += _curve_blocks(reported, best, targets, out_dir, report)

    blocks += [
        Heading("4. Learning-rate sensitivity"),
        Text(SENSITIVITY_TEXT + stages.sensitivity_note(runs)),
    ]
    for task in sorted(scores["task"].unique()):
        chosen = stages.on_curve(scores, best[best["task"] == task])  # stars on the curve
        fig = figures.sensitivity_figure(
            task, scores[scores["task"] == task], chosen,
            _metric_of(scores, task), edges[edges["task"] == task],
        )
        path = _save(fig, out_dir / f"sensitivity_{slug(task)}.png", report)
        blocks.append(Image(path, f"lr sensitivity, {task}"))

    blocks += [Heading("5. Performance profile"), *_profile_blocks(summary, out_dir, report)]
    blocks += [Heading("6. Claims"), *_claim_blocks(reported, best, edges, report)]
    blocks += [Heading("7. Reproduction: the studies' own numbers beside ours"),
               *_reproduction_blocks(reported, report)]
    blocks += _finder_blocks(paths, best, report)
    blocks += explain_blocks(paths, out_dir, report.written)  # explain/ comparison figures

    _write_outputs(report, runs, knobs, summary, blocks)
    return report


def _save(fig, path: Path, report: Report) -> Path:
    report.written.append(figures.save(fig, path))
    return path


def _curve_blocks(
    runs: pd.DataFrame, best: pd.DataFrame, targets: dict[str, float], out_dir: Path, report: Report
) -> list[Block]:
    blocks: list[Block] = []
    for task in sorted(best["task"].unique()):
        chosen = best[best["task"] == task]
        run_dirs = {}
        for _, b in chosen.iterrows():
            at = stats.at_setting(runs, b)
            run_dirs[b["optimizer"]] = at.loc[at["status"].isin(stats.FINISHED), "run_dir"].tolist()
        for name in ("step", "seconds"):
            fig = figures.curves_figure(task, run_dirs, name, targets.get(task, math.nan),
                                        _metric_of(best, task))
            path = _save(fig, out_dir / f"curves_{name}_{slug(task)}.png", report)
            blocks.append(Image(path, f"curves against {name}, {task}"))
    return blocks


def _metric_of(best: pd.DataFrame, task: str) -> str:
    """The task's headline metric name (acc, miou)."""
    metrics = best.loc[best["task"] == task, "metric"].dropna()
    return str(metrics.iloc[0]) if len(metrics) else "acc"


def _profile_blocks(summary: pd.DataFrame, out_dir: Path, report: Report) -> list[Block]:
    r, excluded = profiles.ratios(summary)
    blocks: list[Block] = [Text(PROFILE_TEXT)]
    if excluded:
        blocks.append(Text(f"Left out, no optimizer reached the target: {', '.join(excluded)}."))
    if r.empty:
        return [*blocks, Text("No task has an optimizer reaching its target yet: no profile.")]
    scores = profiles.area_score(r)
    blocks.append(Table(tables.profile(r, scores)))
    path = _save(figures.profile_figure(r, scores, excluded), out_dir / "profile.png", report)
    return [*blocks, Image(path, "performance profile")]


def _edge_blocks(edges: pd.DataFrame) -> list[Block]:
    if edges.empty:
        return []
    lines = "; ".join(
        f"{task}, {optimizer}: {grid_edges.describe(edges, task, optimizer)}"
        for (task, optimizer), _ in edges.groupby(["task", "optimizer"], sort=True)
    )
    return [Text(f"**Grid edges** (the best value may lie beyond the grid: extend it; claims on "
                 f"these are inconclusive): {lines}.")]


def _claim_blocks(runs: pd.DataFrame, best: pd.DataFrame, edges: pd.DataFrame,
                  report: Report) -> list[Block]:
    claims, problems = claim_logic.parse_claims(runs["claims"])
    blocks: list[Block] = [Text(p) for p in problems]
    if not claims:
        return [*blocks, Text(NO_CLAIMS_TEXT)]
    verdicts = claim_logic.verdicts(claims, runs, best, edges)
    blocks.append(Text(CLAIMS_TEXT))
    untested = [str(c) for c in claims if verdicts.empty or str(c) not in set(verdicts["claim"])]
    if untested:
        blocks.append(Text("Not tested (no task where both a and b ran and record the "
                           f"metric): {'; '.join(untested)}."))
    if not verdicts.empty:
        report.claims = tables.claims(verdicts)
        blocks.append(Table(report.claims))
    return blocks


def _reproduction_blocks(runs: pd.DataFrame, report: Report) -> list[Block]:
    refs, problems = reproduction.parse_references(runs["reference"])
    blocks: list[Block] = [Text(p) for p in problems]
    if not refs:
        return [*blocks, Text(NO_REFERENCES_TEXT)]
    report.reproduction = reproduction.table(reproduction.rows(refs, runs))
    return [*blocks, Text(REPRODUCTION_TEXT), Table(report.reproduction)]


def _finder_blocks(paths: list[Path], best: pd.DataFrame, report: Report) -> list[Block]:
    """Section 8, when the input holds LR range tests (optarena.report.finder)."""
    unreadable: list[tuple[Path, str]] = []
    tests = finder.load(paths, unreadable)
    report.unreadable += unreadable
    blocks: list[Block] = [Heading("8. Is the LR finder stable?"), Text(finder.TEXT)]
    blocks += [Text(f"Left out: {why}") for _, why in unreadable]
    if tests.empty:
        return blocks if unreadable else []
    report.finder = finder.table(tests, best)
    blocks += [Table(report.finder), Text(finder.FIGURE_TEXT)]
    for task in sorted(tests["task"].unique()):
        fig = finder.figure(task, tests[tests["task"] == task], best)
        path = _save(fig, report.out_dir / f"lr_find_{slug(task)}.png", report)
        blocks.append(Image(path, f"LR range tests, {task}"))
    return blocks


def _range_tests_only(paths: list[Path], out: Path | None) -> Report:
    """The report of LR range tests without training runs beside them: section 8 alone."""
    out_dir = Path(out) if out is not None else default_out(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("lr_find_*.png"):
        old.unlink()
    report = Report(out_dir, pd.DataFrame(), "no training runs, LR range tests only")
    no_grid = pd.DataFrame(columns=["task", "optimizer", "lr"])
    blocks: list[Block] = [
        Heading("optarena comparison report", 1),
        Text(f"Inputs: {', '.join(f'`{p}`' for p in paths)} — LR range tests only. Sections 1-7 "
             "need training runs: give a sweep beside them "
             "(`python -m optarena.report multirun/GRID multirun/FINDER`)."),
        *_finder_blocks(paths, no_grid, report),
    ]
    report.written = [*_write_pages(out_dir, blocks), *report.written]
    return report


def _write_outputs(
    report: Report, runs: pd.DataFrame, knobs: list[str], summary: pd.DataFrame, blocks: list[Block]
) -> None:
    out_dir = report.out_dir
    columns = [*RUN_COLUMNS, *knobs]
    runs_csv, summary_csv = out_dir / "runs.csv", out_dir / "summary.csv"
    runs[columns].sort_values(["task", "optimizer", "setting", "run_dir"]).to_csv(
        runs_csv, index=False
    )
    summary.to_csv(summary_csv, index=False)
    md, page = _write_pages(out_dir, blocks)
    report.written = [md, page, runs_csv, summary_csv, *report.written]


def _write_pages(out_dir: Path, blocks: list[Block]) -> tuple[Path, Path]:
    """report.md and the self-contained report.html of these blocks."""
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(markdown(blocks, out_dir))
    page.write_text(html_page(blocks, "optarena comparison report"))
    return md, page
