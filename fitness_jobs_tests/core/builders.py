"""Compact frame builders for the core metric tests.

A :class:`Scenario` collects users and their workouts (and sets) in *local* terms —
"a completed session 3 days before the metrics date at 18:00 local" — and turns them
into the three frames :func:`compute_behavior_metrics` takes.  Local wall times are
converted with ``zoneinfo`` directly (not with the code under test).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from fitness_jobs.core.metrics import compute_behavior_metrics

REF = dt.date(2026, 3, 11)  # a Wednesday; its ISO week starts Monday 2026-03-09
UTC = dt.UTC


def day_number(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days


def local_instant(date: dt.date, clock: str, tz: str) -> pd.Timestamp:
    """UTC instant of local wall time ``date clock`` ("HH:MM" or "HH:MM:SS") in ``tz``."""
    t = dt.time.fromisoformat(clock)
    local = dt.datetime.combine(date, t, tzinfo=ZoneInfo(tz))
    return pd.Timestamp(local.astimezone(UTC))


def utc(text: str) -> pd.Timestamp:
    """A UTC Timestamp from ISO text (naive text is taken as UTC)."""
    ts = pd.Timestamp(text)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass
class _User:
    user_id: int
    tz: str
    metrics_date: dt.date
    target: float | None
    cutoff: pd.Timestamp
    first_session_at: pd.Timestamp | None
    coach_requests_7d: int


@dataclass
class Scenario:
    metrics_date: dt.date = REF
    users: dict[int, _User] = field(default_factory=dict)
    workouts: list[dict[str, object]] = field(default_factory=list)
    sets: list[dict[str, object]] = field(default_factory=list)
    _next_workout: int = 1

    # ---- users ----------------------------------------------------------------------
    def user(
        self,
        user_id: int,
        tz: str = "UTC",
        *,
        target: float | None = None,
        metrics_date: dt.date | None = None,
        cutoff: pd.Timestamp | str | None = None,
        first_session_at: pd.Timestamp | str | None = None,
        coach_requests_7d: int = 0,
    ) -> int:
        """A user whose snapshot defaults to the last microsecond of the local metrics date."""
        md = metrics_date or self.metrics_date
        if cutoff is None:
            cut = local_instant(md + dt.timedelta(days=1), "00:00", tz) - pd.Timedelta(
                microseconds=1
            )
        else:
            cut = utc(cutoff) if isinstance(cutoff, str) else cutoff
        first = utc(first_session_at) if isinstance(first_session_at, str) else first_session_at
        self.users[user_id] = _User(user_id, tz, md, target, cut, first, coach_requests_7d)
        return user_id

    def user_for_partition(
        self, user_id: int, tz: str, partition: dt.date, **kw: object
    ) -> dt.date:
        """A user as the nightly job sees partition ``D``: cutoff ``D+1 00:00 UTC``,
        metrics date = the local date at that instant.  Returns the metrics date."""
        as_of = pd.Timestamp(dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(), UTC))
        md = as_of.tz_convert(tz).date()
        self.user(user_id, tz, metrics_date=md, cutoff=as_of, **kw)  # type: ignore[arg-type]
        return md

    # ---- workouts -------------------------------------------------------------------
    def workout(
        self,
        user_id: int,
        ago: int = 0,
        at: str = "18:00",
        *,
        status: str = "completed",
        minutes: float | None = 60.0,
        rpe: float | None = None,
        start: str | None = None,
        finalized: pd.Timestamp | str | None = None,
        started: pd.Timestamp | str | None = None,
        sets: tuple[tuple[float, float] | tuple[float, float, bool], ...] = (),
    ) -> int:
        """A workout finalized at local ``at`` on ``metrics_date − ago`` (or at the UTC
        instant ``finalized``; ``finalized=None`` with ``status='in_progress'`` keeps it open).

        ``started`` defaults to local ``start`` on the finalized day if given, else
        ``finalized − minutes``.  ``sets`` are ``(reps, kg)`` or ``(reps, kg, is_warmup)``.
        """
        u = self.users[user_id]
        day = u.metrics_date - dt.timedelta(days=ago)
        fin: pd.Timestamp | None
        if finalized is not None:
            fin = utc(finalized) if isinstance(finalized, str) else finalized
        elif status == "in_progress":
            fin = None
        else:
            fin = local_instant(day, at, u.tz)
        if started is not None:
            st = utc(started) if isinstance(started, str) else started
        elif start is not None:
            st = local_instant(day, start, u.tz)
        else:
            base = fin if fin is not None else local_instant(day, at, u.tz)
            st = base - pd.Timedelta(minutes=minutes or 0.0)
        wid = self._next_workout
        self._next_workout += 1
        self.workouts.append(
            {
                "workout_id": wid,
                "user_id": user_id,
                "status": status,
                "started_at": st,
                "finalized_at": fin if fin is not None else pd.NaT,
                "duration_seconds": np.nan if minutes is None else minutes * 60.0,
                "session_rpe": np.nan if rpe is None else float(rpe),
            }
        )
        for spec in sets:
            reps, kg = spec[0], spec[1]
            warm = bool(spec[2]) if len(spec) > 2 else False  # type: ignore[misc]
            self.sets.append(
                {
                    "workout_id": wid,
                    "user_id": user_id,
                    "exercise": "squat",
                    "muscle_group": "quads",
                    "secondary_muscle_group": None,
                    "reps": reps,
                    "weight_kg": kg,
                    "rpe": np.nan,
                    "is_warmup": warm,
                }
            )
        return wid

    def sessions(self, user_id: int, agos: list[int] | range, **kw: object) -> list[int]:
        return [self.workout(user_id, a, **kw) for a in agos]  # type: ignore[arg-type]

    # ---- frames ---------------------------------------------------------------------
    def frames(
        self, order: list[int] | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        ids = order if order is not None else list(self.users)
        us = [self.users[i] for i in ids]
        users = pd.DataFrame(
            {
                "user_id": pd.Series([u.user_id for u in us], dtype="int64"),
                "tz": [u.tz for u in us],
                "weekly_session_target": pd.Series(
                    [np.nan if u.target is None else u.target for u in us], dtype=float
                ),
                "metrics_day": pd.Series([day_number(u.metrics_date) for u in us], dtype="int64"),
                "cutoff": pd.to_datetime([u.cutoff for u in us], utc=True),
                "first_session_at": pd.to_datetime(
                    [u.first_session_at if u.first_session_at is not None else pd.NaT for u in us],
                    utc=True,
                ),
                "coach_requests_7d": pd.Series([u.coach_requests_7d for u in us], dtype="int64"),
            }
        )
        wcols = [
            "workout_id",
            "user_id",
            "status",
            "started_at",
            "finalized_at",
            "duration_seconds",
            "session_rpe",
        ]
        workouts = pd.DataFrame(self.workouts, columns=wcols)
        workouts["started_at"] = pd.to_datetime(workouts["started_at"], utc=True)
        workouts["finalized_at"] = pd.to_datetime(workouts["finalized_at"], utc=True)
        workouts["duration_seconds"] = workouts["duration_seconds"].astype(float)
        workouts["session_rpe"] = workouts["session_rpe"].astype(float)
        scols = [
            "workout_id",
            "user_id",
            "exercise",
            "muscle_group",
            "secondary_muscle_group",
            "reps",
            "weight_kg",
            "rpe",
            "is_warmup",
        ]
        sets = pd.DataFrame(self.sets, columns=scols)
        sets["is_warmup"] = sets["is_warmup"].astype(bool)
        return users, workouts, sets

    def run(self, order: list[int] | None = None) -> pd.DataFrame:
        """Metrics indexed by ``user_id``."""
        return compute_behavior_metrics(*self.frames(order)).set_index("user_id")

    def one(self, user_id: int) -> pd.Series:
        """Metrics of one user (computed together with everyone else in the scenario)."""
        return self.run().loc[user_id]
