"""Who is active at a snapshot (design §2): one query per snapshot, or one read for many
snapshots of a range (the plan of a range run and its coverage check)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db.reads import FINALIZED_STATUSES, read_frame
from fitness_jobs.db.schema import User, Workout
from fitness_jobs.db.validity import valid_workout

ACTIVE_WINDOW = dt.timedelta(days=30)


def active_user_ids(
    conn: sa.Connection,
    as_of: dt.datetime,
    limit: int | None = None,
    *,
    now: dt.datetime | None = None,
) -> list[int]:
    """Users active at ``as_of`` (design §2), ascending by id, the first ``limit`` of them.

    Active: not deleted at ``as_of`` and at least one valid finalized workout (completed
    or partial) with ``finalized_at`` in ``(as_of − 30 days, as_of]``.  Valid as the
    validation judges it at ``now`` (default: the wall clock; ``db.validity``): a bad
    row makes nobody active.
    """
    w = Workout.__table__
    u = User.__table__
    recent = (
        sa.select(w.c.user_id)
        .where(
            w.c.status.in_(FINALIZED_STATUSES),
            w.c.finalized_at > as_of - ACTIVE_WINDOW,
            w.c.finalized_at <= as_of,
            valid_workout(w, now or dt.datetime.now(dt.UTC)),
        )
        .distinct()
        .subquery()
    )
    stmt = (
        sa.select(u.c.id)
        .join(recent, recent.c.user_id == u.c.id)
        .where(sa.or_(u.c.deleted_at.is_(None), u.c.deleted_at > as_of))
        .order_by(u.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [int(r[0]) for r in conn.execute(stmt)]


# Snapshots judged from one read of workouts (a range run's plan and coverage check).
ACTIVE_INSTANTS_PER_READ = 31
NAT = np.iinfo(np.int64).min  # pandas' integer form of NaT


def _micros(instants: pd.Series) -> np.ndarray:
    """UTC instants as integer microseconds (NaT: :data:`NAT`)."""
    return pd.DatetimeIndex(instants).as_unit("us").asi8


def active_users_at(
    conn: sa.Connection,
    instants: Sequence[dt.datetime],
    limit: int | None = None,
    *,
    now: dt.datetime | None = None,
) -> list[np.ndarray]:
    """For each of ``instants``, the ids that ``active_user_ids`` gives at it (ascending,
    the first ``limit``), from one read per :data:`ACTIVE_INSTANTS_PER_READ` instants
    instead of one query per instant: the user, ``finalized_at`` and ``deleted_at`` of
    every valid session that makes someone active at one of them.  A session finalized
    at F makes its user active at the instants in ``[F, F + 30 days)``, a contiguous
    run of the sorted instants; the user is active where such runs cover the instant
    and the account was not yet deleted."""
    if len(instants) == 1:
        only = active_user_ids(conn, instants[0], limit, now=now)
        return [np.asarray(only, dtype=np.int64)]
    w = Workout.__table__
    u = User.__table__
    when = pd.DatetimeIndex([pd.Timestamp(t).tz_convert("UTC") for t in instants])
    order = np.argsort(when.asi8, kind="stable")
    out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(instants)
    for start in range(0, len(order), ACTIVE_INSTANTS_PER_READ):
        block = order[start : start + ACTIVE_INSTANTS_PER_READ]
        sorted_at = when[block].as_unit("us")
        first, last = sorted_at[0].to_pydatetime(), sorted_at[-1].to_pydatetime()
        stmt = (
            sa.select(w.c.user_id, w.c.finalized_at, u.c.deleted_at)
            .join(u, u.c.id == w.c.user_id)
            .where(
                w.c.status.in_(FINALIZED_STATUSES),
                w.c.finalized_at > first - ACTIVE_WINDOW,
                w.c.finalized_at <= last,
                valid_workout(w, now or dt.datetime.now(dt.UTC)),
                sa.or_(u.c.deleted_at.is_(None), u.c.deleted_at > first),
            )
        )
        rows = read_frame(conn, stmt, ["user_id", "finalized_at", "deleted_at"])
        ids, first_row, row = np.unique(
            rows["user_id"].to_numpy(dtype=np.int64), return_index=True, return_inverse=True
        )
        finalized = _micros(rows["finalized_at"])
        at = sorted_at.asi8
        window = int(ACTIVE_WINDOW / dt.timedelta(microseconds=1))
        # The instants t with F <= t < F + 30 days: positions [lo, hi) of the sorted block.
        cover = np.zeros((ids.size, block.size + 1), dtype=np.int32)
        np.add.at(cover, (row, np.searchsorted(at, finalized, side="left")), 1)
        np.add.at(cover, (row, np.searchsorted(at, finalized + window, side="left")), -1)
        active = np.cumsum(cover[:, :-1], axis=1) > 0
        deleted = _micros(rows["deleted_at"])[first_row]
        active &= (deleted[:, None] == NAT) | (deleted[:, None] > at[None, :])
        for column, position in enumerate(block):
            members = ids[active[:, column]]
            out[position] = members if limit is None else members[:limit]
    return out
