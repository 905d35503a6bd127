"""PostgreSQL ``COPY … FROM STDIN (FORMAT BINARY)`` encoded with numpy, not row by row.

psycopg's ``write_row`` spends a few microseconds of Python per row; the demo writes tens
of millions of rows, so a block is encoded here as whole columns instead.  Every column
becomes an ``(rows, width)`` uint8 matrix of its fields in the binary COPY layout (a
4-byte big-endian length, -1 for NULL, then the value in PostgreSQL's binary form);
the matrices are put side by side behind the 2-byte field count, and where a field is
shorter than its column's width (text, NULL) a boolean mask drops the unused bytes.
The result is byte-for-byte what ``write_row`` with ``set_types`` would send.

Wire formats used: int2/int4/int8, float4/float8 (IEEE, big-endian; NaN and ±Infinity
as such), bool (one byte), timestamptz (int64 µs since 2000-01-01 UTC), date (int32 days
since 2000-01-01), text (UTF-8 bytes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import sqlalchemy as sa

from fitness_jobs.demo.columns import Column
from fitness_jobs.demo.prefetch import prefetch

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01 00:00 UTC in µs since the Unix epoch
PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since the Unix epoch
CHUNK_ROWS = 100_000  # rows encoded at a time (bounds the encoder's memory to ~50 MB)

_WIRE: dict[str, str] = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
    "bool": "u1",
    "timestamptz": ">i8",
    "date": ">i4",
}
U8 = npt.NDArray[np.uint8]


def _be32(values: npt.ArrayLike) -> U8:
    return np.asarray(values, dtype=">i4").view(np.uint8).reshape(-1, 4)


class _Field:
    """One column's fields: ``width`` bytes reserved per row, of which some may be unused."""

    def __init__(self, col: Column) -> None:
        self.col = col
        self.has_null = bool(col.null.any())
        self.table: U8 | None = None
        if col.kind == "text":
            encoded = [label.encode("utf-8") for label in col.labels]
            width = max((len(e) for e in encoded), default=0)
            # one row per label plus a last one for NULL (length -1, no bytes)
            table = np.zeros((len(encoded) + 1, 4 + width), dtype=np.uint8)
            lengths = np.array([len(e) for e in encoded] + [-1], dtype=np.int64)
            table[:, :4] = _be32(lengths)
            for i, e in enumerate(encoded):
                table[i, 4 : 4 + len(e)] = np.frombuffer(e, dtype=np.uint8)
            self.table = table
            self.width = 4 + width
            self.used = (
                np.arange(self.width)[None, :] < np.where(lengths < 0, 4, 4 + lengths)[:, None]
            )
            self.fixed = bool(self.used.all())
        else:
            self.wire = np.dtype(_WIRE[col.kind])
            self.width = 4 + self.wire.itemsize
            self.fixed = not self.has_null
            self.record = np.dtype([("length", ">i4"), ("value", self.wire)])
            self.void = np.dtype((np.void, self.width))

    def write(self, out: U8, used: npt.NDArray[np.bool_], start: int, stop: int) -> None:
        """Fill ``out`` (rows × width) and, for variable fields, ``used`` (same shape)."""
        col = self.col
        null = col.null[start:stop]
        if self.table is not None:
            codes = np.where(null, len(col.labels), col.values[start:stop])
            # one memcpy per row: rows of the table as single opaque items
            void = np.dtype((np.void, self.width))
            np.take(self.table.view(void)[:, 0], codes, out=out.view(void)[:, 0], mode="clip")
            if not self.fixed:
                np.take(self.used.view(void)[:, 0], codes, out=used.view(void)[:, 0], mode="clip")
            return
        values = col.values[start:stop]
        if col.kind == "timestamptz":
            values = np.where(null, 0, values - PG_EPOCH_US)
        elif col.kind == "date":
            values = np.where(null, 0, values - PG_EPOCH_DAYS)
        # the whole field as one packed record (length, value), copied in one go per row
        field = np.empty(len(values), dtype=self.record)
        field["length"] = (
            np.where(null, -1, self.wire.itemsize) if self.has_null else self.wire.itemsize
        )
        field["value"] = values
        out.view(self.void)[:, 0] = field.view(self.void)
        if self.has_null:
            used[:, 4:] = ~null[:, None]  # NULL: no value bytes follow the length


def encode(columns: Sequence[Column], chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The rows of ``columns`` (equal lengths) as binary COPY tuples, in pieces.

    Only the tuples: the caller sends ``SIGNATURE`` first and ``TRAILER`` last.
    """
    if not columns:
        return
    n = len(columns[0].values)
    fields = [_Field(c) for c in columns]
    total = 2 + sum(f.width for f in fields)
    variable = not all(f.fixed for f in fields)
    rows = min(n, chunk_rows)
    # reused from chunk to chunk: every byte of `block` is rewritten, and `used` only
    # changes in the variable fields' columns, which are rewritten too
    block = np.empty((rows, total), dtype=np.uint8)
    block[:, :2] = np.array([len(columns)], dtype=">i2").view(np.uint8)
    used = np.ones((rows, total) if variable else (0, 0), dtype=bool)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        rows = stop - start
        offset = 2
        for f in fields:
            part = slice(offset, offset + f.width)
            f.write(block[:rows, part], used[:rows, part] if variable else used, start, stop)
            offset += f.width
        yield block[:rows][used[:rows]].tobytes() if variable else block[:rows].tobytes()


def copy_columns(
    conn: sa.Connection, table_name: str, columns: Sequence[Column], *, freeze: bool = False
) -> int:
    """COPY the rows into ``table_name`` (binary, one statement); returns the row count.

    ``freeze``: ``COPY … FREEZE`` (the table must be truncated in this transaction).
    """
    if not columns or len(columns[0].values) == 0:
        return 0
    raw: Any = conn.connection.driver_connection
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    options = "FORMAT BINARY, FREEZE" if freeze else "FORMAT BINARY"
    statement = f'COPY "{table_name}" ({quoted}) FROM STDIN ({options})'
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            copy.write(SIGNATURE)
            # encoded a few pieces ahead in a thread while this one waits on the socket
            with closing(prefetch(encode(columns), depth=2)) as pieces:
                for piece in pieces:
                    copy.write(piece)
            copy.write(TRAILER)
    except psycopg.Error as exc:
        # as in db.bulk.copy_into: one exception hierarchy (IntegrityError, …) on both backends
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    return len(columns[0].values)
