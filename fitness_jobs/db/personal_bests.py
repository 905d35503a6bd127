"""Kept personal bests: each user's best e1RM per exercise, and the mark of what it covers.

The weekly report needs, for week W's lifts, the best e1RM of every earlier session
(``db.weekly.prior_best_e1rm``): the one rule that reaches back without limit.  Read from
the sets each week, its cost grows with years of history.  So a run keeps what it found:

* ``personal_bests`` (user, exercise, best e1RM), and
* ``personal_best_marks`` (user, ``finalized_through``, ``set_id``): the bests cover every
  valid working set whose id is at most ``set_id``, of the valid sessions finalized at or
  before ``finalized_through``.

The next run reads the kept rows and, from the sets, only what the mark does not cover:
the sessions finalized after ``finalized_through``, and any set with an id above
``set_id`` (a session that reached the database late, or a set added to an old session).
A best is a maximum, so the kept one and the new ones combine exactly, to the bit.  What
a mark cannot see is a change to a row it covers (an edited weight, a deleted session):
regenerating the user's report reads their whole history again and keeps that instead
(docs/operations.md).

The tables are optional: without them (an app database not migrated yet) every run reads
the whole history, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db.bulk import upsert
from fitness_jobs.db.locks import lock_key
from fitness_jobs.db.reads import among, read_frame
from fitness_jobs.db.schema import KEPT_TABLES, PersonalBest, PersonalBestMark, WorkoutSet

BESTS_TABLE = "personal_bests"
MARKS_TABLE = "personal_best_marks"
BEST_COLUMNS = ["user_id", "exercise", "best_e1rm"]
MARK_COLUMNS = ["user_id", "finalized_through", "set_id"]


def unusable_because(engine: sa.Engine) -> str | None:
    """Why the kept bests cannot be used here (no tables, or on PostgreSQL no right to
    read and write them), or None when they can."""
    missing = sorted(set(KEPT_TABLES) - set(sa.inspect(engine).get_table_names()))
    if missing:
        return f"no table {', '.join(missing)}"
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return missing_rights(conn)


def missing_rights(conn: sa.Connection) -> str | None:
    """PostgreSQL: the first right on the kept tables that the session's role lacks."""
    for name in KEPT_TABLES:
        for right in ("SELECT", "INSERT", "UPDATE"):  # a list would ask for any of them
            allowed = conn.execute(
                sa.text("SELECT has_table_privilege(:name, :right)"),
                {"name": name, "right": right},
            ).scalar_one()
            if not allowed:
                return f"no {right} on {name}"
    return None


def last_set_id(conn: sa.Connection) -> int:
    """The highest set id committed (0 when there are none): read before the sets, it
    bounds what a mark may claim."""
    s = WorkoutSet.__table__
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(s.c.id), 0))).scalar_one())


def marks(conn: sa.Connection, user_ids: Sequence[int]) -> pd.DataFrame:
    """The marks of ``user_ids`` that have one (``MARK_COLUMNS``)."""
    t = PersonalBestMark.__table__
    stmt = sa.select(t.c.user_id, t.c.finalized_through, t.c.set_id).where(
        among(conn, t.c.user_id, user_ids)
    )
    frame = read_frame(conn, stmt, MARK_COLUMNS)
    frame["set_id"] = frame["set_id"].astype("int64")
    frame["finalized_through"] = pd.to_datetime(
        frame["finalized_through"], utc=True, format="ISO8601"
    )
    return frame


def bests(conn: sa.Connection, user_ids: Sequence[int]) -> pd.DataFrame:
    """The kept bests of ``user_ids`` (``BEST_COLUMNS``; ``best_e1rm`` NaN: none any more)."""
    t = PersonalBest.__table__
    stmt = sa.select(t.c.user_id, t.c.exercise, t.c.best_e1rm).where(
        among(conn, t.c.user_id, user_ids)
    )
    frame = read_frame(conn, stmt, BEST_COLUMNS)
    frame["best_e1rm"] = pd.to_numeric(frame["best_e1rm"], errors="coerce").astype(float)
    return frame


def keep(
    conn: sa.Connection, best_rows: pd.DataFrame, mark_rows: pd.DataFrame, seen: pd.DataFrame
) -> int:
    """Upsert changed bests and new marks, in the open transaction, for the users whose
    mark is still the one ``seen`` when their bests were read (no row: none); returns
    how many users' rows were kept.

    Two runs of different weeks may keep the same users' bests at once; each run's rows
    are exact for its own mark, but mixed they would not be.  So the writers take one
    transaction-scoped lock in turn (on PostgreSQL; SQLite has one writer), and a user
    whose mark changed since it was read is left to the run that changed it."""
    users = mark_rows["user_id"].tolist()
    if not users:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(MARKS_TABLE)})
    now = marks(conn, users).set_index("user_id").reindex(users)
    was = seen.set_index("user_id").reindex(users)
    unchanged = (
        now["finalized_through"].eq(was["finalized_through"]) & now["set_id"].eq(was["set_id"])
    ) | (now["finalized_through"].isna() & was["finalized_through"].isna())
    still = set(now.index[unchanged.to_numpy()])
    best_rows = best_rows[best_rows["user_id"].isin(still)]
    mark_rows = mark_rows[mark_rows["user_id"].isin(still)]
    if len(best_rows):
        upsert(conn, BESTS_TABLE, best_rows[BEST_COLUMNS], ("user_id", "exercise"))
    if len(mark_rows):
        upsert(conn, MARKS_TABLE, mark_rows[MARK_COLUMNS], ("user_id",))
    return len(mark_rows)
