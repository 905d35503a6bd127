"""Frame columns as typed numpy arrays, ready for either database.

``table_columns(frame, table)`` turns each column of a demo frame into a ``Column``: the
values in one numpy array whose meaning is fixed by the database type (µs since the Unix
epoch for timestamps, day numbers for dates, integer codes into ``labels`` for text) plus
a NULL mask.  ``pg_copy`` encodes Columns into PostgreSQL's binary COPY format and
``sqlite_rows`` into the values SQLAlchemy would store in SQLite, so both backends see
exactly the frame's contents without a Python object per cell.

NULL rules (the same as before the split): NaN in a *nullable* float column is NULL; NaN
in a NOT NULL float column stays NaN (PostgreSQL ``real`` keeps it; SQLite cannot, see
``unwritable_on_sqlite``).  NaT, ``pd.NA`` and ``None`` are NULL everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db.schema import Base, UTCDateTime

Kind = Literal["int2", "int4", "int8", "float4", "float8", "bool", "timestamptz", "date", "text"]
NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Column:
    """One column of a frame slice: ``values`` typed by ``kind``, ``null`` marks NULLs.

    ``values``: int64 for int*/timestamptz (µs since 1970-01-01 UTC)/date (days since
    1970-01-01), float64 for float*, bool for bool, int64 codes into ``labels`` for text.
    """

    name: str
    kind: Kind
    values: npt.NDArray[Any]
    null: npt.NDArray[np.bool_]
    labels: tuple[str, ...] = ()

    def take(self, rows: slice | npt.NDArray[np.bool_]) -> Column:
        return Column(self.name, self.kind, self.values[rows], self.null[rows], self.labels)


def column_kind(column: sa.Column[Any]) -> Kind:
    """The PostgreSQL type (binary COPY wire format) of a schema column."""
    t = column.type
    if isinstance(t, (UTCDateTime, sa.DateTime)):
        return "timestamptz"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.SmallInteger):
        return "int2"
    if isinstance(t, sa.BigInteger):
        return "int8"
    if isinstance(t, sa.Integer):
        return "int4"
    if isinstance(t, sa.REAL):
        return "float4"
    if isinstance(t, sa.Float):
        return "float8"
    if isinstance(t, (sa.Text, sa.String)):
        return "text"
    raise TypeError(f"no demo encoding for column {column.name} of type {t!r}")


def _isna(series: pd.Series) -> npt.NDArray[np.bool_]:
    return np.asarray(series.isna().to_numpy(), dtype=bool)


def _timestamps(series: pd.Series) -> npt.NDArray[np.int64]:
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, utc=True)
    index = pd.DatetimeIndex(series)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)  # naive UTC; naive input is UTC
    return np.asarray(index.as_unit("us").asi8, dtype=np.int64)


def _days(series: pd.Series) -> npt.NDArray[np.int64]:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = _timestamps(series)
        return np.where(stamps == NAT, NAT, stamps // 86_400_000_000)
    values = np.array(series.to_numpy(dtype=object), dtype="datetime64[D]")
    return values.view(np.int64)


def _codes(series: pd.Series) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        cat = cast(Any, series).cat
        return (
            np.asarray(cat.codes.to_numpy(), dtype=np.int64),
            tuple(str(c) for c in cat.categories),
        )
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), tuple(str(u) for u in uniques)


def frame_column(series: pd.Series, column: sa.Column[Any]) -> Column:
    kind = column_kind(column)
    name = column.name
    if kind == "text":
        codes, labels = _codes(series)
        return Column(name, kind, codes, codes < 0, labels)
    null = _isna(series)
    if kind == "timestamptz":
        values: npt.NDArray[Any] = _timestamps(series)
        null = values == NAT
    elif kind == "date":
        values = _days(series)
        null = values == NAT
    elif kind in ("float4", "float8"):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        # NaN is NULL only where NULL is allowed (DESIGN §8: bad NaN rows stay NaN)
        null = null if column.nullable else np.zeros(len(values), dtype=bool)
    elif kind == "bool":
        values = series.to_numpy(dtype=bool, na_value=False)
    elif null.any() or not pd.api.types.is_integer_dtype(series.dtype):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = np.where(null, 0, floats).astype(np.int64)
    else:
        values = series.to_numpy(dtype=np.int64)
    return Column(name, kind, values, null)


def table_columns(frame: pd.DataFrame, table_name: str) -> list[Column]:
    """The frame's columns that the table has, in the table's column order."""
    tbl = Base.metadata.tables[table_name]
    return [frame_column(frame[c.name], c) for c in tbl.columns if c.name in frame.columns]


def unwritable_on_sqlite(frame: pd.DataFrame, table_name: str) -> npt.NDArray[np.bool_]:
    """Rows with NaN in a NOT NULL REAL column: SQLite would store NULL and refuse them."""
    tbl = Base.metadata.tables[table_name]
    drop = np.zeros(len(frame), dtype=bool)
    for col in tbl.columns:
        if (
            col.name in frame.columns
            and not col.nullable
            and pd.api.types.is_float_dtype(frame[col.name].dtype)
        ):
            drop |= np.isnan(frame[col.name].to_numpy(dtype=np.float64))
    return drop
