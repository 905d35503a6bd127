"""What a demo run is: ``DemoConfig``, the fixed generation block, the random streams per
block, the run's calendar (``now``, the local days of history) and time helpers.

Determinism.  Users are generated in blocks of ``BLOCK_USERS`` (the last one shorter);
block ``k`` draws only from ``block_seed(seed, k)`` and the bad-row users only from
``bad_rows_seed(seed)``.  So the data depend on ``DemoConfig`` and ``now`` alone — not on
how many blocks are written per transaction, nor on the wall clock once ``today`` is set.
``BLOCK_USERS`` is part of the generator's definition: changing it changes the data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from fitness_jobs.demo.catalog import ZONE_NAMES

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
US_PER_H = 3600 * US_PER_S
US_PER_DAY = 86_400 * US_PER_S
NAT = np.iinfo(np.int64).min  # int64 view of NaT

BLOCK_USERS = 2_000
"""Users per generation block (each with its own random stream); fixed, see above."""


@dataclass(frozen=True)
class DemoConfig:
    """A demo data set: the same config (and ``now``) always gives the same rows."""

    users: int
    seed: int = 42
    days: int = 120  # history length, ending at `today`
    today: dt.date | None = None  # default: the UTC date of `now`
    with_bad_rows: bool = False
    first_user_id: int = 1

    @property
    def blocks(self) -> int:
        """Number of generation blocks of ordinary users."""
        return -(-self.users // BLOCK_USERS)

    def block_size(self, index: int) -> int:
        return min(BLOCK_USERS, self.users - index * BLOCK_USERS)


def block_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The random stream of ordinary-user block ``index`` (independent of all others).

    Block 0 keeps the stream of the single-block generator this one replaced, so data
    sets of up to ``BLOCK_USERS`` users are unchanged; blocks 1, 2, … are its siblings.
    """
    return np.random.SeedSequence(seed, spawn_key=(0,) if index == 0 else (0, index))


def bad_rows_seed(seed: int) -> np.random.SeedSequence:
    """The random stream of the bad-row users."""
    return np.random.SeedSequence(seed, spawn_key=(1,))


@dataclass(frozen=True)
class Calendar:
    """The run's instant ``now`` and its ``days`` local days of history ending ``today``."""

    today: dt.date
    days: int
    start_day: int  # day number (days since 1970-01-01) of the first local day
    now_us: int

    @property
    def today_i(self) -> int:
        return self.days - 1

    @property
    def start_us(self) -> int:
        return self.start_day * US_PER_DAY

    def weekday(self, day_index: IntArray) -> IntArray:
        return (self.start_day + day_index + 3) % 7  # 1970-01-01 was a Thursday


def make_calendar(config: DemoConfig, now: dt.datetime | None) -> Calendar:
    """Validate ``config`` and fix ``now``: given, else the end of ``today``, else the clock."""
    if config.users < 0:
        raise ValueError("users must be >= 0")
    if config.days < 1:
        raise ValueError("days must be >= 1")
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(dt.UTC)
    elif config.today is not None:
        # The end of `today` (UTC): deterministic, nothing depends on the wall clock.
        now = dt.datetime.combine(config.today, dt.time.max, tzinfo=dt.UTC)
    else:
        now = dt.datetime.now(dt.UTC)
    today = config.today if config.today is not None else now.date()
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = now - epoch
    now_us = (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds
    start_day = (today - dt.date(1970, 1, 1)).days - (config.days - 1)
    return Calendar(today=today, days=config.days, start_day=start_day, now_us=now_us)


def local_to_utc_us(local_us: IntArray, zone: IntArray) -> IntArray:
    """Naive local wall times (µs) → UTC instants (µs), one tz_localize per zone.

    Wall times skipped by a DST jump move forward past the gap; repeated ones take the
    first occurrence (same rule as ``core.calendar.local_time_utc``).
    """
    out = np.empty(len(local_us), dtype=np.int64)
    if len(local_us) == 0:
        return out
    order = np.argsort(zone, kind="stable")
    bounds = np.flatnonzero(np.diff(zone[order])) + 1
    for grp in np.split(order, bounds):
        name = ZONE_NAMES[int(zone[grp[0]])]
        naive = pd.DatetimeIndex(local_us[grp].view("datetime64[us]"))
        aware = naive.tz_localize(
            name, ambiguous=np.ones(len(grp), dtype=bool), nonexistent="shift_forward"
        )
        out[grp] = aware.tz_convert("UTC").as_unit("us").asi8
    return out
