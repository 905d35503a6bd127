"""Streak and lapse band as the weekly report reads them (design §6, pinned 2026-12-01).

The report is written on Monday ``W + 7``, so week ``W`` is complete:

* ``streak_weeks`` = consecutive weeks with sessions ≥ ``T`` ending with ``W`` (0 when
  ``W`` missed ``T``), over ``W`` and the 52 weeks before it (the nightly metrics' reach).
  This is *not* §5's ``current_streak_weeks`` at ``W + 6``, which would still count a
  streak that ``W`` has just broken.  ``previous_streak_weeks`` is the same count ending
  with ``W − 1``, so the summary can say which streak ended.
* ``lapse_risk`` is §5's band at ``metrics_date = W + 6``, except that a user with no
  session ever (up to the end of ``W``) has no band: ``None``.

These are the only places the report's two rules live; the nightly metrics keep their §5
rules (current day, current week).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fitness_jobs.core.calendar import local_day_numbers
from fitness_jobs.core.loads import daily_matrix

STREAK_WEEKS = 53  # W and the 52 weeks before it: sessions from local day W − 364 on


def weekly_session_counts(row: np.ndarray, rel: np.ndarray, n: int) -> np.ndarray:
    """``(n, STREAK_WEEKS)`` sessions per week, oldest first; the last column is ``W``.

    ``row``/``rel``: user row and local day − ``W`` of each session (``rel ≤ 6``).
    """
    rel = np.asarray(rel, dtype=np.int64)
    week_col = np.floor_divide(rel, 7) + STREAK_WEEKS - 1
    keep = week_col >= 0
    ones = np.ones(int(keep.sum()))
    return daily_matrix(np.asarray(row)[keep], week_col[keep], ones, n, STREAK_WEEKS)


def _run_ending_at(met: np.ndarray, col: int) -> np.ndarray:
    """Length of the run of True ending at column ``col`` of each row (0 when it is False)."""
    upto = met[:, : col + 1]
    misses = ~upto[:, ::-1]  # column 0 = ``col``, going back in time
    return np.where(misses.any(axis=1), misses.argmax(axis=1), upto.shape[1])


def streaks_ending_with_week(
    week_sessions: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(streak_weeks, previous_streak_weeks)``: runs of weeks with sessions ≥ ``T`` ending
    with ``W`` and with ``W − 1`` (``week_sessions`` as from :func:`weekly_session_counts`)."""
    met = np.asarray(week_sessions) >= np.asarray(targets)[:, None]
    last = met.shape[1] - 1
    return _run_ending_at(met, last).astype(np.int64), _run_ending_at(met, last - 1).astype(
        np.int64
    )


def has_logged_session(
    sessions_in_frame: np.ndarray,
    first_session_at: pd.Series | None,
    tz: np.ndarray,
    week_start_day: int,
) -> np.ndarray:
    """True where the user has a session up to the end of ``W``: one in the supplied
    workouts, or an earliest session (``first_session_at``, any age) on a local day ≤ W + 6."""
    ever = np.asarray(sessions_in_frame) > 0
    if first_session_at is None:
        return ever
    days = local_day_numbers(
        pd.to_datetime(pd.Series(first_session_at), utc=True).reset_index(drop=True),
        pd.Series(np.asarray(tz, dtype=object), dtype=object),
    )
    return logged_by_day(ever, days, week_start_day)


def logged_by_day(
    sessions_in_frame: np.ndarray, first_session_day: np.ndarray, week_start_day: int
) -> np.ndarray:
    """:func:`has_logged_session` from the local day number of each user's earliest
    session (INT64 min when none)."""
    ever = np.asarray(sessions_in_frame) > 0
    days = np.asarray(first_session_day, dtype=np.int64)
    known = days != np.iinfo(np.int64).min
    return ever | (known & (days <= int(week_start_day) + 6))


def report_lapse_risk(nightly_band: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """The report's lapse band: §5's band at ``W + 6``, ``None`` without any session."""
    band = np.asarray(nightly_band, dtype=object).copy()
    band[~np.asarray(logged, dtype=bool)] = None
    return band
