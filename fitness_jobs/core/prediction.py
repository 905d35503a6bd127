"""Transformation prediction (design §7): Theil–Sen weight trend + linearised Hall (2011).

For each user and reported week ``W`` (a Monday, as a day number):

* Weigh-ins from the 28 local days ``[W − 21, W + 6]``; one point per local day with
  weigh-ins (the mean of that day's), ``x`` = day index.
* **Insufficient data** unless ≥ 8 such days, first and last ≥ 13 days apart, at least one
  in week ``W − 7 … W − 1`` and one in ``W … W + 6``, and the latest no more than 7 days
  before ``W + 6``.  The failed conditions are reported in ``flags``.
* Rate ``r0`` (kg/day) = Theil–Sen slope with its 90 % confidence interval (Sen 1968, as
  implemented by ``scipy.stats.theilslopes``); trend weight = the Theil–Sen line at the last
  weigh-in day.  The intercept uses ``method='separate'`` (Conover: ``median(y) − slope ·
  median(x)``), scipy's default.  Both ``'separate'`` and ``'joint'`` reproduce the
  reference vector of design §7 (intercept 90.2 either way; the CI does not depend on it).
* ``τ`` from the linearised Hall (2011) model (``hall_tau``), projection at ``h`` days after
  the last weigh-in day: ``trend + r·τ·(1 − e^{−h/τ})`` for ``r`` = slope, low and high CI
  slopes.
* Flags (never silent clipping): ``faster_than_recommended``, ``stable``, ``bmi_floor``
  (a projection or band end below BMI 18.5 was raised to it), ``bmi_floor_unknown`` (no
  usable height: the floor cannot be computed, nothing is clamped), ``tau_default`` (τ = 400 because sex, age or height is missing or outside the model's
  domain), and for insufficient data the reasons ``too_few_weigh_in_days``,
  ``span_under_13_days``, ``no_weigh_in_prior_week``, ``no_weigh_in_this_week``,
  ``latest_weigh_in_stale``.

Theil–Sen is vectorised over users: at most 28 points per user, so all pairwise slopes of
every user fit in an ``(n_users, 378)`` matrix.  The result is bitwise identical to
``scipy.stats.theilslopes(y, x, 0.90, method='separate')`` (see the tests).

Nothing here imports dagster or touches a database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from fitness_jobs.core.calendar import date_of
from fitness_jobs.core.energy_balance import (  # noqa: F401  (re-exported)
    BETA_TEF,
    DEFAULT_TAU_DAYS,
    ETA_F,
    ETA_L,
    FORBES_C,
    GAMMA_F,
    GAMMA_L,
    PAL,
    RHO_F,
    RHO_L,
    _hall_tau_arrays,
    hall_tau,
    hall_tau_array,
    jackson_percent_fat,
    mifflin_st_jeor_rmr,
)
from fitness_jobs.core.theil_sen import (  # noqa: F401  (re-exported)
    CONFIDENCE,
    THEILSEN_INTERCEPT_METHOD,
    theil_sen,
    theil_sen_matrix,
)

METHOD = "theil_sen+hall2011_linearized"

WINDOW_DAYS = 28  # local days [W − 21, W + 6]
MIN_WEIGH_IN_DAYS = 8
MIN_SPAN_DAYS = 13
MAX_STALENESS_DAYS = 7  # latest weigh-in no more than 7 days before W + 6
HORIZONS_DAYS: dict[str, int] = {"4w": 28, "8w": 56, "12w": 84}

MAX_WEEKLY_LOSS_PCT = 1.0  # % of body weight per week
MAX_WEEKLY_GAIN_PCT = 0.5
BMI_FLOOR = 18.5


STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"

FLAG_FAST = "faster_than_recommended"
FLAG_STABLE = "stable"
FLAG_BMI_FLOOR = "bmi_floor"
FLAG_BMI_FLOOR_UNKNOWN = "bmi_floor_unknown"
FLAG_TAU_DEFAULT = "tau_default"
FLAG_TOO_FEW_DAYS = "too_few_weigh_in_days"
FLAG_SHORT_SPAN = "span_under_13_days"
FLAG_NO_PRIOR_WEEK = "no_weigh_in_prior_week"
FLAG_NO_THIS_WEEK = "no_weigh_in_this_week"
FLAG_STALE = "latest_weigh_in_stale"

PREDICTION_COLUMNS: list[str] = [
    "user_id",
    "status",
    "method",
    "weigh_in_count",
    "trend_weight_kg",
    "rate_kg_per_week",
    "rate_pct_bw_per_week",
    "tau_days",
    *[f"projected_{h}_kg{s}" for h in HORIZONS_DAYS for s in ("", "_low", "_high")],
    "flags",
]


def whole_years(birth_dates: pd.Series, on: dt.date) -> np.ndarray:
    """Age in whole years on ``on`` of each birth date (None/NaT → NaN)."""
    born = pd.to_datetime(birth_dates, errors="coerce")
    by = born.dt.year.to_numpy(dtype=float)
    bm = born.dt.month.to_numpy(dtype=float)
    bd = born.dt.day.to_numpy(dtype=float)
    before_birthday = (on.month < bm) | ((on.month == bm) & (on.day < bd))
    age = on.year - by - before_birthday.astype(float)
    return np.where(np.isnan(by), np.nan, age)


# --------------------------------------------------------------------------- predictions


def _empty_result(user_ids: pd.Series) -> pd.DataFrame:
    n = len(user_ids)
    out: dict[str, Any] = {
        "user_id": user_ids.to_numpy(),
        "status": np.full(n, STATUS_INSUFFICIENT, dtype=object),
        "method": np.full(n, METHOD, dtype=object),
        "weigh_in_count": np.zeros(n, dtype=np.int64),
    }
    for col in PREDICTION_COLUMNS[4:-1]:
        out[col] = np.full(n, np.nan)
    out["flags"] = [[] for _ in range(n)]
    return pd.DataFrame(out, columns=PREDICTION_COLUMNS)


def predict_transformations(
    weigh_ins: pd.DataFrame, profiles: pd.DataFrame, week_start_day: int
) -> pd.DataFrame:
    """One §7 prediction row per profile user for the week starting on ``week_start_day``.

    ``weigh_ins``: ``user_id``, ``local_day`` (day number in the user's zone), ``weight_kg``;
    rows outside ``[W − 21, W + 6]``, of other users, or with a non-finite or non-positive
    weight are ignored.  ``profiles``: ``user_id``, ``sex``, ``birth_date``, ``height_cm``.

    Output columns ``PREDICTION_COLUMNS``; ``weigh_in_count`` is the number of raw weigh-ins
    in the 28-day window (the sufficiency rule counts *days*).  Numbers are NaN and
    ``status = 'insufficient_data'`` when the data rule fails; ``flags`` is a list of str.
    """
    w = int(week_start_day)
    first_day = w + 6 - (WINDOW_DAYS - 1)
    last_day = w + 6
    prof = profiles.reset_index(drop=True)
    n = len(prof)
    result = _empty_result(prof["user_id"])
    if n == 0:
        return result

    user_index = pd.Index(prof["user_id"])
    pos = user_index.get_indexer(weigh_ins["user_id"])
    day = weigh_ins["local_day"].to_numpy(dtype=np.int64)
    weight = weigh_ins["weight_kg"].to_numpy(dtype=float)
    keep = (pos >= 0) & (day >= first_day) & (day <= last_day) & np.isfinite(weight) & (weight > 0)
    pos, day, weight = pos[keep], day[keep], weight[keep]
    result["weigh_in_count"] = np.bincount(pos, minlength=n).astype(np.int64)

    # One point per (user, day): mean of that day's weigh-ins, in a (n, 28) matrix.
    col = day - first_day
    flat = pos * WINDOW_DAYS + col
    sums = np.bincount(flat, weights=weight, minlength=n * WINDOW_DAYS)
    counts = np.bincount(flat, minlength=n * WINDOW_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(n, WINDOW_DAYS)
    present = counts.reshape(n, WINDOW_DAYS) > 0
    n_days = present.sum(axis=1)
    cols = np.arange(WINDOW_DAYS)
    first = np.where(present, cols, WINDOW_DAYS).min(axis=1)
    last = np.where(present, cols, -1).max(axis=1)
    prior_week = present[:, (w - 7 - first_day) : (w - first_day)].any(axis=1)
    this_week = present[:, (w - first_day) :].any(axis=1)

    too_few = n_days < MIN_WEIGH_IN_DAYS
    short_span = ~(last - first >= MIN_SPAN_DAYS)
    stale = ~((last_day - first_day - last) <= MAX_STALENESS_DAYS) | (n_days == 0)
    reasons = [
        (too_few, FLAG_TOO_FEW_DAYS),
        (short_span, FLAG_SHORT_SPAN),
        (~prior_week, FLAG_NO_PRIOR_WEEK),
        (~this_week, FLAG_NO_THIS_WEEK),
        (stale, FLAG_STALE),
    ]
    ok = ~(too_few | short_span | ~prior_week | ~this_week | stale)

    flag_lists: list[list[str]] = [[] for _ in range(n)]
    for mask, name in reasons:
        for i in np.flatnonzero(mask):
            flag_lists[i].append(name)

    ok_idx = np.flatnonzero(ok)
    if ok_idx.size:
        slope, intercept, low_s, high_s = theil_sen_matrix(y[ok_idx], CONFIDENCE)
        x_last = last[ok_idx].astype(float)
        trend = intercept + slope * x_last

        age = whole_years(prof["birth_date"].iloc[ok_idx].reset_index(drop=True), date_of(w + 6))
        height = pd.to_numeric(prof["height_cm"].iloc[ok_idx], errors="coerce").to_numpy(
            dtype=float
        )
        tau, tau_default = _hall_tau_arrays(
            prof["sex"].iloc[ok_idx].to_numpy(dtype=object), age, height, trend
        )

        rate_week = 7.0 * slope
        rate_pct = 100.0 * rate_week / trend
        fast = (rate_pct < -MAX_WEEKLY_LOSS_PCT) | (rate_pct > MAX_WEEKLY_GAIN_PCT)
        stable = (low_s <= 0.0) & (high_s >= 0.0)
        height_known = np.isfinite(height) & (height > 0)
        floor = np.where(height_known, BMI_FLOOR * (height / 100.0) ** 2, -np.inf)
        floored = np.zeros(ok_idx.size, dtype=bool)

        result.loc[ok_idx, "status"] = STATUS_OK
        result.loc[ok_idx, "trend_weight_kg"] = trend
        result.loc[ok_idx, "rate_kg_per_week"] = rate_week
        result.loc[ok_idx, "rate_pct_bw_per_week"] = rate_pct
        result.loc[ok_idx, "tau_days"] = tau
        for name, h in HORIZONS_DAYS.items():
            factor = tau * (1.0 - np.exp(-h / tau))
            mid = trend + slope * factor
            a = trend + low_s * factor
            b = trend + high_s * factor
            for suffix, values in (
                ("", mid),
                ("_low", np.minimum(a, b)),
                ("_high", np.maximum(a, b)),
            ):
                below = values < floor
                floored |= below
                result.loc[ok_idx, f"projected_{name}_kg{suffix}"] = np.where(below, floor, values)

        for mask, flag in (
            (fast, FLAG_FAST),
            (stable, FLAG_STABLE),
            (floored, FLAG_BMI_FLOOR),
            (~height_known, FLAG_BMI_FLOOR_UNKNOWN),
            (tau_default, FLAG_TAU_DEFAULT),
        ):
            for i in np.flatnonzero(mask):
                flag_lists[ok_idx[i]].append(flag)

    result["flags"] = flag_lists
    return result
