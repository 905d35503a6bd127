"""Nightly behaviour metrics and coach usage: daily-partitioned assets (design §5).

Glue only: ``pipelines.nightly`` does the work; its report becomes metadata and the
blocking ``no_failed_users`` check here.  The checks that read the database are in
``checks.py``.

A run covers one partition or, from a backfill (``NIGHTLY_BACKFILL_POLICY``) or
``fitness-jobs nightly --from D1 --to D2``, a range of them: the range's days are computed
together (same rows as one run per day) and each partition's materialisation carries
its own day's counts over the range's totals.
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
    MAX_DAYS_PER_READ,
    NightlyDay,
    NightlyReport,
    run_coach_usage_range,
    run_nightly_range,
)

METRICS_GROUP = "coach_metrics"
LAPSE_BANDS = ("on_track", "slipping", "at_risk", "lapsed")
# A backfill of many days runs as ranges of up to 31 days, each one run that reads every
# chunk of users once for all its days (design §2.1, §11); the rows are those of one run
# per day.  Both assets of the nightly job share it, so a backfill keeps them together.
NIGHTLY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_READ)


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


def _preview(
    heading: str, lapse_risk: dict[str, int], metrics_dates: dict[str, int], note: str = ""
) -> str:
    lines = [heading, "", "Lapse risk | users", "--- | ---"]
    lines += [f"{band} | {lapse_risk.get(band, 0)}" for band in LAPSE_BANDS]
    lines += ["", "Local metrics date | users", "--- | ---"]
    lines += [f"{day} | {n}" for day, n in sorted(metrics_dates.items())]
    return "\n".join(lines + (["", note] if note else []))


def _day_heading(day: NightlyDay) -> str:
    return (
        f"**Partition {day.partition}** · snapshot `{day.as_of.isoformat()}` · "
        f"{day.active_users} active · {day.written} written · {day.failed} failed"
    )


def day_rows(report: NightlyReport) -> list[dict[str, Any]]:
    """Each day's counts (the ``days`` metadata of a range run; the CLI prints them)."""
    return [
        {
            "partition": d.partition.isoformat(),
            "active_users": d.active_users,
            "written": d.written,
            "changed": d.changed,
            "failed": d.failed,
            "superseded": d.superseded,
            "coach_users_with_usage": d.coach_users_with_usage,
        }
        for d in report.days
    ]


def nightly_metadata(report: NightlyReport) -> dict[str, Any]:
    """The run's metadata; for a range, the totals over its days (user-days) and each
    day's counts under ``days`` (each partition's own values: :func:`day_metadata`)."""
    metadata: dict[str, Any] = {
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
    }
    if not report.is_range:
        (day,) = report.days
        metadata["preview"] = dg.MetadataValue.md(
            _preview(_day_heading(day), report.lapse_risk, report.metrics_dates)
        )
        return metadata
    metadata.update(
        {
            "partition_range": f"{report.partition}...{report.last_partition}",
            "partitions": len(report.days),
            "days": dg.MetadataValue.json(day_rows(report)),
            "preview": dg.MetadataValue.md(
                _preview(
                    f"**Partitions {report.partition} … {report.last_partition}** "
                    f"({len(report.days)} days) · {report.active_users} active user-days · "
                    f"{report.written} written · {len(report.failed)} users failed",
                    report.lapse_risk,
                    report.metrics_dates,
                )
            ),
        }
    )
    return metadata


def day_metadata(report: NightlyReport, day: NightlyDay) -> dict[str, Any]:
    """What a range run records on one partition's materialisation, over the range's
    metadata: that day's snapshot, counts and preview.  ``failed_users`` and the failure
    lists stay the range's (the blocking check judges the whole run)."""
    return {
        "dagster/row_count": day.written,
        "snapshot_at": dg.MetadataValue.timestamp(day.as_of),
        "active_users": day.active_users,
        "written_users": day.written,
        "rows_changed": day.changed,
        "partition_failed_users": day.failed,
        "metrics_dates": dg.MetadataValue.json(day.metrics_dates),
        "coach_users_with_usage": day.coach_users_with_usage,
        "preview": dg.MetadataValue.md(
            _preview(
                _day_heading(day),
                day.lapse_risk,
                day.metrics_dates,
                note=f"One of the {len(report.days)} days of a range run "
                f"({report.partition} … {report.last_partition}); `days` has each day's counts.",
            )
        ),
    }


def usage_summary(row: dict[str, object]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("usage_date", "computed_at")}


def usage_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    """One UTC day's ``coach_usage_daily`` row as metadata."""
    return {
        "dagster/row_count": 1,
        **{k: (v if v is not None else "none") for k, v in summary.items()},
        "summary": dg.MetadataValue.json(json.loads(json.dumps(summary))),
    }


def partition_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's first and last partition day (the same day for a single partition)."""
    keys = context.partition_keys
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


@dg.asset(
    partitions_def=daily_partitions,
    deps=[APP_TABLE_SPECS[t] for t in ("users", "workouts", "workout_sets", "llm_usage_daily")],
    group_name=METRICS_GROUP,
    kinds={"python", "sql"},
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    backfill_policy=NIGHTLY_BACKFILL_POLICY,
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
    first, last = partition_range(context)
    log = dagster_log(context)
    report = run_or_fail(
        lambda: run_nightly_range(
            app_db.engine(),
            first,
            last,
            limit=config.limit,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress_logger(log),
        )
    )
    if report.is_range:
        for day in report.days:
            context.add_asset_metadata(
                day_metadata(report, day), partition_key=day.partition.isoformat()
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
    backfill_policy=NIGHTLY_BACKFILL_POLICY,
    description="AI-coach usage of the UTC day: users with usage, totals, p95 and max per user.",
)
def coach_usage_daily(
    context: dg.AssetExecutionContext, app_db: AppDatabase
) -> dg.MaterializeResult:
    first, last = partition_range(context)
    rows = run_or_fail(lambda: run_coach_usage_range(app_db.engine(), first, last))
    summaries = [usage_summary(row) for row in rows]
    if len(rows) > 1:
        for row, summary in zip(rows, summaries, strict=True):
            context.add_asset_metadata(
                usage_metadata(summary), partition_key=str(row["usage_date"])
            )
        days = {
            str(row["usage_date"]): {
                "users_with_usage": s["users_with_usage"],
                "total_requests": s["total_requests"],
            }
            for row, s in zip(rows, summaries, strict=True)
        }
        return dg.MaterializeResult(
            metadata={
                **usage_metadata(summaries[-1]),
                "partition_range": f"{first}...{last}",
                "days": dg.MetadataValue.json(days),
            }
        )
    return dg.MaterializeResult(metadata=usage_metadata(summaries[0]))
