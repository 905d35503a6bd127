"""``copy_to``: every row of a ``COPY TO``, in order, as psycopg's own read gives them,
and server errors raised as psycopg raises them, with the connection left usable."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from fitness_jobs.db.copy_out import copy_to

# Rows of varied length (a NULL, quoting, text that grows with i), in a fixed order.
ROWS = (
    "COPY (SELECT i, CASE WHEN i %% 7 = 0 THEN NULL ELSE repeat('x,\"', i %% 13) END, i * 0.25 "
    "FROM generate_series(1, %s) AS i ORDER BY i) TO STDOUT WITH (FORMAT csv)"
)


@pytest.fixture
def raw(postgres_engine: sa.Engine) -> Iterator[psycopg.Connection[Any]]:
    with postgres_engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        yield driver


def _psycopg_read(raw: psycopg.Connection[Any], statement: str, params: Any) -> bytes:
    out = io.BytesIO()
    with raw.cursor() as cur, cur.copy(statement, params) as copy:
        for block in copy:
            out.write(block)
    return out.getvalue()


@pytest.mark.parametrize("n", [0, 1, 2, 50_000])
def test_copy_to_gives_the_rows_psycopg_gives(raw: psycopg.Connection[Any], n: int) -> None:
    """50,000 rows (1.3 MB) arrive in several reads of the socket: both the rows libpq had
    buffered and those psycopg waited for are passed on, in order."""
    rows: list[bytes] = []
    copy_to(raw, ROWS, (n,), lambda row: rows.append(bytes(row)))
    assert len(rows) == n  # one call per row
    assert b"".join(rows) == _psycopg_read(raw, ROWS, (n,))
    if n:
        assert rows[0] == b'1,"x,""",0.25\n'
        assert rows[-1].startswith(f"{n},".encode())
    assert raw.execute("SELECT 41 + 1").fetchone() == (42,)


def test_an_error_after_some_rows_is_raised_and_the_connection_stays_usable(
    raw: psycopg.Connection[Any],
) -> None:
    rows: list[bytes] = []
    statement = "COPY (SELECT 1 / (i - 30000) FROM generate_series(1, 40000) AS i) TO STDOUT"
    with pytest.raises(psycopg.errors.DivisionByZero):
        copy_to(raw, statement, None, lambda row: rows.append(bytes(row)))
    assert 0 < len(rows) < 30_000  # rows sent before the error reached the caller
    raw.rollback()
    assert raw.execute("SELECT 41 + 1").fetchone() == (42,)


def test_an_invalid_statement_raises_before_any_row(raw: psycopg.Connection[Any]) -> None:
    rows: list[bytes] = []
    with pytest.raises(psycopg.errors.UndefinedTable):
        copy_to(
            raw,
            "COPY (SELECT * FROM no_such_table) TO STDOUT",
            None,
            lambda row: rows.append(bytes(row)),
        )
    assert rows == []
    raw.rollback()
    assert raw.execute("SELECT 41 + 1").fetchone() == (42,)
