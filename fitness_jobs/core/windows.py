"""When things happen: snapshot instants, report windows, and who is due (design §2).

Pure arithmetic on instants and frames; the queries that feed it live in
``fitness_jobs.db``.  A nightly partition ``D`` snapshots at ``D+1 00:00 UTC``.  A weekly
partition ``W`` (a Monday) is reported on each user's local Monday ``W+7`` between
03:00 and 06:00; across the zones people live in (UTC−12 to UTC+14) that is Sunday
13:00 UTC to Monday 18:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd

from fitness_jobs.core.calendar import local_time_utc
from fitness_jobs.errors import ConfigurationError

Mode = Literal["window", "catch_up"]

WINDOW_START = dt.time(3, 0)
WINDOW_END = dt.time(6, 0)
NIGHTLY_SCHEDULE_HOUR = 2  # the nightly schedule fires at 02:00 UTC on D+1
# Zones run from UTC−12 to UTC+14; the westernmost inhabited one is UTC−11.
EARLIEST_OFFSET_H, LATEST_OFFSET_H, WESTERNMOST_INHABITED_H = 14, 12, 11


# --------------------------------------------------------------------------- nightly


def snapshot_instant(partition: dt.date) -> dt.datetime:
    """``as_of`` of a daily partition: the end of the UTC day (D+1 00:00 UTC)."""
    return dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(0), dt.UTC)


def default_partition(now: dt.datetime) -> dt.date:
    """The partition the 02:00 UTC schedule would run at ``now``: the last complete UTC day
    whose schedule tick has passed."""
    now = now.astimezone(dt.UTC)
    return (now - dt.timedelta(hours=NIGHTLY_SCHEDULE_HOUR)).date() - dt.timedelta(days=1)


# --------------------------------------------------------------------------- weekly


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def report_day(week: dt.date) -> dt.date:
    """The local Monday on which week ``week``'s report is written (W+7)."""
    return week + dt.timedelta(days=7)


