"""Section of the report: the saliency comparison figures that `python -m optarena.explain
SWEEP_DIR` wrote into an input folder's explain/ (copied beside the report, embedded)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from optarena.report.render import Block, Heading, Image, Text

PREFIX = "comparison"  # <sweep dir>/explain/comparison*.png (optarena/explain/sweep.py)
TEXT = (
    "Attribution heat maps of each optimizer's model at its chosen setting, on the same test "
    "items (first row: the items and their true class; each further row: one optimizer, its "
    "predicted class, red when wrong). Written by `python -m optarena.explain <sweep dir>` "
    "(docs/explain.md)."
)
HINT = ("Runs here hold saliency maps of their own; `python -m optarena.explain <sweep dir>` "
        "draws them side by side, one row per optimizer, for this section.")


def blocks(paths: list[Path], out_dir: Path, written: list[Path]) -> list[Block]:
    """The section's blocks (none when no input holds explain figures); copies the figures
    into `out_dir` (a report's images sit beside report.md), appending them to `written`."""
    for old in out_dir.glob("explain_*.png"):
        old.unlink()  # an earlier report's copies
    found = sorted({(Path(p), f) for p in paths for f in Path(p).rglob(f"explain/{PREFIX}*.png")})
    if not found:
        in_runs = any(True for p in paths for _ in Path(p).rglob("explain/*.png"))
        return [Heading("9. What the models look at"), Text(HINT)] if in_runs else []
    section: list[Block] = [Heading("9. What the models look at"), Text(TEXT)]
    for root, figure in found:
        sweep = figure.parent.parent.relative_to(root).as_posix()  # "." for the input itself
        prefix = "" if sweep == "." else re.sub(r"[^A-Za-z0-9_.-]+", "-", sweep) + "_"
        copy = out_dir / f"explain_{prefix}{figure.name}"
        shutil.copyfile(figure, copy)
        written.append(copy)
        where = "" if sweep == "." else f" of {sweep}"
        section.append(Image(copy, f"attribution comparison{where} ({figure.stem})"))
    return section
