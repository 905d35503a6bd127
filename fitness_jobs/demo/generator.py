"""Realistic synthetic app data for demos, tests and benchmarks.

``generate_demo(config, now)`` builds the five app tables of DESIGN §3 as pandas frames,
fully vectorised with numpy (one ``numpy.random.Generator`` stream per table, derived
from ``config.seed``), and ``write_demo(engine, frames)`` bulk-inserts them in foreign-key
order through ``db.bulk.insert`` (COPY on PostgreSQL, chunked executemany on SQLite).

What is in the data
-------------------
* **Users** over ~35 IANA zones, including the awkward ones (Asia/Kathmandu +05:45,
  Pacific/Chatham +12:45/+13:45, America/St_Johns −03:30 with DST, Pacific/Kiritimati +14,
  Pacific/Pago_Pago −11, Australia/Lord_Howe with a 30-minute DST shift) and DST zones;
  ~2 % NULL zones (= UTC) and ~0.5 % non-canonical case variants (``europe/berlin``).
  Plans free/trial/pro (expired, running and NULL trials), optional weekly targets,
  profiles with some NULLs, ~1 % deleted (half after their last activity, half *before*
  activity that continues afterwards).
* **Personas** (never stored in the app tables; returned in the extra ``personas`` frame):
  ``consistent`` (trains ~T times a week on preferred weekdays at a preferred local hour),
  ``lapsing`` (trained, last session 2–5 weeks ago), ``new`` (joined in the last 3 weeks),
  ``returning`` (a gap of 4+ weeks, resumed in the last 2 weeks), ``churned`` (nothing in
  the last 45+ days: no workouts, weigh-ins or coach usage).
* **Workouts** at the preferred *local* hour converted to UTC per zone (DST-correct);
  statuses completed/partial/abandoned and ``in_progress`` (only workouts running at
  ``now``; ``finalized_at`` and ``duration_seconds`` NULL).  Nothing starts or finishes
  after ``now`` unless it is a deliberate bad row.
* **Sets** 10–25 per completed workout (fewer for partial/abandoned/in-progress) in
  push/pull/legs templates, warm-up sets, weights from a per-user strength level with slow
  progression (Epley-consistent for the reps).
* **Weigh-ins** for ~60 % of users (near-daily, a few a week, or too few) with a losing,
  gaining or stable trend plus N(0, 0.4 kg) noise.
* **Coach usage** (``llm_usage_daily``) on UTC dates, negative-binomial request counts,
  tokens proportional to requests.

Extra frames (ignored by ``write_demo``)
----------------------------------------
``personas``: ``user_id, persona, timezone`` (the canonical zone the history was generated
in, also for NULL, case-variant and invalid stored zones), ``preferred_hour_local``,
``preferred_weekdays`` ("0,2,4", Monday = 0), ``sessions_per_week``, ``activity_end`` and
``resumed_on`` (local dates), ``weigh_in_frequency``, ``weight_trend``,
``weight_slope_kg_per_week`` (the true slope), ``coach_user``, ``deleted``
(``before_activity``/``after_activity``/None).  ``bad_rows``: see below.

Bad rows (``with_bad_rows=True``)
---------------------------------
One *extra* user per kind in ``BAD_ROW_KINDS`` is appended after the normal users (ids
``first_user_id + users …``).  Each has an ordinary consistent/pro history plus exactly one
bad thing, so a test can assert that precisely that user fails (invalid time zone) or that
the one row is excluded.  The frame ``bad_rows`` lists ``user_id, kind, table, row_id,
column, value, sqlite_writable``.  The normal users' frames are identical with and
without bad rows (separate random streams, bad ids come after the good ones).

NaN and infinity: PostgreSQL ``real`` keeps NaN and ±Infinity, and ``write_demo`` writes
them as such.  SQLite stores a NaN REAL as NULL; in a nullable column that is what
happens, but ``workout_sets.weight_kg`` and ``body_weight_logs.weight_kg`` are NOT NULL,
so on SQLite a row whose NOT NULL REAL is NaN cannot exist and ``write_demo`` skips it
(``sqlite_writable = False`` in ``bad_rows``; the returned counts are rows written).
SQLite does store ±Infinity.  Integer columns cannot hold NaN on either backend, so bad
reps are absurd or negative numbers instead.

Determinism: the frames depend only on the config and ``now`` (``now`` defaults to the end
of ``config.today`` when ``today`` is given, else to the wall clock).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import bulk
from fitness_jobs.db.schema import APP_TABLES, Base

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
US_PER_H = 3600 * US_PER_S
US_PER_DAY = 86_400 * US_PER_S
NAT = np.iinfo(np.int64).min  # int64 view of NaT

PERSONAS: tuple[str, ...] = ("consistent", "lapsing", "new", "returning", "churned")
PERSONA_WEIGHTS = (0.40, 0.15, 0.12, 0.13, 0.20)
P_CONSISTENT, P_LAPSING, P_NEW, P_RETURNING, P_CHURNED = range(5)

STATUSES: tuple[str, ...] = ("completed", "partial", "abandoned", "in_progress")
S_COMPLETED, S_PARTIAL, S_ABANDONED, S_IN_PROGRESS = range(4)

PLANS: tuple[str, ...] = ("free", "trial", "pro")
PLAN_WEIGHTS = (0.50, 0.20, 0.30)
PL_FREE, PL_TRIAL, PL_PRO = range(3)

WEIGHT_TRENDS: tuple[str, ...] = ("losing", "gaining", "stable")
WEIGH_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "sparse")

# (zone, relative weight).  Every zone appears at least once when users >= len(ZONES).
ZONES: tuple[tuple[str, float], ...] = (
    ("UTC", 5),
    ("Europe/London", 8),
    ("Europe/Berlin", 8),
    ("Europe/Paris", 5),
    ("Europe/Madrid", 3),
    ("Europe/Moscow", 2),
    ("America/New_York", 10),
    ("America/Chicago", 5),
    ("America/Denver", 2),
    ("America/Phoenix", 1),
    ("America/Los_Angeles", 8),
    ("America/Toronto", 3),
    ("America/Mexico_City", 2),
    ("America/Sao_Paulo", 4),
    ("America/Santiago", 2),
    ("America/St_Johns", 1),
    ("Asia/Kolkata", 6),
    ("Asia/Tokyo", 4),
    ("Asia/Shanghai", 2),
    ("Asia/Singapore", 2),
    ("Asia/Dubai", 2),
    ("Asia/Kathmandu", 1),
    ("Asia/Tehran", 1),
    ("Asia/Jakarta", 1),
    ("Australia/Sydney", 3),
    ("Australia/Adelaide", 1),
    ("Australia/Lord_Howe", 1),
    ("Pacific/Auckland", 2),
    ("Pacific/Chatham", 1),
    ("Pacific/Kiritimati", 1),
    ("Pacific/Pago_Pago", 1),
    ("Pacific/Honolulu", 1),
    ("Africa/Lagos", 1),
    ("Africa/Johannesburg", 1),
)
ZONE_NAMES: tuple[str, ...] = tuple(z for z, _ in ZONES)
_ZONE_INDEX = {z: i for i, z in enumerate(ZONE_NAMES)}
REQUIRED_ZONES: tuple[str, ...] = (
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "America/Santiago",
    "UTC",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "America/Sao_Paulo",
)

_COMPOUND, _ACCESSORY, _BODYWEIGHT = range(3)
# name, primary muscle, secondary muscle, reference e1RM (kg, trained man), plate step, kind
EXERCISES: tuple[tuple[str, str, str | None, float, float, int], ...] = (
    ("bench press", "chest", "triceps", 95.0, 2.5, _COMPOUND),
    ("overhead press", "shoulders", "triceps", 60.0, 2.5, _COMPOUND),
    ("incline dumbbell press", "chest", "shoulders", 34.0, 2.0, _ACCESSORY),
    ("dip", "triceps", "chest", 30.0, 2.5, _BODYWEIGHT),
    ("lateral raise", "shoulders", None, 14.0, 1.0, _ACCESSORY),
    ("triceps pushdown", "triceps", None, 45.0, 2.5, _ACCESSORY),
    ("deadlift", "hamstrings", "back", 150.0, 2.5, _COMPOUND),
    ("pull-up", "back", "biceps", 30.0, 2.5, _BODYWEIGHT),
    ("barbell row", "back", "biceps", 85.0, 2.5, _COMPOUND),
    ("lat pulldown", "back", "biceps", 75.0, 2.5, _ACCESSORY),
    ("face pull", "shoulders", "back", 32.0, 2.5, _ACCESSORY),
    ("biceps curl", "biceps", None, 22.0, 1.0, _ACCESSORY),
    ("squat", "quads", "glutes", 125.0, 2.5, _COMPOUND),
    ("romanian deadlift", "hamstrings", "glutes", 110.0, 2.5, _COMPOUND),
    ("lunge", "quads", "glutes", 34.0, 2.0, _ACCESSORY),
    ("leg press", "quads", "glutes", 200.0, 5.0, _COMPOUND),
    ("leg curl", "hamstrings", None, 55.0, 2.5, _ACCESSORY),
    ("hip thrust", "glutes", "hamstrings", 130.0, 5.0, _COMPOUND),
    ("calf raise", "calves", None, 90.0, 5.0, _ACCESSORY),
)
EXERCISE_MUSCLES: dict[str, tuple[str, str | None]] = {e[0]: (e[1], e[2]) for e in EXERCISES}
_EX_NAMES = [e[0] for e in EXERCISES]
_MUSCLES = sorted({e[1] for e in EXERCISES} | {e[2] for e in EXERCISES if e[2] is not None})
_EX_PRIMARY = np.array([_MUSCLES.index(e[1]) for e in EXERCISES], dtype=np.int64)
_EX_SECONDARY = np.array(
    [_MUSCLES.index(e[2]) if e[2] is not None else -1 for e in EXERCISES], dtype=np.int64
)
_EX_BASE = np.array([e[3] for e in EXERCISES])
_EX_STEP = np.array([e[4] for e in EXERCISES])
_EX_KIND = np.array([e[5] for e in EXERCISES], dtype=np.int64)
# push / pull / legs, in session order
_TEMPLATES = (list(range(0, 6)), list(range(6, 12)), list(range(12, 19)))
_TEMPLATE_LEN = np.array([len(t) for t in _TEMPLATES], dtype=np.int64)
_TEMPLATE_TABLE = np.full((len(_TEMPLATES), int(_TEMPLATE_LEN.max())), -1, dtype=np.int64)
for _i, _t in enumerate(_TEMPLATES):
    _TEMPLATE_TABLE[_i, : len(_t)] = _t

# One extra user per kind; see the module docstring.
BAD_ROW_KINDS: tuple[str, ...] = (
    "timezone_utc_offset",  # 'UTC+3'
    "timezone_abbreviation",  # 'IST'
    "timezone_numeric_offset",  # '+05:30'
    "timezone_unknown",  # 'Mars/Base'
    "timezone_sql_injection",  # "Europe/Berlin'; DROP TABLE users; --"
    "body_weight_nan",
    "body_weight_infinite",
    "body_weight_absurd",  # 9999 kg
    "body_weight_negative",  # -5 kg
    "set_weight_nan",
    "set_weight_absurd",  # 2500 kg
    "set_weight_negative",  # -20 kg
    "set_reps_absurd",  # 1000 reps
    "set_reps_negative",  # -3 reps
    "duration_negative",  # -1800 s, finalized 30 min before started
    "duration_absurd",  # 3 days
    "future_finalized",  # a completed workout next year
    "future_weigh_in",  # a weigh-in next year
    "session_rpe_out_of_range",  # 15
    "duplicate_workout",  # exact copy (with its sets) under a new id
)
BAD_TIMEZONES: dict[str, tuple[str, str]] = {
    # kind: (stored value, zone the user really lives in, used to generate the history)
    "timezone_utc_offset": ("UTC+3", "Europe/Moscow"),
    "timezone_abbreviation": ("IST", "Asia/Kolkata"),
    "timezone_numeric_offset": ("+05:30", "Asia/Kolkata"),
    "timezone_unknown": ("Mars/Base", "UTC"),
    "timezone_sql_injection": ("Europe/Berlin'; DROP TABLE users; --", "Europe/Berlin"),
}

META_FRAMES: tuple[str, ...] = ("personas", "bad_rows")
"""Frames returned by ``generate_demo`` that are not app tables (``write_demo`` ignores them)."""


@dataclass(frozen=True)
class DemoConfig:
    users: int
    seed: int = 42
    days: int = 120  # history length, ending at `today`
    today: dt.date | None = None  # default: the UTC date of `now`
    with_bad_rows: bool = False
    first_user_id: int = 1


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Calendar:
    today: dt.date
    days: int
    start_day: int  # day number (days since 1970-01-01) of the first local day
    now_us: int

    @property
    def today_i(self) -> int:
        return self.days - 1

    @property
    def start_us(self) -> int:
        return self.start_day * US_PER_DAY

    def weekday(self, day_index: IntArray) -> IntArray:
        return (self.start_day + day_index + 3) % 7  # 1970-01-01 was a Thursday


def _calendar(config: DemoConfig, now: dt.datetime | None) -> _Calendar:
    if config.users < 0:
        raise ValueError("users must be >= 0")
    if config.days < 1:
        raise ValueError("days must be >= 1")
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(dt.UTC)
    elif config.today is not None:
        # The end of `today` (UTC): deterministic, nothing depends on the wall clock.
        now = dt.datetime.combine(config.today, dt.time.max, tzinfo=dt.UTC)
    else:
        now = dt.datetime.now(dt.UTC)
    today = config.today if config.today is not None else now.date()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = now - epoch
    now_us = (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds
    start_day = (today - dt.date(1970, 1, 1)).days - (config.days - 1)
    return _Calendar(today=today, days=config.days, start_day=start_day, now_us=now_us)


def _assign(
    rng: np.random.Generator, n: int, weights: tuple[float, ...], cover: bool = True
) -> IntArray:
    """Category codes drawn with ``weights``; every category present when ``n`` allows."""
    p = np.asarray(weights, dtype=float)
    codes = rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)
    if cover and n >= len(p):
        codes[rng.choice(n, size=len(p), replace=False)] = np.arange(len(p))
    return codes


def _local_to_utc_us(local_us: IntArray, zone: IntArray) -> IntArray:
    """Naive local wall times (µs) → UTC instants (µs), one tz_localize per zone.

    Wall times skipped by a DST jump move forward past the gap; repeated ones take the
    first occurrence (same rule as ``core.calendar.local_time_utc``).
    """
    out = np.empty(len(local_us), dtype=np.int64)
    if len(local_us) == 0:
        return out
    order = np.argsort(zone, kind="stable")
    bounds = np.flatnonzero(np.diff(zone[order])) + 1
    for grp in np.split(order, bounds):
        name = ZONE_NAMES[int(zone[grp[0]])]
        naive = pd.DatetimeIndex(local_us[grp].view("datetime64[us]"))
        aware = naive.tz_localize(
            name, ambiguous=np.ones(len(grp), dtype=bool), nonexistent="shift_forward"
        )
        out[grp] = aware.tz_convert("UTC").as_unit("us").asi8
    return out


def _ts(us: IntArray) -> pd.Series:
    """int64 µs since the epoch (NAT → NaT) as a tz-aware UTC Series."""
    idx = pd.DatetimeIndex(np.asarray(us, dtype=np.int64).view("datetime64[us]"))
    return pd.Series(idx.tz_localize("UTC"))


def _dates(day_numbers: IntArray, missing: BoolArray | None = None) -> npt.NDArray[np.object_]:
    out = np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype(object)
    if missing is not None:
        out[missing] = None
    return out


def _categorical(codes: npt.NDArray[Any], categories: list[str]) -> pd.Categorical[str]:
    """Categorical from integer codes (-1 = missing) without a Python-level pass."""
    return pd.Categorical.from_codes(cast(Any, codes), categories=pd.Index(categories))


def _nullable_int(values: FloatArray) -> pd.Series:
    """Float array with NaN for NULL → pandas nullable Int64."""
    arr = pd.array(np.where(np.isnan(values), 0, values).astype(np.int64), dtype="Int64")
    arr[np.isnan(values)] = pd.NA
    return pd.Series(arr)


# --------------------------------------------------------------------------- population


@dataclass
class _Population:
    n: int
    persona: IntArray
    zone: IntArray  # effective zone (index into ZONE_NAMES)
    tz_stored: npt.NDArray[np.object_]
    plan: IntArray
    trial_ends_us: IntArray
    target: FloatArray  # NaN = NULL
    sex: npt.NDArray[np.object_]
    birth_day: IntArray
    birth_missing: BoolArray
    height: FloatArray
    created_us: IntArray
    # behaviour
    freq: IntArray
    pref_days: BoolArray  # (n, 7)
    pref_hour: FloatArray
    hour_sd_min: FloatArray
    p_hit: FloatArray
    p_extra: FloatArray
    win_a: IntArray
    win_b: IntArray
    gap_a: IntArray
    gap_b: IntArray
    forced_day: IntArray
    strength: FloatArray
    progression: FloatArray
    split_offset: IntArray
    # weigh-ins
    has_scale: BoolArray
    weigh_freq: IntArray  # index into WEIGH_FREQUENCIES, -1 = none
    weight_trend: IntArray  # index into WEIGHT_TRENDS, -1 = none
    slope_kg_week: FloatArray
    # coach
    coach: BoolArray


def _population(
    rng: np.random.Generator, n: int, cal: _Calendar, bad_zones: list[str] | None = None
) -> _Population:
    """Users and their hidden behaviour.  ``bad_zones`` forces consistent pro users."""
    forced = bad_zones is not None
    days, today_i = cal.days, cal.today_i

    if forced:
        persona = np.full(n, P_CONSISTENT, dtype=np.int64)
        zone = np.array([_ZONE_INDEX[z] for z in bad_zones or []], dtype=np.int64)
        tz_stored = np.array(bad_zones, dtype=object)
        plan = np.full(n, PL_PRO, dtype=np.int64)
    else:
        persona = _assign(rng, n, PERSONA_WEIGHTS)
        zone = _assign(rng, n, tuple(w for _, w in ZONES), cover=False)
        # every zone at least once when n allows; ~2 % NULL (= UTC) and ~0.5 % case
        # variants on other users, so the covering users keep their canonical zone
        special = rng.permutation(n)
        skip = len(ZONES) if n >= len(ZONES) else 0
        zone[special[:skip]] = np.arange(skip)
        tz_stored = np.array(ZONE_NAMES, dtype=object)[zone]
        n_null = round(0.02 * n) if n >= 50 else (1 if n >= 10 else 0)
        n_case = round(0.005 * n) if n >= 200 else (1 if n >= 10 else 0)
        null_pos = special[skip : skip + n_null]
        case_pos = special[skip + n_null : skip + n_null + n_case]
        zone[null_pos] = _ZONE_INDEX["UTC"]
        tz_stored[null_pos] = None
        for j, pos in enumerate(case_pos):
            name = ZONE_NAMES[int(zone[pos])]
            upper = name.upper()
            tz_stored[pos] = upper if j % 3 == 0 and upper != name else name.lower()
        plan = _assign(rng, n, PLAN_WEIGHTS)

    # trials: expired, running, or no end date
    trial_ends_us = np.full(n, NAT, dtype=np.int64)
    trial_idx = np.flatnonzero(plan == PL_TRIAL)
    if len(trial_idx):
        state = _assign(rng, len(trial_idx), (0.45, 0.45, 0.10))
        past = cal.now_us - (rng.uniform(1, 60, len(trial_idx)) * US_PER_DAY).astype(np.int64)
        future = cal.now_us + (rng.uniform(1, 14, len(trial_idx)) * US_PER_DAY).astype(np.int64)
        trial_ends_us[trial_idx] = np.where(state == 0, past, np.where(state == 1, future, NAT))

    target = np.where(rng.random(n) < 0.6, rng.integers(2, 7, n), np.nan).astype(float)
    if forced:
        target[:] = 3
    sex_code = _assign(rng, n, (0.48, 0.48, 0.04), cover=not forced)
    sex = np.array(["male", "female", None], dtype=object)[sex_code]
    age_days = rng.uniform(18 * 365.25 + 1, 70 * 365.25, n).astype(np.int64)
    birth_day = (cal.start_day + today_i) - age_days
    birth_missing = rng.random(n) < 0.05
    mean_h = np.select([sex_code == 0, sex_code == 1], [178.0, 165.0], 171.0)
    height = np.round(rng.normal(mean_h, 7.0), 1)
    height[rng.random(n) < 0.05] = np.nan
    if forced:
        sex[:] = "male"
        birth_missing[:] = False
        height = np.where(np.isnan(height), 178.0, height)

    # creation and activity windows (local day indices, inclusive)
    created_us = cal.start_us - (rng.uniform(1, 400, n) * US_PER_DAY).astype(np.int64)
    win_a = np.zeros(n, dtype=np.int64)
    win_b = np.full(n, today_i, dtype=np.int64)
    gap_a = np.full(n, days + 1, dtype=np.int64)
    gap_b = np.full(n, days + 1, dtype=np.int64)
    forced_day = np.full(n, -1, dtype=np.int64)

    is_new = persona == P_NEW
    created_new = cal.now_us - (rng.uniform(1, 20, n) * US_PER_DAY).astype(np.int64)
    created_us = np.where(is_new, created_new, created_us)
    created_day_i = (created_new - cal.start_us) // US_PER_DAY
    win_a = np.where(is_new, np.clip(created_day_i + 1, 0, today_i), win_a)
    forced_day = np.where(is_new & (created_day_i + 1 <= today_i), win_a, forced_day)

    is_lapsing = persona == P_LAPSING
    stop_ago = np.minimum(rng.integers(14, 36, n), max(today_i - 7, 0))
    win_b = np.where(is_lapsing, today_i - stop_ago, win_b)
    forced_day = np.where(is_lapsing, today_i - stop_ago, forced_day)

    is_churned = persona == P_CHURNED
    churn_ago = rng.integers(47, 91, n)
    win_b = np.where(is_churned, today_i - churn_ago, win_b)
    forced_day = np.where(is_churned & (today_i - churn_ago >= 0), today_i - churn_ago, forced_day)

    is_returning = persona == P_RETURNING
    resume = today_i - rng.integers(2, 13, n)
    gap_start = resume - rng.integers(28, 61, n)
    gap_start = np.maximum(gap_start, np.minimum(7, resume - 21))
    gap_a = np.where(is_returning, gap_start, gap_a)
    gap_b = np.where(is_returning, resume, gap_b)
    forced_day = np.where(is_returning & (resume >= 0), resume, forced_day)

    # weekly rhythm: `freq` preferred weekdays, hit with p_hit, other days with p_extra
    freq = np.where(np.isnan(target), rng.integers(2, 6, n), np.nan_to_num(target)).astype(np.int64)
    freq = np.clip(freq, 1, 6)
    ranks = np.argsort(np.argsort(rng.random((n, 7)), axis=1), axis=1)
    pref_days = ranks < freq[:, None]
    consistent = persona == P_CONSISTENT
    p_hit = np.where(consistent, rng.uniform(0.9, 1.0, n), rng.uniform(0.6, 0.85, n))
    p_extra = rng.uniform(0.01, 0.05, n)
    slot = rng.choice(3, size=n, p=[0.35, 0.20, 0.45])
    pref_hour = np.select(
        [slot == 0, slot == 1],
        [rng.uniform(5.5, 8.5, n), rng.uniform(11.5, 13.5, n)],
        rng.uniform(16.5, 20.5, n),
    )
    pref_hour = np.round(pref_hour * 4) / 4
    hour_sd_min = np.where(consistent, 15.0, 35.0)

    sex_factor = np.select([sex_code == 0, sex_code == 1], [1.0, 0.62], 0.8)
    strength = rng.lognormal(np.log(0.85), 0.25, n) * sex_factor
    progression = rng.uniform(0.0, 0.10, n)  # e1RM gain per 90 days
    split_offset = rng.integers(0, 3, n)

    has_scale = rng.random(n) < 0.6
    weigh_freq = np.where(has_scale, _assign(rng, n, (0.40, 0.45, 0.15), cover=False), -1)
    weight_trend = np.where(has_scale, _assign(rng, n, (0.40, 0.20, 0.40), cover=False), -1)
    slope = np.select(
        [weight_trend == 0, weight_trend == 1],
        [-rng.uniform(0.3, 0.8, n), rng.uniform(0.1, 0.3, n)],
        0.0,
    )
    slope = np.where(has_scale, slope, np.nan)
    p_coach = np.select([plan == PL_PRO, plan == PL_TRIAL], [0.7, 0.6], 0.25)
    coach = rng.random(n) < p_coach
    if forced:
        has_scale[:] = True
        weigh_freq[:] = 0
        weight_trend[:] = 0
        slope = -rng.uniform(0.3, 0.8, n)
        coach[:] = True
        p_hit[:] = 0.95

    return _Population(
        n=n,
        persona=persona,
        zone=zone,
        tz_stored=tz_stored,
        plan=plan,
        trial_ends_us=trial_ends_us,
        target=target,
        sex=sex,
        birth_day=birth_day,
        birth_missing=birth_missing,
        height=height,
        created_us=created_us,
        freq=freq,
        pref_days=pref_days,
        pref_hour=pref_hour,
        hour_sd_min=hour_sd_min,
        p_hit=p_hit,
        p_extra=p_extra,
        win_a=win_a,
        win_b=win_b,
        gap_a=gap_a,
        gap_b=gap_b,
        forced_day=forced_day,
        strength=strength,
        progression=progression,
        split_offset=split_offset,
        has_scale=has_scale,
        weigh_freq=weigh_freq,
        weight_trend=weight_trend,
        slope_kg_week=slope,
        coach=coach,
    )


def _window_mask(pop: _Population, rows: IntArray, days: int) -> BoolArray:
    d = np.arange(days)[None, :]
    a, b = pop.win_a[rows, None], pop.win_b[rows, None]
    ga, gb = pop.gap_a[rows, None], pop.gap_b[rows, None]
    result: BoolArray = (d >= a) & (d <= b) & ~((d >= ga) & (d < gb))
    return result


# --------------------------------------------------------------------------- workouts


@dataclass
class _Workouts:
    user: IntArray  # index into the population
    day: IntArray  # local day index
    start_us: IntArray
    fin_us: IntArray  # NAT when in progress
    duration: FloatArray  # seconds, NaN = NULL
    rpe: FloatArray  # NaN = NULL
    status: IntArray
    split: IntArray


def _workouts(
    rng: np.random.Generator, pop: _Population, cal: _Calendar, extra_in_progress: bool
) -> _Workouts:
    n, days = pop.n, cal.days
    rows = np.arange(n)
    weekday = cal.weekday(np.arange(days))
    p = np.where(pop.pref_days[:, weekday], pop.p_hit[:, None], pop.p_extra[:, None])
    p = p * _window_mask(pop, rows, days)
    # lapsing users fade out over the three weeks before they stop
    fade = (pop.persona[:, None] == P_LAPSING) & (
        np.arange(days)[None, :] > pop.win_b[:, None] - 21
    )
    p = np.where(fade, p * 0.6, p)
    has_forced = pop.forced_day >= 0
    p[rows[has_forced], pop.forced_day[has_forced]] = 1.0
    user, day = np.nonzero(rng.random((n, days)) < p)
    user = user.astype(np.int64)
    day = day.astype(np.int64)
    w = len(user)

    sd = pop.hour_sd_min[user] * 60.0
    clip = np.where(pop.persona[user] == P_CONSISTENT, 45 * 60.0, 90 * 60.0)
    offset = np.clip(rng.normal(0.0, sd), -clip, clip)
    local_s = np.round(pop.pref_hour[user] * 3600 + offset).astype(np.int64)
    local_us = (cal.start_day + day) * US_PER_DAY + local_s * US_PER_S
    start_us = _local_to_utc_us(local_us, pop.zone[user])

    r = rng.random(w)
    status = np.select([r < 0.82, r < 0.92], [S_COMPLETED, S_PARTIAL], S_ABANDONED).astype(np.int64)
    mean_min = rng.uniform(45, 70, n)[user]
    planned = np.clip(rng.normal(mean_min, 8.0), 20.0, 90.0) * 60
    duration = np.select(
        [status == S_COMPLETED, status == S_PARTIAL],
        [planned, np.clip(planned * rng.uniform(0.5, 0.85, w), 20 * 60, 90 * 60)],
        rng.uniform(5, 19.9, w) * 60,
    )
    duration = np.round(duration)
    fin_us = start_us + duration.astype(np.int64) * US_PER_S
    user_rpe = rng.uniform(5.5, 8.0, n)[user]
    rpe = np.clip(np.round(rng.normal(user_rpe, 1.2)), 1, 10)
    rpe_missing = rng.random(w) < np.where(
        status == S_ABANDONED, 0.6, rng.uniform(0.0, 0.25, n)[user]
    )
    rpe[rpe_missing] = np.nan
    first = np.r_[0, np.flatnonzero(np.diff(user)) + 1] if w else np.zeros(0, dtype=np.int64)
    starts_of_user = np.repeat(first, np.diff(np.r_[first, w])) if w else first
    split = (pop.split_offset[user] + np.arange(w) - starts_of_user) % 3

    if extra_in_progress and n:
        # a few users are in the middle of a workout right now (guarantees the status)
        eligible = np.flatnonzero(
            np.isin(pop.persona, (P_CONSISTENT, P_NEW))
            & (pop.created_us < cal.now_us - 3 * US_PER_H)
        )
        k = min(len(eligible), max(1, round(0.005 * n)))
        chosen = np.sort(rng.choice(eligible, size=k, replace=False)) if k else eligible[:0]
        ip_start = cal.now_us - (rng.uniform(5, 80, k) * US_PER_MIN).astype(np.int64)
        user = np.r_[user, chosen]
        day = np.r_[day, np.full(k, cal.today_i)]
        start_us = np.r_[start_us, ip_start]
        fin_us = np.r_[fin_us, np.full(k, NAT)]
        duration = np.r_[duration, np.full(k, np.nan)]
        rpe = np.r_[rpe, np.full(k, np.nan)]
        status = np.r_[status, np.full(k, S_IN_PROGRESS)]
        split = np.r_[split, rng.integers(0, 3, k)]

    # nothing before the account existed, nothing starting after now;
    # a workout still running at now is in progress
    keep = (start_us > pop.created_us[user]) & (start_us <= cal.now_us)
    running = (status != S_IN_PROGRESS) & (fin_us > cal.now_us)
    status = np.where(running, S_IN_PROGRESS, status)
    fin_us = np.where(status == S_IN_PROGRESS, NAT, fin_us)
    duration = np.where(status == S_IN_PROGRESS, np.nan, duration)
    rpe = np.where(status == S_IN_PROGRESS, np.nan, rpe)

    order = np.lexsort((user[keep], start_us[keep]))
    sel = np.flatnonzero(keep)[order]
    return _Workouts(
        user=user[sel],
        day=day[sel],
        start_us=start_us[sel],
        fin_us=fin_us[sel],
        duration=duration[sel],
        rpe=rpe[sel],
        status=status[sel],
        split=split[sel],
    )


def _deletions(
    rng: np.random.Generator, pop: _Population, wk: _Workouts, cal: _Calendar
) -> tuple[IntArray, npt.NDArray[np.object_]]:
    """~1 % deleted: half after their last activity, half before activity that goes on."""
    n = pop.n
    deleted_us = np.full(n, NAT, dtype=np.int64)
    kind = np.full(n, None, dtype=object)
    if n < 10:
        return deleted_us, kind
    k = max(2, round(0.01 * n))
    in_progress_users = wk.user[wk.status == S_IN_PROGRESS]
    last_fin = np.full(n, NAT, dtype=np.int64)
    finalized = wk.fin_us != NAT
    np.maximum.at(last_fin, wk.user[finalized], wk.fin_us[finalized])
    count = np.bincount(wk.user, minlength=n)
    free = ~np.isin(np.arange(n), in_progress_users) & (count >= 3)
    before_pool = np.flatnonzero(free & (pop.persona == P_CONSISTENT))
    after_pool = np.flatnonzero(free & (pop.persona != P_CONSISTENT) & (last_fin != NAT))
    k_before = min(k // 2, len(before_pool))
    k_after = min(k - k_before, len(after_pool))
    before = rng.choice(before_pool, size=k_before, replace=False)
    after = rng.choice(after_pool, size=k_after, replace=False)
    # deleted 10–40 days ago; the user's workouts carry on afterwards
    deleted_us[before] = cal.now_us - (rng.uniform(10, 40, k_before) * US_PER_DAY).astype(np.int64)
    deleted_us[before] = np.maximum(deleted_us[before], pop.created_us[before] + US_PER_H)
    kind[before] = "before_activity"
    # deleted 1–72 hours after their last workout (never after now)
    gap = (rng.uniform(1, 72, k_after) * US_PER_H).astype(np.int64)
    deleted_us[after] = np.minimum(last_fin[after] + gap, cal.now_us - US_PER_MIN)
    kind[after] = "after_activity"
    return deleted_us, kind


# --------------------------------------------------------------------------- sets


@dataclass
class _Sets:
    workout: IntArray  # index into _Workouts
    exercise: npt.NDArray[np.int8]
    reps: IntArray
    weight: FloatArray
    rpe: FloatArray
    warmup: BoolArray


def _segments(sizes: IntArray) -> tuple[IntArray, IntArray]:
    """For consecutive segments of ``sizes``: each element's segment and position in it."""
    seg = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    pos = np.arange(len(seg), dtype=np.int64) - np.repeat(first, sizes)
    return seg, pos


