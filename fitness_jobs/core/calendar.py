"""Local calendars: time-zone resolution and UTC instants → users' local dates.

Dates are handled as *day numbers* (``int64`` days since 1970-01-01) so that window
arithmetic over many users is plain integer numpy.  Weekdays are ISO with
Monday = 0.  Nothing here imports dagster or touches a database.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

INVALID_TIMEZONE = "invalid_timezone"

# How a user's ``timezone`` column was resolved.
TZ_OK = "ok"
TZ_NULL_FALLBACK = "null_fallback_utc"
TZ_CASE_FIXED = "case_normalized"
TZ_INVALID = "invalid"

EPOCH = dt.date(1970, 1, 1)


# Files a system zoneinfo directory may hold that are not IANA zone names: ``localtime``
# is the host's own zone (different on every machine), ``posixrules`` a template and
# ``Factory`` a placeholder meaning "zone not set".
_NOT_USER_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _canonical_by_lower() -> dict[str, str]:
    names = zoneinfo.available_timezones() - _NOT_USER_ZONES
    return {name.lower(): name for name in names}


def resolve_timezone(name: str | None) -> tuple[str | None, str]:
    """``(canonical IANA name or None, status)`` for a raw ``users.timezone`` value.

    NULL (or blank) means UTC.  A name equal to an IANA name ignoring case is used
    in its canonical form.  Anything else is invalid; the caller fails that user
    with ``invalid_timezone``.
    """
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return "UTC", TZ_NULL_FALLBACK
    if not isinstance(name, str):
        return None, TZ_INVALID
    stripped = name.strip()
    if not stripped:
        return "UTC", TZ_NULL_FALLBACK
    canonical = _canonical_by_lower().get(stripped.lower())
    if canonical is None:
        return None, TZ_INVALID
    return canonical, (TZ_OK if canonical == stripped else TZ_CASE_FIXED)


def resolve_timezones(raw: pd.Series) -> pd.DataFrame:
    """Vectorised ``resolve_timezone``: columns ``tz`` (canonical or None) and ``tz_status``."""
    uniques = pd.unique(raw.astype(object).where(raw.notna(), None))
    mapping = {value: resolve_timezone(value) for value in uniques}
    values = raw.astype(object).where(raw.notna(), None)
    resolved = values.map(lambda v: mapping[v])
    return pd.DataFrame(
        {
            "tz": resolved.map(lambda r: r[0]).astype(object),
            "tz_status": resolved.map(lambda r: r[1]).astype(object),
        },
        index=raw.index,
    )


def _as_utc(instants: pd.Series) -> pd.Series:
    ts = pd.to_datetime(instants, utc=True)
    return ts


def to_local_naive(instants: pd.Series, tz: pd.Series) -> pd.Series:
    """Each UTC instant as naive local wall time in the matching zone.

    ``instants`` and ``tz`` are aligned Series; rows with a missing instant or zone
    come back as NaT (:func:`local_naive_by_zone`).
    """
    utc = _as_utc(instants).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    codes, names = pd.factorize(tz.to_numpy(dtype=object))  # a missing zone: −1
    return pd.Series(local_naive_by_zone(utc, codes, names), index=instants.index)


def local_naive_by_zone(
    utc: np.ndarray, codes: np.ndarray, zones: np.ndarray | Sequence[str]
) -> np.ndarray:
    """Naive-UTC ``datetime64[us]`` instants as naive local wall times in the zones
    ``zones[codes]`` (NaT where the instant is NaT or the code −1).  A caller with a zone
    per user passes codes looked up per user, not a zone name per instant to factorize
    (40 ms for 430k).  One ``tz_convert`` per zone, on the zone's rows taken out of a
    numpy array sorted by code (int16 codes: a radix sort, 2 ms where int64 took 15)."""
    out = np.full(utc.size, np.datetime64("NaT"), dtype="datetime64[us]")
    rows = np.flatnonzero(~np.isnat(utc) & (codes >= 0))
    if rows.size:
        row_codes = codes[rows].astype(np.int16 if len(zones) < 2**15 else np.int64)
        order = np.argsort(row_codes, kind="stable")
        by_zone = rows[order]
        bounds = np.searchsorted(row_codes[order], np.arange(len(zones) + 1))
        for k, zone in enumerate(zones):
            these = by_zone[bounds[k] : bounds[k + 1]]
            if these.size:
                local = pd.DatetimeIndex(utc[these]).tz_localize("UTC").tz_convert(str(zone))
                out[these] = local.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return out


def day_numbers(naive: pd.Series) -> np.ndarray:
    """Day numbers (days since 1970-01-01) of naive datetimes or dates; NaT → INT_MIN."""
    values = pd.to_datetime(naive).to_numpy(dtype="datetime64[us]")
    days = values.astype("datetime64[D]").astype(np.int64)
    days[np.isnat(values)] = np.iinfo(np.int64).min
    return days


def local_day_numbers(instants: pd.Series, tz: pd.Series) -> np.ndarray:
    """Local calendar day number of each UTC instant in its zone."""
    return day_numbers(to_local_naive(instants, tz))


def local_hours(instants: pd.Series, tz: pd.Series) -> np.ndarray:
    """Local clock time as fractional hours (hour + minute/60 + second/3600)."""
    local = to_local_naive(instants, tz)
    return (
        local.dt.hour.to_numpy(dtype=float)
        + local.dt.minute.to_numpy(dtype=float) / 60.0
        + local.dt.second.to_numpy(dtype=float) / 3600.0
    )


def weekday(days: np.ndarray) -> np.ndarray:
    """ISO weekday of day numbers, Monday = 0 (1970-01-01 was a Thursday)."""
    return (np.asarray(days) + 3) % 7


def week_start(days: np.ndarray) -> np.ndarray:
    """Day number of the Monday that starts each day's ISO week."""
    days = np.asarray(days)
    return days - weekday(days)


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def dates_of(days: np.ndarray) -> pd.Series:
    """Day numbers → a Series of ``datetime.date``, each distinct day converted once (a
    range's 20k rows hold a few distinct days: 0.7 ms, where converting each took 3.9)."""
    distinct, at = np.unique(np.asarray(days, dtype="int64"), return_inverse=True)
    dates = pd.Series(distinct.astype("datetime64[D]")).dt.date.to_numpy(dtype=object)
    return pd.Series(dates[at.reshape(-1)], dtype=object)


def local_midnight_utc(date: dt.date, tz: str) -> dt.datetime:
    """The UTC instant at which local ``date`` starts in ``tz`` (DST-safe)."""
    return local_time_utc(date, dt.time(0, 0), tz)


def local_time_utc(date: dt.date, clock: dt.time, tz: str) -> dt.datetime:
    """The UTC instant of wall time ``date clock`` in ``tz``.

    A wall time skipped by a DST jump resolves to the first instant after the gap;
    an ambiguous one (repeated hour) to its first occurrence.
    """
    naive = pd.Timestamp(dt.datetime.combine(date, clock))
    local = naive.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return local.tz_convert("UTC").to_pydatetime()


def local_date_at(instant: dt.datetime, tz: str) -> dt.date:
    return instant.astimezone(zoneinfo.ZoneInfo(tz)).date()
