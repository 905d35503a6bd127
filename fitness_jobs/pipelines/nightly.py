"""The nightly behaviour-metrics run for one UTC partition day (DESIGN §2, §5, §8)."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.calendar import local_day_numbers
from fitness_jobs.core.isolation import isolate
from fitness_jobs.core.metrics import (
    HISTORY_DAYS,
    METRIC_COLUMNS,
    METRICS_VERSION,
    SETS_HISTORY_DAYS,
    compute_behavior_metrics,
)
from fitness_jobs.core.usage import summarize_coach_usage
from fitness_jobs.db import reads
from fitness_jobs.db.bulk import chunked, records_from_frame, upsert, write_isolated
from fitness_jobs.db.locks import partition_lock
from fitness_jobs.db.schema import APP_TABLES, UserBehaviorMetrics
from fitness_jobs.pipelines import (
    Log,
    Progress,
    UsageError,
    log_failures,
    no_log,
    no_progress,
    require_tables,
)
from fitness_jobs.pipelines.history import read_training_history, validate_training_history

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


def snapshot_instant(partition: dt.date) -> dt.datetime:
    """``as_of`` of a daily partition: the end of the UTC day (D+1 00:00 UTC)."""
    return dt.datetime.combine(partition + dt.timedelta(days=1), dt.time(0), dt.UTC)


def default_partition(now: dt.datetime) -> dt.date:
    """The partition the 02:00 UTC schedule would run at ``now``: the last complete UTC day
    whose schedule tick has passed."""
    now = now.astimezone(dt.UTC)
    return (now - dt.timedelta(hours=2)).date() - dt.timedelta(days=1)


@dataclass
class NightlyReport:
    """What one nightly run did; becomes Dagster metadata and the CLI summary."""

    partition: dt.date
    as_of: dt.datetime
    limit: int | None
    active_users: int = 0
    written: int = 0
    changed: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    excluded_rows: Counter[str] = field(default_factory=Counter)
    timezones: Counter[str] = field(default_factory=Counter)
    timings: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "validate": 0.0, "compute": 0.0, "write": 0.0}
    )
    lapse_risk: Counter[str] = field(default_factory=Counter)
    metrics_dates: Counter[str] = field(default_factory=Counter)
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)
    chunks: int = 0
    bisections: int = 0
    lock_wait_s: float = 0.0
    coach_users_with_usage: int = 0
    missing_user_ids: list[int] = field(default_factory=list)
    range_violations: dict[str, int] = field(default_factory=dict)

    @property
    def failure_codes(self) -> Counter[str]:
        return Counter(self.failed.values())


def _validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise UsageError(f"limit must be a whole number ≥ 0 (0 processes nobody), got {limit!r}")


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

    ``limit`` keeps the first N active users by id (0: nobody; negative: UsageError).
    Users are processed ``chunk_size`` at a time: a few bulk reads, one vectorised
    computation and one bulk upsert per chunk.  A user whose data cannot be computed
    or written fails alone (bisection); everyone else is committed.
    """
    _validate_limit(limit)
    if chunk_size < 1:
        raise UsageError(f"chunk_size must be ≥ 1, got {chunk_size}")
    as_of = snapshot_instant(partition)
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    report = NightlyReport(partition=partition, as_of=as_of, limit=limit)
    require_tables(engine, NIGHTLY_TABLES)
    if limit == 0:
        log("info", "limit=0: nothing to do")
        return report

    with partition_lock(engine, f"{METRICS_TABLE}:{partition.isoformat()}") as waited:
        report.lock_wait_s = waited
        if waited > 1:
            log("warning", f"waited {waited:.1f}s for another run of partition {partition}")
        started = time.perf_counter()
        with engine.connect() as conn:
            user_ids = reads.active_user_ids(conn, as_of, limit)
            report.coach_users_with_usage = reads.users_with_usage(conn, partition)
        report.timings["read"] += time.perf_counter() - started
        report.active_users = len(user_ids)
        log("info", f"partition {partition}: {len(user_ids)} active users at {as_of.isoformat()}")
        done = 0
        for chunk in chunked(user_ids, chunk_size):
            _process_chunk(engine, chunk, partition, as_of, computed_at, report, log)
            done += len(chunk)
            progress(done, len(user_ids))
        started = time.perf_counter()
        report.missing_user_ids = users_without_metrics(engine, as_of, user_ids)
        report.range_violations = metrics_range_violations(engine, as_of)
        report.timings["check"] = time.perf_counter() - started
    log(
        "info",
        f"users with non-zero coach usage on {partition} (UTC): {report.coach_users_with_usage}",
    )
    log_failures(log, report.failed)
    return report


