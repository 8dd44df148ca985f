"""The seeds' own numbers beside ours: the `reference:` entries of an experiment config.

Each entry is what a study reports, as data: where it was measured (data, model, and the
optimizer, lr, epochs, batch size and other settings the study states), the metric (a runs
column: test_acc, val_acc, test_loss, ...; or best_lr, the lr the study found best) and its
value, and the source it is quoted from. Ours is measured at the same setting: the runs of that
task and optimizer that match everything the study states; what it leaves open (lr, other
knobs) is chosen on validation as everywhere in the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import yaml

from optarena.report.stats import FINISHED, best_settings, mean_ci

REQUIRED = ("data", "model", "metric", "value", "source")
OPTIONAL = ("optimizer", "lr", "epochs", "batch_size", "setting", "note")
BEST_LR = "best_lr"
EXAMPLE = ("`reference: [{data: cifar10, model: cnn_small, optimizer: adam, lr: 0.001, "
           "epochs: 20, metric: test_acc, value: 0.6671, source: seeds/004_....txt}]`")


@dataclass(frozen=True)
class Reference:
    data: str
    model: str
    metric: str
    value: float
    source: str
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    setting: tuple[tuple[str, str], ...] = ()  # other stated settings: (override key, value)
    note: str = ""

    @property
    def task(self) -> str:
        return f"{self.data}/{self.model}"


def parse_references(raw_lists: pd.Series) -> tuple[list[Reference], list[str]]:
    """Deduplicated references from the runs' configs, plus one problem line per bad entry."""
    refs: list[Reference] = []
    problems: set[str] = set()
    for raw in raw_lists:
        for item in raw if isinstance(raw, list) else [raw]:
            try:
                ref = _reference(item)
            except (TypeError, ValueError) as err:
                problems.add(f"reference {item!r} ignored: {err}")
                continue
            if ref not in refs:
                refs.append(ref)
    return refs, sorted(problems)


def _reference(item: object) -> Reference:
    if not isinstance(item, dict):
        raise TypeError("it must be a mapping, e.g. " + EXAMPLE)
    missing = [k for k in REQUIRED if item.get(k) is None]
    unknown = sorted(set(item) - {*REQUIRED, *OPTIONAL})
    if missing or unknown:
        raise ValueError(f"missing {', '.join(missing)}" if missing else
                         f"unknown key(s) {', '.join(unknown)}; keys: "
                         f"{', '.join(REQUIRED + OPTIONAL)}")
    setting = item.get("setting") or {}
    if not isinstance(setting, dict):
        raise TypeError("setting must be a mapping of override keys to values")

    def number(key: str, kind: type) -> float | int | None:
        return None if item.get(key) is None else kind(item[key])

    return Reference(
        str(item["data"]), str(item["model"]), str(item["metric"]), float(item["value"]),
        str(item["source"]), None if item.get("optimizer") is None else str(item["optimizer"]),
        number("lr", float), number("epochs", int), number("batch_size", int),
        tuple(sorted((str(k), _text(v)) for k, v in setting.items())), str(item.get("note", "")),
    )


def _text(value: object) -> str:
    """An override value as Hydra prints it: no spaces in lists."""
    return str(value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
               .strip().removesuffix("...").strip()).replace(" ", "")


def _config_value(config: dict, key: str) -> object:
    node: object = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _stated(runs: pd.DataFrame, ref: Reference) -> tuple[pd.DataFrame, str]:
    """The runs at everything the study states, or none and the first thing that no run has."""
    at = runs[runs["task"] == ref.task]
    checks = [
        (ref.optimizer is not None, lambda r: r["optimizer"] == ref.optimizer,
         f"no {ref.optimizer} runs"),
        (ref.lr is not None, lambda r: r["lr"].map(lambda x: math.isclose(x, ref.lr or 0.0,
                                                                          rel_tol=1e-9)),
         f"no runs at lr={ref.lr:g}" if ref.lr is not None else ""),
        (ref.epochs is not None, lambda r: r["max_epochs"] == ref.epochs,
         f"no runs of {ref.epochs} epochs"),
        (ref.batch_size is not None, lambda r: r["batch_size"] == ref.batch_size,
         f"no runs at batch size {ref.batch_size}"),
    ]
    for key, value in ref.setting:
        checks.append((True, lambda r, k=key, v=value: pd.Series(
            [_text(o[k]) == v if k in o else _text(_config_value(c, k)) == v
             for o, c in zip(r["override_map"], r["config"], strict=True)], index=r.index,
            dtype=bool), f"no runs with {key}={value}"))
    if at.empty:
        return at, f"no runs of {ref.task}"
    for applies, keep, why in checks:
        if applies:
            at = at[keep(at)]
            if at.empty:
                return at, why
    return at, ""


