"""The nightly job: one UTC day of metrics and coach usage, with the metrics' checks."""

import dagster as dg

from fitness_jobs.defs.executors import job_executor
from fitness_jobs.defs.nightly.assets import coach_usage_daily, user_behavior_metrics

nightly_metrics_job = dg.define_asset_job(
    "nightly_metrics_job",
    selection=[user_behavior_metrics, coach_usage_daily],
    description="Nightly behaviour metrics and coach usage for one UTC day.",
    tags={"fitness_jobs/kind": "nightly"},
    executor_def=job_executor(),
)
