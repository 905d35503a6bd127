"""``fitness-jobs nightly`` and ``fitness-jobs weekly``: check everything the command line
can check (flags, partition, app database), then one Dagster run, a summary, an exit code."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import dagster as dg

from fitness_jobs.cli.database import preflight_database, sample_report_row
from fitness_jobs.cli.errors import EXIT_OK, CliUsageError
from fitness_jobs.cli.output import (
    print_nightly,
    print_nightly_range,
    print_nothing_due,
    print_sample,
    print_weekly,
    print_weekly_range,
)
from fitness_jobs.cli.run import partition_keys, resolve_job, run_job

NIGHTLY_JOB = "nightly_metrics_job"
WEEKLY_JOB = "weekly_reports_job"
# The run tags that make one Dagster run cover a range of partitions (what a backfill
# with a multi-run policy sets, and `dagster asset materialize --partition-range`).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def utc_now() -> dt.datetime:
    """The command line's clock (a function so tests can fix it)."""
    return dt.datetime.now(dt.UTC)


def _log_level(args: argparse.Namespace) -> str:
    return "WARNING" if getattr(args, "quiet", False) else "INFO"


def check_nightly_partition(
    job: dg.JobDefinition, partition: dt.date, now: dt.datetime, label: str | None = None
) -> None:
    label = label or f"partition {partition}"
    keys = partition_keys(job, now)
    if partition.isoformat() in keys:
        return
    if not keys or partition.isoformat() > keys[-1]:
        raise CliUsageError(f"{label} is not a complete UTC day yet")
    raise CliUsageError(f"{label} is before the first partition ({keys[0]})")


def nightly_days(
    args: argparse.Namespace, job: dg.JobDefinition, now: dt.datetime
) -> tuple[dt.date, dt.date]:
    """The first and last UTC day to run (the same for one partition); CliUsageError for a
    range that is incomplete, reversed, or not made of existing partitions."""
    from fitness_jobs.pipelines.nightly import default_partition

    # Programmatic callers (``fitness-jobs demo run``) may build args without the range.
    first, last = getattr(args, "first_day", None), getattr(args, "last_day", None)
    if first is None and last is None:
        partition = args.partition or default_partition(now)
        check_nightly_partition(job, partition, now)
        return partition, partition
    if args.partition is not None:
        raise CliUsageError("give either --partition (one day) or --from/--to (a range), not both")
    if first is None or last is None:
        given, missing = ("--from", "--to") if last is None else ("--to", "--from")
        raise CliUsageError(f"{given} needs {missing}: a range is --from D1 --to D2 (inclusive)")
    if last < first:
        raise CliUsageError(f"--to {last} is before --from {first}")
    check_nightly_partition(job, first, now, f"--from {first}")
    check_nightly_partition(job, last, now, f"--to {last}")
    return first, last


def cmd_nightly(args: argparse.Namespace) -> int:
    from fitness_jobs.pipelines.nightly import NIGHTLY_TABLES

    now = utc_now()
    job = resolve_job(NIGHTLY_JOB)
    first, last = nightly_days(args, job, now)
    preflight_database(NIGHTLY_TABLES)
    # The command runs its steps in its own process, one after the other: splitting the
    # users into parts (what the UI's and schedules' executor runs in parallel) would only
    # add steps.
    config: dict[str, Any] = {"steps": 1}
    if args.limit is not None:
        config["limit"] = args.limit
    if args.chunk_size is not None:
        config["chunk_size"] = args.chunk_size
    one_day = first == last
    run = run_job(
        job,
        partition_key=first.isoformat() if one_day else None,
        op_config={"user_behavior_metrics": config},
        log_level=_log_level(args),
        tags=None if one_day else range_tags(first.isoformat(), last.isoformat()),
    )
    if one_day:
        print_nightly(first.isoformat(), run)
    else:
        print_nightly_range(first, last, run)
    return run.exit_code


def check_week(job: dg.JobDefinition, week: dt.date, now: dt.datetime, label: str) -> None:
    """A CliUsageError unless ``week`` is a weekly partition that exists at ``now``
    (Monday weeks; the week in progress exists already, the next one does not)."""
    if week.weekday() != 0:
        raise CliUsageError(f"{label} is not a Monday (a week is named by its Monday)")
    keys = partition_keys(job, now)
    if week.isoformat() in keys:
        return
    if keys and week.isoformat() < keys[0]:
        raise CliUsageError(f"{label} is before the first week ({keys[0]})")
    latest = keys[-1] if keys else "none yet"
    raise CliUsageError(
        f"{label} has not started yet: the latest week is {latest} (the week in progress)"
    )


def cmd_weekly(args: argparse.Namespace) -> int:
    from fitness_jobs.core.windows import week_in_window_span
    from fitness_jobs.pipelines.weekly import WEEKLY_TABLES

    now = utc_now()
    last_week: dt.date | None = getattr(args, "last_week", None)  # absent: one week
    if args.week is not None and args.at is not None:
        raise CliUsageError("give either --week (catch-up) or --at (window mode), not both")
    if last_week is not None and args.week is None:
        raise CliUsageError("--to needs --week: catch-up for each week --week W1 … --to W2")
    if args.week is None and (args.regenerate or args.user_id):
        given = [
            f for f, on in (("--regenerate", args.regenerate), ("--user-id", args.user_id)) if on
        ]
        verb = "needs" if len(given) == 1 else "need"
        raise CliUsageError(
            f"{' and '.join(given)} {verb} --week: catch-up or regeneration of one week"
        )
    job = resolve_job(WEEKLY_JOB)
    config: dict[str, Any] = {"regenerate": bool(args.regenerate)}
    if args.user_id:
        config["user_ids"] = sorted(set(args.user_id))
    if args.chunk_size is not None:
        config["chunk_size"] = args.chunk_size
    if args.week is not None:
        check_week(job, args.week, now, f"--week {args.week}")
    if last_week is not None:
        check_week(job, last_week, now, f"--to {last_week}")
        if last_week < args.week:
            raise CliUsageError(f"--to {last_week} is before --week {args.week}")
    # Before deciding whether anyone is due: an hourly cron must hear of a broken database
    # at every hour, not only on Sunday/Monday.
    preflight_database(WEEKLY_TABLES)
    at = args.at or now
    if args.week is not None:
        week: dt.date = args.week
        config["mode"] = "catch_up"
    else:
        found = week_in_window_span(at)
        if found is None:
            print_nothing_due(at)
            return EXIT_OK
        week = found
        check_week(job, week, now, f"week {week} (due at --at {at.isoformat(timespec='minutes')})")
        config.update(mode="window", at=at.isoformat())
    last: dt.date = last_week or week
    tags = {"fitness_jobs/mode": config["mode"]}
    if last != week:
        tags.update(range_tags(week.isoformat(), last.isoformat()))
    run = run_job(
        job,
        partition_key=week.isoformat() if last == week else None,
        op_config={"weekly_reports": config},
        log_level=_log_level(args),
        tags=tags,
    )
    if last == week:
        print_weekly(week, config["mode"], run)
    else:
        print_weekly_range(week, last, run)
    if args.show_sample:
        span = (run.started_at, run.finished_at)
        weeks = [last - dt.timedelta(weeks=i) for i in range((last - week).days // 7 + 1)]
        row, shown = None, last
        for reported in weeks:  # the latest week of the run that has one
            row = sample_report_row(reported, span, config.get("user_ids"))
            if row is not None:
                shown = reported
                break
        print_sample(shown, row)
    return run.exit_code
