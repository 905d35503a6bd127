"""Reading and validating a chunk of users' training history: shared by both jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from fitness_jobs.core.validation import validate_sets, validate_users, validate_workouts
from fitness_jobs.db import reads
from fitness_jobs.pipelines.runner import Frames, Validated


def read_history(
    conn: sa.Connection,
    user_ids: Sequence[int],
    *,
    until: dt.datetime,
    workouts_after: dt.datetime,
    sets_after: dt.datetime,
    now: dt.datetime,
) -> Frames:
    """Bulk-read the users, their earliest valid session, the workouts finalized in
    ``(workouts_after, until]`` and the sets of those finalized after ``sets_after``."""
    return {
        "users": reads.users(conn, user_ids),
        "first_sessions": reads.first_session_at(conn, user_ids, until, now=now),
        "workouts": reads.workouts(conn, user_ids, workouts_after, until),
        "sets": reads.workout_sets(conn, user_ids, sets_after, until),
    }


def validate_history(raw: Frames, now: dt.datetime) -> Validated:
    """Invalid zones fail their user; bad rows are excluded and counted (design §8).
    ``users`` gains ``tz``, ``tz_status`` and ``first_session_at``."""
    users, failed, timezones = validate_users(raw["users"])
    workouts, workouts_excluded = validate_workouts(raw["workouts"], now)
    sets, sets_excluded = validate_sets(
        raw["sets"], kept_workout_ids=set(workouts["workout_id"].tolist())
    )
    return Validated(
        frames={
            "users": users.merge(raw["first_sessions"], on="user_id", how="left"),
            "workouts": workouts,
            "sets": sets,
        },
        failed=failed,
        excluded_rows=workouts_excluded + sets_excluded,
        timezones=timezones,
    )