def _sets(rng: np.random.Generator, pop: _Population, wk: _Workouts) -> _Sets:
    """Sets in exercise blocks (straight sets), drawn per block and repeated per set.

    A workout plans ``base`` sets (10–25) over ``m`` exercises of its push/pull/legs
    template (~3–4 sets each); partial, abandoned and in-progress workouts log only the
    first ``total`` of them.  A compound block usually opens with a lighter warm-up set.
    """
    w = len(wk.user)
    base = rng.integers(10, 26, w)
    total = np.select(
        [wk.status == S_COMPLETED, wk.status == S_PARTIAL, wk.status == S_ABANDONED],
        [base, np.maximum(3, np.round(base * rng.uniform(0.4, 0.8, w))), rng.integers(0, 7, w)],
        rng.integers(1, 13, w),
    ).astype(np.int64)
    total = np.minimum(total, base)
    m = np.clip(np.round(base / 3.5), 1, _TEMPLATE_LEN[wk.split]).astype(np.int64)
    used = np.where(total > 0, (total - 1) * m // base + 1, 0)  # blocks reached

    # ---- per block (one exercise of one workout)
    b_w, b_j = _segments(used)
    nb = len(b_w)
    bm, bbase, btotal = m[b_w], base[b_w], total[b_w]
    b_start = (b_j * bbase + bm - 1) // bm
    b_size = np.minimum(((b_j + 1) * bbase + bm - 1) // bm, btotal) - b_start
    exercise = _TEMPLATE_TABLE[wk.split[b_w], b_j]
    kind = _EX_KIND[exercise]
    b_user = wk.user[b_w]
    warm = (kind == _COMPOUND) & (rng.random(nb) < 0.85) & (btotal >= 6) & (b_size >= 2)

    ex_factor = rng.lognormal(0.0, 0.12, (pop.n, len(EXERCISES)))
    day_form = rng.uniform(0.97, 1.03, w)[b_w]
    e1rm = (
        _EX_BASE[exercise]
        * pop.strength[b_user]
        * ex_factor[b_user, exercise]
        * (1.0 + pop.progression[b_user] * wk.day[b_w] / 90.0)  # slow progression
        * day_form
    )
    heavy = rng.random(nb) < 0.05
    reps = np.select(
        [kind == _COMPOUND, kind == _BODYWEIGHT],
        [np.where(heavy, rng.integers(1, 3, nb), rng.integers(3, 9, nb)), rng.integers(4, 13, nb)],
        rng.integers(8, 16, nb),
    )
    raw = e1rm / (1.0 + reps / 30.0) * rng.uniform(0.82, 0.95, nb)  # Epley, sub-maximal
    step = _EX_STEP[exercise]
    work_w = np.round(raw / step) * step
    warm_w = np.round(raw * rng.uniform(0.4, 0.6, nb) / step) * step
    # bodyweight movements: the weight is what is added to the body (often nothing)
    bodyweight = kind == _BODYWEIGHT
    work_w = np.where(
        bodyweight,
        np.maximum(0.0, np.round((raw - 0.55 * _EX_BASE[exercise]) / step) * step),
        work_w,
    )
    warm_w = np.where(bodyweight, 0.0, warm_w)
    warm_reps = rng.integers(8, 13, nb)
    fails_last = (rng.random(nb) < 0.3) & (reps > 1)
    rpe0 = np.clip(np.round(rng.normal(7.0, 1.0, nb) * 2) / 2, 5.0, 9.5)
    logs_rpe = rng.uniform(0.4, 1.0, pop.n)[b_user]

    # ---- per set: block values repeated with narrow dtypes (this is ~15 rows per workout)
    def rep(values: npt.NDArray[Any], dtype: Any) -> npt.NDArray[Any]:
        return np.repeat(values.astype(dtype, copy=False), b_size)

    n_sets = int(b_size.sum())
    pos = np.ones(n_sets, dtype=np.int16)  # position within the block, via a resetting cumsum
    if n_sets:
        starts = np.cumsum(b_size)[:-1]
        pos[0] = 0
        pos[starts] = 1 - b_size[:-1]
        np.cumsum(pos, out=pos)
    s_warm = rep(warm, bool)
    is_warm = s_warm & (pos == 0)
    work_pos = pos - s_warm
    is_last = pos == rep(b_size, np.int16) - 1
    set_reps = np.where(
        is_warm, rep(warm_reps, np.int16), rep(reps, np.int16) - (is_last & rep(fails_last, bool))
    )
    set_w = np.where(is_warm, rep(warm_w, np.float32), rep(work_w, np.float32))
    rpe = np.where(
        is_warm,
        np.float32(5.0),
        np.minimum(np.float32(10.0), rep(rpe0, np.float32) + np.float32(0.5) * work_pos),
    )
    missing = rng.random(n_sets, dtype=np.float32) > np.where(
        is_warm, np.float32(0.15), rep(logs_rpe, np.float32)
    )
    rpe[missing] = np.nan
    return _Sets(
        workout=np.repeat(b_w, b_size),
        exercise=rep(exercise, np.int8),
        reps=set_reps.astype(np.int64),
        weight=set_w.astype(np.float64),
        rpe=rpe.astype(np.float64),
        warmup=is_warm,
    )


# --------------------------------------------------------------------------- weigh-ins, coach


@dataclass
class _WeighIns:
    user: IntArray
    day: IntArray
    measured_us: IntArray
    weight: FloatArray


def _weigh_ins(rng: np.random.Generator, pop: _Population, cal: _Calendar) -> _WeighIns:
    rows = np.flatnonzero(pop.has_scale)
    days = cal.days
    p_lo = np.array([0.75, 0.30, 0.03])[pop.weigh_freq[rows]]
    p_hi = np.array([0.95, 0.55, 0.08])[pop.weigh_freq[rows]]
    p_user = rng.uniform(p_lo, p_hi)
    mask = _window_mask(pop, rows, days) & (rng.random((len(rows), days)) < p_user[:, None])
    r, day = np.nonzero(mask)
    user = rows[r].astype(np.int64)
    day = day.astype(np.int64)

    sex = pop.sex
    height = pop.height
    bmi = np.select(
        [pop.weight_trend == 0, pop.weight_trend == 1],
        [rng.normal(29, 4, pop.n), rng.normal(22, 2.5, pop.n)],
        rng.normal(25, 3, pop.n),
    )
    bmi = np.clip(bmi, 18.5, 42.0)
    by_sex = np.where(
        sex == "male",
        rng.normal(84, 12, pop.n),
        np.where(sex == "female", rng.normal(68, 11, pop.n), rng.normal(76, 13, pop.n)),
    )
    w0 = np.where(np.isnan(height), by_sex, bmi * (np.nan_to_num(height, nan=170.0) / 100.0) ** 2)
    w0 = np.clip(w0, 42.0, 180.0)
    first_day = np.full(pop.n, days, dtype=np.int64)
    np.minimum.at(first_day, user, day)
    slope_day = np.nan_to_num(pop.slope_kg_week) / 7.0
    weight = w0[user] + slope_day[user] * (day - first_day[user]) + rng.normal(0.0, 0.4, len(user))
    weight = np.round(weight, 1)

    local_s = rng.integers(6 * 3600, 9 * 3600 + 1800, len(user))
    local_us = (cal.start_day + day) * US_PER_DAY + local_s * US_PER_S
    measured = _local_to_utc_us(local_us, pop.zone[user])
    keep = (measured > pop.created_us[user]) & (measured <= cal.now_us)
    return _WeighIns(
        user=user[keep], day=day[keep], measured_us=measured[keep], weight=weight[keep]
    )


@dataclass
class _Usage:
    user: IntArray
    day: IntArray
    requests: IntArray
    input_tokens: IntArray
    output_tokens: IntArray


def _usage(rng: np.random.Generator, pop: _Population, cal: _Calendar) -> _Usage:
    rows = np.flatnonzero(pop.coach)
    days = cal.days
    p_user = rng.beta(1.5, 4.0, len(rows))
    created_day = (pop.created_us[rows] - cal.start_us) // US_PER_DAY
    d = np.arange(days)[None, :]
    mask = (
        _window_mask(pop, rows, days)
        & (d >= created_day[:, None])
        & (rng.random((len(rows), days)) < p_user[:, None])
    )
    r, day = np.nonzero(mask)
    user = rows[r].astype(np.int64)
    # skewed: 1 + negative binomial around a per-user mean of ~1–10 requests a day
    mean_extra = rng.lognormal(np.log(2.5), 0.7, pop.n)[user]
    dispersion = 1.2
    requests = 1 + rng.negative_binomial(dispersion, dispersion / (dispersion + mean_extra))
    in_per = rng.uniform(600, 2200, pop.n)[user]
    out_per = rng.uniform(150, 700, pop.n)[user]
    noise = rng.lognormal(0.0, 0.2, (2, len(user)))
    input_tokens = np.round(requests * in_per * noise[0]).astype(np.int64)
    output_tokens = np.round(requests * out_per * noise[1]).astype(np.int64)
    return _Usage(
        user=user,
        day=day.astype(np.int64),
        requests=requests.astype(np.int64),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


# --------------------------------------------------------------------------- frames


@dataclass
class _Ids:
    user: int
    workout: int
    set: int
    weigh_in: int


def _block(
    ss: np.random.SeedSequence,
    n: int,
    cal: _Calendar,
    ids: _Ids,
    bad_zones: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    r_pop, r_wk, r_del, r_sets, r_bw, r_llm = (np.random.default_rng(s) for s in ss.spawn(6))
    pop = _population(r_pop, n, cal, bad_zones)
    wk = _workouts(r_wk, pop, cal, extra_in_progress=bad_zones is None)
    if bad_zones is None:
        deleted_us, deleted_kind = _deletions(r_del, pop, wk, cal)
    else:
        deleted_us, deleted_kind = np.full(n, NAT, dtype=np.int64), np.full(n, None, dtype=object)
    sets = _sets(r_sets, pop, wk)
    bw = _weigh_ins(r_bw, pop, cal)
    use = _usage(r_llm, pop, cal)

    user_ids = ids.user + np.arange(n, dtype=np.int64)
    workout_ids = ids.workout + np.arange(len(wk.user), dtype=np.int64)
    users = pd.DataFrame(
        {
            "id": user_ids,
            "email": pd.Series([f"user{i}@example.com" for i in user_ids.tolist()], dtype=object),
            "timezone": pd.Series(pop.tz_stored, dtype=object),
            "plan": pd.Series(np.array(PLANS, dtype=object)[pop.plan], dtype=object),
            "trial_ends_at": _ts(pop.trial_ends_us),
            "weekly_session_target": _nullable_int(pop.target),
            "sex": pd.Series(pop.sex, dtype=object),
            "birth_date": pd.Series(_dates(pop.birth_day, pop.birth_missing), dtype=object),
            "height_cm": pop.height,
            "created_at": _ts(pop.created_us),
            "deleted_at": _ts(deleted_us),
        }
    )
    workouts = pd.DataFrame(
        {
            "id": workout_ids,
            "user_id": user_ids[wk.user],
            "status": _categorical(wk.status, list(STATUSES)),
            "started_at": _ts(wk.start_us),
            "finalized_at": _ts(wk.fin_us),
            "duration_seconds": _nullable_int(wk.duration),
            "session_rpe": _nullable_int(wk.rpe),
        }
    )
    workout_sets = pd.DataFrame(
        {
            "id": np.arange(ids.set, ids.set + len(sets.workout), dtype=np.int64),
            "workout_id": sets.workout + ids.workout,
            "exercise": _categorical(sets.exercise, _EX_NAMES),
            "muscle_group": _categorical(_EX_PRIMARY.astype(np.int8)[sets.exercise], _MUSCLES),
            "secondary_muscle_group": _categorical(
                _EX_SECONDARY.astype(np.int8)[sets.exercise], _MUSCLES
            ),
            "reps": sets.reps,
            "weight_kg": sets.weight,
            "rpe": sets.rpe,
            "is_warmup": sets.warmup,
        }
    )
    body_weight_logs = pd.DataFrame(
        {
            "id": ids.weigh_in + np.arange(len(bw.user), dtype=np.int64),
            "user_id": user_ids[bw.user],
            "measured_at": _ts(bw.measured_us),
            "weight_kg": bw.weight,
        }
    )
    llm_usage_daily = pd.DataFrame(
        {
            "user_id": user_ids[use.user],
            "usage_date": pd.Series(_dates(cal.start_day + use.day), dtype=object),
            "request_count": use.requests,
            "input_tokens": use.input_tokens,
            "output_tokens": use.output_tokens,
        }
    )

    def _opt(codes: IntArray, names: tuple[str, ...]) -> pd.Series:
        out = np.full(len(codes), None, dtype=object)
        ok = codes >= 0
        out[ok] = np.array(names, dtype=object)[codes[ok]]
        return pd.Series(out, dtype=object)

    weekdays = [",".join(str(d) for d in np.flatnonzero(row)) for row in pop.pref_days]
    resumed = np.where(pop.persona == P_RETURNING, cal.start_day + pop.gap_b, 0)
    personas = pd.DataFrame(
        {
            "user_id": user_ids,
            "persona": pd.Series(np.array(PERSONAS, dtype=object)[pop.persona], dtype=object),
            "timezone": pd.Series(np.array(ZONE_NAMES, dtype=object)[pop.zone], dtype=object),
            "preferred_hour_local": pop.pref_hour,
            "preferred_weekdays": pd.Series(weekdays, dtype=object),
            "sessions_per_week": pop.freq,
            "activity_end": pd.Series(_dates(cal.start_day + pop.win_b), dtype=object),
            "resumed_on": pd.Series(_dates(resumed, pop.persona != P_RETURNING), dtype=object),
            "weigh_in_frequency": _opt(pop.weigh_freq, WEIGH_FREQUENCIES),
            "weight_trend": _opt(pop.weight_trend, WEIGHT_TRENDS),
            "weight_slope_kg_per_week": pop.slope_kg_week,
            "coach_user": pop.coach,
            "deleted": pd.Series(deleted_kind, dtype=object),
        }
    )
    return {
        "users": users,
        "workouts": workouts,
        "workout_sets": workout_sets,
        "body_weight_logs": body_weight_logs,
        "llm_usage_daily": llm_usage_daily,
        "personas": personas,
    }


def _inject_bad_rows(frames: dict[str, pd.DataFrame], cal: _Calendar) -> pd.DataFrame:
    """Put one bad thing on each user of the bad block (in place); returns ``bad_rows``."""
    # Any: scalar .loc reads and writes of mixed types are beyond pandas-stubs
    users: Any = frames["users"]
    workouts: Any = frames["workouts"]
    sets: Any = frames["workout_sets"]
    bw: Any = frames["body_weight_logs"]
    now = pd.Timestamp(cal.now_us, unit="us", tz="UTC")
    records: list[dict[str, Any]] = []

    def note(
        uid: int,
        kind: str,
        table: str,
        row_id: int,
        column: str,
        value: Any,
        sqlite_writable: bool = True,
    ) -> None:
        records.append(
            {
                "user_id": uid,
                "kind": kind,
                "table": table,
                "row_id": row_id,
                "column": column,
                "value": str(value),
                "sqlite_writable": sqlite_writable,
            }
        )

    def completed_workout(uid: int, min_age: pd.Timedelta) -> int:
        """Row position of the user's latest completed workout finalized before now − min_age."""
        cand = workouts.index[
            (workouts["user_id"] == uid)
            & (workouts["status"] == "completed")
            & (workouts["finalized_at"] <= now - min_age)
        ]
        # one with sets, so set-level kinds can pick one of its working sets
        with_sets = cand[workouts.loc[cand, "id"].isin(sets["workout_id"])]
        return int((with_sets if len(with_sets) else cand)[-1])

    new_workouts: list[pd.DataFrame] = []
    new_sets: list[pd.DataFrame] = []
    new_bw: list[pd.DataFrame] = []
    next_workout = int(workouts["id"].max()) + 1
    next_set = int(sets["id"].max()) + 1
    next_bw = int(bw["id"].max()) + 1

    value: Any
    for pos, kind in enumerate(BAD_ROW_KINDS):
        uid = int(users["id"].iloc[pos])
        if kind in BAD_TIMEZONES:
            value = BAD_TIMEZONES[kind][0]
            users.loc[users.index[pos], "timezone"] = value
            note(uid, kind, "users", uid, "timezone", value)
        elif kind.startswith("body_weight_"):
            value = {
                "body_weight_nan": float("nan"),
                "body_weight_infinite": float("inf"),
                "body_weight_absurd": 9999.0,
                "body_weight_negative": -5.0,
            }[kind]
            row = bw.index[bw["user_id"] == uid][-2]
            bw.loc[row, "weight_kg"] = value
            note(
                uid,
                kind,
                "body_weight_logs",
                int(bw.loc[row, "id"]),
                "weight_kg",
                value,
                sqlite_writable=kind != "body_weight_nan",
            )
        elif kind.startswith("set_"):
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            wid = int(workouts.loc[w_pos, "id"])
            row = sets.index[(sets["workout_id"] == wid) & ~sets["is_warmup"]][0]
            column, value = {
                "set_weight_nan": ("weight_kg", float("nan")),
                "set_weight_absurd": ("weight_kg", 2500.0),
                "set_weight_negative": ("weight_kg", -20.0),
                "set_reps_absurd": ("reps", 1000),
                "set_reps_negative": ("reps", -3),
            }[kind]
            sets.loc[row, column] = value
            note(
                uid,
                kind,
                "workout_sets",
                int(sets.loc[row, "id"]),
                column,
                value,
                sqlite_writable=kind != "set_weight_nan",
            )
        elif kind == "duration_negative":
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            workouts.loc[w_pos, "duration_seconds"] = -1800
            workouts.loc[w_pos, "finalized_at"] = workouts.loc[w_pos, "started_at"] - pd.Timedelta(
                seconds=1800
            )
            note(uid, kind, "workouts", int(workouts.loc[w_pos, "id"]), "duration_seconds", -1800)
        elif kind == "duration_absurd":
            w_pos = completed_workout(uid, pd.Timedelta(days=4))
            workouts.loc[w_pos, "duration_seconds"] = 3 * 86_400
            workouts.loc[w_pos, "finalized_at"] = workouts.loc[w_pos, "started_at"] + pd.Timedelta(
                days=3
            )
            note(
                uid,
                kind,
                "workouts",
                int(workouts.loc[w_pos, "id"]),
                "duration_seconds",
                3 * 86_400,
            )
        elif kind == "session_rpe_out_of_range":
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            workouts.loc[w_pos, "session_rpe"] = 15
            note(uid, kind, "workouts", int(workouts.loc[w_pos, "id"]), "session_rpe", 15)
        elif kind in ("future_finalized", "duplicate_workout"):
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            copy = workouts.loc[[w_pos]].copy()
            src_id = int(copy["id"].iloc[0])
            copy["id"] = next_workout
            if kind == "future_finalized":
                shift = pd.Timedelta(weeks=53)  # same weekday and local hour, next year
                copy["started_at"] = copy["started_at"] + shift
                copy["finalized_at"] = copy["finalized_at"] + shift
                column, value = "finalized_at", copy["finalized_at"].iloc[0].isoformat()
            else:
                column, value = "id", f"copy of workout {src_id}"
            copied_sets = sets[sets["workout_id"] == src_id].copy()
            copied_sets["id"] = np.arange(next_set, next_set + len(copied_sets), dtype=np.int64)
            copied_sets["workout_id"] = next_workout
            new_workouts.append(copy)
            new_sets.append(copied_sets)
            note(uid, kind, "workouts", next_workout, column, value)
            next_workout += 1
            next_set += len(copied_sets)
        elif kind == "future_weigh_in":
            last = bw[bw["user_id"] == uid].iloc[[-1]].copy()
            last["id"] = next_bw
            last["measured_at"] = last["measured_at"] + pd.Timedelta(days=365)
            new_bw.append(last)
            note(
                uid,
                kind,
                "body_weight_logs",
                next_bw,
                "measured_at",
                last["measured_at"].iloc[0].isoformat(),
            )
            next_bw += 1
        else:  # pragma: no cover - BAD_ROW_KINDS and this function go together
            raise AssertionError(kind)

    frames["workouts"] = pd.concat([workouts, *new_workouts], ignore_index=True)
    frames["workout_sets"] = pd.concat([sets, *new_sets], ignore_index=True)
    frames["body_weight_logs"] = pd.concat([bw, *new_bw], ignore_index=True)
    bad = pd.DataFrame.from_records(records)
    types: dict[str, Any] = {"user_id": np.int64, "row_id": np.int64, "sqlite_writable": bool}
    types.update(dict.fromkeys(("kind", "table", "column", "value"), object))
    return bad.astype(types)


def _empty_bad_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series(dtype=np.int64),
            "kind": pd.Series(dtype=object),
            "table": pd.Series(dtype=object),
            "row_id": pd.Series(dtype=np.int64),
            "column": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "sqlite_writable": pd.Series(dtype=bool),
        }
    )


def generate_demo(config: DemoConfig, now: dt.datetime | None = None) -> dict[str, pd.DataFrame]:
    """Synthetic app data: one frame per app table plus ``personas`` and ``bad_rows``.

    Columns of the app frames are the schema's; ids start at ``config.first_user_id`` for
    users and at 1 for workouts, sets and weigh-ins.  Timestamps are tz-aware UTC
    (``finalized_at``/``deleted_at``/``trial_ends_at`` NaT for NULL), dates are
    ``datetime.date`` objects, nullable integers are pandas ``Int64``.
    """
    cal = _calendar(config, now)
    root = np.random.SeedSequence(config.seed)
    good_ss, bad_ss = root.spawn(2)
    frames = _block(good_ss, config.users, cal, _Ids(config.first_user_id, 1, 1, 1))
    if not config.with_bad_rows:
        frames["bad_rows"] = _empty_bad_rows()
        return frames

    def _next(name: str) -> int:
        ids = frames[name]["id"]
        return int(ids.max()) + 1 if len(ids) else 1

    ids = _Ids(
        config.first_user_id + config.users,
        _next("workouts"),
        _next("workout_sets"),
        _next("body_weight_logs"),
    )
    # the zone each bad user really lives in (west, east, 45-minute, DST)
    spread = ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Sydney")
    zones = [
        BAD_TIMEZONES[kind][1] if kind in BAD_TIMEZONES else spread[i % len(spread)]
        for i, kind in enumerate(BAD_ROW_KINDS)
    ]
    bad_cal = _Calendar(
        today=cal.today,
        days=max(cal.days, 28),
        start_day=cal.start_day + cal.days - max(cal.days, 28),
        now_us=cal.now_us,
    )
    bad = _block(bad_ss, len(BAD_ROW_KINDS), bad_cal, ids, bad_zones=zones)
    bad_rows = _inject_bad_rows(bad, cal)
    for name, frame in bad.items():
        frames[name] = pd.concat([frames[name], frame], ignore_index=True)
    frames["bad_rows"] = bad_rows
    return frames


# --------------------------------------------------------------------------- writing


_WRITE_ORDER = tuple(t.name for t in Base.metadata.sorted_tables if t.name in APP_TABLES)
_ID_TABLES = ("users", "workouts", "workout_sets", "body_weight_logs")


def _column_values(series: pd.Series, column: sa.Column[Any], postgres: bool) -> list[Any]:
    """Plain Python values for one column of a chunk (None for NULL)."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        raw = (
            series.dt.tz_convert("UTC").dt.tz_localize(None)
            if isinstance(dtype, pd.DatetimeTZDtype)
            else series
        )
        # naive UTC datetimes; NaT → None.  Both write paths read naive as UTC.
        return list(raw.to_numpy(dtype="datetime64[us]").astype(object))
    if pd.api.types.is_float_dtype(dtype):
        arr = series.to_numpy(dtype=np.float64)
        values: list[Any] = arr.tolist()
        bad = np.flatnonzero(~np.isfinite(arr))
        for i in bad.tolist():
            v = arr[i]
            if np.isnan(v):
                if column.nullable:
                    values[i] = None
                elif postgres:
                    values[i] = decimal.Decimal("NaN")  # COPY writes NaN into real
            elif postgres:
                values[i] = decimal.Decimal("Infinity" if v > 0 else "-Infinity")
        if isinstance(column.type, sa.Integer):  # e.g. an int column turned float by NaN
            return [int(v) if isinstance(v, float) and math.isfinite(v) else v for v in values]
        return values
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return list(cast(Any, series).to_numpy(dtype=object, na_value=None))
        return list(series.to_numpy().tolist())
    obj = cast(Any, series).to_numpy(dtype=object, na_value=None)
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in obj]


def _records(frame: pd.DataFrame, table_name: str, postgres: bool) -> list[dict[str, Any]]:
    tbl = bulk.table(table_name)
    cols = [c.name for c in tbl.columns if c.name in frame.columns]
    columns = [_column_values(frame[c], tbl.c[c], postgres) for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*columns, strict=True)]


def _unwritable_on_sqlite(frame: pd.DataFrame, table_name: str) -> npt.NDArray[np.bool_]:
    """Rows with NaN in a NOT NULL REAL column: SQLite would store NULL and refuse them."""
    tbl = bulk.table(table_name)
    drop = np.zeros(len(frame), dtype=bool)
    for col in tbl.columns:
        if (
            col.name in frame.columns
            and not col.nullable
            and pd.api.types.is_float_dtype(frame[col.name].dtype)
        ):
            drop |= np.isnan(frame[col.name].to_numpy(dtype=np.float64))
    return drop


def _check_empty_id_ranges(engine: sa.Engine, frames: Mapping[str, pd.DataFrame]) -> None:
    with engine.connect() as conn:
        for name in _ID_TABLES:
            frame = frames.get(name)
            if frame is None or frame.empty:
                continue
            lo, hi = int(frame["id"].min()), int(frame["id"].max())
            tbl = bulk.table(name)
            hit = conn.execute(sa.select(tbl.c.id).where(tbl.c.id.between(lo, hi)).limit(1)).first()
            if hit is not None:
                raise ValueError(
                    f"{name} already has rows with ids in {lo}..{hi}: demo data uses explicit "
                    "ids (workouts, sets and weigh-ins from 1), so seed an empty database"
                )


def _bump_sequences(conn: sa.Connection) -> None:
    """PostgreSQL: move serial/identity sequences past the explicit ids just inserted."""
    for name in _ID_TABLES:
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}).scalar()
        if seq:
            tbl = bulk.table(name)
            max_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(tbl.c.id), 0))).scalar()
            conn.execute(
                sa.text("SELECT setval(CAST(:seq AS regclass), :v, false)"),
                {"seq": seq, "v": int(max_id or 0) + 1},
            )


def write_demo(
    engine: sa.Engine,
    frames: Mapping[str, pd.DataFrame],
    progress: Callable[[str, int, int], None] | None = None,
    chunk_rows: int = 50_000,
) -> dict[str, int]:
    """Bulk-insert the app frames in FK order; returns rows written per table.

    Each chunk of ``chunk_rows`` rows is one ``db.bulk.insert`` (COPY on PostgreSQL)
    in its own transaction, followed by ``progress(table, done, total)``.  Frames that
    are not app tables (``personas``, ``bad_rows``) are ignored.  The target tables must
    not already hold the demo's ids.  On SQLite, rows with NaN in a NOT NULL REAL column
    are skipped (see the module docstring), so counts can be below the frame lengths.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    postgres = engine.dialect.name == "postgresql"
    _check_empty_id_ranges(engine, frames)
    written: dict[str, int] = {}
    for name in _WRITE_ORDER:
        frame = frames.get(name)
        if frame is None:
            continue
        if not postgres:
            drop = _unwritable_on_sqlite(frame, name)
            if drop.any():
                log.warning(
                    "SQLite cannot store %d %s rows with NaN in a NOT NULL column; skipped",
                    int(drop.sum()),
                    name,
                )
                frame = frame[~drop]
        total = len(frame)
        done = 0
        for start in range(0, total, chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            records = _records(chunk, name, postgres)
            with engine.begin() as conn:
                bulk.insert(conn, name, records)
            done += len(records)
            if progress is not None:
                progress(name, done, total)
        if total == 0 and progress is not None:
            progress(name, 0, 0)
        written[name] = done
    if postgres:
        with engine.begin() as conn:
            _bump_sequences(conn)
    return written
