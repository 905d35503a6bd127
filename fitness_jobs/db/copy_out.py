"""``COPY … TO STDOUT`` at the speed libpq delivers rows.

PostgreSQL sends a ``COPY TO`` as one message per row.  psycopg's ``Copy.read`` (and its
iteration) returns one row per call through a Python generator and a wait on the socket:
about 2 µs a row, which was half of a weekly chunk's read (300k set rows).  Here each row
already in libpq's buffer is taken with one call to the documented ``psycopg.pq`` wrapper
(``PGconn.get_copy_data``, non-blocking), and psycopg's own read runs only when the buffer
is empty, to wait for the socket as it always does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq

Params = Sequence[Any] | Mapping[str, Any] | None


def copy_to(
    conn: psycopg.Connection[Any],
    statement: str,
    params: Params,
    write: Callable[[bytes | bytearray | memoryview], object],
) -> None:
    """Run ``statement`` (a ``COPY … TO STDOUT``) and pass every row's bytes to ``write``,
    in order.  A server error (also one raised after some rows were sent) is raised as
    psycopg raises it, and leaves the connection usable."""
    pgconn = conn.pgconn
    with conn.cursor() as cur, cur.copy(statement, params) as copy:
        while True:
            nbytes, data = pgconn.get_copy_data(1)
            if nbytes > 0:
                write(data)
            elif nbytes == 0:  # nothing buffered: psycopg waits for the next row
                block = copy.read()
                if not block:
                    return  # psycopg saw the end and collected the command's result
                write(block)
            else:
                break
    # The end was already buffered, so libpq has handed it to us rather than to psycopg:
    # collect the command's results (all of them, so the connection is idle again).
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    for result in results:
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
