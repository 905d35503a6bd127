"""The per-user baseline: the nightly metrics computed the way the old cron job did.

For each active user, in a loop: ORM queries for the user, their workouts, their sets,
their earliest session and their coach usage; the metrics of that one user; an ORM merge
of the row; one commit.  The metrics come from the same core function as ours (on a
one-user frame), so the rows are identical and the comparison is of the *shape* of the
work, not of two formula implementations.  Nothing is slowed on purpose: the queries use
the same indexes and windows as ours, the session is reused, and the time is reported
split into database round trips and computation so each can be judged on its own.

Above ``--sample`` users a random sample of the active users is processed and the time
extrapolated linearly (the per-user cost is constant: nothing in the loop grows with the
number of users; the suite checks this by comparing the per-user cost at 2k and 10k).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fitness_jobs.core.calendar import local_day_numbers
from fitness_jobs.core.metrics import (
    HISTORY_DAYS,
    METRICS_VERSION,
    SETS_HISTORY_DAYS,
    compute_behavior_metrics,
)
from fitness_jobs.core.validation import validate_sets, validate_users, validate_workouts
from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.db.active_users import active_user_ids
from fitness_jobs.db.reads import FINALIZED_STATUSES, USER_COLUMNS
from fitness_jobs.db.schema import LlmUsageDaily, User, UserBehaviorMetrics, Workout, WorkoutSet
from fitness_jobs.db.validity import valid_workout


def _user_frame(user: User) -> pd.DataFrame:
    values = [user.id] + [getattr(user, c) for c in USER_COLUMNS[1:]]
    frame = pd.DataFrame([values], columns=USER_COLUMNS)
    for col in ("trial_ends_at", "created_at", "deleted_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["weekly_session_target"] = pd.to_numeric(frame["weekly_session_target"]).astype(float)
    return frame


def one_user(
    session: Session, uid: int, partition: dt.date, now: dt.datetime
) -> tuple[dict[str, Any] | None, float]:
    """Read, compute and merge one user's row; returns (row, seconds spent computing)."""
    as_of = snapshot_instant(partition)
    user = session.get(User, uid)
    assert user is not None
    workouts = session.scalars(
        sa.select(Workout).where(
            Workout.user_id == uid,
            Workout.finalized_at > as_of - dt.timedelta(days=HISTORY_DAYS + 2),
            Workout.finalized_at <= as_of,
        )
    ).all()
    sets = session.execute(
        sa.select(WorkoutSet, Workout.user_id)
        .join(Workout, Workout.id == WorkoutSet.workout_id)
        .where(
            Workout.user_id == uid,
            Workout.finalized_at > as_of - dt.timedelta(days=SETS_HISTORY_DAYS + 2),
            Workout.finalized_at <= as_of,
        )
    ).all()
    w = Workout.__table__
    first = session.scalar(
        sa.select(sa.func.min(Workout.finalized_at)).where(
            Workout.user_id == uid,
            Workout.status.in_(FINALIZED_STATUSES),
            Workout.finalized_at <= as_of,
            valid_workout(w, now),
        )
    )
    requests = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LlmUsageDaily.request_count), 0)).where(
            LlmUsageDaily.user_id == uid,
            LlmUsageDaily.usage_date >= partition - dt.timedelta(days=6),
            LlmUsageDaily.usage_date <= partition,
        )
    )

    started = time.perf_counter()
    users, failed, _ = validate_users(_user_frame(user))
    if failed:
        return None, time.perf_counter() - started
    wf = pd.DataFrame(
        [
            (
                x.id,
                x.user_id,
                x.status,
                x.started_at,
                x.finalized_at,
                x.duration_seconds,
                x.session_rpe,
            )
            for x in workouts
        ],
        columns=[
            "workout_id",
            "user_id",
            "status",
            "started_at",
            "finalized_at",
            "duration_seconds",
            "session_rpe",
        ],
    )
    for col in ("started_at", "finalized_at"):
        wf[col] = pd.to_datetime(wf[col], utc=True)
    wf, _ = validate_workouts(wf, now)
    sf = pd.DataFrame(
        [(s.id, s.workout_id, u, s.exercise, s.reps, s.weight_kg, s.is_warmup) for s, u in sets],
        columns=["set_id", "workout_id", "user_id", "exercise", "reps", "weight_kg", "is_warmup"],
    )
    sf, _ = validate_sets(sf, kept_workout_ids=set(wf["workout_id"].tolist()))
    users = users.assign(
        first_session_at=pd.to_datetime(pd.Series([first]), utc=True),
        coach_requests_7d=int(requests or 0),
        cutoff=pd.Timestamp(as_of),
    )
    users["metrics_day"] = local_day_numbers(pd.Series([pd.Timestamp(as_of)]), users["tz"])
    metrics = compute_behavior_metrics(users, wf, sf)
    computing = time.perf_counter() - started
    row = {str(k): (None if pd.isna(v) else v) for k, v in metrics.iloc[0].to_dict().items()}
    row.update(snapshot_at=as_of, computed_at=now, metrics_version=METRICS_VERSION)
    session.merge(UserBehaviorMetrics(**row))
    session.commit()
    return row, computing


def run_baseline(
    engine: sa.Engine, partition: dt.date, now: dt.datetime, sample: int | None, seed: int = 1
) -> dict[str, Any]:
    """Time the per-user loop over every active user (or a sample, extrapolated)."""
    with engine.connect() as conn:
        everyone = active_user_ids(conn, snapshot_instant(partition), now=now)
    chosen: Sequence[int] = everyone
    if sample is not None and len(everyone) > sample:
        chosen = sorted(random.Random(seed).sample(everyone, sample))
    computing = 0.0
    started = time.perf_counter()
    with Session(engine) as session:
        for uid in chosen:
            _row, seconds = one_user(session, uid, partition, now)
            computing += seconds
    measured = time.perf_counter() - started
    scale = len(everyone) / len(chosen) if chosen else 1.0
    return {
        "active_users": len(everyone),
        "processed_users": len(chosen),
        "sampled": len(chosen) < len(everyone),
        "measured_seconds": measured,
        "seconds": measured * scale,
        "compute_seconds": computing * scale,
        "database_seconds": (measured - computing) * scale,
        "per_user_ms": 1000.0 * measured / len(chosen) if chosen else 0.0,
    }
