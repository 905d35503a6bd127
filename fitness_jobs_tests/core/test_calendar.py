"""Local calendars: zone resolution, local days, DST gaps and ambiguous hours, ISO weeks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core import calendar
from fitness_jobs.core.calendar import resolve_timezone, resolve_timezones

UTC = dt.UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Europe/Berlin", ("Europe/Berlin", "ok")),
        ("America/St_Johns", ("America/St_Johns", "ok")),
        ("UTC", ("UTC", "ok")),
        ("europe/berlin", ("Europe/Berlin", "case_normalized")),
        ("AMERICA/NEW_YORK", ("America/New_York", "case_normalized")),
        ("asia/kathmandu", ("Asia/Kathmandu", "case_normalized")),
        (None, ("UTC", "null_fallback_utc")),
        (float("nan"), ("UTC", "null_fallback_utc")),
        ("", ("UTC", "null_fallback_utc")),
        ("   ", ("UTC", "null_fallback_utc")),
    ],
)
def test_resolve_timezone_valid(raw: object, expected: tuple[str, str]) -> None:
    assert resolve_timezone(raw) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "UTC+3",
        "IST",
        "+05:30",
        "Mars/Base",
        "Europe/Berlin'; DROP TABLE users; --",
        "' OR 1=1 --",
        "../../etc/passwd",
        "Europe/Berlin/",
        "localtime",  # the host's own zone file, not an IANA name
        "Factory",
        "posixrules",
        123,
    ],
)
def test_resolve_timezone_invalid(raw: object) -> None:
    assert resolve_timezone(raw) == (None, "invalid")  # type: ignore[arg-type]


def test_resolve_timezones_vectorised_keeps_index() -> None:
    raw = pd.Series(["Europe/Berlin", None, "europe/berlin", "IST", np.nan], index=[5, 6, 7, 8, 9])
    out = resolve_timezones(raw)
    assert out.index.tolist() == [5, 6, 7, 8, 9]
    assert out["tz"].isna().tolist() == [False, False, False, True, False]
    assert out["tz"].dropna().tolist() == ["Europe/Berlin", "UTC", "Europe/Berlin", "UTC"]
    assert out["tz_status"].tolist() == [
        "ok",
        "null_fallback_utc",
        "case_normalized",
        "invalid",
        "null_fallback_utc",
    ]


def test_local_time_in_dst_gap_shifts_forward() -> None:
    # Berlin skips 02:00–03:00 on 2026-03-29; 02:30 → 03:00 CEST = 01:00 UTC.
    got = calendar.local_time_utc(dt.date(2026, 3, 29), dt.time(2, 30), "Europe/Berlin")
    assert got == dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # New York skips 02:00–03:00 on 2026-03-08; 02:30 → 03:00 EDT = 07:00 UTC.
    got = calendar.local_time_utc(dt.date(2026, 3, 8), dt.time(2, 30), "America/New_York")
    assert got == dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_local_time_in_ambiguous_hour_is_first_occurrence() -> None:
    # Berlin repeats 02:00–03:00 on 2026-10-25: the first 02:30 is CEST (UTC+2).
    got = calendar.local_time_utc(dt.date(2026, 10, 25), dt.time(2, 30), "Europe/Berlin")
    assert got == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # New York repeats 01:00–02:00 on 2026-11-01: the first 01:30 is EDT (UTC−4).
    got = calendar.local_time_utc(dt.date(2026, 11, 1), dt.time(1, 30), "America/New_York")
    assert got == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_local_midnight_utc_odd_offsets() -> None:
    cases = {
        "Asia/Kathmandu": dt.datetime(2026, 3, 10, 18, 15, tzinfo=UTC),  # +5:45
        "America/St_Johns": dt.datetime(2026, 3, 11, 2, 30, tzinfo=UTC),  # −2:30 (DST)
        "Pacific/Kiritimati": dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC),  # +14
        "Pacific/Pago_Pago": dt.datetime(2026, 3, 11, 11, 0, tzinfo=UTC),  # −11
        "Pacific/Chatham": dt.datetime(2026, 3, 10, 10, 15, tzinfo=UTC),  # +13:45 (DST)
    }
    for zone, expected in cases.items():
        assert calendar.local_midnight_utc(dt.date(2026, 3, 11), zone) == expected, zone


def test_local_day_numbers_and_hours() -> None:
    instants = pd.Series(
        pd.to_datetime(
            [
                "2026-03-10T10:30Z",
                "2026-03-10T10:30Z",
                "2026-03-10T10:30Z",
                None,
                "2026-03-10T10:30Z",
            ],
            utc=True,
        )
    )
    zones = pd.Series(
        ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu", "UTC", None], dtype=object
    )
    days = calendar.local_day_numbers(instants, zones)
    ref = calendar.day_number(dt.date(2026, 3, 10))
    assert days[:3].tolist() == [ref + 1, ref - 1, ref]
    assert days[3] == np.iinfo(np.int64).min and days[4] == np.iinfo(np.int64).min
    hours = calendar.local_hours(instants.iloc[:3], zones.iloc[:3])
    assert hours.tolist() == pytest.approx([0.5, 23.5, 16.25])


def test_to_local_naive_across_dst_change() -> None:
    instants = pd.Series(pd.to_datetime(["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z"], utc=True))
    local = calendar.to_local_naive(instants, pd.Series(["Europe/Berlin"] * 2, dtype=object))
    assert local.tolist() == [
        pd.Timestamp("2026-03-29 01:59:59"),
        pd.Timestamp("2026-03-29 03:00:00"),
    ]


def test_weekday_and_week_start() -> None:
    wed = calendar.day_number(dt.date(2026, 3, 11))
    days = np.array([0, -1, wed, wed + 4, wed - 2, wed + 5])
    assert calendar.weekday(days).tolist() == [3, 2, 2, 6, 0, 0]  # 1970-01-01 was a Thursday
    starts = calendar.week_start(days)
    assert [calendar.date_of(d) for d in starts] == [
        dt.date(1969, 12, 29),
        dt.date(1969, 12, 29),
        dt.date(2026, 3, 9),
        dt.date(2026, 3, 9),  # Sunday 15th belongs to the week of Monday 9th
        dt.date(2026, 3, 9),
        dt.date(2026, 3, 16),
    ]
    for d in days:
        assert calendar.weekday(np.array([d]))[0] == calendar.date_of(int(d)).weekday()


def test_day_number_round_trips() -> None:
    dates = [dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(2026, 3, 11)]
    nums = np.array([calendar.day_number(d) for d in dates])
    assert nums.tolist() == [0, 19782, 20523]
    assert calendar.dates_of(nums).tolist() == dates
    assert [calendar.date_of(int(n)) for n in nums] == dates


def test_local_date_at() -> None:
    instant = dt.datetime(2026, 3, 10, 18, 20, tzinfo=UTC)
    assert calendar.local_date_at(instant, "Asia/Kathmandu") == dt.date(2026, 3, 11)  # 00:05
    assert calendar.local_date_at(instant, "America/St_Johns") == dt.date(2026, 3, 10)
