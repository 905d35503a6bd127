"""The Dagster code location: ``dagster dev -w workspace.yaml`` or ``-m fitness_jobs.definitions``."""

from __future__ import annotations

import dagster as dg

from fitness_jobs.defs.nightly import (
    coach_usage_daily,
    nightly_metrics_job,
    nightly_metrics_schedule,
    user_behavior_metrics,
)
from fitness_jobs.defs.resources import app_database_from_env
from fitness_jobs.defs.sources import APP_TABLE_SPECS
from fitness_jobs.defs.weekly import weekly_report_sensor, weekly_reports, weekly_reports_job


def build_definitions() -> dg.Definitions:
    """The code location, with the app database taken from the environment now."""
    return dg.Definitions(
        assets=[
            *APP_TABLE_SPECS.values(),
            user_behavior_metrics,
            coach_usage_daily,
            weekly_reports,
        ],
        jobs=[nightly_metrics_job, weekly_reports_job],
        schedules=[nightly_metrics_schedule],
        sensors=[weekly_report_sensor],
        resources={"app_db": app_database_from_env()},
    )


defs = build_definitions()
