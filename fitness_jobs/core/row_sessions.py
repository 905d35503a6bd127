"""Which workouts each row of the nightly metrics sees, when rows are (user, snapshot)
pairs: one per user for a single day, one per user and day for a range of days.

A row sees its user's workouts finalised in ``(after, cutoff]`` whose local day is on or
before its metrics day (design §5).  Everything here gives, for every row, exactly what a
computation of that row alone, from exactly those workouts, would give, in the same
order where the order of a floating-point sum matters; but without a pass over every
workout per row:

* **Near days** (ages 0 … ``NEAR_DAYS`` − 1), where the cutoff decides, and the short
  windows (7, 14, 28 and 90 days) are explicit (session, row) pairs, made from sessions
  in their original order, so a ``bincount`` over the pairs sums each row's sessions in
  the order a computation of that row alone would (:meth:`RowSessions.pairs`).
* **Far days** (ages ``NEAR_DAYS`` … ``HISTORY_DAYS`` − 1) are the same for every row of
  a user: a workout whose local day is three or more days before the metrics day was
  finalised before the cutoff (local dates never go back by two days), and no such
  workout within the history window is older than the read's start.  So per user and
  local day counts and load sums, kept once (:attr:`RowSessions.day_counts`,
  :meth:`RowSessions.day_sums`) and read by each row at its own ages.
* The latest and earliest session a row sees (days since the last session; the first
  day for the ACWR) come from the sessions in finalisation order, per user; a user whose
  local days go back in that order (a zone turning its clocks back across midnight) is
  judged row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from fitness_jobs.core.arrays import (
    FIRST_SESSION_LOCAL,
    day_numbers_of,
    local_wall_times,
    minute_of_day,
    naive_values,
    utc_values,
)
from fitness_jobs.core.columns import SetColumns, WorkoutColumns

NEAR_DAYS = 3
_DAY_OFFSET = 1 << 30  # day numbers shifted positive inside the (user, day) keys
_KEY = np.int64(1) << np.int64(32)


def ragged(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(i, j)`` with ``lo[i] ≤ j < hi[i]``, ``i`` ascending, then ``j``."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(lo.size), counts)
    starts = np.cumsum(counts) - counts
    index = np.arange(int(counts.sum())) - np.repeat(starts - lo, counts)
    return owner, index


@dataclass(frozen=True)
class Pairs:
    """(session, row) pairs in session order: ``item`` indexes the sessions given to
    :meth:`RowSessions.pairs`, ``row`` the rows, ``age`` the session's age for the row."""

    item: np.ndarray
    row: np.ndarray
    age: np.ndarray

    def where(self, keep: np.ndarray) -> Pairs:
        return Pairs(self.item[keep], self.row[keep], self.age[keep])


