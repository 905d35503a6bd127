"""Who is due for a weekly report, and who is missing one: the window sensor's question
and the coverage judgement (design §2).  Queries in ``db.weekly``, window arithmetic in
``core.windows``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.calendar import (
    resolve_timezone,
    resolve_timezones,
)
from fitness_jobs.core.validation import INVALID_TIMEZONE
from fitness_jobs.core.windows import (
    Mode,
    candidates_since,
    coverage_deadline,
    inside_window,
    select_due,
    week_in_window_span,
)
from fitness_jobs.db import weekly as queries

# --------------------------------------------------------------------------- who is due


def zones_in_window(
    raw_zones: Sequence[str | None], week: dt.date, at: dt.datetime
) -> tuple[list[str | None], list[str]]:
    """Of the raw ``timezone`` values, those inside week ``week``'s window at ``at``, and
    those that are invalid (one resolution per distinct value)."""
    inside: list[str | None] = []
    invalid: list[str] = []
    for raw in raw_zones:
        canonical, _status = resolve_timezone(raw)
        if canonical is None:
            invalid.append(str(raw))
        elif inside_window(canonical, week, at):
            inside.append(raw)
    return inside, invalid


def due_users(
    conn: sa.Connection,
    week: dt.date,
    mode: Mode,
    at: dt.datetime,
    *,
    user_ids: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Users of ``week`` to process now (before excluding existing reports), and the
    eligible users whose zone is invalid (``{user_id: "invalid_timezone"}``); see
    ``core.windows.select_due``.  Window mode first narrows the read to the zones inside
    their window (one ``GROUP BY timezone``)."""
    zones: list[str | None] | None = None
    if mode == "window":
        inside, invalid_zones = zones_in_window(queries.eligible_raw_zones(conn, at), week, at)
        zones = inside + list(invalid_zones)
    candidates = queries.eligibility_candidates(conn, candidates_since(week, at), zones, user_ids)
    resolved = resolve_timezones(candidates["timezone"])
    candidates = candidates.assign(tz=resolved["tz"], tz_status=resolved["tz_status"])
    due, invalid = select_due(candidates, week, mode, at)
    return due, dict.fromkeys(invalid, INVALID_TIMEZONE)


# --------------------------------------------------------------------------- checks


def missing_reports(
    engine: sa.Engine, week: dt.date, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Coverage of week ``week``: eligible users without a report once every window has
    closed (``closed`` False, and nothing judged, before that)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    deadline = coverage_deadline(week)
    if now < deadline:
        return {"closed": False, "deadline": deadline, "eligible": 0, "missing": []}
    with engine.connect() as conn:
        due, invalid = due_users(conn, week, "catch_up", max(now, deadline))
        existing = queries.existing_report_user_ids(conn, week)
    expected = set(due["user_id"].tolist()) | set(invalid)
    missing = sorted(expected - existing)
    return {"closed": True, "deadline": deadline, "eligible": len(expected), "missing": missing}


def sensor_due_count(conn: sa.Connection, at: dt.datetime) -> tuple[dt.date | None, int]:
    """``(week, number of eligible users inside their window without a report)`` at ``at``.

    No query at all outside the Sunday 13:00 – Monday 18:00 UTC span; inside it, one
    ``GROUP BY timezone`` and one ``COUNT`` restricted to the zones in their window.
    """
    week = week_in_window_span(at)
    if week is None:
        return None, 0
    inside, _invalid = zones_in_window(queries.eligible_raw_zones(conn, at), week, at)
    if not inside:
        return week, 0
    return week, queries.count_due_without_report(conn, week, at, inside)


def report_rows(
    engine: sa.Engine, week: dt.date, user_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    with engine.connect() as conn:
        return queries.report_rows(conn, week, user_ids)
