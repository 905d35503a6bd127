"""The command line's own look at the app database: reachability and schema before a run,
and a sample report after one."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from fitness_jobs.cli.errors import CliUsageError, one_line
from fitness_jobs.db.engine import make_engine
from fitness_jobs.settings import database_url

CONNECT_ATTEMPTS = 3
RETRY_DELAY_S = 1.0  # then 2 s: rides out a database restart, not a wrong URL


def app_engine() -> sa.Engine:
    """An engine on ``FITNESS_DATABASE_URL`` (a bad URL is a ConfigurationError)."""
    return make_engine(database_url())


def where(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def check_reachable(engine: sa.Engine, attempts: int = CONNECT_ATTEMPTS) -> None:
    """Connect (a few attempts); an unreachable database is a CliUsageError (exit 2)."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return
        except sa.exc.OperationalError as exc:
            if attempt == attempts:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                raise CliUsageError(
                    f"cannot connect to the app database {where(engine)}: {one_line(reason)}"
                ) from None
            time.sleep(RETRY_DELAY_S * attempt)
        except sa.exc.SQLAlchemyError as exc:
            raise CliUsageError(
                f"cannot use the app database {where(engine)}: {type(exc).__name__}: "
                f"{one_line(getattr(exc, 'orig', None) or exc)}"
            ) from None


def preflight_database(tables: Sequence[str]) -> None:
    """Fail fast (exit 2) when the app database is unreachable or lacks the schema,
    instead of letting a run's retry policy wait minutes on a wrong URL."""
    from fitness_jobs.pipelines import require_tables

    engine = app_engine()
    try:
        check_reachable(engine)
        require_tables(engine, tables)  # raises ConfigurationError
    finally:
        engine.dispose()


def sample_report_row(
    week: dt.date,
    written_between: tuple[dt.datetime, dt.datetime],
    user_ids: Sequence[int] | None = None,
) -> dict[str, Any] | None:
    """One ``weekly_reports`` row of ``week`` written by a run, or None.

    The pipeline stamps ``generated_at`` with the wall clock when it writes a row (new or
    regenerated), and the run executes in this process, so the run's rows are exactly
    those stamped between its start and its end."""
    from fitness_jobs.db.weekly import sample_report

    engine = app_engine()
    try:
        with engine.connect() as conn:
            return sample_report(conn, week, written_between, user_ids)
    finally:
        engine.dispose()
