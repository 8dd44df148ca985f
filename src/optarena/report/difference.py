"""The tests behind claim verdicts: the difference between two optimizers, and Holm's correction.

Means over seeds (test accuracy, mIoU, ...): Student's paired t on the per-seed differences
when both optimizers ran the same seeds (a seed fixes the initialisation and the data order,
so the pairs share them), else Welch's t (unequal variances). Times to target: Mann-Whitney U,
distribution-free and rank-based, so a run that never reaches the target (inf) is simply the
slowest; it tests whether one optimizer's times tend to be shorter than the other's.
All tests are two-sided. Holm-Bonferroni keeps the chance of any false verdict in a study at
5% however many claims it judges.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
PAIRED, WELCH, MANN_WHITNEY = "paired t", "Welch t", "Mann-Whitney U"


@dataclass(frozen=True)
class Difference:
    """a - b: the estimate, the test's two-sided p-value (NaN: no test, `reason` says why) and,
    for means, scipy's t-test result, which gives the interval at any confidence."""

    test: str
    estimate: float
    p: float = math.nan
    reason: str = ""
    a_better_direction: float = 0.0  # sign of (a - b) in the test's own terms; 0 when tied
    result: Any = None

    def interval(self, confidence: float) -> tuple[float, float]:
        """The interval of the difference (means only; NaN for times and untested pairs)."""
        if self.result is None:
            return math.nan, math.nan
        ci = self.result.confidence_interval(confidence)
        return float(ci.low), float(ci.high)


def _by_seed(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy(float))].astype(float)


def mean_difference(a: pd.Series, b: pd.Series) -> Difference:
    """Values indexed by seed. Paired t when a and b hold the same seeds, else Welch t."""
    a, b = _by_seed(a), _by_seed(b)
    if min(len(a), len(b)) < 2:
        return Difference("t-test", math.nan, reason="fewer than 2 seeds")
    paired = a.index.is_unique and b.index.is_unique and set(a.index) == set(b.index)
    with warnings.catch_warnings():  # identical differences: scipy warns, then gives p = 0
        warnings.simplefilter("ignore", RuntimeWarning)
        if paired:
            seeds = sorted(a.index)
            result = stats.ttest_rel(a[seeds].to_numpy(), b[seeds].to_numpy())
            test, estimate = f"{PAIRED} ({len(seeds)} seeds)", float((a[seeds] - b[seeds]).mean())
        else:
            result = stats.ttest_ind(a.to_numpy(), b.to_numpy(), equal_var=False)
            test, estimate = f"{WELCH} (df {float(result.df):.1f})", float(a.mean() - b.mean())
    p = float(result.pvalue)
    if math.isnan(p):
        return Difference(test, estimate, reason="no spread over seeds: no test")
    return Difference(test, estimate, p, a_better_direction=float(np.sign(estimate)),
                      result=result)


def time_difference(a: pd.Series, b: pd.Series) -> Difference:
    """Times to target (inf = never reached). Estimate: median(a) - median(b) (inf or NaN when
    a side's median is never); direction from U (a's times tend to be longer: +1)."""
    a = a.dropna().to_numpy(float)
    b = b.dropna().to_numpy(float)
    if min(len(a), len(b)) < 2:
        return Difference(MANN_WHITNEY, math.nan, reason="fewer than 2 seeds")
    ma, mb = float(np.median(a)), float(np.median(b))
    estimate = ma - mb if not (math.isinf(ma) and math.isinf(mb)) else math.nan
    if np.isinf(a).all() and np.isinf(b).all():
        return Difference(MANN_WHITNEY, estimate, reason="neither reached the target")
    # Ranks only: inf is a value above every finite time; never-reached runs tie among
    # themselves. method="auto": exact p for small samples without ties.
    big = np.nanmax(np.where(np.isinf(np.r_[a, b]), np.nan, np.r_[a, b])) + 1.0
    result = stats.mannwhitneyu(np.where(np.isinf(a), big, a), np.where(np.isinf(b), big, b),
                                alternative="two-sided")
    u_share = float(result.statistic) / (len(a) * len(b))  # P(a > b) + P(tie) / 2
    return Difference(MANN_WHITNEY, estimate, float(result.pvalue),
                      a_better_direction=float(np.sign(u_share - 0.5)))


def holm(pvalues: list[float], alpha: float = ALPHA) -> list[tuple[float, bool]]:
    """Holm-Bonferroni step-down: per p-value, (its corrected level, significant?).

    The k-th smallest of m p-values is compared with alpha / (m - k + 1); at the first that
    exceeds its level, it and every larger one are not significant. NaN p-values (no test) are
    not counted in m and are never significant. scipy.stats.false_discovery_control is
    Benjamini-Hochberg (it bounds the false discovery rate, not the chance of any false
    verdict), so Holm is written here; it is these few lines.
    """
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    out = [(math.nan, False)] * len(pvalues)
    going = True
    for rank, (p, i) in enumerate(tested):
        level = alpha / (len(tested) - rank)
        going = going and p <= level
        out[i] = (level, going)
    return out
