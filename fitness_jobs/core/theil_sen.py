"""Theil–Sen slope with its confidence interval (Theil 1950, Sen 1968), vectorised.

At most 28 points per user, so all pairwise slopes of every user fit in an
``(n_users, 378)`` matrix.  The result is bitwise identical to
``scipy.stats.theilslopes(y, x, 0.90, method='separate')`` (see the tests).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, theilslopes

CONFIDENCE = 0.90
THEILSEN_INTERCEPT_METHOD = "separate"


def theil_sen(
    x: np.ndarray | list[float], y: np.ndarray | list[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float, float]:
    """``(slope, intercept, low_slope, high_slope)`` of the Theil–Sen line of ``y`` on ``x``.

    ``scipy.stats.theilslopes`` with ``method='separate'`` (intercept ``median(y) − slope ·
    median(x)``); the slope interval is Sen's (1968) at ``confidence``.
    """
    res = theilslopes(
        np.asarray(y, dtype=float),
        np.asarray(x, dtype=float),
        confidence,
        method=THEILSEN_INTERCEPT_METHOD,
    )
    return (
        float(res.slope),
        float(res.intercept),
        float(res.low_slope),
        float(res.high_slope),
    )


def _row_median_sorted(sorted_rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[i]`` entries of each (ascending) row, like ``np.median``."""
    rows = np.arange(sorted_rows.shape[0])
    lo = sorted_rows[rows, (counts - 1) // 2]
    hi = sorted_rows[rows, counts // 2]
    return np.asarray((lo + hi) / 2.0)


def theil_sen_matrix(
    y: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised Theil–Sen over rows of ``y`` (``(n_rows, n_x)``, NaN = no point).

    ``x`` is the column index.  Each row needs ≥ 2 points.  Returns ``(slope, intercept,
    low_slope, high_slope)`` arrays, equal to ``theil_sen(x_i, y_i, confidence)`` row by row.
    """
    y = np.asarray(y, dtype=float)
    n_rows, n_x = y.shape
    present = ~np.isnan(y)
    k = present.sum(axis=1)
    later, earlier = np.triu_indices(n_x, k=1)[::-1]  # pairs with later > earlier
    slopes = (y[:, later] - y[:, earlier]) / (later - earlier).astype(float)
    slopes.sort(axis=1)  # NaN (a missing end) sorts last
    nt = k * (k - 1) // 2
    med_slope = _row_median_sorted(slopes, nt)

    y_sorted = np.sort(y, axis=1)
    med_y = _row_median_sorted(y_sorted, k)
    x_sorted = np.sort(np.where(present, np.arange(n_x, dtype=float), np.nan), axis=1)
    med_x = _row_median_sorted(x_sorted, k)
    intercept = med_y - med_slope * med_x

    # Sen (1968) eq. 2.6 with the correction for ties in y (x has no ties: one point a day).
    same = (y_sorted[:, 1:] == y_sorted[:, :-1]).astype(np.int64)  # NaN never equal
    tie_term = np.zeros(n_rows, dtype=float)
    if n_x > 1:
        # run lengths of equal values: count, for each run, k(k − 1)(2k + 5)
        run = np.zeros((n_rows, n_x), dtype=np.int64)
        run[:, 0] = 1
        for j in range(1, n_x):
            run[:, j] = np.where(same[:, j - 1] == 1, run[:, j - 1] + 1, 1)
        ends = np.ones((n_rows, n_x), dtype=bool)
        ends[:, :-1] = same == 0
        ends &= ~np.isnan(y_sorted)
        rk = np.where(ends & (run > 1), run, 0).astype(float)
        tie_term = (rk * (rk - 1) * (2 * rk + 5)).sum(axis=1)
    alpha = 1.0 - confidence if confidence > 0.5 else confidence
    z = norm.ppf(alpha / 2.0)
    kf = k.astype(float)
    sigsq = 1 / 18.0 * (kf * (kf - 1) * (2 * kf + 5) - tie_term)
    sigma = np.sqrt(sigsq)
    ru = np.minimum(np.round((nt - z * sigma) / 2.0).astype(np.int64), nt - 1)
    rl = np.maximum(np.round((nt + z * sigma) / 2.0).astype(np.int64) - 1, 0)
    rows = np.arange(n_rows)
    low = slopes[rows, np.clip(rl, 0, slopes.shape[1] - 1)]
    high = slopes[rows, np.clip(ru, 0, slopes.shape[1] - 1)]
    return med_slope, intercept, low, high
