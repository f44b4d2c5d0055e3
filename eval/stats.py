"""Paired statistics: how sure we are of each mean, and of each difference between two arms.

Arms answer the same questions, so a difference is measured per question and
resampled by question (paired bootstrap). The significance test is a paired
sign-flip permutation test on the per-question differences: it assumes no
distribution, so it fits 0/1 metrics and continuous ones alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class Estimate(BaseModel):
    mean: float
    low: float
    high: float
    n: int


class Difference(BaseModel):
    """``arm`` minus ``baseline`` on the questions where both have the metric."""

    arm: str
    baseline: str
    metric: str
    diff: float
    low: float
    high: float
    p_value: float | None
    n: int
    wins: list[int]  # eval-set line numbers where the arm scored higher
    losses: list[int]  # ... and lower


def estimate(values: Sequence[float] | np.ndarray, resamples: int, confidence: float, seed: int) -> Estimate:
    """The mean with a percentile bootstrap interval."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or np.ptp(data) == 0:
        return Estimate(mean=mean, low=mean, high=mean, n=len(data))
    from scipy import stats  # here, not at import: the CLI loads this module on every command

    interval = stats.bootstrap(
        (data,), np.mean, n_resamples=resamples, confidence_level=confidence, method="percentile", rng=seed
    ).confidence_interval
    return Estimate(mean=mean, low=float(interval.low), high=float(interval.high), n=len(data))


def paired_difference(
    arm: str,
    baseline: str,
    metric: str,
    pairs: Sequence[tuple[int, float, float]],
    resamples: int,
    confidence: float,
    seed: int,
) -> Difference:
    """``pairs``: (line, arm's value, baseline's value) for each question both arms were scored on."""
    lines = [line for line, _, _ in pairs]
    diffs = np.asarray([a - b for _, a, b in pairs], dtype=float)
    spread = estimate(diffs, resamples, confidence, seed)
    return Difference(
        arm=arm,
        baseline=baseline,
        metric=metric,
        diff=spread.mean,
        low=spread.low,
        high=spread.high,
        p_value=sign_flip_p_value(diffs, resamples, seed),
        n=len(diffs),
        wins=[line for line, d in zip(lines, diffs, strict=True) if d > 0],
        losses=[line for line, d in zip(lines, diffs, strict=True) if d < 0],
    )


def sign_flip_p_value(diffs: np.ndarray, resamples: int, seed: int) -> float | None:
    """Two-sided p-value of a mean difference of zero: exact below 2^n ≤ ``resamples``, else Monte Carlo."""
    if len(diffs) < 2:
        return None
    if not diffs.any():
        return 1.0
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical magnitudes make ties, which are fine here
        result = stats.permutation_test(
            (diffs,), np.mean, permutation_type="samples", n_resamples=resamples, vectorized=True, rng=seed
        )
    return float(result.pvalue)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None