def _process_chunk(
    engine: sa.Engine,
    chunk: Sequence[int],
    partition: dt.date,
    as_of: dt.datetime,
    computed_at: dt.datetime,
    report: NightlyReport,
    log: Log,
) -> None:
    report.chunks += 1
    started = time.perf_counter()
    history_after = as_of - dt.timedelta(days=HISTORY_DAYS + 2)
    sets_after = as_of - dt.timedelta(days=SETS_HISTORY_DAYS + 2)
    with engine.connect() as conn:
        raw = read_training_history(
            conn,
            chunk,
            until=as_of,
            workouts_after=history_after,
            sets_after=sets_after,
        )
        usage = reads.coach_requests(conn, chunk, partition - dt.timedelta(days=6), partition)
    report.timings["read"] += time.perf_counter() - started

    started = time.perf_counter()
    history = validate_training_history(raw, computed_at)
    report.failed.update(history.failed)
    report.timezones.update(history.timezones)
    report.excluded_rows.update(history.excluded_rows)
    workouts, sets = history.workouts, history.sets
    users = history.users.merge(usage, on="user_id", how="left")
    users["coach_requests_7d"] = users["coach_requests_7d"].fillna(0).astype("int64")
    users["cutoff"] = pd.Timestamp(as_of)
    users["metrics_day"] = local_day_numbers(
        pd.Series(pd.Timestamp(as_of), index=users.index), users["tz"]
    )
    report.timings["validate"] += time.perf_counter() - started

    started = time.perf_counter()
    everyone = len(users)

    def compute(ids: Sequence[int]) -> pd.DataFrame:
        if len(ids) == everyone:  # the clean path: one vectorised call for the chunk
            return compute_behavior_metrics(users, workouts, sets)
        wanted = set(ids)
        return compute_behavior_metrics(
            users[users["user_id"].isin(wanted)],
            workouts[workouts["user_id"].isin(wanted)],
            sets[sets["user_id"].isin(wanted)],
        )

    outcome = isolate(users["user_id"].tolist(), compute)
    report.failed.update(outcome.failed)
    report.bisections += max(0, outcome.calls - 1)
    report.timings["compute"] += time.perf_counter() - started
    if not outcome.results:
        return
    metrics = pd.concat(outcome.results, ignore_index=True)
    metrics["snapshot_at"] = as_of
    metrics["computed_at"] = computed_at
    metrics["metrics_version"] = METRICS_VERSION

    started = time.perf_counter()
    records = records_from_frame(metrics, ROW_COLUMNS)
    by_user = {rec["user_id"]: rec for rec in records}

    def write(conn: sa.Connection, ids: Sequence[int]) -> int:
        rows = [by_user[i] for i in ids]
        return len(
            upsert(conn, METRICS_TABLE, rows, METRICS_KEY, unchanged_unless=COMPARED_COLUMNS)
        )

    written = write_isolated(engine, list(by_user), write)
    report.failed.update(written.failed)
    report.bisections += written.bisections
    report.written += len(written.committed)
    report.changed += sum(written.returned)
    report.timings["write"] += time.perf_counter() - started

    ok = metrics[metrics["user_id"].isin(set(written.committed))]
    report.lapse_risk.update(ok["lapse_risk"].astype(str).tolist())
    report.metrics_dates.update(str(d) for d in ok["metrics_date"].tolist())
    if len(report.sample) < 5:
        report.sample = pd.concat(
            [report.sample, ok.head(5 - len(report.sample))], ignore_index=True
        )
    if written.failed:
        log("warning", f"write refused for users {sorted(written.failed)[:20]}")


def users_without_metrics(
    engine: sa.Engine, as_of: dt.datetime, user_ids: Sequence[int]
) -> list[int]:
    """Of ``user_ids``, those with no ``user_behavior_metrics`` row for snapshot ``as_of``."""
    t = UserBehaviorMetrics.__table__
    missing: list[int] = []
    with engine.connect() as conn:
        for chunk in chunked(user_ids, 10_000):
            have = {
                int(r[0])
                for r in conn.execute(
                    sa.select(t.c.user_id).where(t.c.user_id.in_(chunk), t.c.snapshot_at == as_of)
                )
            }
            missing.extend(uid for uid in chunk if uid not in have)
    return missing


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


def metrics_range_violations(engine: sa.Engine, as_of: dt.datetime) -> dict[str, int]:
    """Rows of snapshot ``as_of`` breaking each value-range rule (only non-zero counts)."""
    t = UserBehaviorMetrics.__table__
    names = list(RANGE_RULES)
    # One pass over the snapshot: a conditional count per rule (a NULL never breaks one).
    counts = [
        sa.func.coalesce(sa.func.sum(sa.case((sa.text(f"({RANGE_RULES[n]})"), 1), else_=0)), 0)
        for n in names
    ]
    with engine.connect() as conn:
        row = conn.execute(sa.select(*counts).select_from(t).where(t.c.snapshot_at == as_of)).one()
    return {name: int(count) for name, count in zip(names, row, strict=True) if count}


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
        upsert(
            conn,
            "coach_usage_daily",
            [row],
            ("usage_date",),
            unchanged_unless=[c for c in summary],
        )
    return row
