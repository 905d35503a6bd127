"""The nightly behaviour-metrics run for one UTC partition day (design §2, §5, §8).

Only what differs from the weekly run is here: which users (active at the snapshot),
what is read (history windows, coach usage), the metrics and the upsert.  Chunks of
users go through the shared runner (``pipelines.runner``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.calendar import local_day_numbers
from fitness_jobs.core.metrics import (
    HISTORY_DAYS,
    METRIC_COLUMNS,
    METRICS_VERSION,
    SETS_HISTORY_DAYS,
    compute_behavior_metrics,
)
from fitness_jobs.core.usage import summarize_coach_usage
from fitness_jobs.core.windows import default_partition, snapshot_instant
from fitness_jobs.db import nightly as queries
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import chunked, records_from_frame, upsert
from fitness_jobs.db.engine import require_tables
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.db.schema import APP_TABLES
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import Log, Progress, log_failures, no_log, no_progress
from fitness_jobs.pipelines.history import read_history, validate_history
from fitness_jobs.pipelines.runner import ChunkReport, Frames, RunReport, Validated, run_chunk

__all__ = ["NightlyReport", "default_partition", "run_coach_usage", "run_nightly"]

DEFAULT_CHUNK_SIZE = 5_000
METRICS_TABLE = "user_behavior_metrics"
METRICS_KEY = ("user_id", "metrics_date")
ROW_COLUMNS = [
    "user_id",
    "metrics_date",
    "snapshot_at",
    "computed_at",
    "timezone",
    "metrics_version",
    *METRIC_COLUMNS,
]
# What a nightly run needs in the app database (checked before anything runs).
NIGHTLY_TABLES = (*APP_TABLES, METRICS_TABLE, "coach_usage_daily")
# A re-run rewrites a row only if one of these differs, so it "changes nothing".
COMPARED_COLUMNS = ["snapshot_at", "timezone", "metrics_version", *METRIC_COLUMNS]


@dataclass
class NightlyReport(RunReport):
    """What one nightly run did; becomes Dagster metadata and the CLI summary."""

    partition: dt.date = dt.date.min
    as_of: dt.datetime = dt.datetime.min
    limit: int | None = None
    coach_users_with_usage: int = 0
    missing_user_ids: list[int] = field(default_factory=list)
    range_violations: dict[str, int] = field(default_factory=dict)

    @property
    def active_users(self) -> int:
        return self.users

    @property
    def written(self) -> int:
        """Users whose row for this snapshot is in the database (new, changed or equal)."""
        return self.committed

    @property
    def lapse_risk(self) -> dict[str, int]:
        return dict(self.distributions.get("lapse_risk", {}))

    @property
    def metrics_dates(self) -> dict[str, int]:
        return dict(self.distributions.get("metrics_date", {}))


@dataclass(frozen=True)
class NightlyChunk:
    """The nightly job's part of the chunk runner: one partition's snapshot."""

    partition: dt.date
    computed_at: dt.datetime

    @property
    def as_of(self) -> dt.datetime:
        return snapshot_instant(self.partition)

    def read(self, conn: sa.Connection, user_ids: Sequence[int]) -> Frames:
        frames = read_history(
            conn,
            user_ids,
            until=self.as_of,
            workouts_after=self.as_of - dt.timedelta(days=HISTORY_DAYS + 2),
            sets_after=self.as_of - dt.timedelta(days=SETS_HISTORY_DAYS + 2),
            now=self.computed_at,
        )
        first_day = self.partition - dt.timedelta(days=6)
        frames["usage"] = reads.coach_requests(conn, user_ids, first_day, self.partition)
        return frames

    def validate(self, raw: Frames) -> Validated:
        valid = validate_history(raw, self.computed_at)
        users = valid.frames["users"].merge(raw["usage"], on="user_id", how="left")
        users["coach_requests_7d"] = users["coach_requests_7d"].fillna(0).astype("int64")
        users["cutoff"] = pd.Timestamp(self.as_of)
        users["metrics_day"] = local_day_numbers(
            pd.Series(pd.Timestamp(self.as_of), index=users.index), users["tz"]
        )
        valid.frames["users"] = users
        return valid

    def compute(self, frames: Frames) -> pd.DataFrame:
        metrics = compute_behavior_metrics(frames["users"], frames["workouts"], frames["sets"])
        metrics["snapshot_at"] = self.as_of
        metrics["computed_at"] = self.computed_at
        metrics["metrics_version"] = METRICS_VERSION
        return metrics

    def records(self, outputs: Sequence[pd.DataFrame]) -> dict[int, Any]:
        rows = records_from_frame(pd.concat(outputs, ignore_index=True), ROW_COLUMNS)
        return {row["user_id"]: row for row in rows}

    def write(self, conn: sa.Connection, rows: Sequence[Any]) -> list[int]:
        changed = upsert(conn, METRICS_TABLE, rows, METRICS_KEY, unchanged_unless=COMPARED_COLUMNS)
        return [int(key[0]) for key in changed]

    def tally(
        self, outputs: Sequence[pd.DataFrame], committed: Sequence[int], report: ChunkReport
    ) -> None:
        metrics = pd.concat(outputs, ignore_index=True)
        ok = metrics[metrics["user_id"].isin(set(committed))]
        report.count("lapse_risk", ok["lapse_risk"].tolist())
        report.count("metrics_date", ok["metrics_date"].tolist())


def _validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ConfigurationError(
            f"limit must be a whole number ≥ 0 (0 processes nobody), got {limit!r}"
        )


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
    _validate_limit(limit)
    if chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be ≥ 1, got {chunk_size}")
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    work = NightlyChunk(partition=partition, computed_at=computed_at)
    report = NightlyReport(partition=partition, as_of=work.as_of, limit=limit)
    require_tables(engine, NIGHTLY_TABLES)
    if limit == 0:
        log("info", "limit=0: nothing to do")
        return report

    with partition_lock(engine, f"{METRICS_TABLE}:{partition.isoformat()}") as waited:
        report.lock_wait_s = waited
        if waited > 1:
            log("warning", f"waited {waited:.1f}s for another run of partition {partition}")
        with engine.connect() as conn:
            user_ids = reads.active_user_ids(conn, work.as_of, limit, now=computed_at)
            report.coach_users_with_usage = reads.users_with_usage(conn, partition)
        log(
            "info",
            f"partition {partition}: {len(user_ids)} active users at {work.as_of.isoformat()}",
        )
        for chunk in chunked(user_ids, chunk_size):
            report.add(run_chunk(engine, work, chunk))
            progress(report.users, len(user_ids))
        with engine.connect() as conn:
            report.missing_user_ids = queries.users_without_metrics(conn, work.as_of, user_ids)
            report.range_violations = queries.metrics_range_violations(conn, work.as_of)
    log(
        "info",
        f"users with non-zero coach usage on {partition} (UTC): {report.coach_users_with_usage}",
    )
    log_failures(log, report)
    return report


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