@dataclass(frozen=True)
class RowSessions:
    """The rows (``user`` position, ``mday`` metrics day number, ``cutoff`` and ``after``
    as naive-UTC ``datetime64[us]``) and the sessions (``s_user``, ``s_day`` local day
    number, ``s_fin`` finalised instant), sessions in their original order."""

    user: np.ndarray
    mday: np.ndarray
    cutoff: np.ndarray
    after: np.ndarray
    n_users: int
    s_user: np.ndarray
    s_day: np.ndarray
    s_fin: np.ndarray
    history_days: int

    @property
    def n_rows(self) -> int:
        return int(self.user.size)

    @cached_property
    def _rows_by_day(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows sorted by (user, metrics day), and their keys."""
        order = np.lexsort((self.mday, self.user))
        return order, self.user[order].astype(np.int64) * _KEY + (self.mday[order] + _DAY_OFFSET)

    @cached_property
    def _row_table(self) -> np.ndarray | None:
        """``(n_users, days)``: the row of each user and metrics day (−1: none), or None
        when a user has two rows on one metrics day (then rows are found by search)."""
        first = int(self.mday.min())
        table = np.full((self.n_users, int(self.mday.max()) - first + 1), -1, dtype=np.int64)
        table[self.user, self.mday - first] = np.arange(self.n_rows)
        return table if int((table >= 0).sum()) == self.n_rows else None

    def pairs(self, user: np.ndarray, day: np.ndarray, fin: np.ndarray, window: int) -> Pairs:
        """Each of the given sessions (in their order) with each row that sees it at an
        age below ``window``: its user's rows whose metrics day is in ``[day, day +
        window)`` and whose ``(after, cutoff]`` holds its finalised instant."""
        if not self.n_rows:
            return Pairs(*(np.zeros(0, dtype=np.int64) for _ in range(3)))
        first_day, last_day = int(self.mday.min()), int(self.mday.max())
        # Only sessions on a day some row's window holds are looked at.
        near = np.flatnonzero((day > first_day - window) & (day <= last_day))
        near_day = day[near]
        table = self._row_table
        if table is not None:
            lo = np.maximum(near_day, first_day) - first_day
            hi = np.minimum(near_day + window - 1, last_day) + 1 - first_day
            k, column = ragged(lo, hi)
            row = table[user[near][k], column]
            has_row = row >= 0
            item, row = near[k[has_row]], row[has_row]
        else:
            order, keys = self._rows_by_day
            key = user[near].astype(np.int64) * _KEY + (near_day + _DAY_OFFSET)
            lo = np.searchsorted(keys, key, side="left")
            hi = np.searchsorted(keys, key + (window - 1), side="right")
            k, position = ragged(lo, hi)
            item, row = near[k], order[position]
        # A session finalised in (latest after, earliest cutoff] is seen by every row:
        # only the pairs of the others are judged (5 ms less for the 20k rows of a call).
        # (A NaT bound, which min and max propagate, leaves every session doubtful.)
        doubtful = ~((fin <= self.cutoff.min()) & (fin > self.after.max()))
        judged = np.flatnonzero(doubtful[item])
        if judged.size:
            fin_of, judged_row = fin[item[judged]], row[judged]
            seen = np.ones(item.size, dtype=bool)
            seen[judged] = (fin_of <= self.cutoff[judged_row]) & (fin_of > self.after[judged_row])
            item, row = item[seen], row[seen]
        return Pairs(item, row, self.mday[row] - day[item])

    # ---- far days: per user and local day ------------------------------------------------
    @cached_property
    def first_far_day(self) -> int:
        """The first local day a row reads from the per-day arrays."""
        return int(self.mday.min()) - (self.history_days - 1) if self.n_rows else 0

    @cached_property
    def far_span(self) -> int:
        return (
            max(1, int(self.mday.max()) - NEAR_DAYS - self.first_far_day + 1) if self.n_rows else 1
        )

    def _far_cells(self) -> tuple[np.ndarray, np.ndarray]:
        offset = self.s_day - self.first_far_day
        inside = (offset >= 0) & (offset < self.far_span)
        return inside, self.s_user[inside].astype(np.int64) * self.far_span + offset[inside]

    @cached_property
    def day_counts(self) -> np.ndarray:
        """``(n_users, far_span)``: sessions per user and local day."""
        _inside, cells = self._far_cells()
        size = self.n_users * self.far_span
        return np.bincount(cells, minlength=size).reshape(self.n_users, self.far_span)

    def day_sums(self, weights: np.ndarray) -> np.ndarray:
        """``(n_users, far_span)``: ``weights`` of the sessions summed per user and local
        day, each day's sessions added in their original order."""
        inside, cells = self._far_cells()
        size = self.n_users * self.far_span
        summed = np.bincount(cells, weights=weights[inside], minlength=size)
        return summed.reshape(self.n_users, self.far_span)

    @cached_property
    def _day_prefix(self) -> np.ndarray:
        """Sessions per user before each local day, as int32 (a year of a user's sessions
        is far below 2³¹): gathers from it take 7 ms for 20k rows × 53 weeks, 13 as int64."""
        prefix = np.zeros((self.n_users, self.far_span + 1), dtype=np.int32)
        np.cumsum(self.day_counts, axis=1, out=prefix[:, 1:])
        return prefix

    def _far_start(self, stop: int) -> np.ndarray:
        """Each row's column of age ``stop − 1`` in the per-day arrays."""
        return self.mday - (stop - 1) - self.first_far_day

    def _far_rows(self, per_day: np.ndarray, stop: int) -> np.ndarray:
        """``(n_rows, stop − NEAR_DAYS)``: each row's values of ``per_day`` at ages
        ``stop − 1 … NEAR_DAYS``, oldest first (one window view copied per row)."""
        if not self.n_rows:
            return np.zeros((0, stop - NEAR_DAYS), dtype=per_day.dtype)
        view = np.lib.stride_tricks.sliding_window_view(per_day, stop - NEAR_DAYS, axis=1)
        return view[self.user, self.mday - (stop - 1) - self.first_far_day]

    def far_by_age(self, per_day: np.ndarray, stop: int) -> np.ndarray:
        """``(n_rows, stop − NEAR_DAYS)``: the values at ages ``NEAR_DAYS … stop − 1``."""
        return self._far_rows(per_day, stop)[:, ::-1]

    def far_by_day(
        self, per_day: np.ndarray, stop: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``(stop − NEAR_DAYS, n_rows)``: the values oldest day first, day-major (the
        layout of a pass over the days), into ``out`` if given.  Gathered a day at a time
        from ``per_day`` transposed, where a day of the rows of one metrics day is mostly
        a run of adjacent users: 14 ms for 20k rows and 177 days, where a copy per row
        then a transpose took 55."""
        days = stop - NEAR_DAYS
        if out is None:
            out = np.empty((days, self.n_rows), dtype=per_day.dtype)
        if not self.n_rows:
            return out
        flat = np.ascontiguousarray(per_day.T, dtype=out.dtype).reshape(-1)
        # Each row's oldest day, ``_far_start`` ≥ 0, its newest < ``far_span``: in bounds.
        at = self._far_start(stop) * self.n_users + self.user
        for t in range(days):
            np.take(flat, at, out=out[t], mode="clip")
            at += self.n_users
        return out

    def far_sessions_before(self, ages: np.ndarray) -> np.ndarray:
        """``(n_rows, m)``: each row's sessions at ages in ``[NEAR_DAYS, age)`` for each
        ``age`` of its row of ``ages`` (``(n_rows, m)``, each ≥ ``NEAR_DAYS``), as int32.
        Read from the flattened prefix sums by computed positions: 24 ms → 7 for 20k rows
        × 53 weeks, against indexing by (user, column) pairs."""
        prefix = self._day_prefix.reshape(-1)
        # Each row's position of its metrics day in the flattened prefix sums.
        at = self.user * (self.far_span + 1) + (self.mday - self.first_far_day)
        end = prefix[at - (NEAR_DAYS - 1)]  # exclusive: age NEAR_DAYS
        return end[:, None] - prefix[(at + 1)[:, None] - ages]

    # ---- the latest and the earliest session seen ---------------------------------------
    def seen_day_range(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: whether it sees a session, and the latest and earliest local day among
        the sessions it sees (finalised in ``(after, cutoff]``, on or before its day)."""
        n = self.n_rows
        # Sessions sorted by keys of (user, instant), the instants as microseconds from
        # the earliest (a year fits beside 2^17 users), or as their ranks when they span
        # more (no history bound).  Sessions of equal keys (a user's, at one instant) have
        # one local day, so any sort of the keys gives the arrays a lexsort of (user,
        # instant) gives; numpy's default one takes 3 ms for 166k, a lexsort 17.
        fin = self.s_fin
        instants = np.concatenate([fin, self.cutoff, self.after]).astype(np.int64)
        lo_us, hi_us = (int(instants.min()), int(instants.max())) if instants.size else (0, 0)
        if (hi_us - lo_us + 2) * max(self.n_users, 1) < 2**62:
            rank, span = instants - lo_us, np.int64(hi_us - lo_us + 2)
        else:
            rank = np.unique(instants, return_inverse=True)[1].astype(np.int64)
            span = np.int64(rank.max() + 2 if rank.size else 1)
        unsorted_keys = self.s_user.astype(np.int64) * span + rank[: fin.size]
        order = np.argsort(unsorted_keys)
        keys, user, day = unsorted_keys[order], self.s_user[order], self.s_day[order]
        row_key = self.user.astype(np.int64) * span
        hi = np.searchsorted(keys, row_key + rank[fin.size : fin.size + n], side="right")
        lo = np.searchsorted(keys, row_key + rank[fin.size + n :], side="right")
        any_seen = hi > lo
        last = np.where(any_seen, day[np.maximum(hi - 1, 0)] if day.size else 0, 0)
        first = np.where(any_seen, day[np.minimum(lo, max(day.size - 1, 0))] if day.size else 0, 0)
        # Local days in finalisation order never go back, but for a zone turning its
        # clocks back across midnight: such users, and rows whose latest session is after
        # their day, are judged from their sessions one by one.
        back = np.zeros(self.n_users, dtype=bool)
        same_user = user[1:] == user[:-1]
        back[user[1:][same_user & (day[1:] < day[:-1])]] = True
        exact = np.flatnonzero(any_seen & (back[self.user] | (last > self.mday)))
        for r in exact:
            days = day[lo[r] : hi[r]]
            days = days[days <= self.mday[r]]
            any_seen[r] = days.size > 0
            last[r] = days.max() if days.size else 0
            first[r] = days.min() if days.size else 0
        return any_seen, last, first


@dataclass(frozen=True)
class Sessions:
    """The sessions that some row may see (``index`` into the workouts, original order):
    their user position, local day, finalised instant and local minute of ``started_at``
    (NaN unknown); and the same for the abandoned workouts (``a_…``)."""

    index: np.ndarray
    user: np.ndarray
    day: np.ndarray
    fin: np.ndarray
    minute: np.ndarray
    a_user: np.ndarray
    a_day: np.ndarray
    a_fin: np.ndarray


EARLIEST = np.datetime64(np.iinfo(np.int64).min + 1, "us")


def row_sessions_of(
    users: pd.DataFrame,
    w: WorkoutColumns,
    cutoff: np.ndarray,
    history: np.timedelta64 | None,
    history_days: int,
) -> tuple[RowSessions, Sessions, np.ndarray]:
    """The rows and the sessions they may see, and each row's earliest session as a local
    wall time (``first_session_at`` in its zone).  Local times come from the workouts
    when they carry them (``core.arrays.with_local_times``), else from one conversion."""
    user_ids = users["user_id"].to_numpy()
    codes, uniques = pd.factorize(user_ids)
    if pd.MultiIndex.from_arrays([codes, cutoff]).has_duplicates:
        raise ValueError("compute_behavior_metrics: two rows of one user with one cutoff")
    n_users = len(uniques)
    if history is not None and history < np.timedelta64(history_days + 2, "D"):
        # The far days are read per user, not per row: none of them may be cut off.
        raise ValueError(f"compute_behavior_metrics: history shorter than {history_days + 2} days")
    after = np.full(cutoff.size, EARLIEST) if history is None else cutoff - history
    w_user = pd.Index(uniques).get_indexer(w.user_id)
    fin_all = w.finalized
    candidate = (w_user >= 0) & (w.session | w.abandoned) & ~np.isnat(fin_all)
    if cutoff.size:
        candidate &= (fin_all <= cutoff.max()) & (fin_all > after.min())
    cand = np.flatnonzero(candidate)
    c_user = w_user[cand]
    tz = users["tz"].to_numpy(dtype=object)
    if w.day is not None and w.minute is not None and FIRST_SESSION_LOCAL in users:
        c_day, c_minute = w.day[cand], w.minute[cand]
        first_local = naive_values(users[FIRST_SESSION_LOCAL])
    else:
        # One zone-by-zone conversion of every instant needed: finalized_at and
        # started_at of the candidate workouts, and the rows' first_session_at.
        user_tz = np.empty(n_users, dtype=object)
        user_tz[codes[::-1]] = tz[::-1]  # each user's zone (its first row's)
        n_cand = cand.size
        local = local_wall_times(
            np.concatenate([fin_all[cand], w.started[cand], utc_values(users["first_session_at"])]),
            np.concatenate([user_tz[c_user], user_tz[c_user], tz]),
        )
        c_day = day_numbers_of(local[:n_cand])
        c_minute = minute_of_day(local[n_cand : 2 * n_cand])  # NaN: started_at missing
        first_local = local[2 * n_cand :]
    is_session = w.session[cand]
    index = cand[is_session]
    sessions = Sessions(
        index=index,
        user=c_user[is_session],
        day=c_day[is_session],
        fin=fin_all[index],
        minute=c_minute[is_session],
        a_user=c_user[~is_session],
        a_day=c_day[~is_session],
        a_fin=fin_all[cand[~is_session]],
    )
    rows = RowSessions(
        user=codes.astype(np.int64),
        mday=users["metrics_day"].to_numpy(dtype=np.int64),
        cutoff=cutoff,
        after=after,
        n_users=n_users,
        s_user=sessions.user,
        s_day=sessions.day,
        s_fin=sessions.fin,
        history_days=history_days,
    )
    return rows, sessions, first_local


def volume_by_week(
    in14: Pairs, workout_ids: np.ndarray, sets: SetColumns, n_rows: int
) -> np.ndarray:
    """``(n_rows, 2)``: the volume of each row's working sets in its last 7 local days and
    the 7 before, from the pairs of its sessions within 14 days (``workout_ids``: the
    sessions' ids).  Sets are added in their order, as for one row alone; a workout id
    given twice counts once per row, its first time."""
    volume = np.zeros((n_rows, 2))
    if not sets.workout_id.size or not in14.item.size:
        return volume
    wid = workout_ids[in14.item]
    row, bucket = in14.row, (in14.age >= 7).astype(np.int64)
    # A pair is a (session, row) once; only a workout id given twice can repeat one.
    # Ids in increasing order (as read) are all distinct: the search for repeats (10 ms
    # for 20k rows) is skipped.
    if workout_ids.size > 1 and not (workout_ids[1:] > workout_ids[:-1]).all():
        first = ~pd.MultiIndex.from_arrays([row, wid]).duplicated()
        wid, row, bucket = wid[first], row[first], bucket[first]
    by_id = np.argsort(wid, kind="stable")
    sorted_ids = wid[by_id]
    counted = np.flatnonzero(sets.counts)
    set_ids = sets.workout_id[counted]
    lo = np.searchsorted(sorted_ids, set_ids, side="left")
    hi = np.searchsorted(sorted_ids, set_ids, side="right")
    which, position = ragged(lo, hi)  # set by set, in their order
    pair = by_id[position]
    cells = row[pair] * 2 + bucket[pair]
    weights = sets.volume[counted[which]]
    return np.bincount(cells, weights=weights, minlength=2 * n_rows).reshape(n_rows, 2)
