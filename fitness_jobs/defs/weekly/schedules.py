"""Judging each week's coverage once its last report window has closed."""

import datetime as dt

import dagster as dg

from fitness_jobs.core.windows import coverage_deadline, monday_of
from fitness_jobs.defs.weekly.jobs import weekly_report_coverage_job


def week_to_judge(tick: dt.datetime) -> dt.date:
    """The week whose coverage is judged at ``tick`` (a Monday after 17:00 UTC): the week
    that ended the day before."""
    return monday_of(tick.astimezone(dt.UTC).date()) - dt.timedelta(days=7)


@dg.schedule(
    cron_schedule="15 17 * * 1",
    execution_timezone="UTC",
    job=weekly_report_coverage_job,
    description="Mondays 17:15 UTC, after the westernmost report window (UTC−11) has closed: "
    "judge the week that ended on Sunday.",
)
def weekly_report_coverage_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    week = week_to_judge(tick)
    assert tick >= coverage_deadline(week)
    return dg.RunRequest(run_key=f"coverage:{week.isoformat()}", partition_key=week.isoformat())
