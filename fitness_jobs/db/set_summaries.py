"""Sets read as one summary row per workout: what the validation and the volume load need
of a workout's sets, where the jobs need no set one by one (the nightly job's whole
window; the weekly report's weeks before the reported one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db.reads import among, read_frame
from fitness_jobs.db.schema import Workout, WorkoutSet
from fitness_jobs.db.validity import valid_set_value

SET_SUMMARY_COLUMNS = [
    "workout_id",
    "user_id",
    "sets",
    "invalid_reps",
    "invalid_weight",
    "volume_16ths",
    "inexact",
]


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _quarters(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """A whole number of quarters: its product with 4 equals its whole-number cast."""
    return column * 4 == sa.cast(column * 4, sa.BigInteger)


def set_summaries(
    conn: sa.Connection, user_ids: Sequence[int], after: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Per workout finalized in ``(after, until]`` with sets, what the validation and the
    volume load need of its sets, one row instead of one per set (``SET_SUMMARY_COLUMNS``):
    ``sets``; ``invalid_reps``; ``invalid_weight`` (reps valid, weight not), as
    ``validate_sets`` judges them (``db.validity``); ``volume_16ths``, Σ 16·reps·weight_kg
    of the valid working sets (``is_warmup`` not true) whose reps and weight are whole
    quarters, and ``inexact``, how many valid working sets are not.

    Whole quarters make every product and every partial sum exact in floating point, so
    the volume is the same float whatever the order of summation (as the sum of the sets
    one by one, in id order).  A user with an inexact set needs the sets themselves.
    Nested CASEs: a value is only cast once known valid (a NaN weight cannot be)."""
    w = Workout.__table__
    s = WorkoutSet.__table__
    reps_ok = valid_set_value(s, "reps")
    weight_ok = valid_set_value(s, "weight_kg")
    working = sa.and_(reps_ok, weight_ok, sa.not_(sa.func.coalesce(s.c.is_warmup, False)))
    exact = sa.and_(_quarters(s.c.reps), _quarters(s.c.weight_kg))
    product = sa.cast(s.c.reps, sa.Float) * sa.cast(s.c.weight_kg, sa.Float) * 16
    volume = sa.case((working, sa.case((exact, sa.cast(product, sa.BigInteger)), else_=0)), else_=0)
    inexact = sa.case((working, sa.case((exact, 0), else_=1)), else_=0)
    aggregates = [
        sa.func.count().label("sets"),
        _count(sa.not_(reps_ok)).label("invalid_reps"),
        _count(sa.and_(reps_ok, sa.not_(weight_ok))).label("invalid_weight"),
        sa.func.sum(volume).label("volume_16ths"),
        sa.func.sum(inexact).label("inexact"),
    ]
    chosen = (
        among(conn, w.c.user_id, user_ids),
        w.c.finalized_at > after,
        w.c.finalized_at <= until,
    )
    if conn.dialect.name == "postgresql":
        # Each chosen workout's sets through the index on workout_id (a LATERAL subquery
        # is a nested loop by construction).  A join left to the planner scans the whole
        # sets table as soon as it guesses many sets per workout, and then sorts them.
        per_workout = sa.select(*aggregates).where(s.c.workout_id == w.c.id).lateral("per_workout")
        stmt = (
            sa.select(w.c.id, w.c.user_id, *per_workout.c)
            .select_from(w.join(per_workout, sa.true()))
            .where(*chosen, per_workout.c.sets > 0)
            .order_by(w.c.id)
        )
    else:
        stmt = (
            sa.select(s.c.workout_id, w.c.user_id, *aggregates)
            .join(w, w.c.id == s.c.workout_id)
            .where(*chosen)
            .group_by(s.c.workout_id, w.c.user_id)
            .order_by(s.c.workout_id)
        )
    frame = read_frame(conn, stmt, SET_SUMMARY_COLUMNS)
    for col in SET_SUMMARY_COLUMNS:
        frame[col] = pd.to_numeric(frame[col]).astype("int64")
    return frame
