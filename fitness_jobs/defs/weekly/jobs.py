"""The weekly jobs: report runs (window or catch-up), and the coverage judgement."""

import dagster as dg

from fitness_jobs.defs.executors import job_executor
from fitness_jobs.defs.weekly.assets import PREDICTIONS_KEY, REPORTS_KEY
from fitness_jobs.defs.weekly.coverage import weekly_report_coverage

weekly_reports_job = dg.define_asset_job(
    "weekly_reports_job",
    selection=[REPORTS_KEY, PREDICTIONS_KEY],
    description="Weekly reports and predictions of one week partition.",
    tags={"fitness_jobs/kind": "weekly"},
    executor_def=job_executor(),
)

weekly_report_coverage_job = dg.define_asset_job(
    "weekly_report_coverage_job",
    selection=[weekly_report_coverage],
    description="Judge one week's report coverage (after its last window has closed).",
    tags={"fitness_jobs/kind": "weekly_coverage"},
)
