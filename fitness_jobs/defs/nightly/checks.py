"""Checks of a nightly snapshot that read the database, so the UI can run them alone."""

import datetime as dt
from collections import Counter

import dagster as dg

from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.defs.common import run_or_fail
from fitness_jobs.defs.nightly.assets import user_behavior_metrics
from fitness_jobs.defs.nightly.partitions import daily_partitions
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.pipelines import nightly_days


@dg.asset_check(
    asset=user_behavior_metrics,
    partitions_def=daily_partitions,
    description="Every user active at the snapshot has a row for it; names the missing ids "
    "(users who failed, or were left out by a `limit`).",
)
def coverage(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
    # A run may cover a range of partitions (a backfill): judge each day, report once.
    instants = [snapshot_instant(dt.date.fromisoformat(k)) for k in context.partition_keys]

    def judge() -> tuple[int, list[int], dict[str, int]]:
        total, missing, by_day = 0, set[int](), {}
        days = nightly_days.coverage(app_db.engine(), instants)
        for key, (active, day_missing) in zip(context.partition_keys, days, strict=True):
            total += active
            missing.update(day_missing)
            if day_missing:
                by_day[key] = len(day_missing)
        return total, sorted(missing), by_day

    active, missing, missing_by_day = run_or_fail(judge)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "active_users": active,
            "missing_users": len(missing),
            "missing_user_ids": dg.MetadataValue.json(missing[:500]),
            "missing_by_day": dg.MetadataValue.json(missing_by_day),
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
    instants = [snapshot_instant(dt.date.fromisoformat(k)) for k in context.partition_keys]

    def judge() -> dict[str, int]:
        total: Counter[str] = Counter()
        for day in nightly_days.range_violations(app_db.engine(), instants):
            total.update(day)
        return dict(total)

    violations = run_or_fail(judge)
    return dg.AssetCheckResult(
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"violations": dg.MetadataValue.json(violations)},
    )
