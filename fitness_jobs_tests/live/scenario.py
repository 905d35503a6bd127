"""What the live tests seed, launch and expect: shared by the fixtures and the tests."""

from __future__ import annotations

import datetime as dt

# The demo's fixed "today": a Wednesday, so the nightly partitions of the days before it
# and the week before it (Mon 2025-11-17) are complete whatever the wall clock says.
DEMO_TODAY = dt.date(2025, 11, 26)
DEMO_USERS = 200
DEMO_SEED = 5

NIGHTLY_JOB = "nightly_metrics_job"
WEEKLY_JOB = "weekly_reports_job"
SENSOR = "weekly_report_sensor"

RUN_PARTITION = "2025-11-21"
BACKFILL_PARTITIONS = ["2025-11-22", "2025-11-23", "2025-11-24"]
WEEK = "2025-11-17"

# FITNESS_WEEKLY_SENSOR_INTERVAL_SECONDS of the daemon and the webserver (30 is its floor).
SENSOR_INTERVAL_S = 30

# Bounds: the services' start-up, and everything launched (runs and backfills) from the
# moment it is launched.  A normal module takes well under half of them.
STARTUP_TIMEOUT_S = 120.0
LAUNCHED_TIMEOUT_S = 300.0
TICK_TIMEOUT_S = 90.0

# FITNESS_EXECUTOR of the services (fitness_jobs/defs/executors.py): every step in its run's
# process.  The production default on PostgreSQL, one process per step, costs a Python
# start-up per step, ~10 s each on two shared cores.  Launches carry no run config, as a
# plain "Materialize"/"Backfill" in the UI.
EXECUTOR_ENV = "FITNESS_EXECUTOR"
EXECUTOR = "in_process"

OUTSIDE_SPAN = "Outside Sunday 13:00 – Monday 18:00 UTC: no zone is in its report window."
