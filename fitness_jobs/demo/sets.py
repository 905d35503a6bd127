"""Workout sets: exercises of a push / pull / legs template, reps, weights, RPE, warm-ups.

A workout plans 10–25 straight sets over its template's exercises (~3–4 sets each);
partial, abandoned and in-progress workouts log only the first few.  Weights follow a
per-user strength level with slow progression, Epley-consistent for the reps; a compound
exercise usually opens with a lighter warm-up set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fitness_jobs.demo.catalog import (
    BODYWEIGHT,
    COMPOUND,
    EX_BASE,
    EX_KIND,
    EX_STEP,
    EXERCISES,
    S_ABANDONED,
    S_COMPLETED,
    S_PARTIAL,
    TEMPLATE_LEN,
    TEMPLATE_TABLE,
)
from fitness_jobs.demo.config import BoolArray, FloatArray, IntArray
from fitness_jobs.demo.population import Population
from fitness_jobs.demo.workouts import Workouts


@dataclass
class Sets:
    """One row per logged set, in workout order."""

    workout: IntArray  # index into Workouts
    exercise: npt.NDArray[np.int8]
    reps: IntArray
    weight: FloatArray
    rpe: FloatArray
    warmup: BoolArray


def segments(sizes: IntArray) -> tuple[IntArray, IntArray]:
    """For consecutive segments of ``sizes``: each element's segment and position in it."""
    seg = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    first = np.cumsum(sizes) - sizes
    pos = np.arange(len(seg), dtype=np.int64) - np.repeat(first, sizes)
    return seg, pos


def make_sets(rng: np.random.Generator, pop: Population, wk: Workouts) -> Sets:
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
    m = np.clip(np.round(base / 3.5), 1, TEMPLATE_LEN[wk.split]).astype(np.int64)
    used = np.where(total > 0, (total - 1) * m // base + 1, 0)  # blocks reached

    # ---- per block (one exercise of one workout)
    b_w, b_j = segments(used)
    nb = len(b_w)
    bm, bbase, btotal = m[b_w], base[b_w], total[b_w]
    b_start = (b_j * bbase + bm - 1) // bm
    b_size = np.minimum(((b_j + 1) * bbase + bm - 1) // bm, btotal) - b_start
    exercise = TEMPLATE_TABLE[wk.split[b_w], b_j]
    kind = EX_KIND[exercise]
    b_user = wk.user[b_w]
    warm = (kind == COMPOUND) & (rng.random(nb) < 0.85) & (btotal >= 6) & (b_size >= 2)

    ex_factor = rng.lognormal(0.0, 0.12, (pop.n, len(EXERCISES)))
    day_form = rng.uniform(0.97, 1.03, w)[b_w]
    e1rm = (
        EX_BASE[exercise]
        * pop.strength[b_user]
        * ex_factor[b_user, exercise]
        * (1.0 + pop.progression[b_user] * wk.day[b_w] / 90.0)  # slow progression
        * day_form
    )
    heavy = rng.random(nb) < 0.05
    reps = np.select(
        [kind == COMPOUND, kind == BODYWEIGHT],
        [np.where(heavy, rng.integers(1, 3, nb), rng.integers(3, 9, nb)), rng.integers(4, 13, nb)],
        rng.integers(8, 16, nb),
    )
    raw = e1rm / (1.0 + reps / 30.0) * rng.uniform(0.82, 0.95, nb)  # Epley, sub-maximal
    step = EX_STEP[exercise]
    work_w = np.round(raw / step) * step
    warm_w = np.round(raw * rng.uniform(0.4, 0.6, nb) / step) * step
    # bodyweight movements: the weight is what is added to the body (often nothing)
    bodyweight = kind == BODYWEIGHT
    work_w = np.where(
        bodyweight,
        np.maximum(0.0, np.round((raw - 0.55 * EX_BASE[exercise]) / step) * step),
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
    return Sets(
        workout=np.repeat(b_w, b_size),
        exercise=rep(exercise, np.int8),
        reps=set_reps.astype(np.int64),
        weight=set_w.astype(np.float64),
        rpe=rpe.astype(np.float64),
        warmup=is_warm,
    )
