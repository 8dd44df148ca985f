"""`python -m optarena.explain FOLDER [explain.key=value ...]`: a run folder -> its
explain/<method>.png; a sweep folder -> explain/comparison.png (a row per optimizer)."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from optarena.errors import OptArenaError

EPILOG = """options (key=value after the folder):
  explain.images=8               test items shown, class-stratified
  explain.method=saliency        saliency | integrated_gradients | gradcam (captum)
  explain.steps=50               integrated gradients: steps along the path
  explain.internal_batch_size=16 integrated gradients: items x steps per forward pass
  explain.seg_class=null         segmentation: the class whose predicted mask is explained
docs: docs/explain.md"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m optarena.explain", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Attribution heat maps of a trained run, or of each optimizer's chosen run "
                    "in a sweep (one comparison figure).")
    parser.add_argument("folder", type=Path, help="a run folder (outputs/DATE/TIME) or a sweep "
                                                  "folder (multirun/DATE/TIME)")
    parser.add_argument("options", nargs="*", help="explain.key=value (see below)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")
    try:
        return _explain(args.folder, args.options)
    except OptArenaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _explain(folder: Path, items: list[str]) -> int:
    from optarena.explain.options import ExplainOptions
    from optarena.record import find_run_dirs, is_run_dir

    options = ExplainOptions.parse(items)  # before anything is loaded
    if not folder.is_dir():
        raise OptArenaError(f"no such directory: {folder}; pass a run folder (outputs/DATE/TIME) "
                            "or a sweep folder (multirun/DATE/TIME)")
    if is_run_dir(folder):
        from optarena.explain.single import explain_run

        done = explain_run(folder, options)
        row = done.row
        right = sum(row.subject.correct)
        print(f"{row.label}: {right}/{len(row.subject.correct)} shown items predicted right "
              f"({done.run.checkpoint.name})")
        status = done.run.record.get("status", "running")
        if status != "completed":
            print(f"note: the run is {status}, not completed: these are the weights of its "
                  f"{done.run.checkpoint.name}")
        print("wrote " + ", ".join(str(p) for p in done.written))
        return 0
    if not find_run_dirs([folder]):
        raise OptArenaError(f"{folder} is neither a run nor a sweep folder (no .hydra/config.yaml "
                            "or metrics.json in it or below): pass a folder train.py wrote")
    from optarena.explain.sweep import explain_sweep

    for done in explain_sweep(folder, options):
        print(f"{done.task}: {len(done.rows)} optimizer(s): "
              + "; ".join(f"{r.label} {sum(r.subject.correct)}/{len(r.subject.correct)} right"
                          for r in done.rows))
        if done.left_out:
            print(f"  left out (no completed run with a checkpoint): {', '.join(done.left_out)}")
        print(f"wrote {done.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
