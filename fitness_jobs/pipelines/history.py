"""Reading and validating a chunk of users' training history: shared by both jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.validation import (
    validate_set_summaries,
    validate_sets,
    validate_users,
    validate_workouts,
)
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


def inexact_volume_users(sets: pd.DataFrame) -> np.ndarray:
    """Users with a set whose reps or weight is not a whole number of quarters (or is
    missing).  Whole quarters make every product and partial sum of a volume exact, in any
    order; these users' sums depend on the order, so they need all their sets one by one
    (``db.set_summaries`` judges the rows it summarises the same way)."""
    reps = pd.to_numeric(sets["reps"], errors="coerce").to_numpy(dtype=float) * 4
    weight = pd.to_numeric(sets["weight_kg"], errors="coerce").to_numpy(dtype=float) * 4
    with np.errstate(invalid="ignore"):
        exact = (reps == np.floor(reps)) & (weight == np.floor(weight))
    return np.unique(sets["user_id"].to_numpy()[~exact]).astype(np.int64)


def split_inexact(
    summaries: pd.DataFrame, also: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The summaries of the users whose volumes are exact, and the ids of the others:
    those with an inexact set in ``summaries`` or among ``also``.  Those users need
    their sets one by one (``inexact_volume_users``)."""
    inexact = summaries.loc[summaries["inexact"] > 0, "user_id"].to_numpy(dtype=np.int64)
    users = np.union1d(inexact, also if also is not None else np.empty(0, dtype=np.int64))
    return summaries[~summaries["user_id"].isin(users)], users


def summaries_as_sets(valid: Validated, summaries: pd.DataFrame) -> pd.DataFrame:
    """The summaries of the kept workouts as sets: one working set of the workout's whole
    (exact) volume, ``1 × volume``, with ``set_id`` 0.  The summarised rows' exclusions
    are added to ``valid.excluded_rows``, as ``validate_sets`` would count them."""
    kept_ids = valid.frames["workouts"]["workout_id"]
    kept, excluded = validate_set_summaries(summaries, kept_ids.tolist())
    valid.excluded_rows.update(excluded)
    return pd.DataFrame(
        {
            "set_id": np.zeros(len(kept), dtype=np.int64),
            "workout_id": kept["workout_id"].to_numpy(dtype=np.int64),
            "user_id": kept["user_id"].to_numpy(dtype=np.int64),
            "reps": 1.0,
            "weight_kg": kept["volume_16ths"].to_numpy() / 16.0,
            "is_warmup": False,
        }
    )
