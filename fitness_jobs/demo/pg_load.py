"""PostgreSQL bulk load: drop the app tables' indexes and constraints, load, rebuild them.

Inserting tens of millions of rows into indexed tables with foreign keys costs the
server an index insertion per index and a foreign-key trigger per row (measured on the
demo's ``workout_sets``: ~95k rows/s with both, ~470k rows/s with neither).  Building an
index once from the loaded table and validating a foreign key with one join is several
times cheaper, so ``deferred_indexes(conn, tables)`` (PostgreSQL's "Populating a
Database" advice) drops, inside the caller's transaction:

* every foreign key on or referring to those tables,
* their primary-key and unique constraints,
* their other indexes,

and, when the block exits without an error, recreates them from the definitions the
catalog gave (``pg_get_constraintdef`` / ``pg_get_indexdef``, same names), keys first,
then indexes, then foreign keys, which are validated against all rows.  Everything
is one transaction: other sessions see the tables unchanged until the commit (they wait
on the tables' locks meanwhile), and any failure rolls the whole load back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

MAINTENANCE_WORK_MEM = "256MB"  # at least this for the index sorts (this transaction only)

_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE contype = 'f' AND (conrelid = ANY(CAST(:oids AS oid[])) OR confrelid = ANY(CAST(:oids AS oid[])))
ORDER BY conrelid, conname
"""
_KEYS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE contype IN ('p', 'u') AND conrelid = ANY(CAST(:oids AS oid[]))
ORDER BY conrelid, conname
"""
_INDEXES = """
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(CAST(:oids AS oid[]))
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
ORDER BY i.indrelid, i.indexrelid
"""


@dataclass(frozen=True)
class Definition:
    table: str  # as regclass text: quoted and schema-qualified where needed
    name: str
    sql: str  # constraint definition, or the whole CREATE INDEX statement

    @property
    def quoted_name(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'

    def drop(self, kind: str) -> str:
        if kind == "index":
            return f"DROP INDEX {self.name}"
        return f"ALTER TABLE {self.table} DROP CONSTRAINT {self.quoted_name}"

    def create(self, kind: str) -> str:
        if kind == "index":
            return self.sql
        return f"ALTER TABLE {self.table} ADD CONSTRAINT {self.quoted_name} {self.sql}"


_OWNED = """
SELECT coalesce(bool_and(pg_has_role(relowner, 'USAGE')), true) FROM pg_class
WHERE oid = ANY(CAST(:oids AS oid[]))
   OR oid IN (SELECT conrelid FROM pg_constraint WHERE confrelid = ANY(CAST(:oids AS oid[])))
"""


def _oids(conn: sa.Connection, tables: Sequence[str]) -> list[int]:
    query = sa.text("SELECT CAST(CAST(:t AS regclass) AS oid)")
    return [int(conn.execute(query, {"t": t}).scalar_one()) for t in tables]


def can_defer_indexes(conn: sa.Connection, tables: Sequence[str]) -> bool:
    """Whether this role may drop and recreate the tables' indexes and constraints.

    That takes owning the tables (and any table with a foreign key to them).
    """
    return bool(conn.execute(sa.text(_OWNED), {"oids": _oids(conn, tables)}).scalar_one())


def _fetch(conn: sa.Connection, query: str, oids: list[int]) -> list[Definition]:
    rows = conn.execute(sa.text(query), {"oids": oids}).all()
    return [Definition(str(t), str(n), str(s)) for t, n, s in rows]


@contextmanager
def deferred_indexes(
    conn: sa.Connection,
    tables: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[None]:
    """Load ``tables`` without their indexes and constraints; rebuild them at the end.

    ``conn`` must be in a transaction (``engine.begin()``).  ``progress(done, total)``
    is called after each rebuilt index or constraint.
    """
    oids = [
        int(
            conn.execute(sa.text("SELECT CAST(CAST(:t AS regclass) AS oid)"), {"t": t}).scalar_one()
        )
        for t in tables
    ]
    foreign = _fetch(conn, _FOREIGN_KEYS, oids)
    keys = _fetch(conn, _KEYS, oids)
    indexes = _fetch(conn, _INDEXES, oids)
    for d in foreign:
        conn.exec_driver_sql(d.drop("constraint"))
    for d in keys:
        conn.exec_driver_sql(d.drop("constraint"))
    for d in indexes:
        conn.exec_driver_sql(d.drop("index"))
    yield
    conn.execute(
        sa.text(
            "SELECT set_config('maintenance_work_mem', :v, true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(:v)"
        ),
        {"v": MAINTENANCE_WORK_MEM},
    )
    # the foreign keys' validation queries are one scan each, too short for JIT to pay
    # off (measured at 100k users: ~0.2 s of server CPU less on workout_sets' foreign key)
    conn.exec_driver_sql("SELECT set_config('jit', 'off', true)")
    steps = [("constraint", d) for d in keys] + [("index", d) for d in indexes]
    steps += [("constraint", d) for d in foreign]
    for done, (kind, d) in enumerate(steps, start=1):
        conn.exec_driver_sql(d.create(kind))
        if progress is not None:
            progress(done, len(steps))


def truncate_if_empty(conn: sa.Connection, tables: Sequence[str]) -> bool:
    """TRUNCATE the tables if none has a row, so that COPY may use FREEZE; returns whether.

    ``COPY … FREEZE`` needs the table truncated (or created) in the same transaction.  It
    writes rows already frozen and pages already all-visible, so the first reads and
    VACUUM after the seed need not rewrite every page to set hint bits.  Call it inside
    ``deferred_indexes`` (no foreign key may point at the tables then).
    """
    for t in tables:
        if conn.exec_driver_sql(f'SELECT EXISTS (SELECT 1 FROM "{t}")').scalar_one():
            return False
    conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
    return True
