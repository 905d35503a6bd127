"""Queries of the nightly job: coach requests by day, and its checks (coverage and value
ranges of snapshots, all the days of a range in one query)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import reads
from fitness_jobs.db.reads import read_frame
from fitness_jobs.db.schema import LlmUsageDaily, UserBehaviorMetrics


def coach_requests_by_day(
    conn: sa.Connection, user_ids: Sequence[int], first_day: dt.date, last_day: dt.date
) -> pd.DataFrame:
    """The users' ``request_count`` per UTC day in ``[first_day, last_day]`` (``user_id``,
    ``usage_date`` as ``datetime.date``, ``request_count``): one read for a range of
    nightly partitions, each summing its own seven days."""
    t = LlmUsageDaily.__table__
    stmt = sa.select(t.c.user_id, t.c.usage_date, t.c.request_count).where(
        reads.among(conn, t.c.user_id, user_ids),
        t.c.usage_date >= first_day,
        t.c.usage_date <= last_day,
    )
    frame = pd.DataFrame.from_records(
        reads.fetch_rows(conn, stmt), columns=["user_id", "usage_date", "request_count"]
    )
    frame["user_id"] = frame["user_id"].astype("int64")
    # SQLite gives ISO text, PostgreSQL dates.
    frame["usage_date"] = pd.to_datetime(frame["usage_date"], format="ISO8601").dt.date
    frame["request_count"] = (
        pd.to_numeric(frame["request_count"], errors="coerce").fillna(0).astype("int64")
    )
    return frame


# Keys read to tell whether a chunk's rows are new (``metrics_keys_taken``).
KEYS_LOOKED_AT = 10_000


def metrics_keys_taken(
    conn: sa.Connection, user_ids: npt.ArrayLike, metrics_dates: npt.ArrayLike
) -> bool:
    """Whether ``user_behavior_metrics`` has a row keyed (``user_ids[i]``,
    ``metrics_dates[i]``) for some ``i`` (``metrics_dates``: ``datetime.date`` values).

    Reads the users' rows between the first and the last of the dates, through the
    primary key: a range written for the first time has only its neighbours' (a row of
    the day before a block can carry the block's first local date), a few thousand.
    Beyond :data:`KEYS_LOOKED_AT` rows it stops and answers yes: the range was written
    before, and the upsert's own check of each key is then the cheaper way."""
    users = np.asarray(user_ids, dtype=np.int64)
    dates = np.asarray(metrics_dates, dtype=object)
    if users.size == 0:
        return False
    t = UserBehaviorMetrics.__table__
    stmt = (
        sa.select(t.c.user_id, t.c.metrics_date)
        .where(
            reads.among(conn, t.c.user_id, np.unique(users).tolist()),
            t.c.metrics_date >= min(dates),
            t.c.metrics_date <= max(dates),
        )
        .limit(KEYS_LOOKED_AT + 1)
    )
    rows = reads.fetch_rows(conn, stmt)
    if len(rows) > KEYS_LOOKED_AT:
        return True
    taken: dict[dt.date, list[int]] = {}
    for user_id, day in rows:  # PostgreSQL gives dates, SQLite ISO text
        key = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        taken.setdefault(key, []).append(int(user_id))
    # By date: a first write finds one or two of them (the days at the block's edges).
    return any(np.isin(users[dates == day], ids).any() for day, ids in taken.items())


# Each rule names the rows that break it (a NULL never breaks one).
RANGE_RULES: dict[str, str] = {
    "completion_rate_28d outside [0, 1]": "completion_rate_28d < 0 OR completion_rate_28d > 1",
    "adherence_4w outside [0, 1]": "adherence_4w < 0 OR adherence_4w > 1",
    "timing_consistency outside [0, 1]": "timing_consistency < 0 OR timing_consistency > 1",
    "preferred_hour_local outside [0, 24)": "preferred_hour_local < 0 OR preferred_hour_local >= 24",
    "preferred_weekday outside 0..6": "preferred_weekday < 0 OR preferred_weekday > 6",
    "negative count": (
        "sessions_7d < 0 OR sessions_28d < 0 OR sessions_30d < 0 OR completed_28d < 0 "
        "OR partial_28d < 0 OR abandoned_28d < 0 OR current_streak_weeks < 0 "
        "OR longest_streak_weeks < 0 OR days_since_last_session < 0 OR coach_requests_7d < 0"
    ),
    "window order (7d ≤ 28d ≤ 30d)": "sessions_7d > sessions_28d OR sessions_28d > sessions_30d",
    "negative load or volume": (
        "volume_load_7d < 0 OR volume_load_prev_7d < 0 OR srpe_load_7d < 0 OR minutes_7d < 0 "
        "OR ctl < 0 OR atl < 0 OR acwr < 0"
    ),
    "unknown lapse_risk": "lapse_risk NOT IN ('on_track', 'slipping', 'at_risk', 'lapsed')",
}


