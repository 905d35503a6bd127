"""Training load: session RPE load, daily load matrices and exponentially weighted averages.

Shared by the nightly metrics and the weekly report.  Everything works on a
``(n_users, n_days)`` matrix at once; the recursions step through the days with every
user in one vector operation, giving bit for bit what ``scipy.signal.lfilter`` gives
(the tests compare them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CTL_DAYS = 42  # chronic training load time constant (Banister/Coggan PMC)
ATL_DAYS = 7  # acute training load time constant
ACWR_ACUTE_LAMBDA = 2.0 / (7 + 1)  # Williams et al. (2017) EWMA ACWR
ACWR_CHRONIC_LAMBDA = 2.0 / (28 + 1)
LOAD_HISTORY_DAYS = 180


def session_srpe(session_rpe: np.ndarray, duration_seconds: np.ndarray) -> np.ndarray:
    """Foster's session-RPE load: ``session_rpe × minutes``; a missing factor gives 0."""
    rpe = np.asarray(session_rpe, dtype=float)
    secs = np.asarray(duration_seconds, dtype=float)
    load = rpe * secs / 60.0
    return np.where(np.isfinite(load), load, 0.0)


def session_minutes(duration_seconds: np.ndarray) -> np.ndarray:
    """Minutes of each session (missing → 0)."""
    secs = np.asarray(duration_seconds, dtype=float) / 60.0
    return np.where(np.isfinite(secs), secs, 0.0)


def ewma(loads: np.ndarray, alpha: float, last: int | None = None) -> np.ndarray:
    """``x_t = x_{t-1} + alpha·(L_t − x_{t-1})`` along the last axis, seeded at 0.

    Returns the whole series (same shape as ``loads``), or only its ``last`` values.
    Each step is ``alpha·L_t + (1 − alpha)·x_{t-1}`` rounded as ``lfilter([alpha],
    [1, alpha − 1])`` rounds it (two products, then their sum), over all users at once:
    the same values, without the filter's per-row set-up or a full-length output when
    only the last days are wanted.
    """
    return ewmas(loads, (alpha,), last)[0]


def ewmas(loads: np.ndarray, alphas: Sequence[float], last: int | None = None) -> np.ndarray:
    """:func:`ewma` for several ``alphas`` at once: ``out[k]`` is ``ewma(loads, alphas[k],
    last)``, value for value (the same two products and sum per element), in one pass
    over the days instead of one per alpha."""
    loads = np.asarray(loads, dtype=float)
    days = loads.shape[-1]
    keep = days if last is None else max(0, min(last, days))
    out = np.empty((len(alphas), *loads.shape[:-1], keep))
    if days == 0:
        return out
    by_day = np.ascontiguousarray(np.moveaxis(loads, -1, 0))
    shape = (len(alphas),) + (1,) * (loads.ndim - 1)
    alpha = np.asarray(alphas, dtype=float).reshape(shape)
    pole = -(1.0 - alpha)  # the filter's a₁
    state = np.zeros((len(alphas), *loads.shape[:-1]))
    term = np.empty_like(state)
    for t in range(days):
        np.multiply(by_day[t], alpha, out=term)
        np.multiply(state, pole, out=state)
        np.subtract(term, state, out=state)
        if t >= days - keep:
            out[..., t - (days - keep)] = state
    return out


def daily_matrix(
    row: np.ndarray, offset: np.ndarray, values: np.ndarray, n_rows: int, n_days: int
) -> np.ndarray:
    """Sum ``values`` into an ``(n_rows, n_days)`` matrix at ``(row, offset)``.

    Entries whose offset falls outside ``[0, n_days)`` are dropped.
    """
    row = np.asarray(row, dtype=np.int64)
    offset = np.asarray(offset, dtype=np.int64)
    keep = (offset >= 0) & (offset < n_days) & (row >= 0)
    out = np.zeros((n_rows, n_days), dtype=float)
    np.add.at(out, (row[keep], offset[keep]), np.asarray(values, dtype=float)[keep])
    return out


def performance_management(daily_load: np.ndarray) -> dict[str, np.ndarray]:
    """CTL, ATL (values on the last day) and TSB (CTL − ATL of the day before).

    ``daily_load`` is ``(n_users, n_days)`` with the last column the reference day;
    CTL = ATL = 0 before its first day.
    """
    return training_loads(daily_load, acwr=False)


def acute_chronic_ratio(daily_load: np.ndarray) -> np.ndarray:
    """EWMA ACWR on the last day (acute λ = 2/8 over chronic λ = 2/29); NaN when chronic is 0."""
    return training_loads(daily_load, pmc=False)["acwr"]


def training_loads(
    daily_load: np.ndarray, *, pmc: bool = True, acwr: bool = True
) -> dict[str, np.ndarray]:
    """:func:`performance_management`'s ``ctl``, ``atl`` and ``tsb`` (``pmc``) and
    :func:`acute_chronic_ratio`'s ``acwr`` (``acwr``), from one pass over the days."""
    alphas = [
        *((1.0 / CTL_DAYS, 1.0 / ATL_DAYS) if pmc else ()),
        *((ACWR_ACUTE_LAMBDA, ACWR_CHRONIC_LAMBDA) if acwr else ()),
    ]
    smoothed = ewmas(daily_load, alphas, last=2)
    out: dict[str, np.ndarray] = {}
    if pmc:
        ctl, atl = smoothed[0], smoothed[1]
        if daily_load.shape[-1] >= 2:
            out["tsb"] = ctl[..., -2] - atl[..., -2]
        else:
            out["tsb"] = np.zeros(daily_load.shape[:-1])
        out["ctl"], out["atl"] = ctl[..., -1], atl[..., -1]
    if acwr:
        acute, chronic = smoothed[-2][..., -1], smoothed[-1][..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["acwr"] = np.where(chronic > 0, acute / np.where(chronic > 0, chronic, 1.0), np.nan)
    return out
