"""The nightly behaviour-metrics run for one UTC partition day, or a range of them
(design §2, §5, §8, §11).

Only what differs from the weekly run is here: which users (active at the snapshot),
what is read (history windows, coach usage), the metrics and the upsert.  Chunks of
users go through the shared runner (``pipelines.runner``).

A range of days writes exactly the rows of one run per day (design §2.1): each day
keeps its own ``as_of``, its own active users (and ``limit``), and sees only the rows a
run of that day alone would read.  What a range saves is the reading: each chunk of
users is read once for all its days (the history of the earliest day up to the snapshot
of the last), validated once, then computed a few days per call and written in one bulk
upsert.

A run is three steps, so that an executor can fan it out (design §11):
:func:`plan_nightly` lists each day's active users and splits them into ``parts``
(contiguous slices of user ids); :func:`run_nightly_part` runs one part's chunks, under
its own locks, and may run in its own process; :func:`finish_nightly` merges the parts'
reports and judges each day.  :func:`run_nightly_range` does the three in one process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from fitness_jobs.core.usage import summarize_coach_usage
from fitness_jobs.core.windows import default_partition, snapshot_instant
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import chunked, upsert
from fitness_jobs.db.engine import require_tables
from fitness_jobs.db.locks import partition_locks
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log, Progress, log_failures, nightly_days, no_log, no_progress
from fitness_jobs.pipelines.nightly_report import NightlyDay, NightlyReport, fill_days
from fitness_jobs.pipelines.runner import RunReport, run_chunks

__all__ = [
    "NightlyDay",
    "NightlyPart",
    "NightlyPlan",
    "NightlyReport",
    "default_partition",
    "finish_nightly",
    "partition_days",
    "plan_nightly",
    "run_coach_usage",
    "run_coach_usage_range",
    "run_nightly",
    "run_nightly_part",
    "run_nightly_range",
]

from fitness_jobs.pipelines.nightly_chunk import (  # noqa: F401  (re-exported)
    CHUNK_DAYS,
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
    NightlyChunk,
    partition_days,
    partition_of,
)


def _validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ConfigurationError(
            f"limit must be a whole number ≥ 0 (0 processes nobody), got {limit!r}"
        )


@dataclass(frozen=True)
class NightlyPart:
    """One part of a run: a contiguous slice of the run's users (by id), with each day's
    active ids of that slice, in blocks of at most ``days_per_read`` days.  Small and
    picklable: it is what a planning step hands to a part's step."""

    index: int  # 0-based
    parts: int
    computed_at: dt.datetime
    chunk_size: int
    blocks: tuple[dict[dt.date, np.ndarray], ...]
    users: int

    @property
    def label(self) -> str:
        return f"part {self.index + 1} of {self.parts}"

    def lock_name(self, day: dt.date) -> str:
        """The partition lock of ``day`` for this part.  A run in one part holds the
        day's lock; the parts of a fanned-out run hold one lock each, so two runs with
        the same fan-out still serialise part by part (and with different fan-outs their
        writes are idempotent upserts: the later one changes nothing)."""
        name = f"{METRICS_TABLE}:{day.isoformat()}"
        return name if self.parts == 1 else f"{name}:{self.index + 1}/{self.parts}"


@dataclass
class NightlyPlan:
    """What a run will do: its days (with each day's active users and coach usage) and
    how its users are split into parts."""

    first: dt.date
    last: dt.date
    limit: int | None
    chunk_size: int
    days_per_read: int
    computed_at: dt.datetime
    active: dict[dt.date, np.ndarray] = field(default_factory=dict)
    coach_users: dict[dt.date, int] = field(default_factory=dict)
    parts: list[NightlyPart] = field(default_factory=list)

    @property
    def users(self) -> int:
        """Users active on at least one day of the run."""
        values = list(self.active.values())
        return int(np.unique(np.concatenate(values)).size) if values else 0

    def new_report(self) -> NightlyReport:
        days = partition_days(self.first, self.last)
        return NightlyReport(
            partition=self.first,
            last_partition=self.last,
            as_of=snapshot_instant(self.first),
            limit=self.limit,
            days=[
                NightlyDay(
                    day,
                    snapshot_instant(day),
                    active_users=len(self.active.get(day, NO_USERS)),
                    coach_users_with_usage=self.coach_users.get(day, 0),
                )
                for day in days
            ],
        )


