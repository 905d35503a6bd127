"""Run logic shared by the Dagster assets and the command line, free of Dagster.

Each pipeline reads a chunk of users in bulk (``fitness_jobs.db.reads``), validates
and computes with the pure core (``fitness_jobs.core``), and writes in bulk with
per-user isolation (``fitness_jobs.db.bulk``).  The Dagster layer only turns the
returned report into metadata, checks and logs.
"""

from __future__ import annotations

from collections.abc import Callable

from fitness_jobs.db.engine import require_tables
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines.runner import RunReport

__all__ = [
    "ConfigurationError",
    "Log",
    "Progress",
    "log_failures",
    "no_log",
    "no_progress",
    "require_tables",
]

Log = Callable[[str, str], None]  # (level, message)
Progress = Callable[[int, int], None]  # (users done, users total)


def no_log(_level: str, _message: str) -> None:
    return None


def no_progress(_done: int, _total: int) -> None:
    return None


def log_failures(log: Log, report: RunReport, limit: int = 20) -> None:
    """One error line naming the failed users by id and code (never emails), then each
    distinct failure once: its code, message, how many users, sample ids, traceback."""
    failed = report.failed
    if not failed:
        return
    shown = ", ".join(f"{uid}:{code}" for uid, code in sorted(failed.items())[:limit])
    more = f" (+{len(failed) - limit} more)" if len(failed) > limit else ""
    log("error", f"{len(failed)} user(s) failed: {shown}{more}")
    for failure in report.distinct_failures():
        text = (
            f"{failure.users} user(s) failed with {failure.code}: {failure.message} "
            f"(e.g. user ids {', '.join(map(str, failure.sample_user_ids))})"
        )
        if failure.traceback:
            text += "\n" + failure.traceback
        log("error", text)
