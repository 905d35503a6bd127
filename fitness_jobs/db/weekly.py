"""Queries of the weekly report run: eligibility, personal-record history, coverage.

Time-zone strings are only ever bound as parameters; which zones are inside their
window is decided in ``fitness_jobs.core.windows``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.report import MAX_E1RM_REPS
from fitness_jobs.db.reads import FINALIZED_STATUSES, among, read_frame
from fitness_jobs.db.schema import User, WeeklyReport, Workout, WorkoutSet
from fitness_jobs.db.validity import valid_set, valid_workout

CANDIDATE_COLUMNS = ["user_id", "timezone", "plan", "trial_ends_at", "deleted_at"]


def eligible_clause(since: dt.datetime) -> sa.ColumnElement[bool]:
    """Pro and trial users not deleted, and trials not over, at ``since``."""
    u = User.__table__
    return sa.and_(
        u.c.plan.in_(("pro", "trial")),
        sa.or_(u.c.deleted_at.is_(None), u.c.deleted_at > since),
        sa.or_(u.c.plan == "pro", u.c.trial_ends_at.is_(None), u.c.trial_ends_at > since),
    )


def zone_clause(zones: Sequence[str | None]) -> sa.ColumnElement[bool]:
    """``timezone`` is one of ``zones`` (raw values, bound as parameters, never SQL text)."""
    u = User.__table__
    named = [z for z in zones if z is not None]
    parts: list[sa.ColumnElement[bool]] = [u.c.timezone.in_(named)] if named else []
    if None in zones:
        parts.append(u.c.timezone.is_(None))
    return sa.or_(*parts) if parts else sa.false()


def eligibility_candidates(
    conn: sa.Connection,
    since: dt.datetime,
    zones: Sequence[str | None] | None = None,
    user_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Pro and trial users not deleted before ``since`` (narrow columns, all at once),
    optionally only those whose raw ``timezone`` is one of ``zones``, or those ids.
    Exact eligibility, at each user's own instant, is decided in ``core.windows``."""
    u = User.__table__
    stmt = sa.select(u.c.id, u.c.timezone, u.c.plan, u.c.trial_ends_at, u.c.deleted_at).where(
        eligible_clause(since)
    )
    if zones is not None:
        stmt = stmt.where(zone_clause(zones))
    if user_ids is not None:
        stmt = stmt.where(u.c.id.in_(list(user_ids)))
    return read_frame(conn, stmt.order_by(u.c.id), CANDIDATE_COLUMNS)


def eligible_raw_zones(conn: sa.Connection, at: dt.datetime) -> list[str | None]:
    """The distinct raw ``timezone`` values of users eligible at ``at``: one
    ``GROUP BY`` (a few hundred values), not a row per user."""
    u = User.__table__
    stmt = sa.select(u.c.timezone).where(eligible_clause(at)).group_by(u.c.timezone)
    return list(conn.execute(stmt).scalars())


def count_due_without_report(
    conn: sa.Connection, week: dt.date, at: dt.datetime, zones: Sequence[str | None]
) -> int:
    """Users eligible at ``at`` whose raw zone is one of ``zones`` and who have no report
    for ``week`` (the sensor's question)."""
    u = User.__table__
    r = WeeklyReport.__table__
    has_report = sa.exists().where(r.c.user_id == u.c.id, r.c.week_start == week)
    stmt = (
        sa.select(sa.func.count())
        .select_from(u)
        .where(eligible_clause(at), zone_clause(zones), ~has_report)
    )
    return int(conn.execute(stmt).scalar_one())


