"""SQL forms of the row validation, for reads that aggregate in the database.

Most reads ship rows to ``fitness_jobs.core.validation``, which excludes bad ones.  A few
quantities are aggregated in SQL instead, because their history is unbounded: each
user's first session (the ACWR history rule), active users, and the best e1RM per
exercise before a week (personal records).  They must see exactly the rows the pandas
validation keeps, so these predicates are built from the same limits
(``WORKOUT_BOUNDS``, ``SET_BOUNDS``, ``VALID_STATUSES``, ``FUTURE_TOLERANCE``); nothing
here repeats a number.  Duplicate workouts need no rule here: a duplicate has the same
instants as the row it copies, so it changes no minimum and no maximum.

NaN and ±inf fail every range on PostgreSQL (NaN sorts above all numbers); SQLite
stores NaN as NULL, which is "missing" for both sides.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from fitness_jobs.core.validation import (
    FUTURE_TOLERANCE,
    SET_BOUNDS,
    VALID_STATUSES,
    WORKOUT_BOUNDS,
)


def valid_workout(w: sa.Table | sa.FromClause, now: dt.datetime) -> sa.ColumnElement[bool]:
    """Rows of ``workouts`` that ``validate_workouts(…, now)`` keeps (duplicates aside)."""
    latest = now.astimezone(dt.UTC) + FUTURE_TOLERANCE.to_pytimedelta()
    conditions: list[sa.ColumnElement[bool]] = [
        w.c.status.in_(VALID_STATUSES),
        w.c.started_at.is_not(None),
        w.c.started_at <= latest,
        sa.or_(w.c.finalized_at.is_(None), w.c.finalized_at <= latest),
        sa.or_(w.c.finalized_at.is_(None), w.c.started_at <= w.c.finalized_at),
    ]
    for column, (low, high) in WORKOUT_BOUNDS.items():
        conditions.append(sa.or_(w.c[column].is_(None), w.c[column].between(low, high)))
    return sa.and_(*conditions)


def valid_set(s: sa.Table | sa.FromClause) -> sa.ColumnElement[bool]:
    """Rows of ``workout_sets`` that ``validate_sets`` keeps (their workout checked apart)."""
    return sa.and_(*(s.c[column].between(low, high) for column, (low, high) in SET_BOUNDS.items()))


def valid_set_value(s: sa.Table | sa.FromClause, column: str) -> sa.ColumnElement[bool]:
    """``column`` of ``workout_sets`` within its ``SET_BOUNDS`` (NULL, NaN, ±inf: not)."""
    low, high = SET_BOUNDS[column]
    return sa.func.coalesce(s.c[column].between(low, high), sa.false())
