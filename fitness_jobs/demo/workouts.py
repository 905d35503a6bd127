"""Workouts: when each user trains, how long, how hard, and which are deleted users.

``make_workouts`` turns each user's weekly rhythm into sessions at their preferred *local*
hour, converted to UTC per zone (DST-correct), with statuses completed / partial /
abandoned and ``in_progress`` (only a workout running at ``now``: no ``finalized_at``, no
duration).  Nothing starts before the account exists or after ``now``.
``make_deletions`` marks ~1 % of users deleted: half after their last workout, half
*before* activity that goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fitness_jobs.demo.catalog import (
    P_CONSISTENT,
    P_LAPSING,
    P_NEW,
    S_ABANDONED,
    S_COMPLETED,
    S_IN_PROGRESS,
    S_PARTIAL,
)
from fitness_jobs.demo.config import (
    NAT,
    US_PER_DAY,
    US_PER_H,
    US_PER_MIN,
    US_PER_S,
    Calendar,
    FloatArray,
    IntArray,
    local_to_utc_us,
)
from fitness_jobs.demo.population import Population, window_mask


@dataclass
class Workouts:
    """One row per workout of a block, sorted by start time then user."""

    user: IntArray  # index into the population
    day: IntArray  # local day index
    start_us: IntArray
    fin_us: IntArray  # NAT when in progress
    duration: FloatArray  # seconds, NaN = NULL
    rpe: FloatArray  # NaN = NULL
    status: IntArray
    split: IntArray


def make_workouts(
    rng: np.random.Generator, pop: Population, cal: Calendar, extra_in_progress: bool
) -> Workouts:
    """The block's workouts; ``extra_in_progress`` puts ~0.5 % of users mid-workout at ``now``."""
    n, days = pop.n, cal.days
    rows = np.arange(n)
    weekday = cal.weekday(np.arange(days))
    p = np.where(pop.pref_days[:, weekday], pop.p_hit[:, None], pop.p_extra[:, None])
    p = p * window_mask(pop, rows, days)
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
    start_us = local_to_utc_us(local_us, pop.zone[user])

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
    return Workouts(
        user=user[sel],
        day=day[sel],
        start_us=start_us[sel],
        fin_us=fin_us[sel],
        duration=duration[sel],
        rpe=rpe[sel],
        status=status[sel],
        split=split[sel],
    )


def make_deletions(
    rng: np.random.Generator, pop: Population, wk: Workouts, cal: Calendar
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
