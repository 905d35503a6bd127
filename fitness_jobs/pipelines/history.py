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


@dataclass
class RawHistory:
    """What ``read_training_history`` fetched, before validation."""

    users: pd.DataFrame
    first_sessions: pd.DataFrame
    workouts: pd.DataFrame
    sets: pd.DataFrame


def read_training_history(
    conn: sa.Connection,
    user_ids: Sequence[int],
    *,
    until: dt.datetime,
    workouts_after: dt.datetime,
    sets_after: dt.datetime,
) -> RawHistory:
    """Bulk-read the users, their earliest session, workouts finalized in
    ``(workouts_after, until]`` and the sets of those finalized after ``sets_after``."""
    return RawHistory(
        users=reads.users(conn, user_ids),
        first_sessions=reads.first_session_at(conn, user_ids, until),
        workouts=reads.workouts(conn, user_ids, workouts_after, until),
        sets=reads.workout_sets(conn, user_ids, sets_after, until),
    )


def validate_training_history(raw: RawHistory, now: dt.datetime) -> TrainingHistory:
    """Invalid zones fail their user; bad rows are excluded and counted (DESIGN §8)."""
    users, failed, timezones = validate_users(raw.users)
    workouts, workouts_excluded = validate_workouts(raw.workouts, now)
    sets, sets_excluded = validate_sets(
        raw.sets, kept_workout_ids=set(workouts["workout_id"].tolist())
    )
    return TrainingHistory(
        users=users.merge(raw.first_sessions, on="user_id", how="left"),
        workouts=workouts,
        sets=sets,
        failed=failed,
        timezones=timezones,
        excluded_rows=workouts_excluded + sets_excluded,
    )
