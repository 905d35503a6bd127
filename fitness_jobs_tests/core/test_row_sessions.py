"""The (session, row) pairs and per-day views the range-aware metrics are built on,
against brute force (``core.row_sessions``)."""

from __future__ import annotations

import numpy as np
import pytest

from fitness_jobs.core.row_sessions import NEAR_DAYS, RowSessions, ragged


def test_ragged_lists_every_index_of_every_interval_in_order() -> None:
    owner, index = ragged(np.array([2, 5, 0, 7]), np.array([4, 5, 3, 6]))
    assert owner.tolist() == [0, 0, 2, 2, 2]
    assert index.tolist() == [2, 3, 0, 1, 2]


def _rows_and_sessions(rng: np.random.Generator, same_day_twice: bool) -> tuple:
    n_users, days = 6, np.arange(100, 110)
    user = np.repeat(np.arange(n_users), days.size)
    mday = np.tile(days, n_users)
    if same_day_twice:  # a user's two rows on one metrics day
        user, mday = np.append(user, 2), np.append(mday, 104)
    cutoff = mday * 1_000 + rng.integers(0, 2_000, user.size)
    after = cutoff - 400_000
    s_user = rng.integers(0, n_users, 400)
    s_day = rng.integers(60, 112, 400)
    s_fin = s_day * 1_000 + rng.integers(0, 3_000, 400)
    rows = RowSessions(
        user=user,
        mday=mday,
        cutoff=cutoff,
        after=after,
        n_users=n_users,
        s_user=s_user,
        s_day=s_day,
        s_fin=s_fin,
        history_days=60,
    )
    return rows, s_user, s_day, s_fin


@pytest.mark.parametrize("same_day_twice", [False, True])
@pytest.mark.parametrize("window", [1, NEAR_DAYS, 7, 28])
def test_pairs_are_every_session_a_row_sees_in_session_order(
    window: int, same_day_twice: bool
) -> None:
    rng = np.random.default_rng(window)
    rows, s_user, s_day, s_fin = _rows_and_sessions(rng, same_day_twice)
    assert (rows._row_table is None) == same_day_twice
    expected = [
        (i, r, int(rows.mday[r] - s_day[i]))
        for i in range(s_user.size)
        for r in sorted(range(rows.n_rows), key=lambda r: (rows.mday[r], r))
        if rows.user[r] == s_user[i]
        and 0 <= rows.mday[r] - s_day[i] < window
        and rows.after[r] < s_fin[i] <= rows.cutoff[r]
    ]
    got = rows.pairs(s_user, s_day, s_fin, window)
    assert list(zip(got.item.tolist(), got.row.tolist(), got.age.tolist(), strict=True)) == (
        expected
    )
    assert len(expected) > 10


def test_far_views_read_each_rows_own_ages() -> None:
    rows, s_user, s_day, _fin = _rows_and_sessions(np.random.default_rng(3), False)
    counts = rows.day_counts
    stop = 20
    by_age = rows.far_by_age(counts, stop)
    by_day = rows.far_by_day(counts, stop)
    into = np.full(by_day.shape, -1, dtype=counts.dtype)
    assert rows.far_by_day(counts, stop, out=into) is into
    np.testing.assert_array_equal(into, by_day)
    for r in range(rows.n_rows):
        for j, age in enumerate(range(NEAR_DAYS, stop)):
            on_day = (s_user == rows.user[r]) & (s_day == rows.mday[r] - age)
            assert by_age[r, j] == on_day.sum()
            assert by_day[stop - 1 - age, r] == on_day.sum()
