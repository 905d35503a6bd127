"""Nightly behaviour metrics and coach usage: daily-partitioned assets (design §5).

Glue only: ``pipelines.nightly`` does the work; its report becomes metadata and the
blocking ``no_failed_users`` check here.  The checks that read the database are in
``checks.py``.
"""

import datetime as dt
import json
from typing import Any

import dagster as dg
from pydantic import Field

from fitness_jobs.core.metrics import METRICS_VERSION
from fitness_jobs.defs.app_tables import APP_TABLE_SPECS
from fitness_jobs.defs.common import (
    APP_DB_POOL,
    DB_RETRY_POLICY,
    NO_FAILED_USERS,
    dagster_log,
    failure_check,
    failure_metadata,
    phase_metadata,
    progress_logger,
    run_or_fail,
)
from fitness_jobs.defs.nightly.partitions import daily_partitions
from fitness_jobs.defs.resources import AppDatabase
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
        "0 processes nobody; a negative value fails the run at once.",
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
    lines += ["", "Local metrics date | users", "--- | ---"]
    lines += [f"{day} | {n}" for day, n in sorted(report.metrics_dates.items())]
    return "\n".join(lines)


def nightly_metadata(report: NightlyReport) -> dict[str, Any]:
    return {
        "dagster/row_count": report.written,
        "snapshot_at": dg.MetadataValue.timestamp(report.as_of),
        "metrics_version": METRICS_VERSION,
        "limit": report.limit if report.limit is not None else "none",
        "active_users": report.active_users,
        "written_users": report.written,
        "rows_changed": report.changed,
        **failure_metadata(report),
        "excluded_rows": dg.MetadataValue.json(dict(report.excluded_rows)),
        "timezone_null_fallback": report.timezones.get("null_fallback_utc", 0),
        "timezone_case_normalized": report.timezones.get("case_normalized", 0),
        "timezone_invalid": report.timezones.get("invalid", 0),
        "metrics_dates": dg.MetadataValue.json(report.metrics_dates),
        **phase_metadata(report),
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
    code_version=f"metrics_v{METRICS_VERSION}",
    description=(
        "Behaviour metrics of every active user (docs/design.md §5), snapshotted at the end "
        "of the UTC partition day; one row per (user_id, metrics_date = user's local date then)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            NO_FAILED_USERS,
            asset="user_behavior_metrics",
            blocking=True,
            description="Fails the run when any user failed (ids and error codes in metadata).",
        )
    ],
)
def user_behavior_metrics(
    context: dg.AssetExecutionContext, config: NightlyMetricsConfig, app_db: AppDatabase
) -> dg.MaterializeResult:
    partition = dt.date.fromisoformat(context.partition_key)
    log = dagster_log(context)
    report = run_or_fail(
        lambda: run_nightly(
            app_db.engine(),
            partition,
            limit=config.limit,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress_logger(log),
        )
    )
    return dg.MaterializeResult(
        metadata=nightly_metadata(report), check_results=[failure_check(report)]
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
