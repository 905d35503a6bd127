"""The nightly schedule: 02:00 UTC on D+1 materialises partition D."""

import dagster as dg

from fitness_jobs.core.windows import NIGHTLY_SCHEDULE_HOUR
from fitness_jobs.defs.nightly.jobs import nightly_metrics_job

nightly_metrics_schedule = dg.build_schedule_from_partitioned_job(
    nightly_metrics_job,
    name="nightly_metrics_schedule",
    hour_of_day=NIGHTLY_SCHEDULE_HOUR,
    minute_of_hour=0,
    description="Daily at 02:00 UTC: materialise yesterday's (UTC) partition.",
)
