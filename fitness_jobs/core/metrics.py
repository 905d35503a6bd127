"""Nightly behaviour metrics (design §5, ``metrics_version`` 1), vectorised over users.

Everything is computed for all users at once: sessions are placed on an
``(n_users, HISTORY_DAYS)`` matrix indexed by *age* (``metrics_day − local day``,
so column 0 is each user's own metrics day, whatever it is), and every window,
week and series is a slice, a cumulative-sum difference or a ``bincount`` on it.
There is no Python loop over users.

Semantics the design leaves open (docs/design.md §5), as implemented here:

* Sessions are workouts with status ``completed``/``partial`` and ``finalized_at``
  not null and ``≤ cutoff``; ``abandoned`` workouts are counted (28-day window
  only) by the same rule.  ``in_progress`` and unknown statuses are ignored.
* A session's day is the local date of ``finalized_at`` in the user's zone.
* Weeks are local ISO weeks.  Week 0 is the current (partial) week containing
  the metrics day; weeks 1…52 are the complete weeks before it.  Streaks are
  therefore capped at 52 complete weeks (+1 for the current week).
* ``T`` is :func:`fitness_jobs.core.targets.weekly_targets` (whole number ≥ 1, else 3),
  the same rule as the weekly report's ``session_target``.
* ``days_since_last_session`` uses the latest supplied session (≤ cutoff) even if
  it is older than the history window; NULL (``pd.NA``) when there is none, and
  then ``lapse_risk = 'lapsed'``.
* ``preferred_hour_local`` is NULL when there is no session in the 90-day window
  *or* when the mean direction is undefined (resultant length R < 1e-9, e.g.
  exactly one session at 00:00 and one at 12:00); ``timing_consistency`` is then
  R (≈ 0), or NULL without sessions.  Sessions with a missing ``started_at`` are
  left out of both.  Hours are ``hour + minute/60`` (seconds ignored, per §5).
* ``acwr`` needs the local day of the earliest session ever to be ≥ 28 days
  before the metrics day; the earliest is the earlier of ``first_session_at``
  and the earliest supplied session.
* Volume load: sets of sessions in the window whose ``is_warmup`` is not true
  (NULL counts as a working set); a non-finite ``reps × weight_kg`` counts 0.

Output dtypes: ``int64`` for counts, streaks, ``weekly_target`` and
``coach_requests_7d``; ``float64`` with NaN for the nullable real metrics;
pandas nullable ``Int64`` (``pd.NA`` for NULL) for the two nullable integer
metrics ``days_since_last_session`` and ``preferred_weekday``; ``lapse_risk`` is
a string; ``metrics_date`` holds ``datetime.date`` objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitness_jobs.core import calendar, loads
from fitness_jobs.core.arrays import (
    day_numbers_of,
    grouped_quantiles,
    nullable_int,
    run_lengths,
    utc_values,
)
from fitness_jobs.core.columns import SetColumns, WorkoutColumns
from fitness_jobs.core.row_sessions import NEAR_DAYS, Pairs, row_sessions_of, volume_by_week
from fitness_jobs.core.targets import weekly_targets

METRICS_VERSION = 1

METRIC_COLUMNS: list[str] = [
    "sessions_7d",
    "sessions_28d",
    "sessions_30d",
    "completed_28d",
    "partial_28d",
    "abandoned_28d",
    "completion_rate_28d",
    "weekly_target",
    "adherence_4w",
    "current_streak_weeks",
    "longest_streak_weeks",
    "days_since_last_session",
    "gap_median_days",
    "gap_p90_days",
    "lapse_risk",
    "preferred_hour_local",
    "timing_consistency",
    "preferred_weekday",
    "weekly_sessions_cv_8w",
    "volume_load_7d",
    "volume_load_prev_7d",
    "volume_change_pct",
    "srpe_load_7d",
    "minutes_7d",
    "ctl",
    "atl",
    "tsb",
    "acwr",
    "coach_requests_7d",
]

OUTPUT_COLUMNS: list[str] = ["user_id", "metrics_date", "timezone", *METRIC_COLUMNS]

STREAK_WEEKS = 52  # complete weeks looked at for streaks
ACTIVITY_DAYS = 90  # gaps, preferred hour, preferred weekday
LOAD_DAYS = loads.LOAD_HISTORY_DAYS  # 180
ACWR_MIN_HISTORY_DAYS = 28
GAP_MIN_FOR_MEDIAN = 5  # fewer gaps → the 7/T fallback in the lapse ratio

# Local days before the metrics day whose workouts the caller must supply: the
# metrics day plus ages 1…HISTORY_DAYS-1 cover 52 complete weeks + the current
# week (at most 6 + 52·7 = 370 days back) and the 180-day load series.  Workouts
# with a local day in ``[metrics_day − HISTORY_DAYS, metrics_day]`` are enough;
# in UTC terms, ``finalized_at > cutoff − (HISTORY_DAYS + 2) days`` is safe.
HISTORY_DAYS = 372
SETS_HISTORY_DAYS = 14  # the two 7-day volume windows


LAPSED = "lapsed"
AT_RISK = "at_risk"
SLIPPING = "slipping"
ON_TRACK = "on_track"

_R_UNDEFINED = 1e-9


def _lowest_set_bit(width: int) -> np.ndarray:
    """The index of the lowest bit set of each value below ``2**width`` (``width`` for 0)."""
    values = np.arange(1 << width)
    lowest = np.full(values.size, width, dtype=np.int64)
    for bit in reversed(range(width)):
        lowest[(values >> bit) & 1 == 1] = bit
    return lowest


# The preferred weekday reads the activity days as 13 weeks of ages, a bit per week.
_WEEKS_OF_ACTIVITY = -(-ACTIVITY_DAYS // 7)
_LOWEST_BIT = _lowest_set_bit(_WEEKS_OF_ACTIVITY)


def _lapse_band(days_since: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        lapsed = ~(days_since < 30)  # also when days_since is NaN (no session)
        at_risk = (days_since >= 14) | (ratio > 3)
        slipping = ratio >= 1.5
    return np.select([lapsed, at_risk, slipping], [LAPSED, AT_RISK, SLIPPING], default=ON_TRACK)


def compute_behavior_metrics(
    users: pd.DataFrame,
    workouts: pd.DataFrame | WorkoutColumns,
    sets: pd.DataFrame | SetColumns,
    *,
    history: np.timedelta64 | None = None,
) -> pd.DataFrame:
    """Behaviour metrics of design §5 for every row of ``users``, in the same order.

    ``users``: ``user_id``, ``tz`` (valid canonical IANA name), ``weekly_session_target``
    (NaN → 3), ``metrics_day`` (day number), ``cutoff`` (UTC instant; later workouts
    are ignored), ``first_session_at`` (UTC or NaT), ``coach_requests_7d``.
    ``workouts``: ``workout_id``, ``user_id``, ``status``, ``started_at``, ``finalized_at``,
    ``duration_seconds``, ``session_rpe`` (already validated; any time range).
    ``sets``: ``workout_id``, ``reps``, ``weight_kg``, ``is_warmup`` (+ other columns).

    A user may have several rows, one per snapshot (a range of days: each row its own
    ``metrics_day`` and ``cutoff``); each row is what it would be computed alone, value
    for value (``core.row_sessions``).  ``history`` leaves out, for each row, the
    workouts finalized at or before ``cutoff − history``, as a read of that row's day
    starting there would.  Workouts or sets may come already converted
    (:class:`WorkoutColumns`, :class:`SetColumns`), and hold other users' rows too:
    workouts of users not in ``users`` count for no one.

    Returns ``user_id``, ``metrics_date``, ``timezone`` and :data:`METRIC_COLUMNS`.
    """
    w = workouts if isinstance(workouts, WorkoutColumns) else WorkoutColumns.of(workouts)
    set_values = sets if isinstance(sets, SetColumns) else SetColumns.of(sets)
    users = users.reset_index(drop=True)
    n = len(users)
    tz = users["tz"].astype(object)
    mday = users["metrics_day"].to_numpy(dtype=np.int64)
    wd = calendar.weekday(mday)
    target = weekly_targets(users["weekly_session_target"])
    cutoff = utc_values(users["cutoff"])
    seen, s, first_local = row_sessions_of(users, w, cutoff, history, HISTORY_DAYS)
    s_completed = w.completed[s.index]
    s_srpe = loads.session_srpe(w.rpe[s.index], w.duration[s.index])
    s_minutes = loads.session_minutes(w.duration[s.index])

    # Every (session, row) pair of the longest short window once; a shorter window is
    # its pairs of smaller ages, in the same order.
    in90 = seen.pairs(s.user, s.day, s.fin, ACTIVITY_DAYS)

    def window(days: int) -> Pairs:
        return in90.where(in90.age < days)

    # ---- near days (ages 0 … NEAR_DAYS−1): the pairs; far days: per user and day -------
    near = window(NEAR_DAYS)
    near_cell = near.row * NEAR_DAYS + near.age
    near_counts = np.bincount(near_cell, minlength=n * NEAR_DAYS).reshape(n, NEAR_DAYS)
    near_cum = np.zeros((n, NEAR_DAYS + 1), dtype=np.int64)
    np.cumsum(near_counts, axis=1, out=near_cum[:, 1:])

    def sessions_before(ages: np.ndarray) -> np.ndarray:
        """Sessions at ages below each of ``ages`` (``(n, m)``, each ≤ HISTORY_DAYS)."""
        near_part = np.take_along_axis(near_cum, np.minimum(ages, NEAR_DAYS), axis=1)
        return near_part + seen.far_sessions_before(np.maximum(ages, NEAR_DAYS))

    windows = sessions_before(np.broadcast_to(np.array([7, 28, 30]), (n, 3)))
    sessions_7d, sessions_28d, sessions_30d = windows[:, 0], windows[:, 1], windows[:, 2]

    in28 = window(28)
    completed = s_completed[in28.item]
    completed_28d = np.bincount(in28.row[completed], minlength=n)
    partial_28d = np.bincount(in28.row[~completed], minlength=n)
    abandoned_28d = np.bincount(seen.pairs(s.a_user, s.a_day, s.a_fin, 28).row, minlength=n)
    denom28 = completed_28d + partial_28d + abandoned_28d
    with np.errstate(divide="ignore", invalid="ignore"):
        completion_rate = np.where(denom28 > 0, completed_28d / np.maximum(denom28, 1), np.nan)

    # ---- weeks: week k covers ages (wd + 7(k−1), wd + 7k]; week 0 is ages [0, wd] ------
    bounds = wd[:, None] + 1 + 7 * np.arange(STREAK_WEEKS + 1)[None, :]
    cum_at = sessions_before(bounds)
    weeks = np.diff(cum_at, axis=1, prepend=0)  # (n, 53): [current, last complete, …]
    tf = target.astype(float)
    adherence_4w = np.minimum(1.0, weeks[:, 1:5] / tf[:, None]).mean(axis=1)
    met = weeks >= target[:, None]
    chrono_met = met[:, ::-1]  # oldest complete week … last complete week, current week
    runs = run_lengths(chrono_met)
    current_streak = runs[:, -2] + met[:, 0]
    longest_streak = runs.max(axis=1)

    last8 = weeks[:, 1:9].astype(float)
    mean8 = last8.mean(axis=1)
    sd8 = last8.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv_8w = np.where(mean8 > 0, sd8 / np.where(mean8 > 0, mean8, 1.0), np.nan)

    # ---- recency, gaps, lapse band ---------------------------------------------------
    big = np.iinfo(np.int64).max
    has_session, latest_day, earliest_day = seen.seen_day_range()
    min_age = np.where(has_session, mday - latest_day, big)
    days_since = np.where(has_session, min_age, np.nan).astype(float)

    # Judged per user and day before each row takes its days: a gather of bytes, not of
    # int64 counts.  Each row is followed by as many inactive days, so that the steps
    # between the active days of the flattened rows are a row's gaps where they are
    # shorter than ACTIVITY_DAYS (6 ms for 20k rows, where nonzero by row and age and a
    # comparison of rows took 19).
    activity = np.zeros((n, 2 * ACTIVITY_DAYS), dtype=bool)
    activity[:, :NEAR_DAYS] = near_counts > 0
    activity[:, NEAR_DAYS:ACTIVITY_DAYS] = seen.far_by_age(seen.day_counts > 0, ACTIVITY_DAYS)
    active_days = activity[:, :ACTIVITY_DAYS]
    flat = np.flatnonzero(activity)  # row-major: ages ascending within a row
    step = flat[1:] - flat[:-1]
    same = step < ACTIVITY_DAYS
    gaps = step[same]
    g_row = flat[1:][same] // (2 * ACTIVITY_DAYS)
    n_gaps = np.bincount(g_row, minlength=n)
    gap_median, gap_p90 = grouped_quantiles(g_row, gaps, n, (0.5, 0.9))
    lapse_denom = np.where(n_gaps >= GAP_MIN_FOR_MEDIAN, gap_median, 7.0 / tf)
    ratio = days_since / lapse_denom
    lapse_risk = _lapse_band(days_since, ratio)

    # ---- preferred hour (circular mean of local started_at clock hours) ---------------
    # started_at is NOT NULL in the schema: the pairs are filtered only if one is missing.
    timed_session = np.isfinite(s.minute)
    timed = in90 if timed_session.all() else in90.where(timed_session[in90.item])
    h_row = timed.row
    theta = s.minute / 60.0 * (2.0 * np.pi / 24.0)  # hour + minute/60 (seconds are not in §5)
    h_n = np.bincount(h_row, minlength=n).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cos = np.bincount(h_row, weights=np.cos(theta)[timed.item], minlength=n) / h_n
        mean_sin = np.bincount(h_row, weights=np.sin(theta)[timed.item], minlength=n) / h_n
    resultant = np.clip(np.hypot(mean_cos, mean_sin), 0.0, 1.0)
    pref_hour = np.mod(np.arctan2(mean_sin, mean_cos) * (24.0 / (2.0 * np.pi)), 24.0)
    pref_hour = np.where(pref_hour >= 24.0, 0.0, pref_hour)
    pref_hour = np.where((h_n > 0) & (resultant >= _R_UNDEFINED), pref_hour, np.nan)
    timing_consistency = np.where(h_n > 0, resultant, np.nan)

    # ---- preferred weekday among distinct session days (ties → most recent) ------------
    # Per row and j = age mod 7 (one weekday per j), the active days at ages 7m + j as
    # the bits m of one integer: their count is the bits set, the most recent the
    # lowest (5 ms for 20k rows, where reductions over a (row, m, j) array took 20).
    week_bits = np.zeros((n, 7), dtype=np.uint16)
    for m in range(_WEEKS_OF_ACTIVITY):
        days = active_days[:, 7 * m : 7 * m + 7]
        week_bits[:, : days.shape[1]] |= days.astype(np.uint16) << np.uint16(m)
    rel_counts = np.bitwise_count(week_bits)
    first_age = _LOWEST_BIT[week_bits] * 7 + np.arange(7)[None, :]
    max_count = rel_counts.max(axis=1)
    tied = rel_counts == max_count[:, None]
    best_j = np.where(tied, first_age, big).argmin(axis=1)
    pref_weekday = (wd - best_j) % 7

    # ---- volume load (working sets of sessions in the last 14 local days) -------------
    volume = volume_by_week(window(2 * 7), w.workout_id[s.index], set_values, n)
    volume_7d = volume[:, 0]
    volume_prev_7d = volume[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_change = np.where(
            volume_prev_7d > 0,
            100.0
            * (volume_7d - volume_prev_7d)
            / np.where(volume_prev_7d > 0, volume_prev_7d, 1.0),
            np.nan,
        )

    # ---- loads ------------------------------------------------------------------------
    in7 = window(7)
    srpe_7d = np.bincount(in7.row, weights=s_srpe[in7.item], minlength=n)
    minutes_7d = np.bincount(in7.row, weights=s_minutes[in7.item], minlength=n)

    near_load = np.bincount(near_cell, weights=s_srpe[near.item], minlength=n * NEAR_DAYS)
    # Day-major, oldest first (the pass over the days reads one day of every row at once).
    by_day = np.empty((LOAD_DAYS, n))
    seen.far_by_day(seen.day_sums(s_srpe), LOAD_DAYS, out=by_day[: LOAD_DAYS - NEAR_DAYS])
    by_day[LOAD_DAYS - NEAR_DAYS :] = near_load.reshape(n, NEAR_DAYS).T[::-1]
    series = by_day.T  # (n, LOAD_DAYS), last column the metrics day
    pmc = loads.training_loads(series)
    acwr = pmc["acwr"]

    first_day = np.where(has_session, earliest_day, big)
    fs_known = ~np.isnat(first_local)
    if fs_known.any():
        first_day = np.where(
            fs_known, np.minimum(first_day, day_numbers_of(first_local)), first_day
        )
    known_first = first_day != big
    days_before_first = mday - np.where(known_first, first_day, mday)
    history_ok = known_first & (days_before_first >= ACWR_MIN_HISTORY_DAYS)
    acwr = np.where(history_ok, acwr, np.nan)

    coach = pd.to_numeric(users["coach_requests_7d"], errors="coerce").fillna(0)

    out = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy(),
            "metrics_date": calendar.dates_of(mday).to_numpy(dtype=object),
            "timezone": tz.to_numpy(),
            "sessions_7d": sessions_7d.astype(np.int64),
            "sessions_28d": sessions_28d.astype(np.int64),
            "sessions_30d": sessions_30d.astype(np.int64),
            "completed_28d": completed_28d.astype(np.int64),
            "partial_28d": partial_28d.astype(np.int64),
            "abandoned_28d": abandoned_28d.astype(np.int64),
            "completion_rate_28d": completion_rate,
            "weekly_target": target,
            "adherence_4w": adherence_4w,
            "current_streak_weeks": current_streak.astype(np.int64),
            "longest_streak_weeks": longest_streak.astype(np.int64),
            "days_since_last_session": nullable_int(min_age, has_session),
            "gap_median_days": gap_median,
            "gap_p90_days": gap_p90,
            "lapse_risk": lapse_risk.astype(object),
            "preferred_hour_local": pref_hour,
            "timing_consistency": timing_consistency,
            "preferred_weekday": nullable_int(pref_weekday, max_count > 0),
            "weekly_sessions_cv_8w": cv_8w,
            "volume_load_7d": volume_7d,
            "volume_load_prev_7d": volume_prev_7d,
            "volume_change_pct": volume_change,
            "srpe_load_7d": srpe_7d,
            "minutes_7d": minutes_7d,
            "ctl": pmc["ctl"],
            "atl": pmc["atl"],
            "tsb": pmc["tsb"],
            "acwr": acwr,
            "coach_requests_7d": coach.to_numpy(dtype=np.int64),
        },
        columns=OUTPUT_COLUMNS,
    )
    return out
