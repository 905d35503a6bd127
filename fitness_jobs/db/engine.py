"""Engines for the app database: PostgreSQL through psycopg 3, or embedded SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from fitness_jobs.db.schema import Base
from fitness_jobs.errors import ConfigurationError


class DatabaseConfigError(ConfigurationError):
    """The database URL is unusable (bad scheme or driver)."""


def normalize_url(url: str) -> str:
    """Name the driver explicitly.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3 while 2.0 reads it as
    psycopg2; the app database always uses psycopg 3 (for COPY), so say so.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise DatabaseConfigError(f"not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # Always name psycopg 3 explicitly (a bare scheme means different drivers in
        # SQLAlchemy 2.0 and 2.1; psycopg2 has no COPY API we use on the app side).
        if parsed.drivername != "postgresql+psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise DatabaseConfigError(
        f"unsupported database backend {backend!r}: use postgresql+psycopg:// or sqlite:///"
    )


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _postgres_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # The jobs' queries bind thousands of ids, so the planner's estimate crosses
    # jit_above_cost and LLVM compiles each of them: about 1 s a query, more than the
    # query itself takes (design §11).  Nothing the jobs run gains from JIT.
    # Values stored out of line or compressed (only the weekly reports' documents are
    # that large) with lz4 rather than pglz, where the server has it: loading a week's
    # reports costs about a third less server CPU, for about 15% more space (design §11).
    with dbapi_conn.cursor() as cur:
        cur.execute("SET jit = off")
        cur.execute(
            "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings"
            " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
    dbapi_conn.commit()


def without_parallel_workers(conn: sa.Connection) -> None:
    """No parallel workers for the rest of ``conn``'s transaction (PostgreSQL).

    For a chunk's reads of one day or one week: index lookups of a few thousand users,
    while the step keeps the server busy with two such reads at once (the runner's
    read-ahead) and its writes.  Parallel workers on top add their start, gather and
    partial aggregates for nothing: at 100k users weekly went from 26.6 s to 22.3 s and
    nightly from 11.8 s to 10.5 s without them.  A range's reads, which scan months,
    keep them (a 31-day range's reads took 2.7–4× as long without)."""
    if is_postgres(conn):
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


def make_engine(url: str, *, echo: bool = False) -> sa.Engine:
    """An engine for ``url`` with sensible settings for batch work."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    # A step holds up to four at once: its partition lock, the write, and two reads ahead.
    engine = sa.create_engine(url, echo=echo, pool_pre_ping=True, pool_size=2, max_overflow=3)
    sa.event.listen(engine, "connect", _postgres_on_connect)
    return engine


def is_postgres(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name == "postgresql"


def create_schema(engine: sa.Engine) -> list[str]:
    """Create every table and index that is missing; idempotent.  Returns the tables created."""
    existing = set(sa.inspect(engine).get_table_names())
    Base.metadata.create_all(engine, checkfirst=True)
    return [t for t in Base.metadata.tables if t not in existing]


def require_tables(engine: sa.Engine, tables: Iterable[str]) -> None:
    """Fail with a clear configuration error when the app schema is missing."""
    existing = set(sa.inspect(engine).get_table_names())
    missing = [t for t in tables if t not in existing]
    if missing:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"the app database {where} has no table(s) {', '.join(missing)}: "
            "check FITNESS_DATABASE_URL, or run `fitness-jobs db init` for a dev database"
        )
