"""Coach usage (``llm_usage_daily``): which users talk to the AI coach, on which UTC days,
and how much — negative-binomial request counts, tokens proportional to requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitness_jobs.demo.config import US_PER_DAY, Calendar, IntArray
from fitness_jobs.demo.population import Population, window_mask


@dataclass
class CoachUsage:
    """One row per (user, UTC day) with coach requests."""

    user: IntArray
    day: IntArray
    requests: IntArray
    input_tokens: IntArray
    output_tokens: IntArray


def make_coach_usage(rng: np.random.Generator, pop: Population, cal: Calendar) -> CoachUsage:
    """Daily coach usage of the coach users, inside their activity windows."""
    rows = np.flatnonzero(pop.coach)
    days = cal.days
    p_user = rng.beta(1.5, 4.0, len(rows))
    created_day = (pop.created_us[rows] - cal.start_us) // US_PER_DAY
    d = np.arange(days)[None, :]
    mask = (
        window_mask(pop, rows, days)
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
    return CoachUsage(
        user=user,
        day=day.astype(np.int64),
        requests=requests.astype(np.int64),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
