"""A weekly chunk's earlier bests: the kept ones plus what their marks do not cover
(``db.personal_bests``), or the whole history where nothing usable is kept.

Users without a mark, users whose mark lies after the bests wanted (a week before the
one they were last reported for), and every user of a regeneration take the whole
history (``prior_best_e1rm``).  The others take their kept bests, and from the sets only
the sessions finalized after their mark and the sets added since it: one week's worth
in the weekly rhythm, whatever the years behind it.  The combination is a maximum, so
the bests are those of the whole history, to the bit.

What the chunk then keeps: for each user read this way (not the ones whose mark lies
after the bests wanted, unless they are regenerated), the bests that changed and the new
mark (``until``, and the highest set id read before the sets).  A regeneration keeps
what it found even when it is lower than the kept value, or gone (NULL): that is how
an edited or deleted old session reaches the kept bests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import personal_bests as kept
from fitness_jobs.db import weekly as queries
from fitness_jobs.db.personal_bests import BEST_COLUMNS, MARK_COLUMNS

KEY = ["user_id", "exercise"]


@dataclass(frozen=True)
class EarlierBests:
    """``best``: each (user, exercise)'s best e1RM up to ``until``; ``keep_bests`` and
    ``keep_marks``: the rows to upsert into the kept tables (empty when none)."""

    best: pd.DataFrame
    keep_bests: pd.DataFrame
    keep_marks: pd.DataFrame
    seen_marks: pd.DataFrame  # the marks read (of users that had one), checked at write


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "user_id" else object) for c in columns}
    )


def earlier_bests(
    conn: sa.Connection,
    user_ids: Sequence[int],
    until: dt.datetime,
    now: dt.datetime,
    *,
    use_kept: bool,
    rebuild: bool = False,
) -> EarlierBests:
    """The best e1RM per (user, exercise) of the sessions finalized at or before ``until``
    (``prior_best_e1rm``'s rows), using and updating the kept bests when ``use_kept``;
    ``rebuild``: read every user's whole history and keep it (a regeneration)."""
    if not use_kept or not user_ids:
        return EarlierBests(
            queries.prior_best_e1rm(conn, user_ids, until, now),
            _empty(BEST_COLUMNS),
            _empty(MARK_COLUMNS),
            _empty(MARK_COLUMNS),
        )
    # Read before any set: a mark claims no set id the reads below might not have seen.
    set_id = kept.last_set_id(conn)
    marks = kept.marks(conn, user_ids)
    stored = kept.bests(conn, user_ids)
    through = marks.set_index("user_id")["finalized_through"]
    usable = marks.iloc[:0] if rebuild else marks[marks["finalized_through"] <= pd.Timestamp(until)]
    whole = sorted(set(user_ids) - set(usable["user_id"].tolist()))

    parts = [queries.prior_best_e1rm(conn, whole, until, now)] if whole else []
    for _through, group in usable.groupby("finalized_through"):
        ids = group["user_id"].tolist()
        after = group["finalized_through"].iloc[0].to_pydatetime()  # aware UTC, as read
        parts.append(queries.prior_best_e1rm(conn, ids, until, now, after=after))
        above = int(group["set_id"].min())
        parts.append(queries.prior_best_e1rm(conn, ids, until, now, sets_above=above))
    reused = stored[stored["user_id"].isin(set(usable["user_id"])) & stored["best_e1rm"].notna()]
    best = (
        pd.concat([*parts, reused], ignore_index=True)[BEST_COLUMNS]
        .groupby(KEY, sort=False)["best_e1rm"]
        .max()
        .reset_index()
    )

    # Keep: the usable users (moving their mark on), every user without a mark, and
    # everyone when rebuilding; not a user whose mark lies after ``until`` (it covers
    # more than these bests).  Nothing while ``until`` is in the future: validity there
    # still depends on the clock.
    if until > now:
        return EarlierBests(best, _empty(BEST_COLUMNS), _empty(MARK_COLUMNS), _empty(MARK_COLUMNS))
    newer = through[through > pd.Timestamp(until)].index
    keepers = [u for u in user_ids if rebuild or u not in newer]
    mine = best[best["user_id"].isin(set(keepers))]
    old = stored[stored["user_id"].isin(set(keepers))]
    both = mine.merge(old, on=KEY, how="outer", suffixes=("", "_kept"))
    new, was = both["best_e1rm"], both["best_e1rm_kept"]
    changed = (new.notna() & (was.isna() | (new != was))) | (new.isna() & was.notna())
    keep_bests = both.loc[changed, BEST_COLUMNS].reset_index(drop=True)
    keep_marks = pd.DataFrame(
        {
            "user_id": pd.Series(keepers, dtype="int64"),
            "finalized_through": until,
            "set_id": set_id,
        }
    )
    return EarlierBests(best, keep_bests, keep_marks, marks)
