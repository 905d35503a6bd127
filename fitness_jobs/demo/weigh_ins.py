"""Weigh-ins (``body_weight_logs``): who has a scale, how often they step on it, and the trend.

~60 % of users weigh in — near-daily, a few times a week, or too rarely for a prediction —
each morning in their own zone, around a start weight from their height (or sex) with a
losing, gaining or stable trend plus N(0, 0.4 kg) noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitness_jobs.demo.config import (
    US_PER_DAY,
    US_PER_S,
    Calendar,
    FloatArray,
    IntArray,
    local_to_utc_us,
)
from fitness_jobs.demo.population import Population, window_mask


@dataclass
class WeighIns:
    """One row per weigh-in."""

    user: IntArray
    day: IntArray
    measured_us: IntArray
    weight: FloatArray


def make_weigh_ins(rng: np.random.Generator, pop: Population, cal: Calendar) -> WeighIns:
    """Weigh-ins of the users with a scale, inside their activity windows, up to ``now``."""
    rows = np.flatnonzero(pop.has_scale)
    days = cal.days
    p_lo = np.array([0.75, 0.30, 0.03])[pop.weigh_freq[rows]]
    p_hi = np.array([0.95, 0.55, 0.08])[pop.weigh_freq[rows]]
    p_user = rng.uniform(p_lo, p_hi)
    mask = window_mask(pop, rows, days) & (rng.random((len(rows), days)) < p_user[:, None])
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
    measured = local_to_utc_us(local_us, pop.zone[user])
    keep = (measured > pop.created_us[user]) & (measured <= cal.now_us)
    return WeighIns(user=user[keep], day=day[keep], measured_us=measured[keep], weight=weight[keep])
