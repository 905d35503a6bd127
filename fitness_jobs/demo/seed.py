"""Streaming seed: generate and write the demo data block by block, in bounded memory.

``seed_demo(engine, config)`` is what ``fitness-jobs demo seed`` / ``demo run`` call.  It
writes exactly the rows of ``write_demo(engine, generate_demo(config, now))`` but never
holds more than a few generation blocks (``BLOCK_USERS`` users each): a background
thread generates the next block while the current one is written, so peak memory does
not depend on ``config.users``.

* PostgreSQL with ``bulk_load`` (the default where this role owns the app tables): one
  transaction; the tables' indexes and constraints are dropped for the load and rebuilt
  at the end (``pg_load``), every block goes in by binary COPY (``pg_copy``; with FREEZE
  when the tables were empty), sequences are moved past the ids.  All or nothing: a failure leaves the database as it was.
* PostgreSQL with ``bulk_load=False``, and SQLite: one transaction per ``block_users``
  users (a whole number of generation blocks), indexes in place; COPY on PostgreSQL,
  executemany on SQLite.

The rows do not depend on ``block_users`` or ``bulk_load``: those only group the same
blocks into transactions.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import sys

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.demo.catalog import BAD_ROW_KINDS
from fitness_jobs.demo.config import BLOCK_USERS, DemoConfig, make_calendar
from fitness_jobs.demo.generate import iter_blocks
from fitness_jobs.demo.pg_load import can_defer_indexes, deferred_indexes, truncate_if_empty
from fitness_jobs.demo.prefetch import prefetch
from fitness_jobs.demo.write import (
    WRITE_ORDER,
    Progress,
    bump_sequences,
    check_ids_free,
    write_frame,
)

DEFAULT_BLOCK_USERS = 5 * BLOCK_USERS
"""Users per transaction where there is one per block (SQLite; PostgreSQL without bulk load)."""
PREFETCH_BLOCKS = 1  # blocks generated ahead of the one being written


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD = 16 << 20


def limit_heap_retention() -> None:
    """glibc: serve every allocation of 16 MiB or more with its own mmap.

    By default glibc raises that threshold to the largest block freed so far (up to
    32 MiB), after which the generator's block-sized temporaries come from the heap and
    the heap keeps growing with the number of blocks (measured, generation only: peak
    RSS 493 → 682 MB over 100 blocks; with this, flat at ~560 MB).  A lower threshold
    saves more memory but costs page faults (1 MiB: ~480 MB, +40 s of system time at
    100k users).  Process-wide and permanent; harmless elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _write_block(
    conn: sa.Connection,
    frames: dict[str, pd.DataFrame],
    counts: dict[str, int],
    freeze: bool = False,
) -> int:
    """Write one generated block's app frames in FK order; returns its number of users."""
    for name in WRITE_ORDER:
        counts[name] += write_frame(conn, name, frames[name], freeze=freeze)
    return len(frames["users"])


def seed_demo(
    engine: sa.Engine,
    config: DemoConfig,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    block_users: int = DEFAULT_BLOCK_USERS,
    bulk_load: bool | None = None,
) -> dict[str, int]:
    """Generate ``config``'s demo data and write it, streaming; returns rows per app table.

    ``now`` as in ``generate_demo`` (default: the end of ``config.today``, else the wall
    clock).  ``progress(stage, done, total)`` is called with ``("users", users written,
    users in all)`` after each block and, for a PostgreSQL bulk load, with ``("indexes",
    rebuilt, to rebuild)`` while indexes and constraints are rebuilt.  ``block_users`` and
    ``bulk_load``: see the module docstring; ``bulk_load=None`` (default) bulk-loads on
    PostgreSQL when this role owns the app tables.  Refuses (``ValueError``) if the ids
    are taken.
    """
    if block_users < 1:
        raise ValueError("block_users must be >= 1")
    cal = make_calendar(config, now)
    limit_heap_retention()
    total = config.users + (len(BAD_ROW_KINDS) if config.with_bad_rows else 0)
    counts = dict.fromkeys(WRITE_ORDER, 0)
    users = 0

    def report(stage: str, done: int, of: int) -> None:
        if progress is not None:
            progress(stage, done, of)

    def rebuilt(done: int, of: int) -> None:
        report("indexes", done, of)

    postgres = engine.dialect.name == "postgresql"
    if postgres and bulk_load is None:
        with engine.connect() as conn:
            bulk_load = can_defer_indexes(conn, WRITE_ORDER)
    blocks = prefetch(iter_blocks(config, cal), depth=PREFETCH_BLOCKS)
    try:
        if postgres and bulk_load:
            with engine.begin() as conn:
                check_ids_free(conn, config)
                with deferred_indexes(conn, WRITE_ORDER, progress=rebuilt):
                    freeze = truncate_if_empty(conn, WRITE_ORDER)
                    for frames in blocks:
                        users += _write_block(conn, frames, counts, freeze)
                        report("users", users, total)
                bump_sequences(conn)
            analyze(engine)
            return counts

        with engine.begin() as conn:
            check_ids_free(conn, config)
        per_transaction = -(-block_users // BLOCK_USERS)
        remaining = True
        while remaining:
            written = 0
            with engine.begin() as conn:
                for _ in range(per_transaction):
                    block: dict[str, pd.DataFrame] | None = next(blocks, None)
                    if block is None:
                        remaining = False
                        break
                    written += 1
                    users += _write_block(conn, block, counts)
            if written:
                report("users", users, total)
        if postgres:
            with engine.begin() as conn:
                bump_sequences(conn)
            analyze(engine)
        return counts
    finally:
        blocks.close()


def analyze(engine: sa.Engine) -> None:
    """``ANALYZE`` the tables just loaded, as autovacuum would soon after: until then the
    planner has no statistics for them, and the first jobs on fresh demo data would get
    plans no production database gets (twice the reads, seen at 100k users)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE " + ", ".join(f'"{t}"' for t in WRITE_ORDER))