def _which(ref: Reference, candidates: pd.DataFrame) -> str:
    stated = [name for name, given in (("lr", ref.lr), ("epochs", ref.epochs),
                                       ("batch size", ref.batch_size)) if given is not None]
    stated += [key for key, _ in ref.setting]
    chosen = ["lr"] if ref.lr is None else []
    if candidates["setting"].nunique() > 1 and ref.lr is not None:
        chosen.append("other knobs")
    parts = ([f"as the study: {', '.join(stated)}"] if stated else []) + (
        [f"chosen on validation: {', '.join(chosen)}"] if chosen else [])
    return "; ".join(parts)


def _bounds(metric: str) -> tuple[float, float]:
    return (0.0, math.inf) if "loss" in metric else (0.0, 1.0)


def rows(refs: list[Reference], runs: pd.DataFrame) -> list[dict]:
    """Per reference (and per optimizer when the study names none): the study's value, ours at
    the same setting (mean, 95% t-interval, n), the difference, and whether ours covers it."""
    out = []
    for ref in refs:
        stated, missing = _stated(runs, ref)
        optimizers = sorted(stated["optimizer"].unique()) if ref.optimizer is None else [
            ref.optimizer]
        if missing or (ref.metric != BEST_LR and ref.metric not in runs):
            why = missing or f"no run records {ref.metric}"
            out.append(_row(ref, ref.optimizer or "not stated", why=why))
            continue
        for optimizer in optimizers:
            candidates = stated[stated["optimizer"] == optimizer]
            picked = best_settings(candidates)
            if picked.empty:
                out.append(_row(ref, optimizer, why="no finished run"))
                continue
            setting = str(picked["setting"].iloc[0])
            at = candidates[(candidates["setting"] == setting)
                            & candidates["status"].isin(FINISHED)]
            label = optimizer if ref.optimizer else f"{optimizer} (the study names none)"
            which = f"{setting} ({_which(ref, candidates)})"
            if ref.metric == BEST_LR:
                lr = float(picked["lr"].iloc[0])
                out.append(_row(ref, label, which, lr, math.nan, math.nan, 1,
                                "same" if math.isclose(lr, ref.value) else "differs"))
                continue
            mean, _, low, high, n = mean_ci(at[ref.metric], _bounds(ref.metric))
            inside = "—" if math.isnan(low) else ("yes" if low <= ref.value <= high else "no")
            out.append(_row(ref, label, which, mean, low, high, n, inside))
    return out


def _row(ref: Reference, optimizer: str, which: str = "", mean: float = math.nan,
         low: float = math.nan, high: float = math.nan, n: int = 0, inside: str = "",
         why: str = "") -> dict:
    return {"task": ref.task, "optimizer": optimizer, "metric": ref.metric, "study": ref.value,
            "ours": mean, "low": low, "high": high, "n": n, "setting": which,
            "inside": inside, "not_run": why, "source": ref.source, "note": ref.note}


def table(found: list[dict]) -> pd.DataFrame:
    """The display table: numbers formatted, `not run (why)` where nothing matched."""
    shown = []
    for r in found:
        lr = r["metric"] == BEST_LR
        fmt = "g" if lr else ".4f"
        if r["not_run"]:
            ours, diff = f"not run: {r['not_run']}", "—"
        elif math.isnan(r["ours"]):
            ours, diff = "—", "—"
        else:
            interval = "" if math.isnan(r["low"]) else f" [{r['low']:.4f}, {r['high']:.4f}]"
            ours = f"{format(r['ours'], fmt)}{interval}" + ("" if lr else f", n={r['n']}")
            diff = f"×{r['ours'] / r['study']:.3g}" if lr else f"{r['ours'] - r['study']:+.4f}"
        shown.append({
            "task": r["task"], "optimizer": r["optimizer"], "metric": r["metric"],
            "study": format(r["study"], fmt), "ours [95% CI]": ours, "ours − study": diff,
            "study inside ours": r["inside"] or "—", "our setting": r["setting"] or "—",
            "source": r["source"] + (f" ({r['note']})" if r["note"] else ""),
        })
    return pd.DataFrame(shown)
