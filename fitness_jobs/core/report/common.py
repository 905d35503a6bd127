"""Constants and small value helpers shared by the weekly-report modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

# 2 from the pinned readings of 2026-12-01 on (streak ending with W, no lapse band without
# a session, one target rule); reports already written keep the version they were written with.
REPORT_VERSION = 2
ACWR_SPIKE = 1.5
MONOTONY_MIN_SESSIONS = 4
HIGH_MONOTONY = 2.0  # Foster: monotony above 2 goes with strain and illness
HISTORY_WEEKS = 4
TOP_LIFTS = 5
MAX_E1RM_REPS = 10
PR_EPSILON_KG = 1e-9
SECONDARY_WEIGHT = 0.5

REPORT_COLUMNS: list[str] = [
    "user_id",
    "week_start",
    "report_version",
    "timezone",
    "sessions",
    "session_target",
    "completion_rate",
    "volume_load_kg",
    "volume_change_pct_prev_week",
    "volume_change_pct_4w_avg",
    "srpe_load",
    "ctl",
    "tsb",
    "acwr",
    "acwr_flag",
    "monotony",
    "streak_weeks",
    "lapse_risk",
    "trend_weight_kg",
    "weight_change_kg_per_week",
    "prediction_status",
    "report",
    "summary_text",
]

# Decimal places of each real-valued column's copy in the JSON ``report`` (see the package
# docstring): the JSON value is ``round(column, digits)``, ``None`` where the column is NaN.
JSON_DIGITS: dict[str, int] = {
    "completion_rate": 4,
    "volume_load_kg": 2,
    "volume_change_pct_prev_week": 2,
    "volume_change_pct_4w_avg": 2,
    "srpe_load": 2,
    "ctl": 3,
    "tsb": 3,
    "acwr": 4,
    "monotony": 4,
    "trend_weight_kg": 3,
    "weight_change_kg_per_week": 3,
}
OTHER_DIGITS = 3  # e1RM, weights and prediction numbers inside the JSON


def num(value: Any, ndigits: int = OTHER_DIGITS) -> float | None:
    """A plain rounded float, or None for missing / non-finite values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, ndigits)


def nums(values: Any, ndigits: int = OTHER_DIGITS) -> list[float | None]:
    """:func:`num` of each value of a 1-D float array, vectorised: every value is the one
    Python's ``round`` gives, ``None`` where it is not finite.

    ``np.round`` scales by ``10**ndigits``, rounds to an integer ``k`` and divides back;
    the division of two exact integers is correctly rounded, so it gives ``round``'s
    value whenever ``k`` is the integer the exact decimal rounds to.  That can fail only
    where the scaled value lies next to a half (its product is rounded) or is too large
    to hold its fraction: those few values go through ``round`` itself."""
    array = np.asarray(values, dtype=float)
    finite = np.isfinite(array)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.abs(array * 10.0**ndigits)
        fraction = scaled - np.floor(scaled)
        doubtful = finite & ((np.abs(fraction - 0.5) < _HALF_MARGIN) | (scaled >= _EXACT_BELOW))
        out = np.round(array, ndigits).astype(object)
    for i in np.flatnonzero(doubtful).tolist():
        out[i] = round(float(array[i]), ndigits)
    out[~finite] = None
    return out.tolist()


# ``nums``: a scaled value within this of a half is rounded by ``round`` (the product's
# error is below 1e-7 up to ``_EXACT_BELOW``), as is every scaled value from there on.
_HALF_MARGIN = 1e-6
_EXACT_BELOW = 2.0**30


def whole(value: Any) -> int | None:
    f = num(value, 6)
    return None if f is None else round(f)


def text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def pct_change(current: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``100·(current − base)/base``; NaN where ``base`` is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, 100.0 * (current - base) / np.where(base > 0, base, 1.0), np.nan)


def numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A float column of ``frame`` (NaN when the column is absent)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def objects(frame: pd.DataFrame, name: str) -> np.ndarray:
    """An object column of ``frame`` with missing values as None (all None when absent)."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    col = frame[name].astype(object)
    return col.where(col.notna(), None).to_numpy(dtype=object)


def aligned(frame: pd.DataFrame, user_index: pd.Index) -> pd.DataFrame:
    """``frame`` (one row per ``user_id``) reindexed on ``user_index``; missing users → NaN."""
    if "user_id" not in frame.columns:
        return pd.DataFrame(index=range(len(user_index)))
    return (
        frame.drop_duplicates("user_id")
        .set_index("user_id")
        .reindex(user_index)
        .reset_index(drop=True)
    )
