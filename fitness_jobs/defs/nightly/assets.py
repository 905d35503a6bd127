"""Nightly behaviour metrics and coach usage: daily-partitioned assets (design §5, §11).

Glue only: ``pipelines.nightly`` does the work; its report becomes metadata and the
blocking ``no_failed_users`` check here.  The checks that read the database are in
``checks.py``, the metadata in ``metadata.py``.

``user_behavior_metrics`` is a graph of three kinds of step, so that the run's executor
can fan a partition's users out (``defs/executors.py``): ``nightly_plan`` lists each
day's active users and splits them into parts (as many as the executor has workers, or
the ``steps`` config); one ``nightly_part`` step per part runs its users' chunks, with
its own isolation and retries (a failed part re-executes from failure alone);
``nightly_summary`` merges the parts, judges each day and materialises the asset with
its metadata and the blocking check, covering the whole partition.

A run covers one partition or, from a backfill (``NIGHTLY_BACKFILL_POLICY``) or
``fitness-jobs nightly --from D1 --to D2``, a range of them: the range's days are computed
together (same rows as one run per day) and each partition's materialisation carries
its own day's counts over the range's totals.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
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
    progress_logger,
    run_or_fail,
)
from fitness_jobs.defs.executors import default_steps
from fitness_jobs.defs.nightly.metadata import (
    day_metadata,
    nightly_metadata,
    usage_metadata,
    usage_summary,
)
from fitness_jobs.defs.nightly.partitions import daily_partitions
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.pipelines.nightly import (
    DEFAULT_CHUNK_SIZE,
    MAX_DAYS_PER_READ,
    NightlyPart,
    NightlyPlan,
    finish_nightly,
    plan_nightly,
    run_coach_usage_range,
    run_nightly_part,
)
from fitness_jobs.pipelines.runner import RunReport

METRICS_GROUP = "coach_metrics"
# A backfill of many days runs as ranges of up to 62 days, each one run that reads every
# chunk of users once for all its days (design §2.1, §11); the rows are those of one run
# per day.  Both assets of the nightly job share it, so a backfill keeps them together.
NIGHTLY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_READ)


class NightlyMetricsConfig(dg.Config):
    """Run configuration of ``user_behavior_metrics`` (the old job's flags, and the fan-out)."""

    limit: int | None = Field(
        default=None,
        description="Process only the first N active users by id (the old --limit). "
        "0 processes nobody; a negative value fails the run at once.",
    )
    chunk_size: int = Field(
        default=DEFAULT_CHUNK_SIZE,
        description="Users read, computed and written together; bounds each step's memory "
        "(a range longer than 31 days takes fewer in proportion: as many user-days).",
    )
    steps: int | None = Field(
        default=None,
        description="Parts the users are split into, one step each (default: the executor's "
        "workers, FITNESS_MAX_WORKERS; 1 in-process).",
    )


def partition_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's first and last partition day (the same day for a single partition)."""
    keys = context.partition_keys
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


@dg.op(
    ins={"tables": dg.In(dg.Nothing)},
    out={"parts": dg.DynamicOut(NightlyPart), "plan": dg.Out(NightlyPlan)},
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    tags={"kind": "python"},
)
def nightly_plan(
    context: dg.AssetExecutionContext, config: NightlyMetricsConfig, app_db: AppDatabase
) -> Iterator[dg.Output[Any] | dg.DynamicOutput[NightlyPart]]:
    """List each day's active users and split them into parts, one step each."""
    first, last = partition_range(context)
    plan = run_or_fail(
        lambda: plan_nightly(
            app_db.engine(),
            first,
            last,
            limit=config.limit,
            chunk_size=config.chunk_size,
            parts=config.steps if config.steps is not None else default_steps(),
            log=dagster_log(context),
        )
    )
    # The summary needs each day's active users, not the parts (they are the steps' inputs).
    yield dg.Output(dataclasses.replace(plan, parts=[]), "plan")
    for part in plan.parts:
        yield dg.DynamicOutput(
            part, output_name="parts", mapping_key=f"part_{part.index + 1}_of_{part.parts}"
        )


@dg.op(pool=APP_DB_POOL, retry_policy=DB_RETRY_POLICY, tags={"kind": "python"})
def nightly_part(
    context: dg.AssetExecutionContext, part: NightlyPart, app_db: AppDatabase
) -> RunReport:
    """Read, validate, compute and write one part's users, chunk by chunk."""
    log = dagster_log(context)
    log("info", f"{part.label}: {part.users:,} users")
    return run_or_fail(
        lambda: run_nightly_part(app_db.engine(), part, log=log, progress=progress_logger(log))
    )


@dg.op(
    out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing)},
    pool=APP_DB_POOL,
    retry_policy=DB_RETRY_POLICY,
    tags={"kind": "python"},
)
def nightly_summary(
    context: dg.AssetExecutionContext,
    plan: NightlyPlan,
    reports: Sequence[RunReport],
    app_db: AppDatabase,
) -> Iterator[dg.Output[None] | dg.AssetCheckResult]:
    """Merge the parts' reports: the materialisation's metadata and the blocking check."""
    report = run_or_fail(
        lambda: finish_nightly(app_db.engine(), plan, reports, log=dagster_log(context))
    )
    if report.is_range:
        for day in report.days:
            context.add_asset_metadata(
                day_metadata(report, day), partition_key=day.partition.isoformat()
            )
    yield dg.Output(None, "result", metadata=nightly_metadata(report))
    yield failure_check(report)


@dg.config_mapping
def _nightly_config(config: NightlyMetricsConfig) -> dict[str, Any]:
    return {"nightly_plan": {"config": config.model_dump()}}


@dg.graph_asset(
    partitions_def=daily_partitions,
    ins={
        f"_{t}": dg.AssetIn(APP_TABLE_SPECS[t].key, dagster_type=dg.Nothing)
        for t in ("users", "workouts", "workout_sets", "llm_usage_daily")
    },
    group_name=METRICS_GROUP,
    kinds={"python", "sql"},
    backfill_policy=NIGHTLY_BACKFILL_POLICY,
    code_version=f"metrics_v{METRICS_VERSION}",
    config=_nightly_config,
    description=(
        "Behaviour metrics of every active user (docs/design.md §5), snapshotted at the end "
        "of the UTC partition day; one row per (user_id, metrics_date = user's local date then). "
        "Fanned out over the executor's workers in parts of users (docs/design.md §11)."
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
def user_behavior_metrics(**tables: Any) -> dict[str, Any]:
    parts, plan = nightly_plan(tables=list(tables.values()))
    reports = parts.map(nightly_part).collect()
    summary = nightly_summary(plan, reports)
    return {"result": summary.result, f"user_behavior_metrics_{NO_FAILED_USERS}": summary.check}


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
