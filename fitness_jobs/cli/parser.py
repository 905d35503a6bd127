"""The ``fitness-jobs`` argument parser: flags, their types, one-line usage errors."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import NoReturn

from fitness_jobs.cli import commands, demo
from fitness_jobs.cli.errors import CliUsageError


class OneLineParser(argparse.ArgumentParser):
    """Usage errors raise :class:`CliUsageError` (one line on stderr, exit code 2) instead of
    printing the usage block; ``--help`` still prints it."""

    def error(self, message: str) -> NoReturn:
        raise CliUsageError(f"{message} (see `{self.prog} --help`)")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _instant(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"give the instant with its offset, e.g. 2026-11-30T03:30:00+00:00 (got {value!r})"
        )
    return parsed.astimezone(dt.UTC)


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0 (0 processes nobody), got {number}")
    return number


def _positive(value: str) -> int:
    number = _non_negative(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be ≥ 1")
    return number


def _add_db_and_demo(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    db = sub.add_parser("db", help="app database schema").add_subparsers(
        dest="db_command", required=True
    )
    init = db.add_parser("init", help="create the tables (idempotent)")
    init.set_defaults(func=demo.cmd_db_init)

    groups = sub.add_parser("demo", help="synthetic demo data").add_subparsers(
        dest="demo_command", required=True
    )
    seed = groups.add_parser(
        "seed", help="write realistic synthetic users, workouts, weigh-ins, usage"
    )
    seed.add_argument("--users", type=_positive, required=True, help="number of users")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.add_argument("--days", type=_positive, default=120, help="days of history up to --today")
    seed.add_argument(
        "--today",
        type=_date,
        help="last day of the history, YYYY-MM-DD (default: today in UTC); with it the same "
        "flags give the same data whatever the clock",
    )
    seed.add_argument("--first-user-id", type=_positive, default=1, help="id of the first user")
    seed.add_argument("--with-bad-rows", action="store_true", help="add the bad input of DESIGN §8")
    seed.set_defaults(func=demo.cmd_demo_seed)

    run = groups.add_parser(
        "run",
        help="init + seed (once) + latest nightly partition + last week's reports, with a summary",
    )
    run.add_argument("--users", type=_positive, default=2000, help="users to seed (default 2000)")
    run.add_argument("--seed", type=int, default=42, help="random seed")
    run.add_argument("--days", type=_positive, default=120, help="days of history")
    run.add_argument("--with-bad-rows", action="store_true", help="add the bad input of DESIGN §8")
    run.add_argument("--reseed", action="store_true", help="drop the embedded demo database first")
    run.add_argument(
        "--show-sample",
        action="store_true",
        help="print one report written by the weekly run, read from the app database",
    )
    run.set_defaults(func=demo.cmd_demo_run)


def _add_jobs(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    nightly = sub.add_parser(
        "nightly",
        help="behaviour metrics for one UTC day partition, or a range of them",
        description="One UTC day (--partition, default: what the 02:00 UTC schedule would "
        "run now), or an inclusive range of days (--from D1 --to D2) in one Dagster run that "
        "writes the same rows as one run per day.",
    )
    nightly.add_argument(
        "--partition",
        type=_date,
        help="UTC day YYYY-MM-DD (default: what the 02:00 UTC schedule would run now)",
    )
    nightly.add_argument(
        "--from",
        dest="first_day",
        metavar="YYYY-MM-DD",
        type=_date,
        help="first UTC day of a range (with --to)",
    )
    nightly.add_argument(
        "--to",
        dest="last_day",
        metavar="YYYY-MM-DD",
        type=_date,
        help="last UTC day of a range, inclusive (with --from)",
    )
    nightly.add_argument("--limit", type=_non_negative, help="only the first N active users by id")
    nightly.add_argument(
        "--chunk-size",
        type=_positive,
        help="users per batch (memory bound; fewer in proportion in a block over 31 days)",
    )
    nightly.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    nightly.set_defaults(func=commands.cmd_nightly)

    weekly = sub.add_parser(
        "weekly",
        help="weekly reports and predictions (window mode at --at, or catch-up for --week)",
        description="Window mode (default): the eligible users inside their local Monday "
        "03:00–06:00 window at --at (default now) without a report; meant to run hourly. "
        "Catch-up mode (--week): every eligible user of that week with no report, ignoring "
        "the clock; with --to, each week from --week to --to in one Dagster run. "
        "--regenerate and --user-id need --week.",
    )
    weekly.add_argument("--at", type=_instant, help="reference instant, ISO-8601 with offset")
    weekly.add_argument("--week", type=_date, help="catch-up for the week starting this Monday")
    weekly.add_argument(
        "--to",
        dest="last_week",
        metavar="YYYY-MM-DD",
        type=_date,
        help="with --week: catch-up for each week through the one starting this Monday",
    )
    weekly.add_argument(
        "--regenerate",
        action="store_true",
        help="with --week: rewrite existing reports and predictions (after a fix); "
        "with --user-id only those",
    )
    weekly.add_argument(
        "--user-id",
        type=_positive,
        action="append",
        help="with --week: only this user (repeatable)",
    )
    weekly.add_argument("--chunk-size", type=_positive, help="users per batch (memory bound)")
    weekly.add_argument(
        "--show-sample",
        action="store_true",
        help="print one report written by this run, read from the app database",
    )
    weekly.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    weekly.set_defaults(func=commands.cmd_weekly)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="fitness-jobs",
        description="Nightly behaviour metrics and weekly reports of the fitness app, "
        "run through Dagster.",
        epilog="Exit codes: 0 all users succeeded, 1 any user failed, 2 usage or "
        "configuration error. The app database is FITNESS_DATABASE_URL (default: embedded "
        "SQLite in .data/).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_db_and_demo(sub)
    _add_jobs(sub)
    return parser
