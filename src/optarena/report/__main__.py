"""`python -m optarena.report DIR [DIR ...] [--target X] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optarena.errors import OptArenaError
from optarena.report.build import build_report
from optarena.report.render import terminal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m optarena.report",
        description="Compare optimizers over run folders (sweeps, outputs/); write a report.",
    )
    parser.add_argument(
        "dirs", nargs="+", type=Path, help="sweep or output folders to read (searched recursively)"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=None,
        help="target of the validation metric for time to target (default: each task's own)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default: DIR/report, or report/ in the inputs' common folder)",
    )
    args = parser.parse_args(argv)
    try:
        report = build_report(args.dirs, target=args.target, out=args.out)
    except OptArenaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not report.headline.empty:
        terminal(report.headline, "Best setting per optimizer (chosen on validation)")
    print(f"runs: {report.status}")
    for _, why in report.unreadable:  # why names the file
        print(f"left out: {why}")
    if not report.claims.empty:
        terminal(
            report.claims.drop(columns=["statistic", "because", "a: value [interval], n",
                                        "b: value [interval], n"]),
            "Claims (each side's value and the reasons in report.md)",
        )
    if not report.reproduction.empty:
        terminal(report.reproduction.drop(columns=["our setting", "source"]),
                 "Reproduction: the studies' figures beside ours (settings, sources in report.md)")
    if not report.finder.empty:
        terminal(report.finder, "Is the LR finder stable? Range tests beside the grid's choice")
    print(f"wrote {report.out_dir}/:")
    for path in report.written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