def _split(user_ids: np.ndarray, parts: int) -> list[np.ndarray]:
    """``parts`` contiguous slices of the sorted ids, as equal as possible (at least one,
    possibly empty, so that a run always has a part to report)."""
    return list(np.array_split(user_ids, max(1, min(parts, user_ids.size))))


def plan_nightly(
    engine: sa.Engine,
    first: dt.date,
    last: dt.date,
    *,
    limit: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parts: int = 1,
    now: dt.datetime | None = None,
    days_per_read: int = MAX_DAYS_PER_READ,
    log: Log = no_log,
) -> NightlyPlan:
    """Check the arguments and the database, list each day's active users (``limit``:
    the first N by id, as a single run) and split everyone active on any day into
    ``parts`` slices of user ids."""
    _validate_limit(limit)
    for name, value in (("chunk_size", chunk_size), ("parts", parts)):
        if not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} must be ≥ 1, got {value!r}")
    if days_per_read < 1:
        raise ConfigurationError(f"days_per_read must be ≥ 1, got {days_per_read}")
    if last < first:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    plan = NightlyPlan(first, last, limit, chunk_size, days_per_read, computed_at)
    require_tables(engine, NIGHTLY_TABLES)
    days = partition_days(first, last)
    if limit == 0:
        log("info", "limit=0: nothing to do")
        plan.active = {day: NO_USERS for day in days}
    else:
        instants = [snapshot_instant(day) for day in days]
        actives, coach_users = nightly_days.active_and_usage(
            engine, days, instants, limit, computed_at
        )
        for day, as_of, ids in zip(days, instants, actives, strict=True):
            plan.active[day] = ids
            plan.coach_users[day] = coach_users.get(day, 0)
            log("info", f"partition {day}: {len(ids)} active users at {as_of.isoformat()}")
    everyone = np.unique(np.concatenate(list(plan.active.values())))
    if len(days) > 1:
        user_days = sum(len(ids) for ids in plan.active.values())
        log(
            "info",
            f"partitions {first}…{last}: {everyone.size} users active on at least one day "
            f"({user_days} user-days)",
        )
    slices = _split(everyone, parts)
    block_days = min(days_per_read, len(days))
    users_per_chunk = max(1, chunk_size * CHUNK_DAYS // max(block_days, CHUNK_DAYS))
    for index, members in enumerate(slices):
        blocks = tuple(
            {day: plan.active[day][np.isin(plan.active[day], members)] for day in block}
            for block in (days[s : s + days_per_read] for s in range(0, len(days), days_per_read))
        )
        plan.parts.append(
            NightlyPart(index, len(slices), computed_at, users_per_chunk, blocks, int(members.size))
        )
    if len(slices) > 1:
        sizes = ", ".join(f"{p.users:,}" for p in plan.parts)
        log("info", f"{everyone.size:,} users in {len(slices)} parts ({sizes})")
    return plan


def _chunk_work(
    part: NightlyPart, days: list[dt.date], block: dict[dt.date, np.ndarray], chunk: list[int]
) -> NightlyChunk:
    """A chunk's work for a block of days: each day's active users among the chunk's."""
    members = np.asarray(chunk, dtype=np.int64)
    return NightlyChunk(
        partition=days[0],
        last=days[-1],
        computed_at=part.computed_at,
        active={day: ids[np.isin(ids, members)] for day, ids in block.items()},
    )


def run_nightly_part(
    engine: sa.Engine, part: NightlyPart, *, log: Log = no_log, progress: Progress = no_progress
) -> RunReport:
    """Run one part's chunks, block by block, each block under its days' locks.  A user
    whose data cannot be computed or written fails alone (for the whole block)."""
    report = RunReport()
    for block in part.blocks:
        days = sorted(block)
        with partition_locks(engine, [part.lock_name(day) for day in days]) as waited:
            report.lock_wait_s += waited
            if waited > 1:
                shown = days[0] if len(days) == 1 else f"{days[0]}…{days[-1]}"
                log("warning", f"waited {waited:.1f}s for another run of partition {shown}")
            values = list(block.values())
            user_ids = np.unique(np.concatenate(values)).tolist() if values else []
            chunks = (
                (_chunk_work(part, days, block, chunk), chunk)
                for chunk in chunked(user_ids, part.chunk_size)
            )
            done = 0
            for chunk_report in run_chunks(engine, chunks):
                report.add(chunk_report)
                done += chunk_report.users
                progress(done, len(user_ids))
    return report


def finish_nightly(
    engine: sa.Engine, plan: NightlyPlan, parts: Sequence[RunReport], *, log: Log = no_log
) -> NightlyReport:
    """Merge the parts' reports and judge each day: its failed active users, active users
    without a row, rows breaking a value rule."""
    report = plan.new_report()
    for part in parts:
        report.merge(part)
    fill_days(report)
    failed = np.asarray(sorted(report.errors), dtype=np.int64)
    if plan.limit != 0:
        days = report.days
        missing, violations = nightly_days.missing_and_violations(
            engine, [(day.as_of, plan.active[day.partition]) for day in days]
        )
        for day, day_missing, day_violations in zip(days, missing, violations, strict=True):
            day.failed = int(np.isin(plan.active[day.partition], failed).sum())
            day.missing_user_ids = day_missing
            day.range_violations = day_violations
    for day in report.days:
        log(
            "info",
            f"users with non-zero coach usage on {day.partition} (UTC): "
            f"{day.coach_users_with_usage}",
        )
    log_failures(log, report)
    return report


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
    parts: int = 1,
) -> NightlyReport:
    """Compute and upsert the behaviour metrics of the partitions ``first … last``
    (inclusive): exactly the rows that one :func:`run_nightly` per day, in date order,
    would leave.

    Each day has its own active users (``limit``: the first N of them by id, as a single
    run).  Everyone active on any day of a block of at most ``days_per_read`` days is
    chunked ``chunk_size`` at a time (fewer in a block longer than ``CHUNK_DAYS``, in
    proportion, so a chunk holds as many user-days); each chunk is read once for the
    whole block, validated once, computed a few days per call (a row per user and day,
    each the row of that day alone) and written in one bulk upsert.  A user whose
    data cannot be computed or written fails alone (for the whole block), everyone else
    commits.  The block's partition locks (one per day, in date order) are held while it
    runs, so a run of any of its days waits, then finds the work done.  ``parts`` splits
    the users as a fanned-out run would (the parts run one after the other here).
    """
    plan = plan_nightly(
        engine,
        first,
        last,
        limit=limit,
        chunk_size=chunk_size,
        parts=parts,
        now=now,
        days_per_read=days_per_read,
        log=log,
    )
    if limit == 0:
        return plan.new_report()
    reports = [run_nightly_part(engine, part, log=log, progress=progress) for part in plan.parts]
    return finish_nightly(engine, plan, reports, log=log)


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
    return run_coach_usage_range(engine, day, day, now=now)[0]


def run_coach_usage_range(
    engine: sa.Engine, first: dt.date, last: dt.date, *, now: dt.datetime | None = None
) -> list[dict[str, object]]:
    """Summarise ``llm_usage_daily`` of each UTC day ``first … last`` into
    ``coach_usage_daily``, from one read and in one upsert; the rows, in date order."""
    if last < first:
        raise ConfigurationError(f"the range ends ({last}) before it starts ({first})")
    require_tables(engine, ("llm_usage_daily", "coach_usage_daily"))
    with engine.connect() as conn:
        usage = reads.usage_for_days(conn, first, last)
    # SQLite gives the dates as ISO text, PostgreSQL as dates: both print the same.
    by_day = {str(day): rows for day, rows in usage.groupby("usage_date", sort=False)}
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    rows: list[dict[str, object]] = [
        {
            "usage_date": day,
            **summarize_coach_usage(by_day.get(day.isoformat(), usage.iloc[:0])),
            "computed_at": computed_at,
        }
        for day in partition_days(first, last)
    ]
    summarised = [column for column in rows[0] if column not in ("usage_date", "computed_at")]
    with engine.begin() as conn:
        upsert(conn, "coach_usage_daily", rows, ("usage_date",), unchanged_unless=summarised)
    return rows
