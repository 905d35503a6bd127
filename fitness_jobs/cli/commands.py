"""``fitness-jobs nightly`` and ``fitness-jobs weekly``: check everything the command line
can check (flags, partition, app database), then one Dagster run, a summary, an exit code."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import dagster as dg

from fitness_jobs.cli.database import preflight_database, sample_report_row
from fitness_jobs.cli.errors import EXIT_OK, CliUsageError
from fitness_jobs.cli.output import print_nightly, print_nothing_due, print_sample, print_weekly
from fitness_jobs.cli.run import partition_keys, resolve_job, run_job

NIGHTLY_JOB = "nightly_metrics_job"
WEEKLY_JOB = "weekly_reports_job"


def utc_now() -> dt.datetime:
    """The command line's clock (a function so tests can fix it)."""
    return dt.datetime.now(dt.UTC)


def _log_level(args: argparse.Namespace) -> str:
    return "WARNING" if getattr(args, "quiet", False) else "INFO"


def check_nightly_partition(job: dg.JobDefinition, partition: dt.date, now: dt.datetime) -> None:
    keys = partition_keys(job, now)
    if partition.isoformat() in keys:
        return
    if not keys or partition.isoformat() > keys[-1]:
        raise CliUsageError(f"partition {partition} is not a complete UTC day yet")
    raise CliUsageError(f"partition {partition} is before the first partition ({keys[0]})")


def cmd_nightly(args: argparse.Namespace) -> int:
    from fitness_jobs.pipelines.nightly import NIGHTLY_TABLES, default_partition

    now = utc_now()
    partition = args.partition or default_partition(now)
    job = resolve_job(NIGHTLY_JOB)
    check_nightly_partition(job, partition, now)
    preflight_database(NIGHTLY_TABLES)
    config: dict[str, Any] = {}
    if args.limit is not None:
        config["limit"] = args.limit
    if args.chunk_size is not None:
        config["chunk_size"] = args.chunk_size
    run = run_job(
        job,
        partition_key=partition.isoformat(),
        op_config={"user_behavior_metrics": config} if config else None,
        log_level=_log_level(args),
    )
    print_nightly(partition.isoformat(), run)
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
    from fitness_jobs.pipelines.weekly import WEEKLY_TABLES, week_in_window_span

    now = utc_now()
    if args.week is not None and args.at is not None:
        raise CliUsageError("give either --week (catch-up) or --at (window mode), not both")
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
    run = run_job(
        job,
        partition_key=week.isoformat(),
        op_config={"weekly_reports": config},
        log_level=_log_level(args),
        tags={"fitness_jobs/mode": config["mode"]},
    )
    print_weekly(week, config["mode"], run)
    if args.show_sample:
        span = (run.started_at, run.finished_at)
        print_sample(week, sample_report_row(week, span, config.get("user_ids")))
    return run.exit_code
