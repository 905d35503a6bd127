"""Reads that run at the same time, each on a connection of its own (design §11).

A run's planning and its checks read a whole range of days: who was active at each
snapshot, which rows each snapshot has, which rows break a value rule.  One such read at
a time leaves a core idle: the server computes while the client waits, then the client
parses while the server waits.  Cut into groups of days read at the same time, the two
overlap.  The groups' results are those of one read of all the days, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa

from fitness_jobs.db.engine import is_postgres

T = TypeVar("T")
R = TypeVar("R")

# Reads at once: two keep both cores of a small server busy (one computing, one sending),
# as the chunk runner's read-ahead does; more would queue behind the chunks' own reads.
PARALLEL_READS = 2


def read_concurrently(
    engine: sa.Engine,
    reads: Sequence[Callable[[sa.Connection], Any]],
    *,
    workers: int = PARALLEL_READS,
) -> list[Any]:
    """Each of ``reads`` called with a connection, their results in order.

    On PostgreSQL up to ``workers`` of them run at once, in threads, each on a
    connection of its own; a read's error is raised once the others have finished.  On
    SQLite (reads in this process, nothing to overlap with) and for a single read, one
    after the other on one connection."""
    if len(reads) <= 1 or workers <= 1 or not is_postgres(engine):
        with engine.connect() as conn:
            return [read(conn) for read in reads]

    def run(read: Callable[[sa.Connection], Any]) -> Any:
        with engine.connect() as conn:
            return read(conn)

    with ThreadPoolExecutor(
        max_workers=min(workers, len(reads)), thread_name_prefix="read"
    ) as pool:
        futures = [pool.submit(run, read) for read in reads]
    return [future.result() for future in futures]


def contiguous_groups(items: Sequence[T], groups: int = PARALLEL_READS) -> list[list[T]]:
    """``items`` in at most ``groups`` contiguous groups of near-equal size, none empty
    (an empty list for no items)."""
    count = max(1, min(groups, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for index in range(count):
        stop = start + size + (1 if index < extra else 0)
        if stop > start:
            out.append(list(items[start:stop]))
        start = stop
    return out


def read_by_groups(
    engine: sa.Engine,
    items: Sequence[T],
    read: Callable[[sa.Connection, list[T]], list[R]],
    *,
    groups: int = PARALLEL_READS,
) -> list[R]:
    """``read(conn, group)`` for contiguous groups of ``items`` at the same time
    (:func:`read_concurrently`), each returning one result per item of its group: the
    results of all the items, in their order."""
    parts = contiguous_groups(items, groups)
    results = read_concurrently(engine, [_bind(read, part) for part in parts], workers=groups)
    return [result for part in results for result in part]


def _bind(
    read: Callable[[sa.Connection, list[T]], list[R]], part: list[T]
) -> Callable[[sa.Connection], list[R]]:
    return lambda conn: read(conn, part)
