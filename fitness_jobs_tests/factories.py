"""Compact builders for app rows in tests (written in bulk, like the app would)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa

from fitness_jobs.db.bulk import insert

UTC = dt.UTC
_ids = itertools.count(1_000_000)


def ts(text: str) -> dt.datetime:
    """``'2026-11-28 10:00'`` (UTC) or an ISO string with offset → aware UTC datetime."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def user(user_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": user_id,
        "email": f"user{user_id}@example.com",
        "timezone": "UTC",
        "plan": "pro",
        "trial_ends_at": None,
        "weekly_session_target": None,
        "sex": None,
        "birth_date": None,
        "height_cm": None,
        "created_at": ts("2024-01-01 00:00"),
        "deleted_at": None,
    }
    row.update(overrides)
    return row


def workout(
    user_id: int, finalized_at: dt.datetime | str | None, **overrides: Any
) -> dict[str, Any]:
    fin = ts(finalized_at) if isinstance(finalized_at, str) else finalized_at
    duration = overrides.pop("duration_seconds", 3600)
    started = overrides.pop("started_at", None)
    if started is None:
        base = fin if fin is not None else ts("2026-01-01 00:00")
        started = base - dt.timedelta(seconds=duration or 0)
    elif isinstance(started, str):
        started = ts(started)
    row: dict[str, Any] = {
        "id": overrides.pop("id", next(_ids)),
        "user_id": user_id,
        "status": "completed",
        "started_at": started,
        "finalized_at": fin,
        "duration_seconds": duration,
        "session_rpe": 5,
    }
    row.update(overrides)
    return row


def workout_set(workout_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": overrides.pop("id", next(_ids)),
        "workout_id": workout_id,
        "exercise": "back squat",
        "muscle_group": "quads",
        "secondary_muscle_group": "glutes",
        "reps": 5,
        "weight_kg": 100.0,
        "rpe": 8.0,
        "is_warmup": False,
    }
    row.update(overrides)
    return row


def weigh_in(user_id: int, measured_at: dt.datetime | str, weight_kg: float) -> dict[str, Any]:
    when = ts(measured_at) if isinstance(measured_at, str) else measured_at
    return {"id": next(_ids), "user_id": user_id, "measured_at": when, "weight_kg": weight_kg}


def usage(user_id: int, day: str, requests: int, tokens: int = 100) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "usage_date": dt.date.fromisoformat(day),
        "request_count": requests,
        "input_tokens": tokens,
        "output_tokens": tokens // 2,
    }


def write(
    engine: sa.Engine,
    users: list[dict[str, Any]] | None = None,
    workouts: list[dict[str, Any]] | None = None,
    sets: list[dict[str, Any]] | None = None,
    weigh_ins: list[dict[str, Any]] | None = None,
    usage_rows: list[dict[str, Any]] | None = None,
) -> None:
    with engine.begin() as conn:
        for name, rows in (
            ("users", users),
            ("workouts", workouts),
            ("workout_sets", sets),
            ("body_weight_logs", weigh_ins),
            ("llm_usage_daily", usage_rows),
        ):
            if rows:
                insert(conn, name, rows)
