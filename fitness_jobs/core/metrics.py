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
    FIRST_SESSION_LOCAL,
    day_numbers_of,
    grouped_quantiles,
    local_wall_times,
    minute_of_day,
    naive_values,
    nullable_int,
    run_lengths,
    utc_values,
)
from fitness_jobs.core.columns import SetColumns, WorkoutColumns
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
    after: np.datetime64 | None = None,
) -> pd.DataFrame:
    """Behaviour metrics of design §5 for every row of ``users``, in the same order.

    ``users``: ``user_id``, ``tz`` (valid canonical IANA name), ``weekly_session_target``
    (NaN → 3), ``metrics_day`` (day number), ``cutoff`` (UTC instant; later workouts
    are ignored), ``first_session_at`` (UTC or NaT), ``coach_requests_7d``.
    ``workouts``: ``workout_id``, ``user_id``, ``status``, ``started_at``, ``finalized_at``,
    ``duration_seconds``, ``session_rpe`` (already validated; any time range).
    ``sets``: ``workout_id``, ``reps``, ``weight_kg``, ``is_warmup`` (+ other columns).

    Either may come already converted (:class:`WorkoutColumns`, :class:`SetColumns`),
    and then hold other users' rows too (a range's block): workouts of users not in
    ``users`` count for no one, and ``after`` (naive UTC) leaves out the workouts
    finalized at or before it, as a read starting there would.

    Returns ``user_id``, ``metrics_date``, ``timezone`` and :data:`METRIC_COLUMNS`.
    """
    w = workouts if isinstance(workouts, WorkoutColumns) else WorkoutColumns.of(workouts)
    set_values = sets if isinstance(sets, SetColumns) else SetColumns.of(sets)
    users = users.reset_index(drop=True)
    n = len(users)
    user_index = pd.Index(users["user_id"].to_numpy())
    if not user_index.is_unique:
        raise ValueError("compute_behavior_metrics: users.user_id must be unique")

    tz = users["tz"].astype(object)
    mday = users["metrics_day"].to_numpy(dtype=np.int64)
    wd = calendar.weekday(mday)
    target = weekly_targets(users["weekly_session_target"])
    cutoff = utc_values(users["cutoff"])

    # ---- workouts → (row, age) of sessions and abandoned workouts -----------------
    row_all = user_index.get_indexer(w.user_id)
    is_session_all, is_completed_all = w.session, w.completed
    fin_all = w.finalized
    candidate = (row_all >= 0) & (is_session_all | w.abandoned) & ~np.isnat(fin_all)
    if after is not None:
        candidate &= fin_all > after
    cand_idx = np.flatnonzero(candidate)
    cand_idx = cand_idx[fin_all[cand_idx] <= cutoff[row_all[cand_idx]]]

    w_row = row_all[cand_idx]
    if w.day is not None and w.minute is not None and FIRST_SESSION_LOCAL in users:
        w_day = w.day[cand_idx]
        w_minute = w.minute[cand_idx]
        first_local = naive_values(users[FIRST_SESSION_LOCAL])
    else:
        # One zone-by-zone conversion for every instant needed: finalized_at and
        # started_at of the candidate workouts, and the users' first_session_at.
        n_cand = cand_idx.size
        tz_np = tz.to_numpy()
        local = local_wall_times(
            np.concatenate(
                [
                    fin_all[cand_idx],
                    w.started[cand_idx],
                    utc_values(users["first_session_at"]),
                ]
            ),
            np.concatenate([tz_np[w_row], tz_np[w_row], tz_np]),
        )
        w_day = day_numbers_of(local[:n_cand])
        w_minute = minute_of_day(local[n_cand : 2 * n_cand])  # NaN: started_at missing
        first_local = local[2 * n_cand :]
    w_age = mday[w_row] - w_day
    ok = w_age >= 0  # cannot happen when metrics_day is the local date at cutoff
    cand_idx, w_row, w_age, w_minute = cand_idx[ok], w_row[ok], w_age[ok], w_minute[ok]
    w_is_session = is_session_all[cand_idx]

    s_idx = cand_idx[w_is_session]
    s_row = w_row[w_is_session]
    s_age = w_age[w_is_session]
    s_minute = w_minute[w_is_session]
    s_completed = is_completed_all[s_idx]
    duration = w.duration[s_idx]
    rpe = w.rpe[s_idx]
    s_srpe = loads.session_srpe(rpe, duration)
    s_minutes = loads.session_minutes(duration)

    a_row = w_row[~w_is_session]
    a_age = w_age[~w_is_session]

    # ---- day matrix (age-indexed: column 0 = each user's metrics day) -------------
    H = HISTORY_DAYS
    in_hist = s_age < H
    counts = np.bincount(s_row[in_hist] * H + s_age[in_hist], minlength=n * H).reshape(n, H)
    csum = np.zeros((n, H + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=csum[:, 1:])

    sessions_7d = csum[:, 7]
    sessions_28d = csum[:, 28]
    sessions_30d = csum[:, 30]

    in28 = s_age < 28
    completed_28d = np.bincount(s_row[in28 & s_completed], minlength=n)
    partial_28d = np.bincount(s_row[in28 & ~s_completed], minlength=n)
    abandoned_28d = np.bincount(a_row[a_age < 28], minlength=n)
    denom28 = completed_28d + partial_28d + abandoned_28d
    with np.errstate(divide="ignore", invalid="ignore"):
        completion_rate = np.where(denom28 > 0, completed_28d / np.maximum(denom28, 1), np.nan)

    # ---- weeks: week k covers ages (wd + 7(k−1), wd + 7k]; week 0 is ages [0, wd] ------
    bounds = wd[:, None] + 1 + 7 * np.arange(STREAK_WEEKS + 1)[None, :]
    cum_at = np.take_along_axis(csum, bounds, axis=1)
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
    min_age = np.full(n, big, dtype=np.int64)
    np.minimum.at(min_age, s_row, s_age)
    has_session = min_age != big
    days_since = np.where(has_session, min_age, np.nan).astype(float)

    active_days = counts[:, :ACTIVITY_DAYS] > 0
    d_row, d_age = np.nonzero(active_days)  # row-major: ages ascending within a row
    same = d_row[1:] == d_row[:-1]
    gaps = (d_age[1:] - d_age[:-1])[same]
    g_row = d_row[1:][same]
    n_gaps = np.bincount(g_row, minlength=n)
    gap_median, gap_p90 = grouped_quantiles(g_row, gaps, n, (0.5, 0.9))
    lapse_denom = np.where(n_gaps >= GAP_MIN_FOR_MEDIAN, gap_median, 7.0 / tf)
    ratio = days_since / lapse_denom
    lapse_risk = _lapse_band(days_since, ratio)

    # ---- preferred hour (circular mean of local started_at clock hours) ---------------
    h_ok = (s_age < ACTIVITY_DAYS) & np.isfinite(s_minute)
    h_row = s_row[h_ok]
    hours = s_minute[h_ok] / 60.0  # hour + minute/60 (seconds are not part of §5's hour)
    theta = hours * (2.0 * np.pi / 24.0)
    h_n = np.bincount(h_row, minlength=n).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cos = np.bincount(h_row, weights=np.cos(theta), minlength=n) / h_n
        mean_sin = np.bincount(h_row, weights=np.sin(theta), minlength=n) / h_n
    resultant = np.clip(np.hypot(mean_cos, mean_sin), 0.0, 1.0)
    pref_hour = np.mod(np.arctan2(mean_sin, mean_cos) * (24.0 / (2.0 * np.pi)), 24.0)
    pref_hour = np.where(pref_hour >= 24.0, 0.0, pref_hour)
    pref_hour = np.where((h_n > 0) & (resultant >= _R_UNDEFINED), pref_hour, np.nan)
    timing_consistency = np.where(h_n > 0, resultant, np.nan)

    # ---- preferred weekday among distinct session days (ties → most recent) ------------
    n_wk_rows = -(-ACTIVITY_DAYS // 7)  # 13 rows of 7 ages
    padded = np.zeros((n, n_wk_rows * 7), dtype=bool)
    padded[:, :ACTIVITY_DAYS] = active_days
    by_rel = padded.reshape(n, n_wk_rows, 7)  # [row, m, j] = age 7m + j
    rel_counts = by_rel.sum(axis=1)  # per j = age mod 7 (one weekday per j)
    first_m = np.where(by_rel.any(axis=1), by_rel.argmax(axis=1), n_wk_rows)
    first_age = first_m * 7 + np.arange(7)[None, :]
    max_count = rel_counts.max(axis=1)
    tied = rel_counts == max_count[:, None]
    best_j = np.where(tied, first_age, big).argmin(axis=1)
    pref_weekday = (wd - best_j) % 7

    # ---- volume load (working sets of sessions in the last 14 local days) -------------
    v_sel = s_age < 2 * 7
    v_index = pd.Index(w.workout_id[s_idx[v_sel]])
    v_row = s_row[v_sel]
    v_bucket = (s_age[v_sel] >= 7).astype(np.int64)
    if not v_index.is_unique:  # validated data has unique ids; keep the first row
        first = ~v_index.duplicated()
        v_index, v_row, v_bucket = v_index[first], v_row[first], v_bucket[first]
    volume: np.ndarray = np.zeros((n, 2))
    if set_values.workout_id.size:
        set_pos = v_index.get_indexer(set_values.workout_id)
        vol = set_values.volume
        keep_set = (set_pos >= 0) & set_values.counts
        sp = set_pos[keep_set]
        volume = np.bincount(
            v_row[sp] * 2 + v_bucket[sp], weights=vol[keep_set], minlength=2 * n
        ).reshape(n, 2)
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
    in7 = s_age < 7
    srpe_7d = np.bincount(s_row[in7], weights=s_srpe[in7], minlength=n)
    minutes_7d = np.bincount(s_row[in7], weights=s_minutes[in7], minlength=n)

    in_load = s_age < LOAD_DAYS
    load_by_age = np.bincount(
        s_row[in_load] * LOAD_DAYS + s_age[in_load],
        weights=s_srpe[in_load],
        minlength=n * LOAD_DAYS,
    ).reshape(n, LOAD_DAYS)
    series = np.ascontiguousarray(load_by_age[:, ::-1])  # chronological, last = metrics day
    pmc = loads.training_loads(series)
    acwr = pmc["acwr"]

    max_age = np.full(n, -1, dtype=np.int64)
    np.maximum.at(max_age, s_row, s_age)
    first_day = np.where(max_age >= 0, mday - max_age, big)
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
