"""The nightly behaviour-metrics run for one UTC partition day, or a range of them
(design §2, §5, §8, §11).

Only what differs from the weekly run is here: which users (active at the snapshot),
what is read (history windows, coach usage), the metrics and the upsert.  Chunks of
users go through the shared runner (``pipelines.runner``).

A range of days writes exactly the rows of one run per day (design §2.1): each day
keeps its own ``as_of``, its own active users (and ``limit``), and sees only the rows a
run of that day alone would read.  What a range saves is the reading: each chunk of
users is read once for all its days (the history of the earliest day up to the snapshot
of the last), validated once, then computed day by day and written in one bulk upsert.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from fitness_jobs.core.usage import summarize_coach_usage
from fitness_jobs.core.windows import default_partition, snapshot_instant
from fitness_jobs.db import nightly as queries
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import chunked, upsert
from fitness_jobs.db.engine import require_tables
from fitness_jobs.db.locks import partition_locks
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log, Progress, log_failures, no_log, no_progress
from fitness_jobs.pipelines.runner import RunReport, run_chunk

__all__ = [
    "NightlyDay",
    "NightlyReport",
    "default_partition",
    "partition_days",
    "run_coach_usage",
    "run_coach_usage_range",
    "run_nightly",
    "run_nightly_range",
]

from fitness_jobs.pipelines.nightly_chunk import (  # noqa: F401  (re-exported)
    COACH_DAYS,
    COMPARED_COLUMNS,
    DEFAULT_CHUNK_SIZE,
    MAX_DAYS_PER_READ,
    METRICS_KEY,
    METRICS_TABLE,
    NIGHTLY_TABLES,
    NO_USERS,
    ROW_COLUMNS,
    SET_SPAN,
    WORKOUT_SPAN,
    ChangedRow,
    NightlyChunk,
    partition_days,
    partition_of,
)


@dataclass
class NightlyDay:
    """What a run did for one partition day (a range run has one per day)."""

    partition: dt.date
    as_of: dt.datetime
    active_users: int = 0
    written: int = 0  # rows of this snapshot in the database after the run
    changed: int = 0  # of those, rows this run inserted or altered
    failed: int = 0  # active users of the day who failed
    # Rows not written because a later day of the range has the same (user, local date):
    # a zone whose UTC offset moves back across midnight (Azores), as a later run would.
    superseded: int = 0
    coach_users_with_usage: int = 0
    lapse_risk: dict[str, int] = field(default_factory=dict)
    metrics_dates: dict[str, int] = field(default_factory=dict)
    missing_user_ids: list[int] = field(default_factory=list)
    range_violations: dict[str, int] = field(default_factory=dict)


@dataclass
class NightlyReport(RunReport):
    """What one nightly run did (one day or a range); becomes Dagster metadata and the CLI
    summary.  ``partition`` is the first day, ``last_partition`` the last (the same for a
    single day); counts are summed over the days (user-days), ``days`` has each day's."""

    partition: dt.date = dt.date.min
    last_partition: dt.date = dt.date.min
    as_of: dt.datetime = dt.datetime.min
    limit: int | None = None
    days: list[NightlyDay] = field(default_factory=list)

    @property
    def is_range(self) -> bool:
        return len(self.days) > 1

    @property
    def active_users(self) -> int:
        return sum(d.active_users for d in self.days)

    @property
    def written(self) -> int:
        """Rows of the run's snapshots in the database (new, changed or equal)."""
        return sum(d.written for d in self.days)

    @property
    def coach_users_with_usage(self) -> int:
        return sum(d.coach_users_with_usage for d in self.days)

    @property
    def missing_user_ids(self) -> list[int]:
        return sorted({uid for d in self.days for uid in d.missing_user_ids})

    @property
    def range_violations(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for d in self.days:
            total.update(d.range_violations)
        return dict(total)

    @property
    def lapse_risk(self) -> dict[str, int]:
        return dict(self.distributions.get("lapse_risk", {}))

    @property
    def metrics_dates(self) -> dict[str, int]:
        return dict(self.distributions.get("metrics_date", {}))

    def day(self, partition: dt.date) -> NightlyDay:
        return next(d for d in self.days if d.partition == partition)


def _validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ConfigurationError(
            f"limit must be a whole number ≥ 0 (0 processes nobody), got {limit!r}"
        )


def _fill_days(report: NightlyReport, changed: Counter[dt.date]) -> None:
    """Each day's written, superseded and changed rows and its distributions, from the
    merged chunk tallies."""
    dist = report.distributions
    for day in report.days:
        key = day.partition.isoformat()
        day.written = dist.get("written", Counter())[key]
        day.superseded = dist.get("superseded", Counter())[key]
        day.changed = changed[day.partition]
        for name in ("lapse_risk", "metrics_date"):
            values = {
                combined.split("|", 1)[1]: n
                for combined, n in dist.get(f"day|{name}", Counter()).items()
                if combined.startswith(key + "|")
            }
            if name == "lapse_risk":
                day.lapse_risk = values
            else:
                day.metrics_dates = values


def _run_block(
    engine: sa.Engine,
    report: NightlyReport,
    block: list[dt.date],
    *,
    limit: int | None,
    chunk_size: int,
    computed_at: dt.datetime,
    changed: Counter[dt.date],
    log: Log,
    progress: Progress,
) -> None:
    """Days ``block`` under their partition locks: list each day's active users, run the
    chunks of everyone active on any of them, then each day's post-run facts."""
    names = [f"{METRICS_TABLE}:{day.isoformat()}" for day in block]
    with partition_locks(engine, names) as waited:
        report.lock_wait_s += waited
        if waited > 1:
            shown = block[0] if len(block) == 1 else f"{block[0]}…{block[-1]}"
            log("warning", f"waited {waited:.1f}s for another run of partition {shown}")
        active: dict[dt.date, np.ndarray] = {}
        with engine.connect() as conn:
            for day in block:
                as_of = snapshot_instant(day)
                ids = reads.active_user_ids(conn, as_of, limit, now=computed_at)
                active[day] = np.asarray(ids, dtype=np.int64)
                summary = report.day(day)
                summary.active_users = len(ids)
                summary.coach_users_with_usage = reads.users_with_usage(conn, day)
                log("info", f"partition {day}: {len(ids)} active users at {as_of.isoformat()}")
        user_ids = np.unique(np.concatenate(list(active.values()))).tolist()
        if len(block) > 1:
            log(
                "info",
                f"partitions {block[0]}…{block[-1]}: {len(user_ids)} users active on at least "
                f"one day ({sum(len(ids) for ids in active.values())} user-days)",
            )
        failed: set[int] = set()
        done = 0
        for chunk in chunked(user_ids, chunk_size):
            members = np.asarray(chunk, dtype=np.int64)
            work = NightlyChunk(
                partition=block[0],
                last=block[-1],
                computed_at=computed_at,
                active={day: ids[np.isin(ids, members)] for day, ids in active.items()},
            )
            chunk_report = run_chunk(engine, work, chunk)
            report.add(chunk_report)
            failed.update(chunk_report.errors)
            changed.update(row.day for row in chunk_report.changed if isinstance(row, ChangedRow))
            done += len(chunk)
            progress(done, len(user_ids))
        failed_ids = np.asarray(sorted(failed), dtype=np.int64)
        with engine.connect() as conn:
            for day in block:
                as_of = snapshot_instant(day)
                summary = report.day(day)
                summary.failed = int(np.isin(active[day], failed_ids).sum())
                summary.missing_user_ids = queries.users_without_metrics(
                    conn, as_of, active[day].tolist()
                )
                summary.range_violations = queries.metrics_range_violations(conn, as_of)


def run_nightly_range(
    engine: sa.Engine,
    first: dt.date,
    last: dt.date,
    *,
    limit: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: dt.datetime | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
    days_per_read: int = MAX_DAYS_PER_READ,
) -> NightlyReport:
    """Compute and upsert the behaviour metrics of the partitions ``first … last``
    (inclusive): exactly the rows that one :func:`run_nightly` per day, in date order,
    would leave.

    Each day has its own active users (``limit``: the first N of them by id, as a single
    run).  Everyone active on any day of a block of at most ``days_per_read`` days is
    chunked ``chunk_size`` at a time; each chunk is read once for the whole block,
    validated once, computed day by day and written in one bulk upsert.  A user whose
    data cannot be computed or written fails alone (for the whole block), everyone else
    commits.  The block's partition locks (one per day, in date order) are held while it
    runs, so a run of any of its days waits, then finds the work done.
    """
    _validate_limit(limit)
    if chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be ≥ 1, got {chunk_size}")
    if days_per_read < 1:
        raise ConfigurationError(f"days_per_read must be ≥ 1, got {days_per_read}")
    if last < first:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    days = partition_days(first, last)
    report = NightlyReport(
        partition=first,
        last_partition=last,
        as_of=snapshot_instant(first),
        limit=limit,
        days=[NightlyDay(day, snapshot_instant(day)) for day in days],
    )
    require_tables(engine, NIGHTLY_TABLES)
    if limit == 0:
        log("info", "limit=0: nothing to do")
        return report

    changed: Counter[dt.date] = Counter()
    for start in range(0, len(days), days_per_read):
        _run_block(
            engine,
            report,
            days[start : start + days_per_read],
            limit=limit,
            chunk_size=chunk_size,
            computed_at=computed_at,
            changed=changed,
            log=log,
            progress=progress,
        )
    _fill_days(report, changed)
    for day in report.days:
        log(
            "info",
            f"users with non-zero coach usage on {day.partition} (UTC): "
            f"{day.coach_users_with_usage}",
        )
    log_failures(log, report)
    return report


def run_nightly(
    engine: sa.Engine,
    partition: dt.date,
    *,
    limit: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: dt.datetime | None = None,
    log: Log = no_log,
    progress: Progress = no_progress,
) -> NightlyReport:
    """Compute and upsert the behaviour metrics of every active user of ``partition``.

    ``limit`` keeps the first N active users by id (0: nobody; negative: a
    ConfigurationError).  Users go through the chunk runner ``chunk_size`` at a time; a
    user whose data cannot be computed or written fails alone, everyone else commits.
    """
    return run_nightly_range(
        engine,
        partition,
        partition,
        limit=limit,
        chunk_size=chunk_size,
        now=now,
        log=log,
        progress=progress,
    )


def run_coach_usage(
    engine: sa.Engine, day: dt.date, *, now: dt.datetime | None = None
) -> dict[str, object]:
    """Summarise ``llm_usage_daily`` of UTC ``day`` into ``coach_usage_daily`` (upsert)."""
    require_tables(engine, ("llm_usage_daily", "coach_usage_daily"))
    with engine.connect() as conn:
        summary = summarize_coach_usage(reads.usage_for_day(conn, day))
    row: dict[str, object] = {"usage_date": day, **summary}
    row["computed_at"] = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    with engine.begin() as conn:
        upsert(conn, "coach_usage_daily", [row], ("usage_date",), unchanged_unless=list(summary))
    return row


def run_coach_usage_range(
    engine: sa.Engine, first: dt.date, last: dt.date, *, now: dt.datetime | None = None
) -> list[dict[str, object]]:
    """:func:`run_coach_usage` for each UTC day ``first … last``; the rows, in date order."""
    if last < first:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    return [run_coach_usage(engine, day, now=now) for day in partition_days(first, last)]
