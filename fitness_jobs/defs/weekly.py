"""Weekly reports and predictions: week-partitioned assets, checks, job and window sensor.

One op materialises both assets, because a report and its prediction are written in
the same transaction per user (the report row is the exactly-once claim).
"""

import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from fitness_jobs.core.report import report_markdown
from fitness_jobs.defs.common import (
    APP_DB_POOL,
    DB_RETRY_POLICY,
    NO_FAILED_USERS,
    dagster_log,
    failure_metadata,
    progress_logger,
    run_or_fail,
)
from fitness_jobs.defs.partitions import weekly_partitions
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.sources import APP_TABLE_SPECS
from fitness_jobs.pipelines import UsageError
from fitness_jobs.pipelines.weekly import (
    DEFAULT_CHUNK_SIZE,
    WeeklyReportRun,
    missing_reports,
    run_weekly,
    sensor_due_count,
)

REPORTS_GROUP = "weekly_reports"
REPORTS_KEY = dg.AssetKey("weekly_training_reports")
PREDICTIONS_KEY = dg.AssetKey("transformation_predictions")
SENSOR_INTERVAL_ENV = "FITNESS_WEEKLY_SENSOR_INTERVAL_SECONDS"


class WeeklyReportsConfig(dg.Config):
    """Run configuration of the weekly reports (see docs/operations.md)."""

    mode: str = Field(
        default="catch_up",
        description="'catch_up' (default; UI materialisations and backfills): every eligible user "
        "of the week whose local week is over and who has no report. 'window': only users inside "
        "their local Monday 03:00–06:00 window at `at` (what the sensor launches).",
    )
    at: str | None = Field(
        default=None,
        description="Window mode's reference instant, ISO-8601 with offset (default: run start).",
    )
    regenerate: bool = Field(
        default=False,
        description="Rewrite existing reports and predictions (after a fix). Without it nothing "
        "is ever overwritten or duplicated.",
    )
    user_ids: list[int] | None = Field(
        default=None, description="Only these users (e.g. regenerate one user's report)."
    )
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, description="Users per batch.")


