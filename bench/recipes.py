"""Recipes that train: every model on the data it picks by itself, with no epoch, batch or lr
overrides, must reach the bar set for it below. Prints a markdown table (docs/recipes.md).

    python bench/recipes.py                          # all 12 models, one run each (default seed)
    python bench/recipes.py --models mlp,logmel_cnn  # some of them
    python bench/recipes.py --models vit --seeds 0,1,2   # a recipe must pass at every seed
    python bench/recipes.py --esc50-root data/ESC-50-master --hubert-pretrained   # real audio

Each run is `python train.py model=<model>` in a fresh folder, plus only what this machine
lacks: audio models read an ESC-10-format fixture (tests/esc50_fixture.py: ten tone classes
with noise, 5 s clips, 2 per class and fold) unless --esc50-root names a real ESC-50 checkout,
and HuBERT starts from random init (`model.pretrained=null`, base size) unless
--hubert-pretrained loads facebook/hubert-base-ls960. Progress bars are turned off. The
figures come from each run's metrics.json: the test metric of the best checkpoint, epochs and
optimizer steps run, the schedule that ran (scheduler=auto: the recipe's) and the run's wall
time (its own clock, start-up excluded). Exit status 1 when a run fails or falls below its bar,
at any of the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.esc50_fixture import ESC10, write_esc50  # noqa: E402

QUIET = ["+trainer.enable_progress_bar=false", "callbacks.progress_bar=null"]


@dataclass(frozen=True)
class Recipe:
    model: str
    data: str     # the data the model picks by itself (checked against the run's record)
    metric: str   # the test metric judged
    bar: float    # the least a practitioner would accept on this data (why: in BARS)


# Bars per task. digits (8x8, 10 classes): a linear model or k-NN gets ~0.96-0.98 test
# accuracy, so a trained network must reach 0.95. digits_seg (11 classes, background included):
# mIoU 0.6 separates the ten digits' shapes (labelling all background scores < 0.09).
# ESC-10 fixture (ten tones in noise): clearly separable, so 0.9; with random-init HuBERT
# features (no pretrained weights here) a head must still beat chance (0.1) by far: 0.5.
RECIPES = [
    *(Recipe(model, "digits", "test/acc", 0.95) for model in (
        "cnn_small", "mlp", "cnn_dropout", "cnn_bn3", "resnet18", "vgg16", "vit", "timm")),
    Recipe("logmel_cnn", "esc10", "test/acc", 0.9),
    Recipe("hubert", "esc10", "test/acc", 0.5),
    *(Recipe(model, "digits_seg", "test/miou", 0.6) for model in ("unet_small", "unet")),
]


def machine_overrides(recipe: Recipe, args: argparse.Namespace, esc50_root: Path) -> list[str]:
    """What this machine lacks, never an epoch, batch or lr setting."""
    extra = []
    if recipe.data.startswith("esc"):
        extra.append(f"data.root={esc50_root}")
    if recipe.model == "hubert" and not args.hubert_pretrained:
        extra.append("model.pretrained=null")
    return extra


def run(recipe: Recipe, extra: list[str], folder: Path, seed: int | None = None) -> dict:
    seeded = [] if seed is None else [f"seed={seed}"]
    cmd = [sys.executable, str(ROOT / "train.py"), f"model={recipe.model}", *seeded, *extra,
           *QUIET, f"hydra.run.dir={folder}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=folder.parent, env=env, text=True, capture_output=True)
    seconds = time.perf_counter() - start
    record_file = folder / "metrics.json"
    if out.returncode != 0 or not record_file.is_file():
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        error = (f"killed by signal {-out.returncode}" if out.returncode < 0
                 else " | ".join(tail))
        return {"status": f"exit {out.returncode}", "error": error, "command": seconds}
    return {**json.loads(record_file.read_text()), "command": seconds}


def row(recipe: Recipe, record: dict, shown_extra: str) -> tuple[str, bool]:
    """One table line for a run and whether it passes its bar on its model's own data."""
    value = (record.get("metrics") or {}).get(recipe.metric)
    ok = (record["status"] == "completed" and record.get("data") == recipe.data
          and value is not None and value >= recipe.bar)
    shown = f"{value:.3f}" if value is not None else record["status"]
    if record.get("data") not in (None, recipe.data):
        shown += f" (ran on {record['data']}!)"
    cells = [recipe.data, recipe.model, record.get("optimizer", "?"),
             str(record.get("scheduler", "?")), str(record.get("seed", "?")), recipe.metric, shown,
             f">= {recipe.bar}", "yes" if ok else "**NO**", str(record.get("epochs", "")),
             str(record.get("steps", "")), f"{record.get('wall_seconds', 0):.0f}",
             f"{record['command']:.0f}", shown_extra or "-"]
    return "| " + " | ".join(cells) + " |", ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated models (default: all)")
    parser.add_argument("--esc50-root", type=Path, help="a real ESC-50 checkout (else a fixture)")
    parser.add_argument("--hubert-pretrained", action="store_true",
                        help="load the pretrained HuBERT (needs its weights in the HF cache)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temp dir)")
    parser.add_argument("--seeds", help="comma-separated seeds, each run for every model "
                        "(default: the config's seed, 0)")
    args = parser.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    chosen = args.models.split(",") if args.models else [r.model for r in RECIPES]
    unknown = set(chosen) - {r.model for r in RECIPES}
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from "
                     f"{', '.join(r.model for r in RECIPES)}")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        esc50_root, fixture = args.esc50_root, False
        if esc50_root is None and any(r.data.startswith("esc") for r in RECIPES
                                      if r.model in chosen):
            esc50_root, fixture = base / "ESC-50-fixture", True
            if not (esc50_root / "meta" / "esc50.csv").is_file():  # --keep: written before
                write_esc50(esc50_root, classes=ESC10, clips_per_fold=2, seconds=5.0, noise=0.3)
        print("| data | model | optimizer | schedule | seed | metric | test | bar | passes "
              "| epochs | steps | run s | command s | machine overrides |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        failed = []
        for recipe in RECIPES:
            if recipe.model not in chosen:
                continue
            extra = machine_overrides(recipe, args, esc50_root)
            shown = " ".join(extra)
            if fixture:
                shown = shown.replace(str(esc50_root), "<ESC-10 fixture>")
            for seed in seeds:
                name = recipe.model if seed is None else f"{recipe.model}-seed{seed}"
                record = run(recipe, extra, base / name, seed)
                line, ok = row(recipe, record, shown)
                print(line, flush=True)
                if not ok:
                    why = record.get("error") or (
                        f"ran on {record.get('data')}" if record.get("data") != recipe.data
                        else f"{recipe.metric} below {recipe.bar}")
                    failed.append(f"{name}: {why}")
    for message in failed:
        print(f"FAILED {message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
