"""The I/O floor of a nightly partition on PostgreSQL: moving only the rows the job moves.

*Read*: the job's own reads, chunk by chunk (the same statements, via ``NightlyChunk.read``),
with every ``COPY (SELECT …) TO STDOUT`` streamed to nowhere (by the job's own
``copy_to``) instead of parsed into frames.  *Write*: the rows the job wrote for the
snapshot, copied out and ``COPY``-ed into a temporary table of the same shape.  No
validation, no computation, no upsert logic.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.core.windows import snapshot_instant
from fitness_jobs.db import active_users, reads
from fitness_jobs.db.bulk import chunked
from fitness_jobs.db.copy_out import copy_to
from fitness_jobs.pipelines.nightly import DEFAULT_CHUNK_SIZE, NightlyChunk


@contextmanager
def _discarding_copies() -> Iterator[list[int]]:
    """Make ``reads._copy_out`` stream the rows and drop them; counts the bytes."""
    moved: list[int] = []
    original = reads._copy_out

    def copy_to_nowhere(
        conn: sa.Connection, stmt: sa.Select[Any], columns: Sequence[str]
    ) -> pd.DataFrame:
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        raw = conn.connection.driver_connection
        assert raw is not None
        statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)"
        sizes: list[int] = []
        copy_to(raw, statement, compiled.construct_params(), lambda row: sizes.append(len(row)))
        moved.append(sum(sizes))
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})

    reads._copy_out = copy_to_nowhere  # type: ignore[assignment]
    try:
        yield moved
    finally:
        reads._copy_out = original  # type: ignore[assignment]


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

    started = time.perf_counter()
    buffer = io.BytesIO()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        copy_to(
            raw,
            "COPY (SELECT * FROM user_behavior_metrics WHERE snapshot_at = %s) TO STDOUT",
            (as_of,),
            buffer.write,
        )
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE floor_metrics (LIKE user_behavior_metrics) ON COMMIT DROP"
            )
            with cur.copy("COPY floor_metrics FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            written = cur.execute("SELECT count(*) FROM floor_metrics").fetchone()
    write_s = time.perf_counter() - started
    return {
        "seconds": read_s + write_s,
        "read_seconds": read_s,
        "write_seconds": write_s,
        "active_users": len(user_ids),
        "read_bytes": sum(moved),
        "written_rows": int(written[0]) if written else 0,
    }
