"""The one-screen summary at the end of a sweep: completed / diverged / failed, and where."""

from __future__ import annotations

import atexit
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optarena.record import Headline, best_value, find_run_dirs, last_line, read_record
from optarena.record import defining_overrides as identity

NOT_STARTED = "not started"
STATUSES = ("completed", "diverged", "failed", "running", NOT_STARTED)
ORDER = {"failed": 0, "running": 1, "unknown": 1, NOT_STARTED: 1, "diverged": 2, "completed": 3}
MAX_ROWS = 24  # keeps the summary on one screen; failed and diverged runs are listed first
# Jobs a launcher never started (the sweep was stopped first): folder -> the job's overrides.
_not_started: dict[Path, list[str]] = {}


def mark_not_started(job_dir: Path, overrides: list[str]) -> None:
    """A launcher tells the summary of a job it never started (it has no folder to show)."""
    _not_started[Path(job_dir)] = list(overrides)


def _run_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's run folders, in job order (2 before 10)."""
    return sorted(find_run_dirs([sweep_dir]),
                  key=lambda p: (len(p.parts), [int(x) if x.isdigit() else x for x in p.parts]))


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _one_line(text: str | None) -> str:
    line = last_line(text)
    return line if len(line) <= 90 else line[:87] + "..."


def _logs(run_dirs: list[Path]) -> list[str]:
    """The log files the runs have: job.log (parallel launcher), <job name>.log (Hydra's)."""
    names = {p.name for run in run_dirs for p in run.glob("*.log")}
    return sorted(names, key=lambda n: (n != "job.log", n))[:2]


def summarize(sweep_dir: Path) -> tuple[str, Counter]:
    """The summary text of the runs under `sweep_dir`, and the count of each status."""
    sweep_dir = Path(sweep_dir)
    rows = []
    run_dirs = _run_dirs(sweep_dir)
    for run in run_dirs:
        summary = read_record(run) or {}
        status = summary.get("status", "unknown")
        headline = Headline.of(summary)
        best = best_value(summary) if summary else None
        sign = -1.0 if headline.mode == "max" else 1.0
        rows.append((ORDER.get(status, 1), sign * (best or 0.0), status,
                     str(run.relative_to(sweep_dir)), headline, summary))
    for job_dir, overrides in _not_started.items():
        if job_dir.is_relative_to(sweep_dir) and job_dir not in run_dirs:
            rows.append((ORDER[NOT_STARTED], 0.0, NOT_STARTED, str(job_dir.relative_to(sweep_dir)),
                         Headline.of(None), {"overrides": overrides}))
    rows.sort(key=lambda r: r[:2])
    counts = Counter(r[2] for r in rows)
    # Show what tells the runs apart (the swept values), not what they all share.
    identities = [set(identity(r[5].get("overrides") or [])) for r in rows]
    common = set.intersection(*identities) if len(identities) > 1 else set()
    parts = [f"{counts[s]} {s}" for s in (*STATUSES, "unknown") if counts[s]]
    lines = [f"Sweep {sweep_dir}: {len(rows)} run(s): {', '.join(parts) or 'none'}"]
    # Column heads name the metric when every run shares one (val/acc_best, val/miou_best).
    headlines = {r[4] for r in rows if r[5]}
    one = next(iter(headlines)) if len(headlines) == 1 else None
    best_head, test_head = (one.best, one.test) if one else ("val best", "test")
    if rows:
        width = max(3, *(len(r[3]) for r in rows[:MAX_ROWS]))
        lines.append(f"  {'run':<{width}}  {'status':<11} {best_head:>13} {test_head:>9}  "
                     "swept values / error")
    for _, _, status, name, headline, summary in rows[:MAX_ROWS]:
        metrics = summary.get("metrics") or {}
        detail = " ".join(o for o in identity(summary.get("overrides") or []) if o not in common)
        if status == NOT_STARTED:
            detail = f"{detail}  <- the sweep was stopped before this job started"
        elif status in ("failed", "diverged", "unknown", "running"):
            detail = f"{detail}  <- {_one_line(summary.get('error')) or 'no metrics.json'}"
        lines.append(f"  {name:<{width}}  {status:<11} {_fmt(metrics.get(headline.best)):>13} "
                     f"{_fmt(metrics.get(headline.test)):>9}  {detail}")
    if len(rows) > MAX_ROWS:
        lines.append(f"  ... {len(rows) - MAX_ROWS} more (best completed shown first)")
    if rows:
        lines.append(f"Each run: {sweep_dir}/<run>/ (metrics.json, checkpoints/"
                     f"{''.join(', ' + name for name in _logs(run_dirs))}). "
                     f"Report: python -m optarena.report {sweep_dir}")
    if counts["failed"] or counts["unknown"] or counts["running"] or counts[NOT_STARTED]:
        lines.append("Not finished: fix the cause, then run the same command with resume=true "
                     f"hydra.sweep.dir={sweep_dir} to run only those.")
    return "\n".join(lines), counts


class SweepSummary(Callback):
    """Hydra callback: prints the summary when a multirun ends, even when a job failed.

    Hydra's sweepers raise the first failed job's error before `on_multirun_end`, so the
    summary is also registered to print at exit. The exit status is 1 when any job failed.
    """

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        atexit.register(self._print)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.unregister(self._print)
        counts = self._print()
        if counts and counts["failed"]:
            sys.exit(1)  # a sweeper that tolerated failed jobs (max_failure_rate) still says so

    def _print(self) -> Counter | None:
        if self.sweep_dir is None or not self.sweep_dir.is_dir():
            return None
        text, counts = summarize(self.sweep_dir)
        if not counts:  # stopped before any job (a bad launcher setting): its error says why
            return counts
        sys.stdout.flush()
        print(text, flush=True)
        return counts
