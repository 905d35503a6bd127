"""The window sensor: opens a window-mode run when anyone is due (design §2)."""

import datetime as dt
import json
import os
from typing import Any

import dagster as dg

from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly.assets import WeeklyReportsConfig
from fitness_jobs.defs.weekly.jobs import weekly_reports_job
from fitness_jobs.pipelines.weekly import sensor_due_count

SENSOR_INTERVAL_ENV = "FITNESS_WEEKLY_SENSOR_INTERVAL_SECONDS"


def sensor_interval_seconds() -> int:
    return max(30, int(os.environ.get(SENSOR_INTERVAL_ENV, "300")))


def utc_now() -> dt.datetime:
    """The sensor's clock (a function so tests can fix it)."""
    return dt.datetime.now(dt.UTC)


def weekly_sensor_result(
    app_db: AppDatabase, now: dt.datetime, cursor: str | None
) -> dg.SensorResult:
    """What ``weekly_report_sensor`` does at ``now``: one run per (week, UTC hour) when
    anyone is due; a cursor that records the decision."""
    now = now.astimezone(dt.UTC)
    state: dict[str, Any] = json.loads(cursor) if cursor else {}
    with app_db.engine().connect() as conn:
        week, due = sensor_due_count(conn, now)
    state.update({"last_tick": now.isoformat(timespec="seconds"), "due": due})
    if week is None:
        state["week"] = None
        return dg.SensorResult(
            skip_reason="Outside Sunday 13:00 – Monday 18:00 UTC: no zone is in its report window.",
            cursor=json.dumps(state),
        )
    state["week"] = week.isoformat()
    if due == 0:
        return dg.SensorResult(
            skip_reason=f"Week {week}: nobody is inside their window without a report.",
            cursor=json.dumps(state),
        )
    run_key = f"weekly:{week.isoformat()}:{now.strftime('%Y-%m-%dT%H')}"
    state["last_run_key"] = run_key
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                partition_key=week.isoformat(),
                run_config=dg.RunConfig(ops={"weekly_reports": WeeklyReportsConfig(mode="window")}),
                tags={"fitness_jobs/mode": "window", "fitness_jobs/due_at_tick": str(due)},
            )
        ],
        cursor=json.dumps(state),
    )


@dg.sensor(
    job=weekly_reports_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    description="Every few minutes: if any eligible user is inside their local Monday "
    "03:00–06:00 window without a report, request one window-mode run of that week "
    "(run key per week and UTC hour, so ticks never double-launch).",
)
def weekly_report_sensor(
    context: dg.SensorEvaluationContext, app_db: AppDatabase
) -> dg.SensorResult:
    return weekly_sensor_result(app_db, utc_now(), context.cursor)
