"""A frame into PostgreSQL by binary COPY, built as one numpy array.

Formatting values as text costs more than everything else in a bulk write: pandas'
``to_csv`` writes a float in about 2 µs, and a metrics row has 16 of them.  PostgreSQL's
binary COPY format needs no text, only each field's length and its bytes in network
order, and when every field has the same width in every row, all the rows are one numpy
structured array.  So each frame column is staged as fixed-width fields of a temporary
table of its own:

- integers as ``int8`` (the ``INSERT`` casts them to the target's width, and refuses a
  value out of its range, as a text COPY would);
- floats as ``float8``, bit for bit; dates as ``date`` and instants as ``timestamptz``
  in PostgreSQL's own encoding (days and microseconds since 2000-01-01); booleans;
- text as an ``int4`` code into the distinct values, which travel once as a ``text[]``
  parameter of the ``INSERT``;
- and beside each column that has a NULL (NaN, NaT, NA, None) in the frame, a
  ``boolean`` saying the value is NULL, so no row has a field of another length; a
  column without one travels alone (a metrics row is mostly such columns: half the
  fields for the server to parse).

Two kinds of value have a width of their own: text with many distinct values (a weekly
report's summary, where a ``text[]`` of 2,000 labels costs more to escape than to send)
and JSON documents (``jsonb``'s binary form is a version byte and the JSON text).  They
follow the fixed fields of each row, as length and bytes (length −1 for NULL), so a row
is its slice of the structured array and then those fields, joined once for the stream.

:func:`stage_frame` fills the table and gives the expression that turns each staged
column back into its value, for the ``INSERT … SELECT`` of ``bulk.upsert``.  A frame
with a column it cannot encode this way (JSON, or floats bound for an integer column)
gets None, and the caller stages it as text.

JSON is written by orjson: the same documents as ``json.dumps`` (keys as given, floats
in shortest round-trip form), several times faster.  The documents must hold plain
values: a NaN or infinity, which PostgreSQL's JSON refuses, is a caller's bug here too
(orjson would write it as ``null``), so report builders round every number first.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg
import sqlalchemy as sa

from fitness_jobs.db.schema import UTCDateTime

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
TRAILER = b"\xff\xff"
PG_EPOCH_DAY = np.datetime64("2000-01-01", "D").astype(np.int64)
PG_EPOCH_US = np.datetime64("2000-01-01T00:00:00", "us").astype(np.int64)
# Text with more distinct values than this is sent value by value, not as labels.
MAX_LABELS = 1_000
JSONB_VERSION = b"\x01"
NULL_FIELD = (-1).to_bytes(4, "big", signed=True)
VARIABLE = ("text", "jsonb")


@dataclass(frozen=True)
class Field:
    """One frame column as staged: its values, their PostgreSQL and numpy types, which
    are NULL, and for text the distinct values its codes index (1-based).  A field of
    variable width (``text``, ``jsonb``) has each value's bytes, None for NULL."""

    pg_type: str
    values: np.ndarray | list[bytes | None]
    nulls: np.ndarray
    labels: list[str] | None = None

    @property
    def variable(self) -> bool:
        return self.pg_type in VARIABLE

    @property
    def flagged(self) -> bool:
        """A fixed-width field staged with a NULL flag beside it (it has a NULL)."""
        return not self.variable and bool(np.any(self.nulls))


@dataclass(frozen=True)
class Staged:
    """A staged frame: the temporary table, the ``SELECT`` expression of each column
    (in the frame's order) and the parameters those expressions use."""

    table: str
    select: list[str]
    params: dict[str, Any]


def _integers(column: pd.Series) -> Field | None:
    if not pd.api.types.is_integer_dtype(column.dtype):
        return None
    nulls = column.isna().to_numpy(dtype=bool)
    values = column.to_numpy(dtype=np.int64, na_value=0)
    return Field("int8", values, nulls)


def _floats(column: pd.Series) -> Field | None:
    if not (pd.api.types.is_float_dtype(column.dtype) or pd.api.types.is_integer_dtype(column)):
        return None
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    nulls = np.isnan(values)
    return Field("float8", np.where(nulls, 0.0, values), nulls)


def _dates(column: pd.Series) -> Field:
    days = pd.to_datetime(column).to_numpy(dtype="datetime64[D]")
    nulls = np.isnat(days)
    values = days.astype(np.int64) - PG_EPOCH_DAY
    return Field("date", np.where(nulls, 0, values).astype(np.int32), nulls)


def _instants(column: pd.Series) -> Field:
    instants = pd.to_datetime(column, utc=True).dt.tz_localize(None)  # naive means UTC
    # PostgreSQL keeps microseconds, rounding finer text to the nearest one.
    micros = instants.dt.round("us").to_numpy(dtype="datetime64[us]")
    nulls = np.isnat(micros)
    values = micros.astype(np.int64) - PG_EPOCH_US
    return Field("timestamptz", np.where(nulls, 0, values), nulls)


def _booleans(column: pd.Series) -> Field:
    flags = column.astype("boolean")
    return Field("boolean", flags.to_numpy(dtype=bool, na_value=False), flags.isna().to_numpy())


def _texts(column: pd.Series) -> Field | None:
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    if not all(isinstance(value, str) for value in distinct):
        return None
    nulls = codes < 0
    if len(distinct) > MAX_LABELS:
        encoded = [str(v).encode() for v in distinct]
        values = [None if c < 0 else encoded[c] for c in codes.tolist()]
        return Field("text", values, nulls)
    return Field("int4", (codes + 1).astype(np.int32), nulls, [str(v) for v in distinct])


