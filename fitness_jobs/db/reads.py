"""Set-based reads of the app database: a few queries per chunk of users, never one per user.

Local-calendar windows differ per user, so SQL filters by UTC instants with a margin
of a day or two either side; exact local-day filtering happens in ``fitness_jobs.core``.
All comparisons on timestamps are ``>``/``<=`` against bound UTC values, which
sort correctly in SQLite's text form as well.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from fitness_jobs.core.columns import SESSION_STATUSES
from fitness_jobs.db.copy_out import copy_to
from fitness_jobs.db.schema import (
    BodyWeightLog,
    LlmUsageDaily,
    User,
    Workout,
    WorkoutSet,
)
from fitness_jobs.db.validity import valid_workout

FINALIZED_STATUSES = SESSION_STATUSES  # a session: a completed or partial workout

USER_COLUMNS = [
    "user_id",
    "timezone",
    "plan",
    "trial_ends_at",
    "weekly_session_target",
    "sex",
    "birth_date",
    "height_cm",
    "created_at",
    "deleted_at",
]
WORKOUT_COLUMNS = [
    "workout_id",
    "user_id",
    "status",
    "started_at",
    "finalized_at",
    "duration_seconds",
    "session_rpe",
]
SET_COLUMNS = [
    "set_id",
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
TIMESTAMP_COLUMNS = (
    "trial_ends_at",
    "created_at",
    "deleted_at",
    "started_at",
    "finalized_at",
    "measured_at",
)
FLOAT_COLUMNS = (
    "weekly_session_target",
    "height_cm",
    "duration_seconds",
    "session_rpe",
    "reps",
    "weight_kg",
    "rpe",
)


DATE_COLUMNS = ("birth_date",)
INT_COLUMNS = ("user_id", "workout_id", "set_id")


def among(
    conn: sa.Connection, column: sa.ColumnElement[Any], ids: Sequence[int]
) -> sa.ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``: one parameter, not one per id
    (thousands of ids per chunk: compiling and binding those cost more than the query)."""
    values = [int(i) for i in ids]
    if conn.dialect.name == "postgresql":
        array = sa.bindparam(None, values, type_=postgresql.ARRAY(sa.BigInteger))
        return column == sa.any_(array)
    return column.in_(values)


