"""Weekly reports and predictions: one week-partitioned op writing both tables (design §6–§7).

A run covers one week or, from a backfill (``WEEKLY_BACKFILL_POLICY``) or
``fitness-jobs weekly --week W1 --to W2``, a range of weeks in catch-up mode, processed
week by week; each week's materialisation carries its own counts.

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
from fitness_jobs.pipelines.weekly import (
    DEFAULT_CHUNK_SIZE,
    WeeklyReportRun,
    merge_weekly_runs,
    run_weekly_range,
)

REPORTS_GROUP = "weekly_reports"
# A catch-up backfill of many weeks runs as ranges of up to 8 weeks, one run each, which
# processes its weeks one after the other (each under its own week's lock).
WEEKLY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=8)
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


def prediction_metadata(run: WeeklyReportRun) -> dict[str, Any]:
    return {
        "dagster/row_count": run.written,
        "prediction_status": dg.MetadataValue.json(run.prediction_status),
        "prediction_flags": dg.MetadataValue.json(run.flags),
    }


def week_rows(runs: list[WeeklyReportRun]) -> list[dict[str, Any]]:
    """Each week's counts (the ``weeks`` metadata of a range run; the CLI prints them)."""
    return [
        {
            "week": r.week_start.isoformat(),
            "to_generate": r.due_users,
            "written": r.written,
            "already_reported": r.already_reported,
            "failed": len(r.failed),
        }
        for r in runs
    ]


def _range_preview(runs: list[WeeklyReportRun]) -> str:
    lines = [
        f"**Weeks {runs[0].week_start} … {runs[-1].week_start}** ({runs[0].mode}) · "
        f"{len(runs)} weeks",
        "",
        "Week | due | written | already had one | failed",
        "--- | --- | --- | --- | ---",
    ]
    lines += [
        f"{r['week']} | {r['to_generate']} | {r['written']} | {r['already_reported']} | "
        f"{r['failed']}"
        for r in week_rows(runs)
    ]
    return "\n".join(lines)


def week_metadata(run: WeeklyReportRun, weeks: int) -> dict[str, Any]:
    """What a range run records on one week's materialisation, over the range's metadata:
    that week's counts and preview (the failure lists stay the range's, as the check)."""
    return {
        "dagster/row_count": run.written,
        "eligible_due_users": run.eligible_users,
        "already_reported": run.already_reported,
        "to_generate": run.due_users,
        "written_reports": run.written,
        "skipped_existing": run.skipped_existing,
        "partition_failed_users": len(run.failed),
        "prediction_status": dg.MetadataValue.json(run.prediction_status),
        "prediction_flags": dg.MetadataValue.json(run.flags),
        "preview": dg.MetadataValue.md(
            _preview(run) + f"\n\nOne of the {weeks} weeks of a range run; `weeks` has "
            "each week's counts."
        ),
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
    backfill_policy=WEEKLY_BACKFILL_POLICY,
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
    keys = context.partition_keys
    first, last = dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])
    log = dagster_log(context)
    runs = run_or_fail(
        lambda: run_weekly_range(
            app_db.engine(),
            first,
            last,
            mode=config.mode,
            at=config.at_instant,
            regenerate=config.regenerate,
            user_ids=config.user_ids,
            chunk_size=config.chunk_size,
            log=log,
            progress=progress_logger(log),
        )
    )
    run = merge_weekly_runs(runs)
    if len(runs) > 1:
        for week_run in runs:
            key = week_run.week_start.isoformat()
            context.add_asset_metadata(
                prediction_metadata(week_run), asset_key=PREDICTIONS_KEY, partition_key=key
            )
            context.add_asset_metadata(
                week_metadata(week_run, len(runs)), asset_key=REPORTS_KEY, partition_key=key
            )
    yield dg.MaterializeResult(asset_key=PREDICTIONS_KEY, metadata=prediction_metadata(run))
    metadata = weekly_metadata(run)
    if len(runs) > 1:
        metadata.update(
            {
                "partition_range": f"{first}...{last}",
                "partitions": len(runs),
                "weeks": dg.MetadataValue.json(week_rows(runs)),
                "preview": dg.MetadataValue.md(_range_preview(runs)),
            }
        )
    yield dg.MaterializeResult(asset_key=REPORTS_KEY, metadata=metadata)
    yield failure_check(run, REPORTS_KEY)
