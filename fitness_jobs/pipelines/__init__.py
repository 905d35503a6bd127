"""Run logic shared by the Dagster assets and the command line, free of Dagster.

Each pipeline reads a chunk of users in bulk (``fitness_jobs.db.reads``), validates
and computes with the pure core (``fitness_jobs.core``), and writes in bulk with
per-user isolation (``fitness_jobs.db.bulk``).  The Dagster layer only turns the
returned report into metadata, checks and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa

Log = Callable[[str, str], None]  # (level, message)
Progress = Callable[[int, int], None]  # (users done, users total)


def no_log(_level: str, _message: str) -> None:
    return None


def no_progress(_done: int, _total: int) -> None:
    return None


def log_failures(log: Log, failed: dict[int, str], limit: int = 20) -> None:
    """One error line naming the failed users by id and error code (never emails)."""
    if failed:
        shown = ", ".join(f"{uid}:{code}" for uid, code in sorted(failed.items())[:limit])
        more = f" (+{len(failed) - limit} more)" if len(failed) > limit else ""
        log("error", f"{len(failed)} user(s) failed: {shown}{more}")


class UsageError(ValueError):
    """Bad run configuration or an unusable database (exit code 2 on the command line)."""


def require_tables(engine: sa.Engine, tables: Iterable[str]) -> None:
    """Fail with a clear configuration error when the app schema is missing."""
    existing = set(sa.inspect(engine).get_table_names())
    missing = [t for t in tables if t not in existing]
    if missing:
        where = engine.url.render_as_string(hide_password=True)
        raise UsageError(
            f"the app database {where} has no table(s) {', '.join(missing)}: "
            "check FITNESS_DATABASE_URL, or run `fitness-jobs db init` for a dev database"
        )
