"""The old cron entry points (``python -m fitness_jobs.jobs.nightly_job`` / ``weekly_job``).

They keep the original flags and exit codes and delegate to ``fitness_jobs.cli``,
so the runs go through Dagster like every other run.
"""
