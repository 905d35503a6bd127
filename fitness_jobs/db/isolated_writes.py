"""Isolated writes: a batch's write in one transaction, bisected when the database
refuses it, so only the users whose rows it refuses fail; and which database errors are
worth retrying (transient) rather than failing users for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from fitness_jobs.core.isolation import UserError, first_line, isolate, short_traceback

_TRANSIENT_SQLITE = ("database is locked", "database table is locked", "busy", "disk i/o error")
# PostgreSQL SQLSTATE classes and codes worth retrying: connection exceptions, transaction
# rollbacks (serialization failure, deadlock), insufficient resources, operator
# intervention (shutdown, "cannot connect now", statement cancelled), lock not available.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
_TRANSIENT_SQLSTATES = ("55P03",)
# Said at connect time, before any SQLSTATE: waiting will not fix these.
_PERMANENT_MARKERS = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "permission denied",
    "does not exist",
    "no pg_hba.conf entry",
    "no such table",
    "no such column",
    "syntax error",
)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: a lost connection, a pool timeout, a server restarting, a
    deadlock, a locked SQLite file.

    Not transient (retrying cannot help): authentication and permission errors, a missing
    database, table or column, a constraint violation, bad data.
    """
    if isinstance(exc, (sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return True
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).lower()
    if any(marker in text for marker in _PERMANENT_MARKERS):
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError):
        if type(orig).__module__.startswith("sqlite3"):
            return any(marker in text for marker in _TRANSIENT_SQLITE)
        return True  # PostgreSQL without a SQLSTATE: the connection itself failed
    return False


@dataclass
class IsolatedWrite:
    """Outcome of ``write_isolated``: which users were committed, which failed and why."""

    committed: list[int] = field(default_factory=list)
    errors: dict[int, UserError] = field(default_factory=dict)
    returned: list[Any] = field(default_factory=list)  # write()'s value for each committed batch
    batches: int = 0
    bisections: int = 0

    @property
    def failed(self) -> dict[int, str]:
        return {uid: error.code for uid, error in self.errors.items()}


def error_code_for(exc: BaseException) -> str:
    """A short, stable error code for a database refusal (no row values, no PII)."""
    orig = getattr(exc, "orig", None)
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"write_rejected:{name}"


def write_error(exc: Exception) -> UserError | None:
    """The users' error for a refused write, or None (re-raise) when it is transient or
    not a refusal of the data."""
    if not isinstance(exc, (sa.exc.DBAPIError, sa.exc.StatementError, ValueError, TypeError)):
        return None
    if is_transient(exc):
        return None
    return UserError(error_code_for(exc), first_line(exc), short_traceback(exc))


def write_isolated(
    engine: sa.Engine,
    user_ids: Sequence[int],
    write: Callable[[sa.Connection, Sequence[int]], Any],
) -> IsolatedWrite:
    """Write the users' rows in one transaction; on refusal, bisect (``core.isolation``).

    ``write(conn, ids)`` writes the rows of ``ids`` inside the transaction it is given.
    If the database refuses the batch (integrity, data or programming error), only the
    users whose rows it refuses fail; everyone else is committed.  Transient errors (lost
    connection, lock timeouts) are re-raised for the retry policy; a refusal shared by the
    whole batch (a missing privilege, a dropped column) raises ``SystematicFailure``.
    """

    def attempt(ids: Sequence[int]) -> Any:
        with engine.begin() as conn:
            return write(conn, ids)

    outcome = isolate(user_ids, attempt, describe=write_error, stage="writing")
    return IsolatedWrite(
        committed=outcome.succeeded,
        errors=outcome.errors,
        returned=outcome.results,
        batches=outcome.calls,
        bisections=outcome.splits,
    )
