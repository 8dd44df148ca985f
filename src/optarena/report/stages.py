"""Tune-then-confirm sweeps in the report (hydra/sweeper=tune_confirm).

A run's record names its stage: `tune` (stage 1: every setting at the tuning seed) or
`confirm` (stage 2: each optimizer's chosen setting at fresh seeds); plain runs have none.
Every test figure (tables, intervals, times, curves, claims, reproduction) comes from the
other runs, so the tuning seed, which chose the setting, never reports on it; stage-1 runs feed
only the lr sensitivity plot and the grid-edge check.
"""

from __future__ import annotations

import pandas as pd

TUNE = "tune"
SENSITIVITY_NOTE = (" Tasks of a tune-then-confirm sweep plot their stage-1 runs: one run per "
                    "setting, at the tuning seed; the star is the setting stage 2 confirmed.")


PENDING = "tuned only"  # the status a stage-1 run is shown with when its stage 2 has not run


def reported(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that give test figures: all but stage 1's. An optimizer whose stage 2 has not
    run keeps its stage-1 runs as `tuned only` (no result, like a running run): its row stays in
    the tables, empty."""
    pending = runs.apply(lambda r: f"{r['task']} {r['optimizer']}", axis=1).isin(unconfirmed(runs))
    shown = runs[(runs["stage"] != TUNE) | pending].copy()
    shown.loc[shown["stage"] == TUNE, "status"] = PENDING
    return shown


def label_pending(headline: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The headline's setting cell of an optimizer whose stage 2 has not run says so."""
    pending = set(unconfirmed(runs))
    rows = [f"{t} {o}" in pending for t, o in zip(headline["task"], headline["optimizer"],
                                                  strict=True)] if len(headline) else []
    headline = headline.copy()
    headline.loc[rows, "best setting (by val)"] = "stage 2 not run yet"
    return headline


def for_sensitivity(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task, its stage-1 runs when it has any (every setting at one seed), else all runs."""
    tuned = set(runs.loc[runs["stage"] == TUNE, "task"])
    return runs[~runs["task"].isin(tuned) | (runs["stage"] == TUNE)]


def sensitivity_note(runs: pd.DataFrame) -> str:
    return SENSITIVITY_NOTE if (runs["stage"] == TUNE).any() else ""


def on_curve(scores: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity scores at each optimizer's chosen setting: where its star goes."""
    keys = ["task", "optimizer", "setting"]
    return scores.merge(best[keys], on=keys) if len(best) else scores.iloc[:0]


def unconfirmed(runs: pd.DataFrame) -> list[str]:
    """'task optimizer' pairs with stage-1 runs but no other run yet (stage 2 not run)."""
    staged = runs.groupby(["task", "optimizer"])["stage"].agg(lambda s: set(s) == {TUNE})
    return [f"{task} {optimizer}" for (task, optimizer), only in staged.items() if only]


def protocol(runs: pd.DataFrame) -> str:
    """The protocol's tune-then-confirm paragraph; '' when no run is of such a sweep."""
    tuned = runs[runs["stage"] == TUNE]
    if tuned.empty:
        return ""
    seeds = ", ".join(str(s) for s in sorted({str(s) for s in tuned["seed"]}))
    confirmed = runs[runs["stage"] == "confirm"]
    text = (
        f"Tune, then confirm (`hydra/sweeper=tune_confirm`): stage 1 ran {len(tuned)} run(s), "
        f"every setting at tuning seed {seeds}, and chose each optimizer's setting on "
        f"validation; stage 2 ran that setting at fresh seeds ({len(confirmed)} run(s)). Every "
        "test value, interval, time to target, curve, claim verdict and reproduction figure "
        "below comes from stage 2 alone (the chosen setting is shown with stage 2's mean "
        "validation value), so the seed that chose a setting never reports on it; the stage-1 "
        "runs feed only the lr sensitivity plot and the grid-edge check."
    )
    pending = unconfirmed(runs)
    if pending:
        text += (f" Stage 2 not run yet for: {', '.join(pending)} (its rows stay empty; "
                 "resume the sweep with resume=true).")
    return text
