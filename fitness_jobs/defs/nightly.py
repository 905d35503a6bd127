"""Nightly behaviour metrics: daily-partitioned assets, checks, job and schedule.

Thin glue: ``fitness_jobs.pipelines.nightly`` does the work and returns a report
that becomes metadata, check results and log lines here.
"""

import datetime as dt
import json
from typing import Any

import dagster as dg
from pydantic import Field

from fitness_jobs.defs.common import (
    APP_DB_POOL,
    DB_RETRY_POLICY,
    NO_FAILED_USERS,
    dagster_log,
    failure_metadata,
    markdown_table,
    progress_logger,
    run_or_fail,
)
from fitness_jobs.defs.partitions import daily_partitions
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.sources import APP_TABLE_SPECS
from fitness_jobs.pipelines.nightly import (
    DEFAULT_CHUNK_SIZE,
    NightlyReport,
    run_coach_usage,
    run_nightly,
)

METRICS_GROUP = "coach_metrics"


class NightlyMetricsConfig(dg.Config):
    """Run configuration of ``user_behavior_metrics`` (the old job's flags)."""

    limit: int | None = Field(
        default=None,
        description="Process only the first N active users by id (the old --limit). "
        "0 processes nobody; a negative value is rejected.",
    )
    chunk_size: int = Field(
        default=DEFAULT_CHUNK_SIZE,
        description="Users read, computed and written together; bounds memory.",
    )


def _preview(report: NightlyReport) -> str:
    lines = [
        f"**Partition {report.partition}** · snapshot `{report.as_of.isoformat()}` · "
        f"{report.active_users} active · {report.written} written · {len(report.failed)} failed",
        "",
        "Lapse risk | users",
        "--- | ---",
    ]
    for band in ("on_track", "slipping", "at_risk", "lapsed"):
        lines.append(f"{band} | {report.lapse_risk.get(band, 0)}")
    if not report.sample.empty:
        cols = [
            "user_id",
            "metrics_date",
            "timezone",
            "sessions_7d",
            "adherence_4w",
            "current_streak_weeks",
            "lapse_risk",
            "ctl",
            "acwr",
        ]
        lines += ["", "Sample rows:", "", markdown_table(report.sample, cols)]
    return "\n".join(lines)


def nightly_metadata(report: NightlyReport) -> dict[str, Any]:
    return {
        "dagster/row_count": report.written,
        "snapshot_at": dg.MetadataValue.timestamp(report.as_of),
        "limit": report.limit if report.limit is not None else "none",
        "active_users": report.active_users,
        "written_users": report.written,
        "rows_changed": report.changed,
        **failure_metadata(report.failed),
        "excluded_rows": dg.MetadataValue.json(dict(report.excluded_rows)),
        "timezone_null_fallback": report.timezones.get("null_fallback_utc", 0),
        "timezone_case_normalized": report.timezones.get("case_normalized", 0),
        "timezone_invalid": report.timezones.get("invalid", 0),
        "metrics_dates": dg.MetadataValue.json(dict(report.metrics_dates)),
        "read_seconds": round(report.timings.get("read", 0.0), 3),
        "validate_seconds": round(report.timings.get("validate", 0.0), 3),
        "compute_seconds": round(report.timings.get("compute", 0.0), 3),
        "write_seconds": round(report.timings.get("write", 0.0), 3),
        "chunks": report.chunks,
        "bisections": report.bisections,
        "lock_wait_seconds": round(report.lock_wait_s, 3),
        "coach_users_with_usage": report.coach_users_with_usage,
        "preview": dg.MetadataValue.md(_preview(report)),
    }


@dg.asset(
    partitions_def=daily_partitions,
    deps=[APP_TABLE_SPECS[t] for t in ("users", "workouts", "workout_sets", "llm_usage_daily")],
    group_name=METRICS_GROUP,
    kinds={"python", "sql"},
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    code_version="metrics_v1",
    description=(
        "Behaviour metrics of every active user (DESIGN §5), snapshotted at the end of the "
        "UTC partition day; one row per (user_id, metrics_date = user's local date then)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            NO_FAILED_USERS,
            asset="user_behavior_metrics",
            blocking=True,
            description="Fails the run when any user failed (ids and error codes in metadata).",
        ),
        dg.AssetCheckSpec(
            "coverage",
            asset="user_behavior_metrics",
            description="Every active user of the partition has a row for this snapshot.",
        ),
        dg.AssetCheckSpec(
            "value_ranges",
            asset="user_behavior_metrics",
            description="Rates in [0, 1], non-negative counts and loads, hour in [0, 24).",
        ),
    ],
)
def user_behavior_metrics(
    context: dg.AssetExecutionContext, config: NightlyMetricsConfig, app_db: AppDatabase
) -> dg.MaterializeResult:
    partition = dt.date.fromisoformat(context.partition_key)
    log = dagster_log(context)

    progress = progress_logger(log)
    report = run_or_fail(
        lambda: run_nightly(
            app_db.engine(),
            partition,
            limit=config.limit,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress,
        )
    )
    return dg.MaterializeResult(
        metadata=nightly_metadata(report),
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_FAILED_USERS,
                passed=not report.failed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=failure_metadata(report.failed),
            ),
            dg.AssetCheckResult(
                check_name="coverage",
                passed=not report.missing_user_ids,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "active_users": report.active_users,
                    "missing_users": len(report.missing_user_ids),
                    "missing_user_ids": dg.MetadataValue.json(report.missing_user_ids[:500]),
                },
            ),
            dg.AssetCheckResult(
                check_name="value_ranges",
                passed=not report.range_violations,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"violations": dg.MetadataValue.json(report.range_violations)},
            ),
        ],
    )


@dg.asset(
    partitions_def=daily_partitions,
    deps=[APP_TABLE_SPECS["llm_usage_daily"]],
    group_name=METRICS_GROUP,
    kinds={"python", "sql"},
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    description="AI-coach usage of the UTC day: users with usage, totals, p95 and max per user.",
)
def coach_usage_daily(
    context: dg.AssetExecutionContext, app_db: AppDatabase
) -> dg.MaterializeResult:
    day = dt.date.fromisoformat(context.partition_key)
    row = run_or_fail(lambda: run_coach_usage(app_db.engine(), day))
    summary: dict[str, Any] = {
        k: v for k, v in row.items() if k not in ("usage_date", "computed_at")
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": 1,
            **{k: (v if v is not None else "none") for k, v in summary.items()},
            "summary": dg.MetadataValue.json(json.loads(json.dumps(summary))),
        }
    )


nightly_metrics_job = dg.define_asset_job(
    "nightly_metrics_job",
    selection=[user_behavior_metrics, coach_usage_daily],
    description="Nightly behaviour metrics and coach usage for one UTC day.",
    tags={"fitness_jobs/kind": "nightly"},
)

# Fires at 02:00 UTC on D+1 and requests partition D (the last complete UTC day).
nightly_metrics_schedule = dg.build_schedule_from_partitioned_job(
    nightly_metrics_job,
    name="nightly_metrics_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    description="Daily at 02:00 UTC: materialise yesterday's (UTC) partition.",
)
