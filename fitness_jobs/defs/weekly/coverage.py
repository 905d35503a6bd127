"""Weekly coverage: judged once the week's last report window has closed.

A week-partitioned asset of its own, so the UI shows, week by week, how many eligible
users have a report and which do not (its materialisation metadata), with the check
``all_eligible_reported`` on it.  It is not part of the report runs: inside a window run
the question cannot be answered yet.  ``weekly_report_coverage_schedule`` materialises it
on Monday after 17:00 UTC, when the westernmost window has closed; an operator can run it
for any past week.  (Dagster 1.13 cannot run a partitioned asset check on its own, which
is why coverage is an asset here rather than a standalone check.)
"""

import datetime as dt
from typing import Any

import dagster as dg

from fitness_jobs.core.windows import coverage_deadline
from fitness_jobs.defs.common import run_or_fail
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly.assets import REPORTS_GROUP, REPORTS_KEY
from fitness_jobs.defs.weekly.partitions import weekly_partitions
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines.weekly import missing_reports

ALL_ELIGIBLE_REPORTED = "all_eligible_reported"


@dg.asset(
    partitions_def=weekly_partitions,
    deps=[REPORTS_KEY],
    group_name=REPORTS_GROUP,
    kinds={"sql"},
    description="How many users eligible for week W's report have one, and which do not; "
    "judged after the week's last window has closed (Monday 17:00 UTC after the week).",
    check_specs=[
        dg.AssetCheckSpec(
            ALL_ELIGIBLE_REPORTED,
            asset="weekly_report_coverage",
            description="Every eligible user of the week has a report (names the missing ids).",
        )
    ],
)
def weekly_report_coverage(
    context: dg.AssetExecutionContext, app_db: AppDatabase
) -> dg.MaterializeResult:
    week = dt.date.fromisoformat(context.partition_key)

    def judge() -> tuple[int, list[int]]:
        coverage = missing_reports(app_db.engine(), week)
        if not coverage["closed"]:
            raise ConfigurationError(
                f"week {week} cannot be judged before its last report window closes "
                f"({coverage_deadline(week).isoformat()})"
            )
        return int(coverage["eligible"]), list(coverage["missing"])

    eligible, missing = run_or_fail(judge)
    reported = eligible - len(missing)
    metadata: dict[str, Any] = {
        "eligible_users": eligible,
        "with_report": reported,
        "missing_users": len(missing),
        "coverage_pct": round(100.0 * reported / eligible, 2) if eligible else 100.0,
        "missing_user_ids": dg.MetadataValue.json(missing[:500]),
        "deadline": dg.MetadataValue.timestamp(coverage_deadline(week)),
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=ALL_ELIGIBLE_REPORTED,
                passed=not missing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "missing_users": len(missing),
                    "missing_user_ids": metadata["missing_user_ids"],
                },
            )
        ],
    )