def is_document(kind: sa.types.TypeEngine[Any]) -> bool:
    """A JSON column (PostgreSQL's ``jsonb`` is SQLAlchemy's JSON too)."""
    return isinstance(kind, sa.JSON)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _documents(column: pd.Series) -> Field:
    """JSON values (dicts, lists, strings, numbers); None, NaN or NA is SQL NULL."""
    values: list[bytes | None] = [
        None if _missing(v) else JSONB_VERSION + orjson.dumps(v) for v in column.tolist()
    ]
    nulls = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    return Field("jsonb", values, nulls)


def encode(column: pd.Series, kind: sa.types.TypeEngine[Any]) -> Field | None:
    """``column`` staged for a target column of type ``kind``, or None."""
    if is_document(kind):
        return _documents(column)
    if isinstance(kind, (UTCDateTime, sa.DateTime)):
        return _instants(column)
    if isinstance(kind, sa.Date):
        return _dates(column)
    if isinstance(kind, sa.Boolean):
        return _booleans(column)
    if isinstance(kind, sa.Integer):
        return _integers(column)
    if isinstance(kind, sa.Float):
        return _floats(column)
    if isinstance(kind, (sa.String, sa.Text)) and not isinstance(kind, sa.Enum):
        return _texts(column)
    return None


_NUMPY = {"int8": ">i8", "float8": ">f8", "date": ">i4", "timestamptz": ">i8", "int4": ">i4"}


def _rows(fields: Sequence[Field]) -> list[bytes | memoryview]:
    """The binary COPY stream, in pieces to send one after the other: per row the field
    count, then per fixed-width column its value and its NULL flag, each as length +
    bytes, then each variable-width column as length + bytes (``_staged_order``: the
    fixed ones come first).  Rows of fixed-width fields only are one piece, the
    structured array's own memory (no copy of a chunk's tens of megabytes)."""
    fixed = [f for f in fields if not f.variable]
    variable = [f.values for f in fields if f.variable]
    layout: list[tuple[str, str]] = [("count", ">i2")]
    for i, field in enumerate(fixed):
        layout += [
            (f"len{i}", ">i4"),
            (f"val{i}", "u1" if field.pg_type == "boolean" else _NUMPY[field.pg_type]),
        ]
        if field.flagged:
            layout += [(f"nlen{i}", ">i4"), (f"null{i}", "u1")]
    n = len(fields[0].values)
    rows = np.empty(n, dtype=np.dtype(layout))
    rows["count"] = len(fixed) + sum(f.flagged for f in fixed) + len(variable)
    for i, field in enumerate(fixed):
        rows[f"len{i}"] = rows.dtype[f"val{i}"].itemsize
        rows[f"val{i}"] = field.values
        if field.flagged:
            rows[f"nlen{i}"] = 1
            rows[f"null{i}"] = field.nulls
    if not variable:
        return [HEADER, rows.view(np.uint8).data, TRAILER]
    block = memoryview(rows.tobytes())
    width = rows.dtype.itemsize
    parts: list[bytes | memoryview] = [HEADER]
    for r in range(n):
        parts.append(block[r * width : (r + 1) * width])
        for values in variable:
            value = values[r]
            if value is None:
                parts.append(NULL_FIELD)
            else:
                parts.append(len(value).to_bytes(4, "big"))
                parts.append(value)
    parts.append(TRAILER)
    return [b"".join(parts)]


def _staged_order(fields: Sequence[Field]) -> list[int]:
    """The frame's columns in the staging table's order: fixed width first."""
    return sorted(range(len(fields)), key=lambda i: fields[i].variable)


def stage_frame(conn: sa.Connection, frame: pd.DataFrame, tbl: sa.Table) -> Staged | None:
    """COPY ``frame`` (columns of ``tbl``) into a temporary table in binary, or None when a
    column cannot be staged this way (nothing is written then)."""
    fields = []
    for name in frame.columns:
        try:
            field = encode(frame[name], tbl.c[name].type)
        except (ValueError, TypeError, OverflowError):  # e.g. a date past pandas' range
            return None
        if field is None:
            return None
        fields.append(field)
    # One staging table per table and column list, emptied at each commit.
    order = _staged_order(fields)
    shape = ",".join(
        f"{frame.columns[i]}:{fields[i].pg_type}{'?' if fields[i].flagged else ''}" for i in order
    )
    tag = zlib.crc32(shape.encode())
    stage = f"_bstage_{tbl.name}_{tag:08x}"
    columns = ", ".join(
        f"v{i} {fields[i].pg_type}"
        if fields[i].variable
        else f"v{i} {fields[i].pg_type} NOT NULL"
        + (f", n{i} boolean NOT NULL" if fields[i].flagged else "")
        for i in order
    )
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ({columns}) ON COMMIT DELETE ROWS'
    )
    conn.exec_driver_sql(f'TRUNCATE "{stage}"')
    raw = conn.connection.driver_connection
    assert raw is not None
    statement = f'COPY "{stage}" FROM STDIN WITH (FORMAT binary)'
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            for piece in _rows([fields[i] for i in order]):
                copy.write(piece)
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    select, params = [], {}
    for i, field in enumerate(fields):
        value = f"v{i}"
        if field.variable:
            select.append(value)
            continue
        if field.labels is not None:
            params[f"labels{i}"] = field.labels
            value = f"(%(labels{i})s::text[])[v{i}]"
        select.append(f"CASE WHEN n{i} THEN NULL ELSE {value} END" if field.flagged else value)
    return Staged(stage, select, params)
