"""Checks of a nightly snapshot that read the database, so the UI can run them alone."""

import datetime as dt

import dagster as dg

from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.db import nightly as queries
from fitness_jobs.db.reads import active_user_ids
from fitness_jobs.defs.common import run_or_fail
from fitness_jobs.defs.nightly.assets import user_behavior_metrics
from fitness_jobs.defs.nightly.partitions import daily_partitions
from fitness_jobs.defs.resources import AppDatabase


@dg.asset_check(
    asset=user_behavior_metrics,
    partitions_def=daily_partitions,
    description="Every user active at the snapshot has a row for it; names the missing ids "
    "(users who failed, or were left out by a `limit`).",
)
def coverage(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
    as_of = snapshot_instant(dt.date.fromisoformat(context.partition_key))

    def judge() -> tuple[int, list[int]]:
        with app_db.engine().connect() as conn:
            active = active_user_ids(conn, as_of)
            return len(active), queries.users_without_metrics(conn, as_of, active)

    active, missing = run_or_fail(judge)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "active_users": active,
            "missing_users": len(missing),
            "missing_user_ids": dg.MetadataValue.json(missing[:500]),
        },
    )


@dg.asset_check(
    asset=user_behavior_metrics,
    partitions_def=daily_partitions,
    description="Rates in [0, 1], hour in [0, 24), weekday 0–6, non-negative counts, loads "
    "and volumes, 7d ≤ 28d ≤ 30d, known lapse bands: rows breaking each rule, by rule.",
)
def value_ranges(
    context: dg.AssetCheckExecutionContext, app_db: AppDatabase
) -> dg.AssetCheckResult:
    as_of = snapshot_instant(dt.date.fromisoformat(context.partition_key))

    def judge() -> dict[str, int]:
        with app_db.engine().connect() as conn:
            return queries.metrics_range_violations(conn, as_of)

    violations = run_or_fail(judge)
    return dg.AssetCheckResult(
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"violations": dg.MetadataValue.json(violations)},
    )
