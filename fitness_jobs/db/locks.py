"""A per-partition lock so that two runs of the same partition never interleave.

PostgreSQL: a session-level advisory lock held on a dedicated connection for the
run's duration.  SQLite: an ``flock`` on a lock file beside the database file
(SQLite already serialises writers; the lock keeps whole runs from interleaving).
Both wait for the holder: the second run then finds the work done (idempotent
upserts, claimed reports) and writes nothing new.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa

from fitness_jobs.settings import LOCK_TIMEOUT_ENV, lock_timeout_seconds


class LockTimeout(RuntimeError):
    """Another run held the partition lock for longer than the timeout (not retried)."""

    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(
            f"another run has held the lock {name!r} for {timeout_s:.0f} s "
            f"({LOCK_TIMEOUT_ENV}); it may still be running: find it in the UI's runs, "
            "and re-run this partition once it has ended"
        )


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock``."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def partition_lock(engine: sa.Engine, name: str, timeout_s: float | None = None) -> Iterator[float]:
    """Hold the lock called ``name``; yields the seconds spent waiting for it.  Waits at
    most ``timeout_s`` (default: ``FITNESS_LOCK_TIMEOUT_SECONDS``, 5 minutes)."""
    timeout_s = lock_timeout_seconds() if timeout_s is None else timeout_s
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        key = lock_key(name)
        with engine.connect() as conn:
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() - started > timeout_s:
                    raise LockTimeout(name, timeout_s)
                time.sleep(0.5)
            conn.commit()
            try:
                yield time.monotonic() - started
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    db_path = engine.url.database
    folder = (
        Path(db_path).parent if db_path and db_path != ":memory:" else Path(tempfile.gettempdir())
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    lock_path = folder / f".{Path(db_path or 'memory').name}.{safe}.lock"
    with open(lock_path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > timeout_s:
                    raise LockTimeout(name, timeout_s) from None
                time.sleep(0.2)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def partition_locks(
    engine: sa.Engine, names: Iterable[str], timeout_s: float | None = None
) -> Iterator[float]:
    """Hold every lock in ``names`` (a run over a range of partitions); yields the seconds
    spent waiting for them.  They are taken one by one in sorted order, so two runs over
    overlapping ranges queue behind each other instead of each holding what the other
    waits for; each lock waits at most ``timeout_s`` (as :func:`partition_lock`).

    PostgreSQL: every advisory lock on one dedicated connection (31 days cost one
    connection, not 31: the engines' pools are small).  SQLite: one ``flock`` per name.
    A single name behaves exactly as :func:`partition_lock`.
    """
    ordered = sorted(set(names))
    timeout_s = lock_timeout_seconds() if timeout_s is None else timeout_s
    started = time.monotonic()
    if engine.dialect.name != "postgresql":
        with contextlib.ExitStack() as stack:
            for name in ordered:
                stack.enter_context(partition_lock(engine, name, timeout_s))
            yield time.monotonic() - started
        return
    with engine.connect() as conn:
        held: list[int] = []
        try:
            for name in ordered:
                key = lock_key(name)
                asked = time.monotonic()
                while not conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                ).scalar():
                    if time.monotonic() - asked > timeout_s:
                        raise LockTimeout(name, timeout_s)
                    time.sleep(0.5)
                conn.commit()
                held.append(key)
            yield time.monotonic() - started
        finally:
            for key in reversed(held):
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
