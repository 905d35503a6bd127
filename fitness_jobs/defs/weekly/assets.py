"""Weekly reports and predictions: one week-partitioned op writing both tables (design §6–§7).

One op materialises both assets because a report and its prediction are written in the
same transaction per user (the report row is the exactly-once claim).  The asset, the op
and the table share the name ``weekly_reports``.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from fitness_jobs.core.report import REPORT_VERSION
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
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly.partitions import weekly_partitions
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines.weekly import DEFAULT_CHUNK_SIZE, WeeklyReportRun, run_weekly

REPORTS_GROUP = "weekly_reports"
REPORTS_KEY = dg.AssetKey("weekly_reports")
PREDICTIONS_KEY = dg.AssetKey("transformation_predictions")


def parse_instant(value: str) -> dt.datetime:
    """An ISO-8601 instant with its UTC offset (``Z`` allowed), as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"`at` is not an ISO-8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        raise ConfigurationError(
            f"`at` needs its UTC offset, e.g. 2026-11-30T03:30:00+00:00 (got {value!r})"
        )
    return parsed.astimezone(dt.UTC)


class WeeklyReportsConfig(dg.Config):
    """Run configuration of the weekly reports (see docs/operations.md)."""

    mode: Literal["catch_up", "window"] = Field(
        default="catch_up",
        description="'catch_up' (default; UI materialisations and backfills): every eligible user "
        "of the week whose local week is over and who has no report. 'window': only users inside "
        "their local Monday 03:00–06:00 window at `at` (what the sensor launches).",
    )
    at: str | None = Field(
        default=None,
        description="The instant that decides who is due, ISO-8601 with its offset "
        "(default: the run's start). Dagster's config has no datetime type: a value without "
        "an offset fails the run at once, without retries.",
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

    @property
    def at_instant(self) -> dt.datetime | None:
        return parse_instant(self.at) if self.at is not None else None


def _preview(run: WeeklyReportRun) -> str:
    """Counts and distributions only: reports and predictions are health data."""
    lines = [
        f"**Week {run.week_start}** ({run.mode}, at {run.at.isoformat(timespec='minutes')}) · "
        f"{run.due_users} due · {run.written} written · {run.already_reported} already had one · "
        f"{len(run.failed)} failed",
        "",
        "Prediction status | users",
        "--- | ---",
        *(f"{k} | {v}" for k, v in sorted(run.prediction_status.items())),
    ]
    if run.flags:
        lines += [
            "",
            "Flag | users",
            "--- | ---",
            *(f"{k} | {v}" for k, v in sorted(run.flags.items())),
        ]
    return "\n".join(lines)


def weekly_metadata(run: WeeklyReportRun) -> dict[str, Any]:
    return {
        "dagster/row_count": run.written,
        "mode": run.mode,
        "reference_instant": dg.MetadataValue.timestamp(run.at),
        "report_version": REPORT_VERSION,
        "regenerate": run.regenerate,
        "eligible_due_users": run.eligible_users,
        "already_reported": run.already_reported,
        "to_generate": run.due_users,
        "written_reports": run.written,
        "skipped_existing": run.skipped_existing,
        **failure_metadata(run),
        "excluded_rows": dg.MetadataValue.json(dict(run.excluded_rows)),
        "timezone_null_fallback": run.timezones.get("null_fallback_utc", 0),
        "timezone_case_normalized": run.timezones.get("case_normalized", 0),
        "prediction_status": dg.MetadataValue.json(run.prediction_status),
        "prediction_flags": dg.MetadataValue.json(run.flags),
        **phase_metadata(run),
        "preview": dg.MetadataValue.md(_preview(run)),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            PREDICTIONS_KEY,
            deps=[APP_TABLE_SPECS["users"], APP_TABLE_SPECS["body_weight_logs"]],
            description="Body-transformation prediction per (user, week): Theil–Sen weight trend "
            "with a 90 % interval and the linearised Hall (2011) time constant "
            "(docs/design.md §7).",
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
            "(user_id, week_start), generated on the user's local Monday 03:00–06:00 "
            "(docs/design.md §6).",
            group_name=REPORTS_GROUP,
            kinds={"python", "sql"},
            code_version=f"report_v{REPORT_VERSION}",
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
        )
    ],
)
def weekly_reports(
    context: dg.AssetExecutionContext, config: WeeklyReportsConfig, app_db: AppDatabase
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    week = dt.date.fromisoformat(context.partition_key)
    log = dagster_log(context)
    run = run_or_fail(
        lambda: run_weekly(
            app_db.engine(),
            mode=config.mode,
            week=week,
            at=config.at_instant,
            regenerate=config.regenerate,
            user_ids=config.user_ids,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress_logger(log),
        )
    )
    yield dg.MaterializeResult(
        asset_key=PREDICTIONS_KEY,
        metadata={
            "dagster/row_count": run.written,
            "prediction_status": dg.MetadataValue.json(run.prediction_status),
            "prediction_flags": dg.MetadataValue.json(run.flags),
        },
    )
    yield dg.MaterializeResult(asset_key=REPORTS_KEY, metadata=weekly_metadata(run))
    yield failure_check(run, REPORTS_KEY)