def week_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """The Mondays ``first … last``, inclusive (both must be Mondays)."""
    for label, week in (("first", first), ("last", last)):
        if week.weekday() != 0:
            raise ConfigurationError(
                f"the {label} week {week} is not a Monday (the week partition key is its Monday)"
            )
    if last < first:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def window_span_utc(week: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC span in which some zone may be inside its window for week ``week``:
    Monday W+7 03:00 at UTC+14 (Sunday 13:00 UTC) to 06:00 at UTC−12 (Monday 18:00 UTC).
    Conservative: zones run from −12:00 to +14:00."""
    monday = dt.datetime.combine(report_day(week), dt.time(0), dt.UTC)
    start = monday + dt.timedelta(hours=WINDOW_START.hour - EARLIEST_OFFSET_H)
    return start, monday + dt.timedelta(hours=WINDOW_END.hour + LATEST_OFFSET_H)


def coverage_deadline(week: dt.date) -> dt.datetime:
    """When the last window of week ``week`` has closed: Monday W+7 06:00 at UTC−11
    (17:00 UTC), the westernmost inhabited zone."""
    return dt.datetime.combine(
        report_day(week), dt.time(WINDOW_END.hour + WESTERNMOST_INHABITED_H), dt.UTC
    )


def week_in_window_span(at: dt.datetime) -> dt.date | None:
    """The reported week whose window span contains ``at`` (at most one), else None."""
    at = at.astimezone(dt.UTC)
    for monday in (monday_of(at.date()), monday_of(at.date()) + dt.timedelta(days=7)):
        week = monday - dt.timedelta(days=7)
        start, end = window_span_utc(week)
        if start <= at < end:
            return week
    return None


def latest_complete_week(now: dt.datetime) -> dt.date:
    """The last week that has ended everywhere (its Sunday is over in UTC−12)."""
    now = now.astimezone(dt.UTC)
    monday = monday_of((now - dt.timedelta(hours=LATEST_OFFSET_H)).date())
    return monday - dt.timedelta(days=7)


def inside_window(zone: str, week: dt.date, at: dt.datetime) -> bool:
    """Whether local time in ``zone`` (canonical) is inside week ``week``'s window at ``at``."""
    day = report_day(week)
    return local_time_utc(day, WINDOW_START, zone) <= at < local_time_utc(day, WINDOW_END, zone)


def zone_instants(tz: pd.Series, date: dt.date, clock: dt.time) -> pd.Series:
    """UTC instant of local ``date clock`` for each row's zone (one computation per zone)."""
    out = pd.Series(pd.NaT, index=tz.index, dtype="datetime64[us, UTC]")
    valid = tz.notna()
    for zone in pd.unique(tz[valid]):
        out[tz == zone] = pd.Timestamp(local_time_utc(date, clock, str(zone)))
    return out


def eligible_at(frame: pd.DataFrame, instants: pd.Series) -> pd.Series:
    """Pro users, and trial users whose trial has not ended, not deleted at ``instants``."""
    not_deleted = frame["deleted_at"].isna() | (frame["deleted_at"] > instants)
    trial_ok = (
        (frame["plan"] == "pro")
        | frame["trial_ends_at"].isna()
        | (frame["trial_ends_at"] > instants)
    )
    return not_deleted & trial_ok & frame["plan"].isin(["pro", "trial"])


def candidates_since(week: dt.date, at: dt.datetime) -> dt.datetime:
    """A conservative SQL pre-filter instant: users deleted (or trials ended) before it
    cannot be eligible at any of the week's window starts, nor at ``at``."""
    earliest_window = dt.datetime.combine(report_day(week), dt.time(0), dt.UTC) - dt.timedelta(
        days=1
    )
    return min(earliest_window, at - dt.timedelta(days=1))


def report_invalid_zones(mode: Mode, week: dt.date, at: dt.datetime) -> bool:
    """Whether users with an invalid zone are failed in this run: always in catch-up; in
    window mode only during the UTC window, so the failure is reported once a week."""
    if mode == "catch_up":
        return True
    return inside_window("UTC", week, at)


def select_due(
    candidates: pd.DataFrame, week: dt.date, mode: Mode, at: dt.datetime
) -> tuple[pd.DataFrame, list[int]]:
    """Of ``candidates`` (``user_id``, ``tz``, ``tz_status``, ``plan``, ``trial_ends_at``,
    ``deleted_at``), the users of ``week`` due at ``at``, and the eligible users whose zone
    is invalid (who fail with ``invalid_timezone`` when :func:`report_invalid_zones`).

    - window mode: eligible at ``at`` and inside their local window at ``at``;
    - catch-up: eligible at their own window start, and their local week is over.

    The due frame has ``user_id``, ``tz``, ``window_start``, ``window_end`` and
    ``week_end`` (the UTC instant the user's local week ends).
    """
    day = report_day(week)
    at_ts = pd.Timestamp(at)
    cand = candidates.copy()
    cand["window_start"] = zone_instants(cand["tz"], day, WINDOW_START)
    cand["window_end"] = zone_instants(cand["tz"], day, WINDOW_END)
    cand["week_end"] = zone_instants(cand["tz"], day, dt.time(0))
    invalid_mask = cand["tz"].isna()
    valid = cand[~invalid_mask]
    if mode == "window":
        eligible = eligible_at(valid, pd.Series(at_ts, index=valid.index))
        inside = (valid["window_start"] <= at_ts) & (at_ts < valid["window_end"])
        chosen = valid[eligible & inside]
    else:
        eligible = eligible_at(valid, valid["window_start"])
        chosen = valid[eligible & (valid["week_end"] <= at_ts)]
    invalid: list[int] = []
    if report_invalid_zones(mode, week, at):
        utc_start = pd.Timestamp(local_time_utc(day, WINDOW_START, "UTC"))
        bad = cand[invalid_mask]
        bad = bad[eligible_at(bad, pd.Series(utc_start, index=bad.index))]
        invalid = [int(uid) for uid in bad["user_id"]]
    columns = ["user_id", "tz", "window_start", "window_end", "week_end"]
    return chosen[columns].reset_index(drop=True), invalid