def _parse_at(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"`at` is not an ISO-8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        raise UsageError(f"`at` needs a UTC offset, e.g. 2026-11-30T03:30:00+00:00: {value!r}")
    return parsed.astimezone(dt.UTC)


def _preview(run: WeeklyReportRun) -> str:
    head = (
        f"**Week {run.week_start}** ({run.mode}, at {run.at.isoformat(timespec='minutes')}) · "
        f"{run.due_users} due · {run.written} written · {run.already_reported} already had one · "
        f"{len(run.failed)} failed"
    )
    if run.sample is None:
        return head + "\n\nNo report was written in this run."
    return head + "\n\n---\n\n" + report_markdown(run.sample)


def weekly_metadata(run: WeeklyReportRun) -> dict[str, Any]:
    return {
        "dagster/row_count": run.written,
        "mode": run.mode,
        "reference_instant": dg.MetadataValue.timestamp(run.at),
        "regenerate": run.regenerate,
        "eligible_due_users": run.eligible_users,
        "already_reported": run.already_reported,
        "to_generate": run.due_users,
        "written_reports": run.written,
        "skipped_existing": run.skipped_existing,
        **failure_metadata(run.failed),
        "excluded_rows": dg.MetadataValue.json(dict(run.excluded_rows)),
        "timezone_null_fallback": run.timezones.get("null_fallback_utc", 0),
        "timezone_case_normalized": run.timezones.get("case_normalized", 0),
        "prediction_status": dg.MetadataValue.json(dict(run.prediction_status)),
        "prediction_flags": dg.MetadataValue.json(dict(run.flags)),
        "read_seconds": round(run.timings["read"], 3),
        "validate_seconds": round(run.timings["validate"], 3),
        "compute_seconds": round(run.timings["compute"], 3),
        "write_seconds": round(run.timings["write"], 3),
        "chunks": run.chunks,
        "bisections": run.bisections,
        "lock_wait_seconds": round(run.lock_wait_s, 3),
        "preview": dg.MetadataValue.md(_preview(run)),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            PREDICTIONS_KEY,
            deps=[APP_TABLE_SPECS["users"], APP_TABLE_SPECS["body_weight_logs"]],
            description="Body-transformation prediction per (user, week): Theil–Sen weight trend "
            "with a 90 % interval and the linearised Hall (2011) time constant (DESIGN §7).",
            group_name=REPORTS_GROUP,
            kinds={"python", "sql"},
            code_version="prediction_v1",
        ),
        dg.AssetSpec(
            REPORTS_KEY,
            deps=[
                APP_TABLE_SPECS["users"],
                APP_TABLE_SPECS["workouts"],
                APP_TABLE_SPECS["workout_sets"],
                PREDICTIONS_KEY,
            ],
            description="Weekly training report per Pro/trial user and week, exactly once per "
            "(user_id, week_start), generated on the user's local Monday 03:00–06:00 (DESIGN §6).",
            group_name=REPORTS_GROUP,
            kinds={"python", "sql"},
            code_version="report_v1",
        ),
    ],
    partitions_def=weekly_partitions,
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    check_specs=[
        dg.AssetCheckSpec(
            NO_FAILED_USERS,
            asset=REPORTS_KEY,
            blocking=True,
            description="Fails the run when any user failed (ids and error codes in metadata).",
        ),
        dg.AssetCheckSpec(
            "coverage",
            asset=REPORTS_KEY,
            description="Once the last window has closed (Monday 17:00 UTC after the week), "
            "every eligible user has a report; names the missing user ids.",
        ),
    ],
)
def weekly_reports(
    context: dg.AssetExecutionContext, config: WeeklyReportsConfig, app_db: AppDatabase
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    week = dt.date.fromisoformat(context.partition_key)
    log = dagster_log(context)

    progress = progress_logger(log)

    def work() -> WeeklyReportRun:
        at = _parse_at(config.at)
        if config.mode not in ("window", "catch_up"):
            raise UsageError(f"mode must be 'window' or 'catch_up', got {config.mode!r}")
        return run_weekly(
            app_db.engine(),
            mode="window" if config.mode == "window" else "catch_up",
            week=week,
            at=at,
            regenerate=config.regenerate,
            user_ids=config.user_ids,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress,
        )

    run = run_or_fail(work)
    metadata = weekly_metadata(run)
    yield dg.MaterializeResult(
        asset_key=PREDICTIONS_KEY,
        metadata={
            "dagster/row_count": run.written,
            "prediction_status": metadata["prediction_status"],
            "prediction_flags": metadata["prediction_flags"],
            "sample_prediction": dg.MetadataValue.json(
                json.loads(json.dumps(run.sample_prediction or {}, default=str))
            ),
        },
    )
    yield dg.MaterializeResult(asset_key=REPORTS_KEY, metadata=metadata)
    coverage = run_or_fail(lambda: missing_reports(app_db.engine(), week))
    yield dg.AssetCheckResult(
        asset_key=REPORTS_KEY,
        check_name="coverage",
        passed=not coverage["missing"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "windows_closed": coverage["closed"],
            "deadline": dg.MetadataValue.timestamp(coverage["deadline"]),
            "eligible_users": coverage["eligible"],
            "missing_users": len(coverage["missing"]),
            "missing_user_ids": dg.MetadataValue.json(coverage["missing"][:500]),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=REPORTS_KEY,
        check_name=NO_FAILED_USERS,
        passed=not run.failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=failure_metadata(run.failed),
    )


weekly_reports_job = dg.define_asset_job(
    "weekly_reports_job",
    selection=[REPORTS_KEY, PREDICTIONS_KEY],
    description="Weekly reports and predictions of one week partition.",
    tags={"fitness_jobs/kind": "weekly"},
)


def sensor_interval_seconds() -> int:
    return max(30, int(os.environ.get(SENSOR_INTERVAL_ENV, "300")))


def utc_now() -> dt.datetime:
    """The sensor's clock (a function so tests can fix it)."""
    return dt.datetime.now(dt.UTC)


def weekly_sensor_result(
    app_db: AppDatabase, now: dt.datetime, cursor: str | None
) -> dg.SensorResult:
    """What ``weekly_report_sensor`` does at ``now``: one run per (week, UTC hour) when
    anyone is due; a cursor that records the decision."""
    now = now.astimezone(dt.UTC)
    state: dict[str, Any] = json.loads(cursor) if cursor else {}
    with app_db.engine().connect() as conn:
        week, due = sensor_due_count(conn, now)
    state.update({"last_tick": now.isoformat(timespec="seconds"), "due": due})
    if week is None:
        state["week"] = None
        return dg.SensorResult(
            skip_reason="Outside Sunday 13:00 – Monday 18:00 UTC: no zone is in its report window.",
            cursor=json.dumps(state),
        )
    state["week"] = week.isoformat()
    if due == 0:
        return dg.SensorResult(
            skip_reason=f"Week {week}: nobody is inside their window without a report.",
            cursor=json.dumps(state),
        )
    run_key = f"weekly:{week.isoformat()}:{now.strftime('%Y-%m-%dT%H')}"
    state["last_run_key"] = run_key
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                partition_key=week.isoformat(),
                run_config={"ops": {"weekly_reports": {"config": {"mode": "window"}}}},
                tags={"fitness_jobs/mode": "window", "fitness_jobs/due_at_tick": str(due)},
            )
        ],
        cursor=json.dumps(state),
    )


@dg.sensor(
    job=weekly_reports_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    description="Every few minutes: if any eligible user is inside their local Monday "
    "03:00–06:00 window without a report, request one window-mode run of that week "
    "(run key per week and UTC hour, so ticks never double-launch).",
)
def weekly_report_sensor(
    context: dg.SensorEvaluationContext, app_db: AppDatabase
) -> dg.SensorResult:
    return weekly_sensor_result(app_db, utc_now(), context.cursor)
