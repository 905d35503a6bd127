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
from scipy.stats import norm, theilslopes

from fitness_jobs.core.calendar import date_of

METHOD = "theil_sen+hall2011_linearized"
THEILSEN_INTERCEPT_METHOD = "separate"
CONFIDENCE = 0.90

WINDOW_DAYS = 28  # local days [W − 21, W + 6]
MIN_WEIGH_IN_DAYS = 8
MIN_SPAN_DAYS = 13
MAX_STALENESS_DAYS = 7  # latest weigh-in no more than 7 days before W + 6
HORIZONS_DAYS: dict[str, int] = {"4w": 28, "8w": 56, "12w": 84}

DEFAULT_TAU_DAYS = 400.0
MAX_WEEKLY_LOSS_PCT = 1.0  # % of body weight per week
MAX_WEEKLY_GAIN_PCT = 0.5
BMI_FLOOR = 18.5

# Hall (2011) constants
RHO_F = 9440.7  # kcal/kg, energy density of fat
RHO_L = 1816.4  # kcal/kg, energy density of lean tissue
ETA_F = 179.3  # kcal/kg, deposition cost of fat
ETA_L = 229.4  # kcal/kg, deposition cost of lean tissue
GAMMA_F = 3.107  # kcal/kg/day, fat maintenance
GAMMA_L = 21.99  # kcal/kg/day, lean maintenance
BETA_TEF = 0.10
PAL = 1.6
FORBES_C = 10.4  # kg, Forbes' constant: α = 10.4 / FM

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


# --------------------------------------------------------------------------- Theil–Sen


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


# --------------------------------------------------------------------------- Hall τ


def jackson_percent_fat(male: np.ndarray, age_years: np.ndarray, bmi: np.ndarray) -> np.ndarray:
    """Body fat % from BMI (Jackson et al. 2002): men ``0.14·age + 37.31·ln BMI − 103.94``,
    women ``0.14·age + 39.96·ln BMI − 102.01``."""
    age = np.asarray(age_years, dtype=float)
    with np.errstate(all="ignore"):
        ln_bmi = np.log(np.asarray(bmi, dtype=float))
        return np.where(
            male, 0.14 * age + 37.31 * ln_bmi - 103.94, 0.14 * age + 39.96 * ln_bmi - 102.01
        )


def mifflin_st_jeor_rmr(
    male: np.ndarray, weight_kg: np.ndarray, height_cm: np.ndarray, age_years: np.ndarray
) -> np.ndarray:
    """Resting metabolic rate (kcal/day), Mifflin–St Jeor (1990):
    ``10·kg + 6.25·cm − 5·age + 5`` for men, ``… − 161`` for women."""
    bw = np.asarray(weight_kg, dtype=float)
    height = np.asarray(height_cm, dtype=float)
    age = np.asarray(age_years, dtype=float)
    return 10.0 * bw + 6.25 * height - 5.0 * age + np.where(male, 5.0, -161.0)


def _hall_tau_arrays(
    sex: np.ndarray, age_years: np.ndarray, height_cm: np.ndarray, weight_kg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(τ, defaulted)``: vectorised ``hall_tau``; ``defaulted`` marks τ = 400 fallbacks."""
    sex_s = pd.Series(np.asarray(sex, dtype=object)).astype("string").str.strip().str.lower()
    male = (sex_s == "male").fillna(False).to_numpy(dtype=bool)
    female = (sex_s == "female").fillna(False).to_numpy(dtype=bool)
    age = np.asarray(age_years, dtype=float)
    height = np.asarray(height_cm, dtype=float)
    bw = np.asarray(weight_kg, dtype=float)
    known = (
        (male | female)
        & np.isfinite(age)
        & (age >= 0)
        & np.isfinite(height)
        & (height > 0)
        & np.isfinite(bw)
        & (bw > 0)
    )
    with np.errstate(all="ignore"):
        bmi = bw / (height / 100.0) ** 2
        fm = bw * jackson_percent_fat(male, age, bmi) / 100.0
        rmr = mifflin_st_jeor_rmr(male, bw, height, age)
        a = FORBES_C / fm
        delta = ((1.0 - BETA_TEF) * PAL - 1.0) * rmr / bw
        eps = (GAMMA_F + a * GAMMA_L) / (1.0 + a) + delta
        rho = (RHO_F + ETA_F + a * (RHO_L + ETA_L)) / (1.0 + a)
        tau = rho / eps
    valid = known & (fm > 0) & (fm < bw) & (eps > 0) & np.isfinite(tau) & (tau > 0)
    return np.where(valid, tau, DEFAULT_TAU_DAYS), ~valid


def hall_tau_array(
    sex: np.ndarray, age_years: np.ndarray, height_cm: np.ndarray, weight_kg: np.ndarray
) -> np.ndarray:
    """Vectorised ``hall_tau`` over aligned arrays (``sex`` as objects, None allowed)."""
    return _hall_tau_arrays(sex, age_years, height_cm, weight_kg)[0]


def hall_tau(
    sex: str | None, age_years: float | None, height_cm: float | None, weight_kg: float
) -> float:
    """Time constant τ (days) of the linearised Hall (2011) energy-balance model.

    ``α = 10.4/FM``, ``ε = (γF + α·γL)/(1 + α) + δ``, ``ρ = (ρF + ηF + α(ρL + ηL))/(1 + α)``,
    ``τ = ρ/ε`` with ``δ = ((1 − βTEF)·PAL − 1)·RMR/BW``, RMR by Mifflin–St Jeor (men +5,
    women −161) and fat mass from BMI by Jackson et al. (2002).  τ = 400 when sex, age or
    height is missing, and when the inputs fall outside the model's domain (fat mass not in
    ``(0, BW)`` or ``ε ≤ 0``).
    """
    tau = hall_tau_array(
        np.array([sex], dtype=object),
        np.array([np.nan if age_years is None else age_years], dtype=float),
        np.array([np.nan if height_cm is None else height_cm], dtype=float),
        np.array([weight_kg], dtype=float),
    )
    return float(tau[0])


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