def fetch_rows(conn: sa.Connection, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them: SQLAlchemy binds the parameters (UTC
    timestamps in SQLite's text form), but the rows skip per-value result processing;
    pandas converts whole columns at once in ``_frame``."""
    result = conn.execute(stmt)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()


def utc_timestamps(values: pd.Series) -> pd.Series:
    if values.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    # SQLite gives text ("2026-11-28 10:00:00[.ffffff]", UTC); PostgreSQL aware datetimes.
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[us, UTC]")


def epoch_timestamps(values: pd.Series) -> pd.Series:
    """PostgreSQL's epoch microseconds (``_epoch_micros``) as UTC instants.  A column with a
    NULL comes as float: exact, since every instant before the year 2255 is below 2**53 µs."""
    numbers = pd.to_numeric(values)
    missing = numbers.isna().to_numpy()
    micros = numbers.fillna(0).to_numpy().astype(np.int64)
    micros[missing] = np.iinfo(np.int64).min  # NaT
    return pd.Series(micros.view("datetime64[us]"), index=values.index).dt.tz_localize("UTC")


def _epoch_micros(stmt: sa.Select[Any], columns: Sequence[str]) -> sa.Select[Any]:
    """``stmt`` with its timestamp columns as whole epoch microseconds (an exact numeric
    cast to bigint): pandas parses integers in C, where ISO text costs a Python string
    per value and a second parse."""
    selected = [
        sa.cast(sa.extract("epoch", col) * 1_000_000, sa.BigInteger)
        if name in TIMESTAMP_COLUMNS
        else col
        for col, name in zip(stmt.selected_columns, columns, strict=True)
    ]
    return stmt.with_only_columns(*selected, maintain_column_froms=True)


def copy_statement(conn: sa.Connection, stmt: sa.Select[Any]) -> tuple[str, Any]:
    """``stmt`` as a PostgreSQL ``COPY (…) TO STDOUT`` in CSV, and its parameters."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", compiled.construct_params()


def _copy_out(conn: sa.Connection, stmt: sa.Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    """PostgreSQL: stream the query through ``COPY (…) TO STDOUT`` as CSV and parse it
    with pandas' C parser: several times faster than building Python rows."""
    statement, params = copy_statement(conn, stmt)
    raw = conn.connection.driver_connection
    assert raw is not None
    buffer = io.BytesIO()
    try:
        copy_to(raw, statement, params, buffer.write)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    if not buffer.tell():
        return pd.DataFrame(columns=list(columns))
    buffer.seek(0)
    # Only an empty field is NULL: "NA" or "null" stay text (an invalid zone is not NULL).
    return pd.read_csv(
        buffer, header=None, names=list(columns), keep_default_na=False, na_values=[""]
    )


def read_frame(conn: sa.Connection, stmt: sa.Select[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a DataFrame with typed columns (by name)."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        frame = _copy_out(conn, _epoch_micros(stmt, columns), columns)
    else:
        frame = pd.DataFrame.from_records(fetch_rows(conn, stmt), columns=list(columns))
    for col in frame.columns:
        if col in TIMESTAMP_COLUMNS:
            frame[col] = (epoch_timestamps if postgres else utc_timestamps)(frame[col])
        elif col in DATE_COLUMNS:
            parsed = pd.to_datetime(frame[col], format="ISO8601", errors="coerce")
            frame[col] = parsed.dt.date.astype(object).where(parsed.notna(), None)
        elif col in FLOAT_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        elif col in INT_COLUMNS:
            frame[col] = frame[col].astype("int64")
        elif col == "is_warmup":
            # SQLite gives 0/1, PostgreSQL's CSV "t"/"f"; NULL counts as a working set
            # (is_warmup false), as in the metrics.
            frame[col] = frame[col].isin([True, "t", "true"])
        elif frame[col].dtype != object and not pd.api.types.is_numeric_dtype(frame[col]):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def users(conn: sa.Connection, user_ids: Sequence[int]) -> pd.DataFrame:
    u = User.__table__
    stmt = (
        sa.select(
            u.c.id,
            u.c.timezone,
            u.c.plan,
            u.c.trial_ends_at,
            u.c.weekly_session_target,
            u.c.sex,
            u.c.birth_date,
            u.c.height_cm,
            u.c.created_at,
            u.c.deleted_at,
        )
        .where(among(conn, u.c.id, user_ids))
        .order_by(u.c.id)
    )
    return read_frame(conn, stmt, USER_COLUMNS)


def first_session_at(
    conn: sa.Connection,
    user_ids: Sequence[int],
    as_of: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Each user's earliest valid finalized session at or before ``as_of``
    (``user_id``, ``first_session_at``); valid as the validation judges it at ``now``.

    On PostgreSQL, per user the first such row in the ``(user_id, finalized_at)`` index
    (a ``LATERAL … LIMIT 1``): a few index entries a user, not every workout of their
    history as a ``min`` over a ``GROUP BY`` reads (4× faster on 120 days of history,
    and constant as the history grows)."""
    w = Workout.__table__
    session = sa.and_(
        w.c.status.in_(FINALIZED_STATUSES),
        w.c.finalized_at <= as_of,
        valid_workout(w, now or dt.datetime.now(dt.UTC)),
    )
    if conn.dialect.name == "postgresql":
        ids = sorted({int(i) for i in user_ids})
        users = (
            sa.func.unnest(sa.bindparam(None, ids, type_=postgresql.ARRAY(sa.BigInteger)))
            .table_valued("id")
            .render_derived(name="u")
        )
        first = (
            sa.select(w.c.finalized_at)
            .where(w.c.user_id == users.c.id, session)
            .order_by(w.c.finalized_at)
            .limit(1)
            .lateral("first")
        )
        stmt = sa.select(users.c.id, first.c.finalized_at).select_from(users.join(first, sa.true()))
    else:
        stmt = (
            sa.select(w.c.user_id, sa.func.min(w.c.finalized_at))
            .where(among(conn, w.c.user_id, user_ids), session)
            .group_by(w.c.user_id)
        )
    frame = pd.DataFrame.from_records(
        fetch_rows(conn, stmt), columns=["user_id", "first_session_at"]
    )
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["first_session_at"] = utc_timestamps(frame["first_session_at"])
    return frame


def workouts(
    conn: sa.Connection, user_ids: Sequence[int], after: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Workouts of the users finalized in ``(after, until]`` (any status with a finalized_at)."""
    w = Workout.__table__
    stmt = sa.select(
        w.c.id,
        w.c.user_id,
        w.c.status,
        w.c.started_at,
        w.c.finalized_at,
        w.c.duration_seconds,
        w.c.session_rpe,
    ).where(
        among(conn, w.c.user_id, user_ids),
        w.c.finalized_at > after,
        w.c.finalized_at <= until,
    )
    return read_frame(conn, stmt, WORKOUT_COLUMNS)


def workout_sets(
    conn: sa.Connection,
    user_ids: Sequence[int],
    after: dt.datetime,
    until: dt.datetime,
    columns: Sequence[str] = SET_COLUMNS,
) -> pd.DataFrame:
    """Sets of the users' workouts finalized in ``(after, until]``, with the workout's
    user_id: ``columns`` of :data:`SET_COLUMNS` (a job reads only those it uses)."""
    w = Workout.__table__
    s = WorkoutSet.__table__
    source = {name: s.c[name] for name in SET_COLUMNS if name in s.c}
    source.update(set_id=s.c.id, user_id=w.c.user_id)
    stmt = (
        sa.select(*(source[name] for name in columns))
        .join(w, w.c.id == s.c.workout_id)
        .where(
            among(conn, w.c.user_id, user_ids),
            w.c.finalized_at > after,
            w.c.finalized_at <= until,
        )
    )
    return read_frame(conn, stmt, columns)


def usage_for_days(conn: sa.Connection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """``llm_usage_daily`` rows of the UTC days ``first … last`` (inclusive)."""
    t = LlmUsageDaily.__table__
    stmt = sa.select(
        t.c.usage_date, t.c.user_id, t.c.request_count, t.c.input_tokens, t.c.output_tokens
    ).where(t.c.usage_date >= first, t.c.usage_date <= last)
    frame = pd.DataFrame.from_records(
        fetch_rows(conn, stmt),
        columns=["usage_date", "user_id", "request_count", "input_tokens", "output_tokens"],
    )
    for col in frame.columns[1:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0).astype("int64")
    return frame


def users_with_usage(conn: sa.Connection, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """How many users had non-zero coach usage on each UTC day ``first … last`` that
    had any (the old job's log line)."""
    t = LlmUsageDaily.__table__
    stmt = (
        sa.select(t.c.usage_date, sa.func.count())
        .where(t.c.usage_date >= first, t.c.usage_date <= last, t.c.request_count > 0)
        .group_by(t.c.usage_date)
    )
    return {day: int(count) for day, count in conn.execute(stmt)}


def weigh_ins(
    conn: sa.Connection, user_ids: Sequence[int], after: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    t = BodyWeightLog.__table__
    stmt = sa.select(t.c.user_id, t.c.measured_at, t.c.weight_kg).where(
        among(conn, t.c.user_id, user_ids),
        t.c.measured_at > after,
        t.c.measured_at <= until,
    )
    return read_frame(conn, stmt, ["user_id", "measured_at", "weight_kg"])


def metrics_rows(
    conn: sa.Connection, user_ids: Sequence[int] | None = None, **where: Any
) -> pd.DataFrame:
    """Rows of ``user_behavior_metrics`` (for checks and tests)."""
    from fitness_jobs.db.schema import UserBehaviorMetrics

    t = UserBehaviorMetrics.__table__
    stmt = sa.select(t)
    if user_ids is not None:
        stmt = stmt.where(among(conn, t.c.user_id, user_ids))
    for col, value in where.items():
        stmt = stmt.where(t.c[col] == value)
    result = conn.execute(stmt)
    return pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
