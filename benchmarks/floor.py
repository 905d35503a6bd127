"""The I/O floor of a job on PostgreSQL: moving only the rows the job moves.

Nightly (``run_floor``).  *Read*: the job's own reads, chunk by chunk (the same
statements, via ``NightlyChunk.read``), with every ``COPY (SELECT …) TO STDOUT`` streamed
to nowhere (by the job's own ``copy_to``) instead of parsed into frames.  *Write*: the
rows the job wrote for the snapshot, copied out and ``COPY``-ed into a temporary table of
the same shape.  No validation, no computation, no upsert logic.

Weekly (``run_weekly_floor``).  Which statements a weekly chunk runs depends on what it
read before (the users with a session near the week, those with an inexact set, the
kept bests' marks), so the statements are recorded while the measured run runs them
(``recorded_reads``).  The floor is then those statements again, streamed to nowhere in
two streams (as the job keeps two chunks' reads in flight), and the week's reports and
predictions copied into temporary tables (the documents parsed into ``jsonb`` there
too).  The personal bests the run kept are left out (a few percent of what it writes).
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.db import active_users, reads
from fitness_jobs.db.bulk import chunked
from fitness_jobs.db.copy_out import copy_to
from fitness_jobs.pipelines.nightly import DEFAULT_CHUNK_SIZE, NightlyChunk
from fitness_jobs.pipelines.weekly_chunk import PREDICTIONS_TABLE, REPORTS_TABLE

WEEKLY_TABLES_WRITTEN = (REPORTS_TABLE, PREDICTIONS_TABLE)
READ_STREAMS = 2  # the weekly floor's reads at once


@contextmanager
def _discarding_copies() -> Iterator[list[int]]:
    """Make ``reads._copy_out`` stream the rows and drop them; counts the bytes."""
    moved: list[int] = []
    original = reads._copy_out

    def copy_to_nowhere(
        conn: sa.Connection, stmt: sa.Select[Any], columns: Sequence[str]
    ) -> pd.DataFrame:
        raw = conn.connection.driver_connection
        assert raw is not None
        sizes: list[int] = []
        copy_to(raw, *reads.copy_statement(conn, stmt), lambda row: sizes.append(len(row)))
        moved.append(sum(sizes))
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})

    reads._copy_out = copy_to_nowhere  # type: ignore[assignment]
    try:
        yield moved
    finally:
        reads._copy_out = original  # type: ignore[assignment]


@contextmanager
def recorded_reads() -> Iterator[list[tuple[str, Any]]]:
    """Record the statement (as ``COPY … TO STDOUT``) and parameters of every read run
    meanwhile in this process, while the reads themselves run as usual: a ``COPY`` as
    it is sent, a plain query compiled once more."""
    statements: list[tuple[str, Any]] = []
    real_copy_to, real_fetch_rows = reads.copy_to, reads.fetch_rows

    def recording_copy_to(raw: Any, statement: str, params: Any, write: Any) -> None:
        statements.append((statement, params))
        real_copy_to(raw, statement, params, write)

    def recording_fetch_rows(conn: sa.Connection, stmt: sa.Select[Any]) -> list[Any]:
        if conn.dialect.name == "postgresql":
            statements.append(reads.copy_statement(conn, stmt))
        return real_fetch_rows(conn, stmt)

    reads.copy_to = recording_copy_to  # type: ignore[assignment]
    reads.fetch_rows = recording_fetch_rows  # type: ignore[assignment]
    try:
        yield statements
    finally:
        reads.copy_to, reads.fetch_rows = real_copy_to, real_fetch_rows  # type: ignore[assignment]


def _timed_copies(engine: sa.Engine, copies: dict[str, tuple[str, Any]]) -> tuple[float, Any]:
    """Seconds to copy, in one transaction, each table's rows matching its condition
    (``{table: (where, params)}``) out and into a temporary table of the same shape, and
    the rows copied per table."""
    started = time.perf_counter()
    written: dict[str, int] = {}
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for table, (where, params) in copies.items():
            buffer = io.BytesIO()
            statement = f"COPY (SELECT * FROM {table} WHERE {where}) TO STDOUT"
            copy_to(raw, statement, params, buffer.write)
            with raw.cursor() as cur:
                cur.execute(f"CREATE TEMP TABLE floor_{table} (LIKE {table}) ON COMMIT DROP")
                with cur.copy(f"COPY floor_{table} FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                count = cur.execute(f"SELECT count(*) FROM floor_{table}").fetchone()
            written[table] = int(count[0]) if count else 0
    return time.perf_counter() - started, written


def _floor(read_s: float, write_s: float, moved: list[int], **details: Any) -> dict[str, Any]:
    """A floor's result: its seconds in all and by part, the bytes read, ``details``."""
    return {
        "seconds": read_s + write_s,
        "read_seconds": read_s,
        "write_seconds": write_s,
        "read_bytes": sum(moved),
        **details,
    }


def run_weekly_floor(
    engine: sa.Engine, week: dt.date, statements: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """Seconds to run a weekly catch-up's reads (``statements``, recorded while it ran:
    ``recorded_reads``) with every row streamed to nowhere, in two streams on
    connections of their own, and then to copy the reports and predictions it wrote for
    ``week`` into temporary tables."""
    if engine.dialect.name != "postgresql":
        raise SystemExit("the I/O floor is measured on PostgreSQL (COPY)")
    moved: list[int] = []

    def stream(part: Sequence[tuple[str, Any]]) -> None:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            for statement, params in part:
                copy_to(raw, statement, params, lambda row: moved.append(len(row)))

    started = time.perf_counter()
    # Two streams at once, as the job keeps two chunks' reads in flight.
    with ThreadPoolExecutor(max_workers=READ_STREAMS) as pool:
        for done in [pool.submit(stream, statements[i::READ_STREAMS]) for i in range(READ_STREAMS)]:
            done.result()
    read_s = time.perf_counter() - started

    week_rows = ("week_start = %s", (week,))
    write_s, written = _timed_copies(engine, dict.fromkeys(WEEKLY_TABLES_WRITTEN, week_rows))
    return _floor(read_s, write_s, moved, read_statements=len(statements), written_rows=written)


def run_floor(
    engine: sa.Engine, partition: dt.date, now: dt.datetime, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, Any]:
    """Seconds to read what the nightly run reads and to write what it wrote."""
    if engine.dialect.name != "postgresql":
        raise SystemExit("the I/O floor is measured on PostgreSQL (COPY)")
    as_of = snapshot_instant(partition)
    # One stream of reads: fastest with the server's parallel workers, which the job's
    # own single-day reads do without (they run two at a time).
    work = NightlyChunk(partition=partition, computed_at=now, parallel_reads=True)
    started = time.perf_counter()
    with engine.connect() as conn:
        user_ids = active_users.active_user_ids(conn, as_of, now=now)
    with _discarding_copies() as moved:
        for chunk in chunked(user_ids, chunk_size):
            with engine.connect() as conn:
                work.read(conn, chunk)
    read_s = time.perf_counter() - started

    table = "user_behavior_metrics"
    write_s, written = _timed_copies(engine, {table: ("snapshot_at = %s", (as_of,))})
    return _floor(read_s, write_s, moved, active_users=len(user_ids), written_rows=written[table])
