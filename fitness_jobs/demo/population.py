"""Who the demo users are: profile, plan, time zone, persona and hidden habits.

``make_population`` draws one block of users: the stored profile (plan and trial, weekly
target, sex, birth date, height, creation time, the stored time-zone string with ~2 % NULL
and ~0.5 % case variants) and what drives their history — the persona (consistent,
lapsing, new, returning, churned) and its activity window, preferred weekdays and hour,
strength and progression, scale habits and weight trend, coach use.  Every category is
present in a block when its size allows.  ``bad_zones`` builds the bad-row users instead:
consistent pro users in given zones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fitness_jobs.demo.catalog import (
    P_CHURNED,
    P_CONSISTENT,
    P_LAPSING,
    P_NEW,
    P_RETURNING,
    PERSONA_WEIGHTS,
    PL_PRO,
    PL_TRIAL,
    PLAN_WEIGHTS,
    ZONE_INDEX,
    ZONE_NAMES,
    ZONES,
)
from fitness_jobs.demo.config import NAT, US_PER_DAY, BoolArray, Calendar, FloatArray, IntArray


def assign(
    rng: np.random.Generator, n: int, weights: tuple[float, ...], cover: bool = True
) -> IntArray:
    """Category codes drawn with ``weights``; every category present when ``n`` allows."""
    p = np.asarray(weights, dtype=float)
    codes = rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)
    if cover and n >= len(p):
        codes[rng.choice(n, size=len(p), replace=False)] = np.arange(len(p))
    return codes


@dataclass
class Population:
    """One block of users (index = position in the block) and their hidden behaviour."""

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


def make_population(
    rng: np.random.Generator, n: int, cal: Calendar, bad_zones: list[str] | None = None
) -> Population:
    """Users and their hidden behaviour.  ``bad_zones`` forces consistent pro users."""
    forced = bad_zones is not None
    days, today_i = cal.days, cal.today_i

    if forced:
        persona = np.full(n, P_CONSISTENT, dtype=np.int64)
        zone = np.array([ZONE_INDEX[z] for z in bad_zones or []], dtype=np.int64)
        tz_stored = np.array(bad_zones, dtype=object)
        plan = np.full(n, PL_PRO, dtype=np.int64)
    else:
        persona = assign(rng, n, PERSONA_WEIGHTS)
        zone = assign(rng, n, tuple(w for _, w in ZONES), cover=False)
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
        zone[null_pos] = ZONE_INDEX["UTC"]
        tz_stored[null_pos] = None
        for j, pos in enumerate(case_pos):
            name = ZONE_NAMES[int(zone[pos])]
            upper = name.upper()
            tz_stored[pos] = upper if j % 3 == 0 and upper != name else name.lower()
        plan = assign(rng, n, PLAN_WEIGHTS)

    # trials: expired, running, or no end date
    trial_ends_us = np.full(n, NAT, dtype=np.int64)
    trial_idx = np.flatnonzero(plan == PL_TRIAL)
    if len(trial_idx):
        state = assign(rng, len(trial_idx), (0.45, 0.45, 0.10))
        past = cal.now_us - (rng.uniform(1, 60, len(trial_idx)) * US_PER_DAY).astype(np.int64)
        future = cal.now_us + (rng.uniform(1, 14, len(trial_idx)) * US_PER_DAY).astype(np.int64)
        trial_ends_us[trial_idx] = np.where(state == 0, past, np.where(state == 1, future, NAT))

    target = np.where(rng.random(n) < 0.6, rng.integers(2, 7, n), np.nan).astype(float)
    if forced:
        target[:] = 3
    sex_code = assign(rng, n, (0.48, 0.48, 0.04), cover=not forced)
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
    weigh_freq = np.where(has_scale, assign(rng, n, (0.40, 0.45, 0.15), cover=False), -1)
    weight_trend = np.where(has_scale, assign(rng, n, (0.40, 0.20, 0.40), cover=False), -1)
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

    return Population(
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


def window_mask(pop: Population, rows: IntArray, days: int) -> BoolArray:
    """(rows × days): the days each user is active (their window minus any gap)."""
    d = np.arange(days)[None, :]
    a, b = pop.win_a[rows, None], pop.win_b[rows, None]
    ga, gb = pop.gap_a[rows, None], pop.gap_b[rows, None]
    result: BoolArray = (d >= a) & (d <= b) & ~((d >= ga) & (d < gb))
    return result
