"""Writing demo frames into the app tables: binary COPY on PostgreSQL, executemany on SQLite.

``write_frame(conn, table, frame)`` writes one frame inside the caller's transaction and
is what both entry points use: ``write_demo(engine, frames)`` (frames from
``generate_demo``, in chunks of ``chunk_rows`` rows, one transaction per chunk) and
``seed.seed_demo`` (streaming, block by block).  Columns go through ``columns.Column`` —
whole numpy arrays, never a Python object per cell on PostgreSQL.

Ids are explicit (the generator numbers users from ``first_user_id`` and workouts, sets
and weigh-ins from 1), so the target id ranges must be free; afterwards PostgreSQL's
sequences are moved past them (``bump_sequences``) so the app can go on inserting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import bulk
from fitness_jobs.db.schema import APP_TABLES, Base
from fitness_jobs.demo.catalog import BAD_ROW_KINDS
from fitness_jobs.demo.columns import Column, table_columns, unwritable_on_sqlite
from fitness_jobs.demo.config import DemoConfig
from fitness_jobs.demo.pg_copy import copy_columns

log = logging.getLogger(__name__)

WRITE_ORDER = tuple(t.name for t in Base.metadata.sorted_tables if t.name in APP_TABLES)
"""The app tables in foreign-key order (users first)."""
ID_TABLES = ("users", "workouts", "workout_sets", "body_weight_logs")
SQLITE_CHUNK_ROWS = 50_000  # rows turned into Python values at a time
SQLITE_ROWS_PER_STATEMENT = 100  # multi-row VALUES: about twice as fast as one row each

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- SQLite values


def sqlite_values(col: Column) -> npt.NDArray[np.object_]:
    """The column as the Python values SQLAlchemy would store in SQLite (None for NULL).

    Timestamps are UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``, dates ``YYYY-MM-DD``,
    booleans 0/1 (``db.bulk``'s SQLite converters do the same, one value at a time).
    """
    values: Any
    if col.kind == "text":
        labels = np.array([*col.labels, None], dtype=object)
        return labels[np.where(col.null, len(col.labels), col.values)]
    if col.kind == "timestamptz":
        text = np.datetime_as_string(col.values.view("datetime64[us]"), unit="us")
        values = np.strings.replace(text, "T", " ")
    elif col.kind == "date":
        values = np.datetime_as_string(col.values.view("datetime64[D]"), unit="D")
    elif col.kind == "bool":
        values = col.values.astype(np.int64)
    else:
        values = col.values
    out = np.empty(len(values), dtype=object)
    out[:] = values.tolist()  # Python ints, floats and strs, as the driver wants them
    out[col.null] = None
    return out


def sqlite_insert(conn: sa.Connection, table_name: str, columns: Sequence[Column]) -> int:
    """Multi-row INSERTs (``SQLITE_ROWS_PER_STATEMENT`` rows each, executemany); returns rows."""
    if not columns or len(columns[0].values) == 0:
        return 0
    n, k = len(columns[0].values), len(columns)
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    row = "(" + ", ".join("?" for _ in columns) + ")"
    per = max(1, min(SQLITE_ROWS_PER_STATEMENT, bulk.SQLITE_MAX_VARIABLES // k))

    def statement(rows: int) -> str:
        return f'INSERT INTO "{table_name}" ({quoted}) VALUES ' + ", ".join([row] * rows)

    # the driver's own cursor: it takes lists as parameters, SQLAlchemy would want tuples
    cursor = cast(Any, conn.connection).dbapi_connection.cursor()
    try:
        for start in range(0, n, SQLITE_CHUNK_ROWS):
            part = slice(start, min(n, start + SQLITE_CHUNK_ROWS))
            table = np.empty((part.stop - start, k), dtype=object)
            for j, col in enumerate(columns):
                table[:, j] = sqlite_values(col.take(part))
            full = len(table) // per * per
            if full:
                cursor.executemany(statement(per), table[:full].reshape(-1, per * k).tolist())
            if full < len(table):
                cursor.execute(statement(len(table) - full), table[full:].ravel().tolist())
    finally:
        cursor.close()
    return n


def write_frame(
    conn: sa.Connection, table_name: str, frame: pd.DataFrame, *, freeze: bool = False
) -> int:
    """Write ``frame`` into its app table in the caller's transaction; returns rows written.

    On SQLite, rows with NaN in a NOT NULL REAL column (bad rows) are skipped.
    ``freeze``: PostgreSQL ``COPY … FREEZE`` (see ``pg_load.truncate_if_empty``).
    """
    if conn.dialect.name == "postgresql":
        return copy_columns(conn, table_name, table_columns(frame, table_name), freeze=freeze)
    drop = unwritable_on_sqlite(frame, table_name)
    if drop.any():
        log.warning(
            "SQLite cannot store %d %s rows with NaN in a NOT NULL column; skipped",
            int(drop.sum()),
            table_name,
        )
        frame = frame[~drop]
    return sqlite_insert(conn, table_name, table_columns(frame, table_name))


# --------------------------------------------------------------------------- id ranges


def _already(name: str, lo: int, hi: int | None) -> ValueError:
    where = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    return ValueError(
        f"{name} already has rows with ids in {where}: demo data uses explicit "
        "ids (workouts, sets and weigh-ins from 1), so seed an empty database"
    )


def check_empty_id_ranges(engine: sa.Engine, frames: Mapping[str, pd.DataFrame]) -> None:
    """Refuse frames whose ids are already taken (``write_demo``)."""
    with engine.connect() as conn:
        for name in ID_TABLES:
            frame = frames.get(name)
            if frame is None or frame.empty:
                continue
            lo, hi = int(frame["id"].min()), int(frame["id"].max())
            tbl = Base.metadata.tables[name]
            hit = conn.execute(sa.select(tbl.c.id).where(tbl.c.id.between(lo, hi)).limit(1)).first()
            if hit is not None:
                raise _already(name, lo, hi)


def check_ids_free(conn: sa.Connection, config: DemoConfig) -> None:
    """Refuse to seed where the config's ids are taken (``seed_demo``).

    The number of workouts, sets and weigh-ins is only known once generated, so those
    tables must have no id from 1 up; users none in the config's id range.
    """
    users = config.users + (len(BAD_ROW_KINDS) if config.with_bad_rows else 0)
    lo, hi = config.first_user_id, config.first_user_id + users - 1
    tbl = Base.metadata.tables["users"]
    if users and conn.execute(sa.select(tbl.c.id).where(tbl.c.id.between(lo, hi)).limit(1)).first():
        raise _already("users", lo, hi)
    for name in ID_TABLES[1:]:
        tbl = Base.metadata.tables[name]
        if conn.execute(sa.select(tbl.c.id).where(tbl.c.id >= 1).limit(1)).first() is not None:
            raise _already(name, 1, None)


def bump_sequences(conn: sa.Connection) -> None:
    """PostgreSQL: move serial/identity sequences past the explicit ids just inserted."""
    for name in ID_TABLES:
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}).scalar()
        if seq:
            tbl = Base.metadata.tables[name]
            max_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(tbl.c.id), 0))).scalar()
            conn.execute(
                sa.text("SELECT setval(CAST(:seq AS regclass), :v, false)"),
                {"seq": seq, "v": int(max_id or 0) + 1},
            )


# --------------------------------------------------------------------------- write_demo


def write_demo(
    engine: sa.Engine,
    frames: Mapping[str, pd.DataFrame],
    progress: Progress | None = None,
    chunk_rows: int = 50_000,
) -> dict[str, int]:
    """Bulk-insert the app frames in FK order; returns rows written per table.

    Each chunk of ``chunk_rows`` rows is one binary COPY (PostgreSQL) or executemany
    (SQLite) in its own transaction, followed by ``progress(table, done, total)``.  Frames
    that are not app tables (``personas``, ``bad_rows``) are ignored.  The target tables
    must not already hold the demo's ids.  On SQLite, rows with NaN in a NOT NULL REAL
    column are skipped (see ``bad_rows``), so counts can be below the frame lengths.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    postgres = engine.dialect.name == "postgresql"
    check_empty_id_ranges(engine, frames)
    written: dict[str, int] = {}
    for name in WRITE_ORDER:
        frame = frames.get(name)
        if frame is None:
            continue
        if not postgres:
            drop = unwritable_on_sqlite(frame, name)
            if drop.any():
                log.warning(
                    "SQLite cannot store %d %s rows with NaN in a NOT NULL column; skipped",
                    int(drop.sum()),
                    name,
                )
                frame = frame[~drop]
        total = len(frame)
        done = 0
        for start in range(0, total, chunk_rows):
            with engine.begin() as conn:
                done += write_frame(conn, name, frame.iloc[start : start + chunk_rows])
            if progress is not None:
                progress(name, done, total)
        if total == 0 and progress is not None:
            progress(name, 0, 0)
        written[name] = done
    if postgres:
        with engine.begin() as conn:
            bump_sequences(conn)
    return written