def of_snapshots(instants: Sequence[dt.datetime]) -> sa.ColumnElement[bool]:
    """The metrics rows of the snapshots ``instants``.  A row's ``metrics_date`` is the local
    date at its ``as_of`` (midnight UTC), the UTC date or the day before in zones from
    UTC−12 to UTC+14: saying so (with a day's margin) lets the date index find them, not a
    scan of every snapshot's rows, which a year of backfill makes millions."""
    t = UserBehaviorMetrics.__table__
    days = [as_of.astimezone(dt.UTC).date() for as_of in instants]
    return sa.and_(
        t.c.snapshot_at.in_(list(instants)),
        t.c.metrics_date.between(
            min(days) - dt.timedelta(days=2), max(days) + dt.timedelta(days=1)
        ),
    )


@contextmanager
def through_date_index(conn: sa.Connection) -> Iterator[None]:
    """Find a range's snapshots through the date index, not a scan of the whole table
    (PostgreSQL).  Two months of a year's rows match about a sixth of the table: the
    planner then guesses a scan of every row cheaper, as their dates are not in table
    order, but a bitmap of the index reads only the pages that hold them (those a range
    run wrote together).  For 62 days of a 2.9M-row table: 40k pages read in place of
    142k, and the missing-users read took 1.15 s in place of 1.30–1.59 s.  A scan is
    still allowed when there is no index to use.  An error leaves the setting to the
    transaction's rollback."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    yield
    if postgres:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = DEFAULT")


def _snapshot_index(instants: Sequence[dt.datetime]) -> sa.ColumnElement[Any]:
    """The position in ``instants`` of a row's snapshot."""
    t = UserBehaviorMetrics.__table__
    return sa.case({as_of: i for i, as_of in enumerate(instants)}, value=t.c.snapshot_at)


def users_without_metrics(
    conn: sa.Connection, wanted: Sequence[tuple[dt.datetime, npt.ArrayLike]]
) -> list[list[int]]:
    """For each (snapshot ``as_of``, ids) of ``wanted``, those of the ids with no
    ``user_behavior_metrics`` row for the snapshot, in their order.  One read of the
    snapshots' ids (COPY on PostgreSQL): cheaper than sending tens of thousands of ids to
    match, or than one read per snapshot."""
    if not wanted:
        return []
    instants = [as_of for as_of, _ids in wanted]
    t = UserBehaviorMetrics.__table__
    stmt = sa.select(_snapshot_index(instants), t.c.user_id).where(of_snapshots(instants))
    with through_date_index(conn):
        have = read_frame(conn, stmt, ["snapshot", "user_id"])
    snapshot = have["snapshot"].to_numpy(dtype=np.int64)
    user_ids = have["user_id"].to_numpy(dtype=np.int64)
    missing = []
    for i, (_as_of, wanted_ids) in enumerate(wanted):
        ids = np.asarray(wanted_ids, dtype=np.int64)
        missing.append(ids[~np.isin(ids, user_ids[snapshot == i])].tolist())
    return missing


def metrics_range_violations(
    conn: sa.Connection, instants: Sequence[dt.datetime]
) -> list[dict[str, int]]:
    """For each snapshot of ``instants``, its rows breaking each rule of ``RANGE_RULES``
    (non-zero counts), in one pass over all of them: a conditional count per rule and
    snapshot."""
    if not instants:
        return []
    t = UserBehaviorMetrics.__table__
    names = list(RANGE_RULES)
    counts = [
        sa.func.coalesce(sa.func.sum(sa.case((sa.text(f"({RANGE_RULES[n]})"), 1), else_=0)), 0)
        for n in names
    ]
    snapshot = _snapshot_index(instants).label("snapshot")
    stmt = sa.select(snapshot, *counts).select_from(t).where(of_snapshots(instants))
    with through_date_index(conn):
        by_snapshot = {row[0]: row[1:] for row in conn.execute(stmt.group_by(snapshot))}
    return [
        {
            name: int(count)
            for name, count in zip(names, by_snapshot.get(i, [0] * len(names)), strict=True)
            if count
        }
        for i in range(len(instants))
    ]
