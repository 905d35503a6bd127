"""Reading and validating a chunk of users' training history: shared by both runs."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.validation import validate_sets, validate_users, validate_workouts
from fitness_jobs.db import reads


@dataclass
class TrainingHistory:
    """Users (with ``tz`` and ``first_session_at``), their workouts and sets, validated."""

    users: pd.DataFrame
    workouts: pd.DataFrame
    sets: pd.DataFrame
    failed: dict[int, str] = field(default_factory=dict)  # invalid_timezone users
    timezones: Counter[str] = field(default_factory=Counter)
    excluded_rows: Counter[str] = field(default_factory=Counter)


def load_training_history(
    conn: sa.Connection,
    user_ids: Sequence[int],
    *,
    until: dt.datetime,
    workouts_after: dt.datetime,
    sets_after: dt.datetime,
    now: dt.datetime,
) -> TrainingHistory:
    """Bulk-read the users, their earliest session, workouts finalized in
    ``(workouts_after, until]`` and sets of those finalized after ``sets_after``; then
    validate: invalid zones fail their user, bad rows are excluded and counted."""
    users = reads.users(conn, user_ids)
    first = reads.first_session_at(conn, user_ids, until)
    workouts = reads.workouts(conn, user_ids, workouts_after, until)
    sets = reads.workout_sets(conn, user_ids, sets_after, until)

    users, failed, timezones = validate_users(users)
    workouts, workouts_excluded = validate_workouts(workouts, now)
    sets, sets_excluded = validate_sets(sets, kept_workout_ids=set(workouts["workout_id"].tolist()))
    return TrainingHistory(
        users=users.merge(first, on="user_id", how="left"),
        workouts=workouts,
        sets=sets,
        failed=failed,
        timezones=timezones,
        excluded_rows=workouts_excluded + sets_excluded,
    )
