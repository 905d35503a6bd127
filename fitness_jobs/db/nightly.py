"""Queries of the nightly job: coach requests by day, and its checks (coverage and value
ranges of one snapshot)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
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


def of_snapshot(as_of: dt.datetime) -> sa.ColumnElement[bool]:
    """The metrics rows of snapshot ``as_of``.  Their ``metrics_date`` is the local date at
    ``as_of`` (midnight UTC), the UTC date or the day before in zones from UTC−12 to
    UTC+14: saying so (with a day's margin) lets the date index find them, not a scan of
    every snapshot's rows, which a year of backfill makes millions."""
    t = UserBehaviorMetrics.__table__
    day = as_of.astimezone(dt.UTC).date()
    return sa.and_(
        t.c.snapshot_at == as_of,
        t.c.metrics_date.between(day - dt.timedelta(days=2), day + dt.timedelta(days=1)),
    )


def users_without_metrics(
    conn: sa.Connection, as_of: dt.datetime, user_ids: Sequence[int]
) -> list[int]:
    """Of ``user_ids``, those with no ``user_behavior_metrics`` row for snapshot ``as_of``,
    in their order.  The snapshot's ids are read whole (COPY on PostgreSQL): cheaper
    than sending tens of thousands of ids to match."""
    t = UserBehaviorMetrics.__table__
    have = read_frame(conn, sa.select(t.c.user_id).where(of_snapshot(as_of)), ["user_id"])
    wanted = np.asarray(user_ids, dtype=np.int64)
    return wanted[~np.isin(wanted, have["user_id"].to_numpy(dtype=np.int64))].tolist()


def metrics_range_violations(conn: sa.Connection, as_of: dt.datetime) -> dict[str, int]:
    """Rows of snapshot ``as_of`` breaking each rule of ``RANGE_RULES`` (non-zero counts),
    in one pass: a conditional count per rule."""
    t = UserBehaviorMetrics.__table__
    names = list(RANGE_RULES)
    counts = [
        sa.func.coalesce(sa.func.sum(sa.case((sa.text(f"({RANGE_RULES[n]})"), 1), else_=0)), 0)
        for n in names
    ]
    row = conn.execute(sa.select(*counts).select_from(t).where(of_snapshot(as_of))).one()
    return {name: int(count) for name, count in zip(names, row, strict=True) if count}