def _e1rm(weight: sa.ColumnElement[Any], reps: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.case((reps == 1, weight), else_=weight * (1.0 + reps / 30.0))


def prior_best_e1rm(
    conn: sa.Connection,
    user_ids: Sequence[int],
    until: dt.datetime,
    now: dt.datetime,
    *,
    after: dt.datetime | None = None,
    sets_above: int | None = None,
) -> pd.DataFrame:
    """Best Epley e1RM per (user, exercise) over valid working sets of valid sessions
    finalized at or before ``until`` (``user_id``, ``exercise``, ``best_e1rm``).

    The rows are those the validation keeps (``db.validity``, with the run's ``now``);
    e1RM as in the report: reps 1 → the weight, 2 to ``MAX_E1RM_REPS`` → ``w·(1 + r/30)``,
    more reps or a 0 kg set carry none.  ``after``: only sessions finalized after it;
    ``sets_above``: only sets whose id is above it (what a kept best does not cover,
    ``db.personal_bests``).

    The arithmetic is the report's to the last bit, so that a best from here and one from
    the sets read one by one compare exactly: double precision (SQLAlchemy renders
    ``reps / 30.0`` as a division by a double), on the weight the client reads.  A
    PostgreSQL ``real`` reaches the client as its shortest decimal text (72.3, not
    72.30000305…), so on PostgreSQL the weight goes through that text here too; SQLite
    stores doubles already.
    """
    w = Workout.__table__
    s = WorkoutSet.__table__
    sessions = [
        among(conn, w.c.user_id, user_ids),
        w.c.status.in_(FINALIZED_STATUSES),
        w.c.finalized_at <= until,
        valid_workout(w, now),
    ]
    if after is not None:
        sessions.append(w.c.finalized_at > after)
    lifts = [valid_set(s), s.c.is_warmup.is_not(True), s.c.reps <= MAX_E1RM_REPS, s.c.weight_kg > 0]
    if sets_above is not None:
        lifts.append(s.c.id > sets_above)
    postgres = conn.dialect.name == "postgresql"
    # On PostgreSQL the client parses a ``real`` from its shortest text: so does this.
    weight = (
        sa.cast(sa.cast(s.c.weight_kg, sa.Text), sa.Float(precision=53))
        if postgres
        else s.c.weight_kg
    )
    if not postgres or sets_above is not None:
        # A join; from the newest sets (the primary key's tail) when ``sets_above``.
        stmt = (
            sa.select(w.c.user_id, s.c.exercise, sa.func.max(_e1rm(weight, s.c.reps)))
            .join(w, w.c.id == s.c.workout_id)
            .where(*sessions, *lifts)
            .group_by(w.c.user_id, s.c.exercise)
        )
    else:
        # Each session's best per exercise, its sets found through the index on
        # workout_id: a LATERAL subquery with an aggregate is a nested loop, where the
        # planner left to itself hashes a scan of every set once the users have months of
        # history (2,000 users with a year of it: 19–23 s against about 5 s; with 120
        # days, 1.2–1.6 s against 1.0–1.2 s).  The same sets, the same arithmetic.
        per_session = (
            sa.select(s.c.exercise, sa.func.max(_e1rm(weight, s.c.reps)).label("e1rm"))
            .where(s.c.workout_id == w.c.id, *lifts)
            .group_by(s.c.exercise)
            .lateral("per_session")
        )
        stmt = (
            sa.select(w.c.user_id, per_session.c.exercise, sa.func.max(per_session.c.e1rm))
            .select_from(w.join(per_session, sa.true()))
            .where(*sessions)
            .group_by(w.c.user_id, per_session.c.exercise)
        )
    frame = read_frame(conn, stmt, ["user_id", "exercise", "best_e1rm"])
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["best_e1rm"] = pd.to_numeric(frame["best_e1rm"], errors="coerce").astype(float)
    return frame


def existing_report_user_ids(
    conn: sa.Connection, week_start: dt.date, user_ids: Sequence[int] | None = None
) -> set[int]:
    t = WeeklyReport.__table__
    stmt = sa.select(t.c.user_id).where(t.c.week_start == week_start)
    if user_ids is not None:
        stmt = stmt.where(t.c.user_id.in_(list(user_ids)))
    return {int(r[0]) for r in conn.execute(stmt)}


def report_rows(
    conn: sa.Connection, week: dt.date, user_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Rows of ``weekly_reports`` for ``week`` (for checks, the CLI and tests)."""
    t = WeeklyReport.__table__
    stmt = sa.select(t).where(t.c.week_start == week)
    if user_ids is not None:
        stmt = stmt.where(t.c.user_id.in_(list(user_ids)))
    result = conn.execute(stmt.order_by(t.c.user_id))
    return pd.DataFrame.from_records(result.all(), columns=list(result.keys()))


def sample_report(
    conn: sa.Connection,
    week: dt.date,
    written_between: tuple[dt.datetime, dt.datetime],
    user_ids: Sequence[int] | None = None,
) -> dict[str, Any] | None:
    """One ``weekly_reports`` row of ``week`` stamped between the two instants (a run's
    rows), preferring a user who trained and has a prediction, then the lowest id."""
    t = WeeklyReport.__table__
    started, finished = written_between
    stmt = sa.select(t).where(
        t.c.week_start == week, t.c.generated_at >= started, t.c.generated_at <= finished
    )
    if user_ids:
        stmt = stmt.where(t.c.user_id.in_(list(user_ids)))
    trained = sa.case((t.c.sessions > 0, 0), else_=1)
    predicted = sa.case((t.c.prediction_status == "ok", 0), else_=1)
    row = conn.execute(stmt.order_by(trained, predicted, t.c.user_id).limit(1)).mappings().first()
    return dict(row) if row is not None else None
